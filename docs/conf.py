"""Sphinx configuration of the docs site (``make docs``): the guide, the API reference, the examples."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The version lives in one place: the package's __init__.py (the wheel reads it there too).
release = re.search(
    r'^__version__ = "([^"]+)"', (ROOT / "airflow_provider_sov/__init__.py").read_text(), re.M
)[1]
version = release

project = "airflow-provider-sov"
author = "airflow-provider-sov contributors"
copyright = "the airflow-provider-sov contributors"

extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.viewcode"]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build"]
myst_heading_anchors = 3  # links to a page's sections: [text](page.md#a-section)
myst_enable_extensions = ["colon_fence"]
# The reliability report's tables sit under run-level headings of their own depth; a heading level
# skipped is style, not a broken page (every other warning fails the build).
suppress_warnings = ["myst.header"]

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}
# What a reader of the reference does not need: Airflow's own base-class members.
autodoc_inherit_docstrings = False

html_theme = "alabaster"
html_title = f"airflow-provider-sov {release}"
html_theme_options = {
    "description": "SOV Fixer and the DATA Act Broker from Airflow DAGs",
    "fixed_sidebar": True,
}
