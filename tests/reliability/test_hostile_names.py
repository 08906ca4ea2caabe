"""
File names chosen by the server: every file lands inside the destination under a safe name, and
nothing is silently overwritten, whichever service names it.
"""

from __future__ import annotations

import pytest

from airflow_provider_sov.exceptions import SovFileExistsError
from airflow_provider_sov.hooks.broker import DataActBrokerHook, GenerationTarget
from airflow_provider_sov.hooks.sov import SovHook
from airflow_provider_sov.operators.sov import SovDownloadOutputsOperator
from tests.conftest import EXAMPLE_CSV
from tests.harness import make_context
from tests.reliability.faults import partial_files, sha256
from tests.reliability.report import REPORT

SOV = "s-no-ping-hggcsk"
D1 = {"start": "10/01/2025", "end": "12/31/2025"}

HOSTILE = [
    pytest.param("../x", id="parent"),
    pytest.param("../../../../etc/cron.d/x.json", id="deep-parent"),
    pytest.param("/etc/passwd", id="absolute"),
    pytest.param("a/b", id="slash"),
    pytest.param("a\\b.json", id="backslash"),
    pytest.param("", id="empty"),
    pytest.param("." * 3, id="dots"),
    pytest.param("x" * 300 + ".json", id="300-chars"),
    pytest.param("a\x00b.json", id="NUL"),
    pytest.param("CON", id="windows-CON"),
    pytest.param("nul.txt", id="windows-nul.txt"),
    pytest.param("COM1.json", id="windows-COM1"),
    pytest.param(".hidden.json", id="hidden"),
]


def inside(folder, path) -> bool:
    return path.resolve().parent == folder.resolve()


@pytest.mark.parametrize("name", HOSTILE)
def test_sov_outputs_named_by_the_server(emu, tmp_path, name):
    hook = SovHook()
    sud = hook.initiate_update(SOV)
    hook.add_locations(sud, EXAMPLE_CSV)
    hook.start_update(sud, output_formats=["json", "xlsx", "csv"])
    emu.inject("update_status", "hostile_filename", value=name)
    outputs = hook.get_update_status(sud)["result"]["outputs"]
    hook.close()
    assert [o["filename"] for o in outputs] == [name] * 3  # three outputs, one hostile name

    dest = tmp_path / "dest"
    files = SovDownloadOutputsOperator(task_id="dl", outputs=outputs, destination=dest).execute(
        make_context()
    )["files"]
    landed = sorted(dest.iterdir())
    REPORT.row(
        "Hostile file names",
        service="SOV Fixer (3 outputs)",
        name=repr(name)[:40],
        saved_as=", ".join(repr(f["filename"])[:30] for f in files),
        inside_destination=all(inside(dest, p) for p in landed),
        files=f"{len(landed)} of 3",
    )
    assert len(landed) == 3 and all(inside(dest, p) for p in landed)
    assert len({f["filename"] for f in files}) == 3  # the same name three times: none overwritten
    assert all(len(f["filename"].encode()) <= 200 and "\x00" not in f["filename"] for f in files)
    assert partial_files(dest) == []
    assert not (tmp_path / "x").exists() and not (tmp_path / "b").exists()


@pytest.mark.parametrize("name", HOSTILE)
def test_broker_files_named_by_storage(emu, tmp_path, name):
    hook = DataActBrokerHook()
    job = hook.generate_file(1001, "D1", **D1)["job_id"]
    dest = tmp_path / "dest"
    emu.inject("storage", "hostile_filename", value=name, times=2)
    saved = hook.download_file(GenerationTarget.of(1001, "D1"), dest)
    # The same name again into the same folder: refused, the first file untouched.
    with pytest.raises(SovFileExistsError, match="already exists"):
        hook.download_file(GenerationTarget.of(1001, "D1"), dest)
    hook.close()
    landed = sorted(dest.iterdir())
    REPORT.row(
        "Hostile file names",
        service="Broker storage (twice)",
        name=repr(name)[:40],
        saved_as=repr(saved.filename)[:30],
        inside_destination=all(inside(dest, p) for p in landed),
        files=f"{len(landed)}; second refused",
    )
    assert landed == [dest / saved.filename] and inside(dest, landed[0])
    assert sha256(landed[0].read_bytes()) == sha256(emu.broker.file_bytes(job))
    assert partial_files(dest) == []
