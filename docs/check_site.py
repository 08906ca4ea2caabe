"""
``make docs``, after the build: every link within the built site resolves (the page and, for
``#anchor`` links, the element), and the API reference documents every stable public name.
"""

from __future__ import annotations

import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

SITE = Path(__file__).resolve().parent / "_build" / "html"

#: The package's stable public names (what DAGs and outside tests import), by module.
PUBLIC_NAMES = {
    "airflow_provider_sov.hooks.sov": ["SovHook"],
    "airflow_provider_sov.hooks.broker": ["DataActBrokerHook"],
    "airflow_provider_sov.operators.sov": [
        "SovInitiateUpdateOperator",
        "SovAddLocationsOperator",
        "SovStartUpdateOperator",
        "SovDownloadOutputsOperator",
        "SovUpdateOperator",
        "SovGetOrCreateOutputOperator",
        "SovParseOperator",
        "SovCreateSubmissionOperator",
    ],
    "airflow_provider_sov.sensors.sov": ["SovUpdateSensor", "SovOutputSensor", "SovParseSensor"],
    "airflow_provider_sov.triggers.sov": ["SovUpdateTrigger", "SovOutputTrigger", "SovParseTrigger"],
    "airflow_provider_sov.triggers.sov_history": ["SovHistoryTrigger"],
    "airflow_provider_sov.operators.broker": [
        "DFileGenerateOperator",
        "DFileDownloadOperator",
        "PublishedFilesDownloadOperator",
        "DabsSubmissionOperator",
        "FabsSubmissionOperator",
        "SubmissionReportsDownloadOperator",
        "SubmissionPublishOperator",
    ],
    "airflow_provider_sov.sensors.broker": ["DFileGenerationSensor", "SubmissionValidationSensor"],
    "airflow_provider_sov.triggers.broker": ["DFileGenerationTrigger", "SubmissionPublishTrigger"],
    "airflow_provider_sov.testing": ["EmulatorServer"],
    "airflow_provider_sov.testing.pytest_plugin": ["sov_emulator"],
    "airflow_provider_sov.exceptions": ["SovError"],
    "airflow_provider_sov.links": ["PingMapsLink", "PingVisionLink", "BrokerSubmissionLink"],
    "airflow_provider_sov.retries": ["SovRetryPolicy", "retry_policy_args"],
}


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for key in ("id", "name"):
            if values.get(key):
                self.ids.add(str(values[key]))
        for key in ("href", "src"):
            if values.get(key) and tag in ("a", "img", "link", "script"):
                self.links.append(str(values[key]))


def main() -> int:
    pages: dict[Path, Page] = {}
    for path in SITE.rglob("*.html"):
        page = Page()
        page.feed(path.read_text(encoding="utf-8"))
        pages[path.resolve()] = page
    problems = []
    checked = 0
    for path, page in pages.items():
        for link in page.links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or link.startswith("mailto:"):
                continue  # outside the site
            target = (path.parent / unquote(parts.path)).resolve() if parts.path else path
            checked += 1
            if not target.exists():
                problems.append(f"{path.relative_to(SITE)}: {link}: no such file")
            elif (
                parts.fragment
                and target.suffix == ".html"
                and unquote(parts.fragment) not in pages[target].ids
            ):
                problems.append(f"{path.relative_to(SITE)}: {link}: no such anchor")
    api = pages[(SITE / "api.html").resolve()].ids
    for module, names in PUBLIC_NAMES.items():
        for name in names:
            if f"{module}.{name}" not in api:
                problems.append(f"api.html: {module}.{name} is not documented")
    for problem in problems:
        print(problem, file=sys.stderr)
    count = sum(map(len, PUBLIC_NAMES.values()))
    print(f"{len(pages)} pages, {checked} links within the site checked, {count} public names documented")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
