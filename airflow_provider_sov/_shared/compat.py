"""
Every Airflow name whose home moved between 3.0 and 3.3, and every call only newer Airflow has: the
one place that imports around a version (names that did not move are imported from their home).
Only light modules, so DAG files stay quick to parse.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow import __version__ as _airflow_version
from packaging.version import Version

if TYPE_CHECKING:
    from airflow.sdk import Connection

#: The running Airflow's release (``3.2.2``), as a comparable version.
AIRFLOW_VERSION = Version(Version(_airflow_version).base_version)
#: Airflow 3.1: ``BaseHook`` in ``airflow.sdk``, ``AirflowException`` in ``airflow.sdk.exceptions``,
#: ``BaseHook.aget_connection``.
AIRFLOW_3_1 = Version("3.1") <= AIRFLOW_VERSION
#: Airflow 3.2: the other exceptions and ``conf`` in the Task SDK; connection-form extras declared
#: in the provider info; ``BaseEventTrigger.asset_state_store`` is not there yet.
AIRFLOW_3_2 = Version("3.2") <= AIRFLOW_VERSION
#: Airflow 3.3: the task state store, ``asset_state_store``, retry policies, ``start_from_trigger``
#: with rendered templates, ``amask_secret``.
AIRFLOW_3_3 = Version("3.3") <= AIRFLOW_VERSION

# airflow.sdk.exceptions from 3.1; airflow.exceptions in 3.0.
try:
    from airflow.sdk.exceptions import AirflowException
except ImportError:  # Airflow 3.0
    from airflow.exceptions import AirflowException  # type: ignore[no-redef,attr-defined,unused-ignore]

# airflow.sdk.exceptions from 3.2; airflow.exceptions in 3.0 and 3.1.
try:
    from airflow.sdk.exceptions import (
        AirflowNotFoundException,
        AirflowRescheduleException,
        AirflowSensorTimeout,
    )
except ImportError:  # Airflow 3.0, 3.1
    from airflow.exceptions import (  # type: ignore[no-redef,attr-defined,unused-ignore]
        AirflowNotFoundException,
        AirflowRescheduleException,
        AirflowSensorTimeout,
    )

# airflow.sdk.exceptions from 3.2 (what self.defer() raises); airflow.exceptions in 3.0 and 3.1.
try:
    from airflow.sdk.exceptions import TaskDeferred
except ImportError:  # Airflow 3.0, 3.1
    from airflow.exceptions import TaskDeferred  # type: ignore[no-redef,attr-defined,unused-ignore]

if TYPE_CHECKING:
    from airflow.sdk import BaseHook, conf


def __getattr__(name: str) -> Any:
    """``BaseHook`` and ``conf``, imported when first used: a DAG file that declares tasks needs neither."""
    found: Any
    if name == "BaseHook":
        try:  # airflow.sdk from 3.1; airflow.hooks.base in 3.0.
            from airflow.sdk import BaseHook as hook

            found = hook
        except ImportError:  # Airflow 3.0
            from airflow.hooks.base import BaseHook as old_hook  # type: ignore[attr-defined,unused-ignore]  # noqa: TID251

            found = old_hook
    elif name == "conf":
        try:  # airflow.sdk from 3.2; airflow.configuration in 3.0 and 3.1.
            from airflow.sdk import conf as config

            found = config
        except ImportError:  # Airflow 3.0, 3.1
            from airflow.configuration import conf as old_config

            found = old_config
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = found
    return found


__all__ = [
    "AIRFLOW_3_1",
    "AIRFLOW_3_2",
    "AIRFLOW_3_3",
    "AIRFLOW_VERSION",
    "AirflowException",
    "AirflowNotFoundException",
    "AirflowRescheduleException",
    "AirflowSensorTimeout",
    "BaseHook",
    "TaskDeferred",
    "aextra_dejson",
    "aget_connection",
    "amask_secret",
    "conf",
    "mask_secret",
    "trigger_asset_state_store",
]


async def aget_connection(conn_id: str) -> Connection:
    """
    Return a connection without blocking the event loop: ``BaseHook.aget_connection`` from 3.3.2;
    before, the lookup in a thread (3.0 has none; 3.1 to 3.3.1 block reading the extras).
    """
    from airflow.sdk import Connection

    hook = __getattr__("BaseHook")
    if hasattr(hook, "aget_connection") and hasattr(Connection, "aextra_dejson"):
        return await hook.aget_connection(conn_id)
    from asgiref.sync import sync_to_async

    return await sync_to_async(hook.get_connection)(conn_id)


async def aextra_dejson(conn: Any) -> dict[str, Any]:
    """A connection's extras without blocking the loop: ``aextra_dejson`` from 3.3.2, else in a thread."""
    if hasattr(conn, "aextra_dejson"):
        return dict(await conn.aextra_dejson() or {})
    from asgiref.sync import sync_to_async

    return dict(await sync_to_async(lambda: conn.extra_dejson)() or {})


def mask_secret(secret: str) -> None:
    """Register ``secret`` with Airflow's log masker (``airflow.sdk.log``, every 3.x)."""
    from airflow.sdk.log import mask_secret as register

    register(secret)


async def amask_secret(secret: str) -> None:
    """
    Register ``secret`` with the masker from the event loop: ``amask_secret`` from 3.3, else in a
    thread (the triggerer raises ``DeadlockImminentError`` at a blocking Task SDK call on its loop).
    """
    from airflow.sdk import log

    if hasattr(log, "amask_secret"):
        await log.amask_secret(secret)
        return
    from asgiref.sync import sync_to_async

    await sync_to_async(log.mask_secret)(secret)


def trigger_asset_state_store(trigger: Any) -> Any:
    """Return an event trigger's ``asset_state_store`` (Airflow 3.3), or None where Airflow has none."""
    return getattr(trigger, "asset_state_store", None)
