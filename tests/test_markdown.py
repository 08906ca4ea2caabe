"""
Every Markdown file of the repository renders as written (``docs/check_markdown.py``, which
``make docs`` runs): no code fence left open, no heading swallowed by a code block, no relative link
to a file or section that does not exist.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("check_markdown", ROOT / "docs" / "check_markdown.py")
assert _spec is not None and _spec.loader is not None
check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check)

#: The README's Broker section as the release before this check shipped it: the connection's code
#: fence never closed, so the Troubleshooting table and the Documentation links rendered as code.
OLD_README = """\
# airflow-provider-sov

## Connections

Before the first call the provider logs in; a bare session ID cannot be renewed: paste the new

```bash
airflow connections add data_act_broker_default --conn-type data_act_broker \\
    --conn-host https://api.fiscal.treasury.gov/ap/exp/v1/data-act-broker \\

The Broker connection's extra `website_url` names its web app.

## Troubleshooting

| symptom | cause and fix |
| --- | --- |
| `Connection '...' has no token` | put the API token in the connection's Password |

## Documentation

- [Quick start](docs/guide/quickstart.md)
"""


def test_every_markdown_file_of_the_repository_renders_as_written():
    files = check.markdown_files([])
    assert ROOT / "README.md" in files and ROOT / "CHANGELOG.md" in files
    assert any(p.parent.name == "guide" for p in files)
    assert [p for path in files for p in check.problems(path)] == []


def test_the_old_readme_is_refused_for_its_open_fence_and_the_headings_it_swallowed():
    found = check.problems(ROOT / "README.md", OLD_README)
    assert len(found) == 3, found
    assert "README.md:7: the code fence opened here is never closed" in found[0]
    assert "'## Troubleshooting' renders inside a code block" in found[1]
    assert "'## Documentation' renders inside a code block" in found[2]


def test_the_readme_renders_its_troubleshooting_table_as_a_table():
    tokens = check.parser().parse((ROOT / "README.md").read_text())
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    assert "Troubleshooting" in headings
    start = headings.index("Troubleshooting")
    after = [t for t in tokens if t.type in ("heading_open", "table_open")]
    kinds = [t.type for t in after]
    # The first table after the Troubleshooting heading comes before the next heading.
    position = [i for i, t in enumerate(after) if t.type == "heading_open"][start]
    assert kinds[position + 1] == "table_open"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("See [the guide](docs/guide/nowhere.md).\n", "names docs/guide/nowhere.md, which does not exist"),
        ("See [connections](docs/guide/connections.md#no-such-section).\n", "a section that connections.md"),
        ("## One\n\nSee [two](#two).\n", "a section that README.md"),
        ("```python\nprint(1)\n", "never closed"),
        ("    indented code\n    ## Not a heading here\n", "renders inside a code block"),
    ],
)
def test_a_broken_link_or_block_is_named_with_its_file_and_line(text, expected):
    (found,) = check.problems(ROOT / "README.md", text)
    assert found.startswith(f"{ROOT / 'README.md'}:") and expected in found


@pytest.mark.parametrize(
    "text",
    [
        "## One\n\nSee [one](#one) and [connections](docs/guide/connections.md).\n",
        "```markdown\n## a heading in a Markdown sample\n```\n",
        "```bash\n# a shell comment\nmake demo\n```\n",
        "[the site](https://example.com/x.md#y) and [mail](mailto:a@example.com)\n",
    ],
)
def test_what_renders_as_meant_passes(text):
    assert check.problems(ROOT / "README.md", text) == []


def test_the_readme_starts_where_a_user_starts():
    """Its first screen after the title: what the package does, `make demo`, and how to install it."""
    lines = (ROOT / "README.md").read_text().splitlines()
    first_screen = "\n".join(lines[1:55])
    assert "SOV Fixer" in first_screen and "DATA Act Broker" in first_screen
    assert "make demo" in first_screen and "## Install" in first_screen and "pip install" in first_screen
    assert "--constraint" in first_screen  # Airflow's pins kept


def test_the_connections_say_where_each_credential_comes_from():
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Connections") : text.index("## A first DAG")]
    assert "where it comes from" in section
    for credential in ("API token", "client_id", "client_secret", "x-session-id"):
        assert credential in section
    assert "sovfixer_conn_id" in section and "data_act_broker_conn_id" in section


def test_every_operator_and_sensor_is_in_the_permissions_page_with_what_it_needs():
    from airflow_provider_sov.operators import broker as broker_operators
    from airflow_provider_sov.operators import sov as sov_operators
    from airflow_provider_sov.sensors import broker as broker_sensors
    from airflow_provider_sov.sensors import sov as sov_sensors

    page = (ROOT / "docs" / "guide" / "permissions.md").read_text()
    rows = {
        name: line
        for line in page.splitlines()
        if line.startswith("| `")
        for name in re.findall(r"`(\w+(?:Operator|Sensor))`", line.split("|")[1])
    }
    for module in (sov_operators, sov_sensors, broker_operators, broker_sensors):
        tasks = [
            name
            for name, value in vars(module).items()
            if isinstance(value, type)
            and name.endswith(("Operator", "Sensor"))
            and not name.startswith("_")
            and value.__module__.startswith("airflow_provider_sov")
            and name not in ("JobOperator", "JobSensor")
            and not name.startswith(("SovJob", "Locations", "Generated"))
        ]
        assert tasks, module
        for name in tasks:
            assert name in rows, f"{name} is not in the permissions page"
            if module in (broker_operators, broker_sensors):
                assert re.search(r"`(reader|writer|submitter|editfabs|fabs)`|signed in", rows[name]), name


def test_each_release_of_the_changelog_has_each_kind_of_change_once():
    text = (ROOT / "CHANGELOG.md").read_text()
    releases = re.split(r"^## ", text, flags=re.M)[1:]
    assert releases and releases[0].startswith("[Unreleased]")
    for release in releases:
        kinds = re.findall(r"^### (\w+)", release, flags=re.M)
        assert len(kinds) == len(set(kinds)), (release.splitlines()[0], kinds)
