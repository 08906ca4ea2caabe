"""
Where files go, told to Airflow: asset events on a task's outlets (an ``AssetAlias`` gets one asset
per file) and OpenLineage datasets (with the optional ``[openlineage]`` extra).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit


def file_asset_uri(uri: str) -> str:
    """Return an asset URI for a written file: ``file://`` plus the quoted path, or the storage URL."""
    if "://" in uri:
        return uri
    return "file://" + quote(uri)


def emit_file_events(
    context: Any, outlets: list[Any], files: list[dict[str, Any]], meta: dict[str, Any]
) -> None:
    """Record asset events for ``files`` on the task's ``outlets`` (nothing when it declares none)."""
    events = context.get("outlet_events")
    if not outlets or not files or events is None:
        return
    from airflow.sdk import Asset, AssetAlias

    for outlet in outlets:
        if isinstance(outlet, AssetAlias):
            for f in files:
                uri = file_asset_uri(f["uri"])
                events[outlet].add(Asset(name=uri, uri=uri), extra={**meta, **f})
        elif isinstance(outlet, Asset):
            events[outlet].extra.update({**meta, "files": files})


def dataset(uri: str) -> tuple[str, str]:
    """OpenLineage (namespace, name) of a file or object: ``("file", path)`` or ``("s3://bucket", key)``."""
    if "://" not in uri:
        return "file", uri
    parts = urlsplit(uri)
    if parts.scheme == "file":
        return "file", parts.path
    return f"{parts.scheme}://{parts.netloc}", parts.path.lstrip("/")


def operator_lineage(inputs: list[tuple[str, str]], outputs: list[tuple[str, str]]) -> Any:
    """Return an ``OperatorLineage`` for the given (namespace, name) pairs, or None without OpenLineage."""
    try:
        from airflow.providers.openlineage.extractors import OperatorLineage
        from openlineage.client.event_v2 import Dataset
    except ImportError:
        return None
    return OperatorLineage(
        inputs=[Dataset(namespace=ns, name=name) for ns, name in inputs],
        outputs=[Dataset(namespace=ns, name=name) for ns, name in outputs],
    )


@dataclass
class Lineage:
    """What a task read and wrote in this run, as OpenLineage (namespace, name) pairs (:func:`dataset`)."""

    inputs: list[tuple[str, str]] = field(default_factory=list)
    outputs: list[tuple[str, str]] = field(default_factory=list)

    def facets(self) -> Any:
        """Return the ``OperatorLineage`` of what was recorded (None without OpenLineage)."""
        return operator_lineage(self.inputs, self.outputs)
