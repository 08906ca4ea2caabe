"""The history watcher: an event trigger that reads SOV Fixer's history feed for as long as it runs."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from airflow_provider_sov._shared.compat import trigger_asset_state_store
from airflow_provider_sov._shared.http import RetryPolicy, transient
from airflow_provider_sov._shared.trigger import TRIGGER_RETRY_POLICY
from airflow_provider_sov.exceptions import SovError, SovInputError
from airflow_provider_sov.hooks.sov import SovHook

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


def history_stamp(completed_time: str) -> str:
    """``2026-06-03T22:16:01.393Z`` -> ``20260603221601``, the feed's ``start`` format (UTC)."""
    digits = "".join(ch for ch in completed_time[:19] if ch.isdigit())
    if len(digits) != 14:
        raise SovInputError(f"completed_time {completed_time!r} is not an ISO timestamp.")
    return digits


class SovHistoryTrigger(BaseEventTrigger):
    """
    Watch SOV Fixer's history feed and send one event per completed or failed SOV or update.

    Use it in an ``AssetWatcher``: a DAG scheduled on the watched asset then runs once per new
    revision. Records are de-duplicated by ``id`` across overlapping pages. Its position (the
    newest ``completed_time`` seen, and the IDs seen at that instant) lives in the watched asset's
    state store, so after a triggerer restart it resumes from there, overlapping and
    de-duplicating, never replaying the feed from the beginning. The position is saved after each
    event is handed to Airflow: a crash in between can repeat one event, never lose one.

    Event payload (the asset event's ``extra["payload"]``): the feed's record as it comes, in the
    vendor's ``HistoryItem`` shape: ``id`` (the record's own opaque ID), ``sovid`` (the SOV),
    ``revision`` (the SOV's revision the record made), ``record_type`` (``ORIG`` or the update
    type), ``status`` (``C`` or ``F``), ``client_ref``, ``is_data_ready``, ``completed_time``,
    ``incremental`` and ``pingid`` (a nullable "Ping ID": neither an SOV nor a SUD ID). To act on
    what a record made, use ``sovid`` and ``revision`` (e.g. ``SovGetOrCreateOutputOperator(id=sovid,
    revision=revision)``), and ``client_ref`` to tell your own jobs apart.

    :param sovfixer_conn_id: The Airflow connection.
    :param poll_interval: Seconds between reads of the feed (the vendor recommends polling it).
    :param record_types: Only these ``record_type`` values (``ORIG`` for new SOVs, or update types).
    :param client_ref_prefix: Only records whose ``client_ref`` starts with this.
    :param only_data_ready: Only records with ``is_data_ready``.
    :param only_failures: Only failed records (``status == "F"``).
    :param start: Where to begin the first time (``YYYYmmddHHMMSS``, UTC); default: now.
    :param page_size: Records per page, 1 to 250.
    """

    STATE_KEY = "sov_history_position"
    retry_policy: ClassVar[RetryPolicy] = TRIGGER_RETRY_POLICY

    def __init__(
        self,
        *,
        sovfixer_conn_id: str = SovHook.default_conn_name,
        poll_interval: float = 60.0,
        record_types: list[str] | None = None,
        client_ref_prefix: str | None = None,
        only_data_ready: bool = False,
        only_failures: bool = False,
        start: str | None = None,
        page_size: int = 100,
    ) -> None:
        super().__init__()
        if start is not None and not (isinstance(start, str) and len(start) == 14 and start.isdigit()):
            raise SovInputError(f"start must be a YYYYmmddHHMMSS string, got {start!r}.")
        self.sovfixer_conn_id = sovfixer_conn_id
        self.poll_interval = float(poll_interval)
        self.record_types = list(record_types) if record_types else None
        self.client_ref_prefix = client_ref_prefix
        self.only_data_ready = bool(only_data_ready)
        self.only_failures = bool(only_failures)
        self.start = start
        self.page_size = int(page_size)
        self._memory: dict[str, Any] = {}

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "sovfixer_conn_id": self.sovfixer_conn_id,
                "poll_interval": self.poll_interval,
                "record_types": self.record_types,
                "client_ref_prefix": self.client_ref_prefix,
                "only_data_ready": self.only_data_ready,
                "only_failures": self.only_failures,
                "start": self.start,
                "page_size": self.page_size,
            },
        )

    def matches(self, record: dict[str, Any]) -> bool:
        """Return whether ``record`` passes the filters."""
        if self.record_types is not None and record.get("record_type") not in self.record_types:
            return False
        if self.client_ref_prefix and not str(record.get("client_ref") or "").startswith(
            self.client_ref_prefix
        ):
            return False
        if self.only_data_ready and not record.get("is_data_ready"):
            return False
        return not (self.only_failures and record.get("status") != "F")

    def _position_store(self) -> Any:
        """
        Airflow 3.3's ``asset_state_store``, where the position survives a triggerer's restart; before
        3.3 none, and the position is kept in this trigger's memory (said once): after a restart the
        watcher starts again from its ``start``, or from that moment.
        """
        store = trigger_asset_state_store(self)
        if store is None and not self._memory.get("said"):
            self._memory["said"] = True
            self.log.warning(
                "This Airflow has no asset_state_store (3.3 and later have it): the history position "
                "is kept in memory, so after a restart of the triggerer the watcher starts again from "
                "%s.",
                f"start={self.start}" if self.start else "that moment",
            )
        return store

    async def _load(self, hook: SovHook) -> tuple[str, set[str]]:
        store = self._position_store()
        state = await store.aget(self.STATE_KEY) if store is not None else self._memory.get(self.STATE_KEY)
        if isinstance(state, dict) and state.get("since"):
            seen = state.get("seen")
            return str(state["since"]), {str(i) for i in seen} if isinstance(seen, list) else set()
        if self.start:
            since, seen = self.start, set()
        else:
            # From now on: what completed within this very second, before we looked, is not new.
            since = time.strftime("%Y%m%d%H%M%S", time.gmtime())
            page = await hook.aget_history_page(start=since, page_size=self.page_size)
            seen = {
                str(r.get("id"))
                for r in page.get("results") or []
                if history_stamp(str(r.get("completed_time") or "")) == since
            }
        await self._save(since, seen)
        return since, seen

    async def _save(self, since: str, seen: set[str]) -> None:
        state: dict[str, Any] = {"since": since, "seen": sorted(seen)}
        store = self._position_store()
        if store is not None:
            await store.aset(self.STATE_KEY, state)
        else:
            self._memory[self.STATE_KEY] = state

    async def _pages(self, hook: SovHook, since: str) -> AsyncIterator[list[dict[str, Any]]]:
        page = await hook.aget_history_page(start=since, page_size=self.page_size)
        while True:
            yield [r for r in page.get("results") or [] if isinstance(r, dict)]
            cursor = page.get("cursor_id")
            if not page.get("results") or not cursor:
                return
            nxt = await hook.aget_history_page(cursor_id=cursor, page_size=self.page_size)
            if nxt.get("cursor_id") in (None, cursor):
                yield [r for r in nxt.get("results") or [] if isinstance(r, dict)]
                return
            page = nxt

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Read the feed forever; yield an event per new matching record."""
        hook = SovHook(self.sovfixer_conn_id, retry_policy=self.retry_policy)
        try:
            since, seen = await self._load(hook)
            self.log.info("Watching the SOV Fixer history feed from %s (UTC).", since)
            while True:
                try:
                    async for records in self._pages(hook, since):
                        moved = False
                        for record in records:
                            rid = str(record.get("id"))
                            try:
                                stamp = history_stamp(str(record.get("completed_time") or ""))
                            except SovInputError as exc:
                                self.log.warning("Skipping history record %s: %s", rid, exc)
                                continue
                            if stamp < since or (stamp == since and rid in seen):
                                continue
                            if stamp > since:
                                since, seen = stamp, set()
                            seen.add(rid)
                            moved = True
                            if self.matches(record):
                                self.log.info(
                                    "History %s: SOV %s revision %s %s %s",
                                    rid,
                                    record.get("sovid"),
                                    record.get("revision"),
                                    record.get("record_type"),
                                    record.get("status"),
                                )
                                yield TriggerEvent({k: record.get(k) for k in HISTORY_FIELDS})
                                await self._save(since, seen)
                                moved = False
                        if moved:  # records that matched no filter: one save per page
                            await self._save(since, seen)
                except SovError as exc:
                    if not transient(exc):
                        raise  # the same rule as a job trigger's: no re-read cures it
                    self.log.warning(
                        "Reading the history feed failed; trying again in %gs: %s", self.poll_interval, exc
                    )
                await asyncio.sleep(self.poll_interval)
        finally:
            await hook.aclose()


#: The fields of a history record an event carries.
HISTORY_FIELDS = (
    "id",
    "sovid",
    "pingid",
    "record_type",
    "revision",
    "status",
    "client_ref",
    "is_data_ready",
    "completed_time",
    "incremental",
)
