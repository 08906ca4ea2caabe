"""
Reading SOV Fixer's records: the history feed, the activity list, buildings and shareable links.

Mixed into :class:`~airflow_provider_sov.hooks.sov.SovHook`, which sends the requests; the routes
are in :mod:`.sov_routes`, the query rules in :mod:`.sov_rules`.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, Unpack

from airflow_provider_sov._shared.http import malformed_response, require_keys
from airflow_provider_sov._shared.routes import check_id
from airflow_provider_sov.exceptions import SovInputError
from airflow_provider_sov.hooks import sov_routes
from airflow_provider_sov.hooks.sov_rules import ActivityFilters, activity_params, history_params

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from airflow_provider_sov._shared.hook import ApiHook

    _Base = ApiHook
else:
    _Base = object

ROUTES = sov_routes.ROUTES
#: An SOV's pages (the task links' ``page``) and the activity record's fields that hold them.
PAGE_FIELDS = {"ping_maps": "ping_maps_url", "ping_vision": "ping_vision_url"}


class SovRecordsMixin(_Base):
    """The reads of SOV Fixer's records; see :class:`~airflow_provider_sov.hooks.sov.SovHook`."""

    def get_history_page(
        self, *, cursor_id: str | int | None = None, start: str | None = None, page_size: int = 100
    ) -> dict[str, Any]:
        """
        Read one page of completed and failed jobs, oldest first.

        :param cursor_id: Continue after this record (the previous page's ``cursor_id``).
        :param start: Only records completed since ``YYYYmmddHHMMSS`` (UTC).
        :param page_size: 1 to 250.
        """
        return self.request(ROUTES["history"], params=history_params(cursor_id, start, page_size))

    async def aget_history_page(
        self, *, cursor_id: str | int | None = None, start: str | None = None, page_size: int = 100
    ) -> dict[str, Any]:
        """Do what :meth:`get_history_page` does, on the async path, for the history watcher."""
        return await self.arequest(ROUTES["history"], params=history_params(cursor_id, start, page_size))

    def iter_history(
        self, *, cursor_id: str | int | None = None, start: str | None = None, page_size: int = 100
    ) -> Iterator[dict[str, Any]]:
        """
        Yield every history record from a cursor on, each once, until the feed has nothing new.

        Pages may overlap and an empty page may omit ``cursor_id``: records are de-duplicated by
        ``id`` (the record at ``cursor_id`` itself counts as seen) and the last known cursor is kept.
        """
        # The record at the cursor was already seen by whoever holds the cursor.
        seen: set[str] = {str(cursor_id)} if cursor_id is not None else set()
        cursor = cursor_id
        while True:
            page = self.get_history_page(
                cursor_id=cursor, start=start if cursor is None else None, page_size=page_size
            )
            fresh = [r for r in page.get("results") or [] if str(r.get("id")) not in seen]
            for record in fresh:
                seen.add(str(record.get("id")))
                yield record
            next_cursor = page.get("cursor_id") or cursor
            if not fresh or next_cursor == cursor:
                return
            cursor = next_cursor

    def get_history_item(self, id: str | int) -> dict[str, Any]:
        """
        Read one SOV or update from the history feed: the answer's ``result``.

        That is ``sovid``, ``previous_sovid``, ``original_sovid``, ``sheet_name`` and ``outputs``
        (``url``, ``output_format``, ``completed_time``); it carries no revision number.
        """
        id = check_id(id, "id")
        route = ROUTES["history_item"]
        body = self.request(route, ids={"id": id}, job_id=id)
        result = body.get("result") if isinstance(body, dict) else None
        if not isinstance(result, dict):
            raise malformed_response(self._call(route, self.settings, id, None), "no 'result' object")
        return result

    def list_activity(
        self,
        *,
        cursor_id: str | None = None,
        prev_cursor_id: str | None = None,
        page_size: int = 50,
        **filters: Unpack[ActivityFilters],
    ) -> dict[str, Any]:
        """
        Read one page of the activity list: SOVs with their status, outputs and updates.

        The answer is the vendor's ``ActivityResponse``: ``results`` (each an ``SOVData``: ``id``,
        ``status``, ``client_ref``, ``ping_maps_url``, ``ping_vision_url``, ``latest_revision``,
        ``updates`` and ``all_updates`` with each update's ``sudid``, ``status`` and
        ``client_ref``...), ``cursor_id`` and ``prev_cursor_id`` (the next and previous pages),
        ``has_remaining``, ``remaining_count`` and ``total_count``.

        :param cursor_id: The next page after this cursor (a previous page's ``cursor_id``).
        :param prev_cursor_id: The page before this cursor (ignored with ``cursor_id``).
        :param page_size: 1 to 250 (default 50, as the vendor's client).
        :param filters: See :class:`~airflow_provider_sov.hooks.sov_rules.ActivityFilters`.
        """
        params = activity_params(dict(filters), cursor_id, prev_cursor_id, page_size)
        body = self.request(ROUTES["activity"], params=params, job_id=filters.get("id"))
        results = body.get("results") if isinstance(body, dict) else None
        if not isinstance(results, list):
            raise malformed_response(
                self._call(ROUTES["activity"], self.settings, filters.get("id"), None), "no 'results' list"
            )
        return body

    def iter_activity(
        self, *, page_size: int = 50, **filters: Unpack[ActivityFilters]
    ) -> Iterator[dict[str, Any]]:
        """
        Yield every SOV of the activity list that ``filters`` select, page after page, each once.

        It follows ``cursor_id`` while ``has_remaining`` says there is more, and stops on a page
        that brings nothing new (a repeated cursor or only SOVs already seen).
        """
        seen: set[str] = set()
        cursor: str | None = None
        while True:
            page = self.list_activity(cursor_id=cursor, page_size=page_size, **filters)
            fresh = [r for r in page["results"] if isinstance(r, dict) and str(r.get("id")) not in seen]
            for record in fresh:
                seen.add(str(record.get("id")))
                yield record
            next_cursor = page.get("cursor_id")
            if not fresh or not page.get("has_remaining") or not next_cursor or next_cursor == cursor:
                return
            cursor = str(next_cursor)

    def find_updates(self, client_ref: str, *, sov_id: str | None = None) -> list[dict[str, Any]]:
        """
        Return the updates whose ``client_ref`` is ``client_ref``, of one SOV or of every SOV listed.

        Read from the activity list's ``all_updates`` (each the vendor's ``UpdateData``: ``sudid``,
        ``sovid``, ``status``, ``client_ref``, ``outputs``, ``posted_time``...), oldest first as
        listed. A client reference is matched exactly; the list's ``search`` is not used, since
        which fields it searches is not documented.

        :param client_ref: The reference the updates were initiated with.
        :param sov_id: Only this SOV's updates (one filtered read instead of the whole list).
        """
        if not isinstance(client_ref, str) or not client_ref:
            raise SovInputError(f"client_ref must be a non-empty string, got {client_ref!r}.")
        fields = ["id", "client_ref", "all_updates"]
        records = (
            self.iter_activity(id=sov_id, fields=fields) if sov_id else self.iter_activity(fields=fields)
        )
        return [dict(update) for update in _updates_with(records, client_ref)]

    def find_created(
        self, kind: str, client_ref: str, *, since: float, sov_id: str | None = None
    ) -> list[str]:
        """
        Return the IDs of the jobs of ``kind`` made with ``client_ref`` at ``since`` (UNIX time) or
        later, as the activity list shows them: how a retry finds a job whose creating answer was
        lost. A ``parse`` is an SOV record (its ``created_time``) that ``search`` finds; an ``update``
        is an entry of its ``sov_id``'s ``all_updates`` (its ``posted_time``), a ``submission`` one
        of the SOV ``search`` finds. The reference is matched exactly; a time that cannot be read
        counts as a match (a second job is worse than a clear error).
        """
        fields = ["id", "client_ref", "created_time", "all_updates"]
        if kind == "update":
            records = self.iter_activity(id=check_id(sov_id, "sov_id"), fields=fields)
        else:
            records = self.iter_activity(search=client_ref, fields=fields)
        if kind == "parse":
            found = [
                str(record.get("id"))
                for record in records
                if record.get("client_ref") == client_ref and _not_before(record.get("created_time"), since)
            ]
        else:
            found = [
                str(update.get("sudid"))
                for update in _updates_with(records, client_ref)
                if _not_before(update.get("posted_time"), since)
            ]
        return list(dict.fromkeys(found))

    def add_building(self, sov_id: str, building_data: dict[str, Any]) -> dict[str, Any]:
        """
        Add one building to an SOV (JSON ``{"building_data": ...}``); return the API's answer as is.

        Not idempotent: it is retried only when the request provably never reached the server.

        :param building_data: The building's attributes, e.g. ``{"street": ..., "city": ...}``.
        """
        sov_id = check_id(sov_id, "sov_id", sov_routes.EXAMPLE_SOV_ID)
        if not isinstance(building_data, dict) or not building_data:
            raise SovInputError(
                f"building_data for SOV {sov_id} must be a non-empty dict of attributes, got {building_data!r}."
            )
        return dict(
            self.request(
                ROUTES["add_building"],
                ids={"sov_id": sov_id},
                job_id=sov_id,
                json={"building_data": building_data},
            )
        )

    def get_building(self, item_key: str) -> dict[str, Any]:
        """Read one building by its item key (e.g. ``i-s-e-xxxxxxx!SOV!1``); return it as the API sends it."""
        item_key = check_id(item_key, "item_key", sov_routes.EXAMPLE_ITEM_KEY)
        return dict(self.request(ROUTES["building"], ids={"item_key": item_key}, job_id=item_key))

    def sov_pages(self, sov_id: str | None = None, *, of: str | None = None) -> dict[str, str]:
        """
        Return the SOV's pages, ``{"ping_maps": url, "ping_vision": url}`` (those it has), from its
        activity record: one read (two with ``of``); the task links of :mod:`airflow_provider_sov.links`.

        :param sov_id: The SOV.
        :param of: Without ``sov_id``: an update (SUD) or SOV whose SOV it is (its history item's ``sovid``).
        """
        if sov_id is None:
            sov_id = str(self.get_history_item(check_id(of, "id")).get("sovid") or "")
        sov_id = check_id(sov_id, "sov_id", sov_routes.EXAMPLE_SOV_ID)
        fields = ["id", *PAGE_FIELDS.values()]
        found = self.list_activity(id=sov_id, page_size=1, fields=fields)["results"]
        record = next((r for r in found if isinstance(r, dict) and str(r.get("id")) == sov_id), {})
        return {
            page: str(record[field])
            for page, field in PAGE_FIELDS.items()
            if str(record.get(field) or "").startswith(("https://", "http://"))
        }

    def get_public_shareable_url(self, sov_id: str) -> str:
        """Return a public Ping Maps link to an SOV (anyone with it can see the SOV's map)."""
        sov_id = check_id(sov_id, "sov_id", sov_routes.EXAMPLE_SOV_ID)
        route = ROUTES["public_shareable_url"]
        body = self.request(route, ids={"sov_id": sov_id}, job_id=sov_id)
        return str(require_keys(body, ("url",), self._call(route, self.settings, sov_id, None))["url"])


def _updates_with(records: Iterable[dict[str, Any]], client_ref: str) -> Iterator[dict[str, Any]]:
    """The entries of the records' ``all_updates`` whose ``client_ref`` is exactly ``client_ref``."""
    for record in records:
        for update in record.get("all_updates") or []:
            if isinstance(update, dict) and update.get("client_ref") == client_ref:
                yield update


def _not_before(stamp: Any, since: float) -> bool:
    """Whether an API time (ISO 8601, UTC) is at ``since`` or later; one that cannot be read is."""
    try:
        when = dt.datetime.fromisoformat(str(stamp))
    except ValueError:
        return True
    return (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).timestamp() >= since
