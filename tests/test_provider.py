"""The provider as Airflow sees it: provider info, connection forms, the CLI, light imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import import_module
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_sov import get_provider_info

VENV_BIN = Path(sys.executable).parent


def test_provider_info_declares_both_connection_types():
    info = get_provider_info()
    types = {c["connection-type"]: c for c in info["connection-types"]}
    assert set(types) == {"sovfixer", "data_act_broker"}
    for conn_type, entry in types.items():
        module, _, name = entry["hook-class-name"].rpartition(".")
        hook = getattr(import_module(module), name)
        assert hook.conn_type == conn_type and hook.hook_name == entry["hook-name"]
        assert entry["conn-fields"] and entry["ui-field-behaviour"]["hidden-fields"]
        assert hook.get_ui_field_behaviour()["hidden_fields"] == entry["ui-field-behaviour"]["hidden-fields"]


def test_providers_manager_reads_forms():
    """
    The relabelled fields on every version; the extras' own form fields from Airflow 3.2, which reads
    them from the provider info (3.0 and 3.1 build them only with WTForms, which they no longer ship:
    there the extras go in the form's Extra JSON, as the README's versions table says).
    """
    from airflow.providers_manager import ProvidersManager

    from airflow_provider_sov._shared.compat import AIRFLOW_3_2
    from airflow_provider_sov.hooks.broker import DataActBrokerHook
    from airflow_provider_sov.hooks.sov import SovHook

    # 3.0 and 3.1 read the shape off the hook's own class (and only with Flask-AppBuilder installed).
    assert all("get_ui_field_behaviour" in hook.__dict__ for hook in (SovHook, DataActBrokerHook))
    assert SovHook.get_ui_field_behaviour()["relabeling"] == {"password": "API token"}
    manager = ProvidersManager()
    if AIRFLOW_3_2:
        assert manager.field_behaviours["sovfixer"]["relabeling"] == {"password": "API token"}
    ours = {"extra__sovfixer__verify", "extra__data_act_broker__auth_mode"}
    if AIRFLOW_3_2:
        assert ours <= set(manager.connection_form_widgets)
    else:
        assert not ours & set(manager.connection_form_widgets)


#: A bound, not a speed limit: Airflow 3.0 takes over 120 s for "providers list" on a busy machine.
CLI_BOUND = 900


def cli_json(stdout: str) -> Any:
    """The JSON an ``airflow ... -o json`` command printed (Airflow 3.0 logs to stdout before it)."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(("[{", "[]", "{")))
    return json.loads("\n".join(lines[start:]))


@pytest.mark.airflow_cli
@pytest.mark.timeout(
    2 * CLI_BOUND + 60
)  # two CLI runs, each within its bound (the suite's 180 s cut in first)
def test_airflow_cli_lists_provider_and_connection_types():
    env = {**os.environ}
    listed = subprocess.run(
        [str(VENV_BIN / "airflow"), "providers", "list", "-o", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=CLI_BOUND,
    )
    assert listed.returncode == 0, listed.stderr
    assert "airflow-provider-sov" in {p["package_name"] for p in cli_json(listed.stdout)}
    hooks = subprocess.run(
        [str(VENV_BIN / "airflow"), "providers", "hooks", "-o", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=CLI_BOUND,
    )
    assert hooks.returncode == 0, hooks.stderr
    ours = {
        h["connection_type"]: h["class"]
        for h in cli_json(hooks.stdout)
        if h["package_name"] == "airflow-provider-sov"
    }
    assert ours == {
        "sovfixer": "airflow_provider_sov.hooks.sov.SovHook",
        "data_act_broker": "airflow_provider_sov.hooks.broker.DataActBrokerHook",
    }


def test_connection_forms_offer_no_null_choice_and_a_verify_switch():
    """The UI renders an enum as a drop-down (a None in it shows as "null") and a boolean as a switch."""
    forms = {c["connection-type"]: c["conn-fields"] for c in get_provider_info()["connection-types"]}
    auth = forms["data_act_broker"]["auth_mode"]["schema"]
    assert None not in auth["enum"] and auth["enum"][0] == auth["default"] == "auto"
    for fields in forms.values():
        assert fields["verify"]["schema"]["type"] == ["boolean", "null"]
        assert fields["ca_bundle"]["schema"]["type"] == ["string", "null"]
        assert fields["trusted_hosts"]["schema"]["type"] == ["string", "null"]


@pytest.mark.parametrize(
    ("extra", "verify"),
    [
        ({"verify": True}, True),
        ({"verify": False}, False),
        ({"verify": "true", "ca_bundle": "BUNDLE"}, "BUNDLE"),
        ({"verify": "BUNDLE"}, "BUNDLE"),  # what connections made before the switch hold
    ],
)
def test_verify_switch_and_ca_bundle_are_read_with_the_older_verify_path(
    monkeypatch, tmp_path, extra, verify
):
    from airflow_provider_sov.hooks.sov import SovHook

    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    extra = {k: str(bundle) if v == "BUNDLE" else v for k, v in extra.items()}
    conn = {"conn_type": "sovfixer", "password": "t", "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_SOV_VERIFY", json.dumps(conn))
    assert SovHook("sov_verify").settings.verify == (str(bundle) if verify == "BUNDLE" else verify)


def test_auth_mode_auto_is_the_empty_choice(monkeypatch):
    from airflow_provider_sov.hooks.broker import DataActBrokerHook

    for extra, login, mode in (({"auth_mode": "auto"}, "user", "login"), ({}, None, "session")):
        conn = {
            "conn_type": "data_act_broker",
            "host": "https://broker.example",
            "login": login,
            "password": "p",
        }
        monkeypatch.setenv("AIRFLOW_CONN_BROKER_AUTO", json.dumps({**conn, "extra": extra}))
        assert DataActBrokerHook("broker_auto").auth_mode() == mode


def test_the_providers_page_links_to_real_documentation():
    """
    From Airflow 3.1 the Providers page links to the package's Documentation URL (its metadata's
    ``Project-URL``); Airflow 3.0 reads none, and links every provider to airflow.apache.org (the
    README's versions table says so).
    """
    from airflow.providers_manager import ProvidersManager

    from airflow_provider_sov._shared.compat import AIRFLOW_3_1

    provider = ProvidersManager().providers["airflow-provider-sov"]
    if not AIRFLOW_3_1:
        assert provider.data.get("documentation-url") is None
        return
    url = provider.data["documentation-url"].strip()  # 3.1 and 3.2 keep the space after the comma
    assert url.startswith("https://") and "airflow.apache.org" not in url


def test_connection_form_fields_are_read_prefixed_or_plain(monkeypatch):
    from airflow_provider_sov.hooks.sov import SovHook

    monkeypatch.setenv(
        "AIRFLOW_CONN_SOV_FORM",
        json.dumps(
            {"conn_type": "sovfixer", "password": "tok-123", "extra": {"extra__sovfixer__read_timeout": 5}}
        ),
    )
    assert SovHook("sov_form").settings.read_timeout == 5


#: What a DAG file imports to declare tasks.
DAG_MODULES = (
    "airflow_provider_sov.operators.sov",
    "airflow_provider_sov.operators.broker",
    "airflow_provider_sov.sensors.sov",
    "airflow_provider_sov.sensors.broker",
)
#: Modules only a running task needs: sending requests, sessions, CSV reading, triggers, the emulator.
RUN_TIME_ONLY = (
    "aiohttp",
    "requests",
    "pandas",
    "airflow_provider_sov._shared.hook",
    "airflow_provider_sov._shared.http",
    "airflow_provider_sov._shared.transport",
    "airflow_provider_sov._shared.connection",
    "airflow_provider_sov._shared.steps",
    "airflow_provider_sov._shared.auth",
    "airflow_provider_sov.hooks.sov",
    "airflow_provider_sov.hooks.broker",
    "airflow_provider_sov.hooks.broker_session",
    "airflow_provider_sov.hooks.broker_uploads",
    "airflow_provider_sov.hooks.sov_locations",
    "airflow_provider_sov.triggers.sov",
    "airflow_provider_sov.triggers.broker",
    "airflow_provider_sov.testing.server",
)
#: How many modules declaring every operator and sensor may add to ``import airflow.sdk``. Raise it
#: only for a module a DAG parse needs; anything else is imported where a task runs. (26: SOV Fixer's
#: routes module, which its job kinds name their status routes from; 27: the module of
#: SovCreateSubmissionOperator; 28-30: the Broker's submission rules and its validation and
#: published-files kinds, which SubmissionValidationSensor and PublishedFilesDownloadOperator name;
#: 31-32: the tasks' extra links, airflow_provider_sov.links and Airflow's operatorlink it subclasses;
#: 33: the outage rule every wait keeps, whose default the connection's settings name; 34: the
#: compat module, where the names that moved between Airflow 3.0 and 3.3 are imported; 35-37: the
#: Broker's submitting operators' two modules and the publication and reports kinds they name. The
#: upload rules, which read files, are a running task's.)
MAX_DAG_PARSE_MODULES = 37


def modules_loaded_by(*modules: str) -> list[str]:
    """Return the modules a fresh interpreter loads for ``modules`` after ``import airflow.sdk``."""
    code = (
        "import importlib, json, sys, airflow.sdk\n"
        "before = set(sys.modules)\n"
        "for name in sys.argv[1:]: importlib.import_module(name)\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))"
    )
    done = subprocess.run([sys.executable, "-c", code, *modules], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_dag_parse_loads_only_what_declaring_tasks_needs():
    """Every DAG file pays for what its imports load, at every parse: the sending half waits for a task."""
    loaded = modules_loaded_by(*DAG_MODULES)
    assert not [m for m in RUN_TIME_ONLY if m in loaded], loaded
    assert len(loaded) <= MAX_DAG_PARSE_MODULES, (len(loaded), loaded)


def test_a_sensor_started_in_the_triggerer_names_its_trigger_without_loading_the_sending_half():
    """Airflow reads start_trigger_args at every parse: naming the trigger loads no hook or HTTP client."""
    code = (
        "import json, sys, airflow.sdk\n"
        "before = set(sys.modules)\n"
        "from airflow_provider_sov.sensors.broker import DFileGenerationSensor\n"
        "from airflow_provider_sov.sensors.sov import SovUpdateSensor\n"
        "tasks = [SovUpdateSensor(task_id='a', sud_id='s-1-r001', start_from_trigger=True),\n"
        "         DFileGenerationSensor(task_id='b', submission_id=1, file_type='D1', start_from_trigger=True)]\n"
        "print(json.dumps([[t.start_trigger_args.trigger_cls for t in tasks], sorted(set(sys.modules) - before)]))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    classes, loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert classes == [
        "airflow_provider_sov.triggers.sov.SovUpdateTrigger",
        "airflow_provider_sov.triggers.broker.DFileGenerationTrigger",
    ]
    # The triggers themselves, and the retry rules they are declared with (no I/O), may load; not the rest.
    allowed = ("airflow_provider_sov.triggers.", "airflow_provider_sov._shared.http")
    assert not [m for m in RUN_TIME_ONLY if m in loaded and not m.startswith(allowed)], loaded


def test_the_hooks_leave_the_async_client_to_the_triggerer():
    loaded = modules_loaded_by("airflow_provider_sov.hooks.sov", "airflow_provider_sov.hooks.broker")
    assert not [m for m in ("aiohttp", "airflow_provider_sov.testing.server") if m in loaded], loaded


def test_the_dag_processor_skips_the_example_dags_sample_data():
    from airflow._shared.module_loading.file_discovery import find_path_from_directory

    folder = Path(__file__).resolve().parents[1] / "example_dags"
    scanned = [Path(p) for p in find_path_from_directory(folder, ".airflowignore", "glob")]
    assert (folder / "data" / "harbor_storage_sov.xlsx").exists()
    assert not [p for p in scanned if "data" in p.relative_to(folder).parts]
    assert {p.name for p in scanned if p.suffix == ".py"} == {p.name for p in folder.glob("*.py")}


def test_the_license_the_package_declares_ships_with_it():
    root = Path(__file__).resolve().parents[1]
    assert (
        "Apache License" in (root / "LICENSE").read_text() and "Version 2.0" in (root / "LICENSE").read_text()
    )
    from importlib.metadata import metadata

    assert metadata("airflow-provider-sov")["License-Expression"] == "Apache-2.0"


@pytest.mark.parametrize("name", ["UPDATE", "PARSE", "OUTPUT", "GENERATION"])
def test_each_job_kind_names_its_apis_hook_and_connection(name):
    """Kinds name their API's hook (imported when a task runs); the hook takes its names from the same place."""
    from airflow_provider_sov.hooks import broker_jobs, sov_jobs

    job = getattr(sov_jobs, name, None) or getattr(broker_jobs, name)
    hook = job.api.hook_class()
    assert (hook.conn_name_attr, hook.default_conn_name, hook.hook_name) == (
        job.api.conn_name_attr,
        job.api.default_conn_name,
        job.api.name,
    )
    assert hook(**{job.api.conn_name_attr: "x"}).conn_id == "x"


@pytest.mark.parametrize(
    "path",
    sorted(
        p
        for p in (Path(__file__).resolve().parents[1] / "example_dags").glob("*.py")
        if "DAG(" in p.read_text()
    ),
    ids=lambda p: p.stem,
)
def test_every_example_dag_retries_its_tasks_under_the_retry_policy(path):
    """What the README promises (a retry reattaches; the policy fails at once what no retry cures)
    holds in every example a reader copies from."""
    import runpy

    from airflow_provider_sov._shared.compat import AIRFLOW_3_3
    from airflow_provider_sov.retries import SovRetryPolicy

    dag = runpy.run_path(str(path))["dag"]
    assert dag.tasks
    for task in dag.tasks:
        assert task.retries >= 1, (dag.dag_id, task.task_id)
        if AIRFLOW_3_3:
            assert isinstance(task.retry_policy, SovRetryPolicy), (dag.dag_id, task.task_id)
