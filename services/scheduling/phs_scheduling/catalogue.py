"""The session-type catalogue as ListSessionTypes answers it, kept by each process
(phs_runtime.snapshot): nearly every screen lists it and it changes a few times a year.

Staleness: a type this process creates or changes is listed at once (its handler calls
`changed()` after the commit); one another replica creates or changes is listed within
`TTL_S`, the time after which each process reads the table again. One second behind
another replica is what a read replica would give as well; bookings never rely on the
list (they check the session type in their own transaction, Store.book_at_once).

A catalogue larger than `MAX_KEPT` types is read from the database per call, page by page.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Row

from phs.scheduling.v1 import scheduling_service_pb2 as s
from phs_runtime import paging
from phs_runtime.snapshot import Snapshot
from phs_scheduling.mapping import session_type_pb
from phs_scheduling.store import Store

TTL_S = 1.0
MAX_KEPT = paging.MAX_PAGE_SIZE
# Distinct (page start, page size) answers kept per read of the table.
_PAGES_KEPT = 32
_FILTERS = "sessionTypes"  # what page tokens of this list are bound to


def _token(code: str) -> str:
    return paging.encode_token([code], _FILTERS)


class _Kept:
    """One read of the whole table, in the database's order (by code), and the answers
    built from it so far. The answers are shared by concurrent calls: never change one."""

    def __init__(self, rows: Sequence[Row[Any]]) -> None:
        self.codes = [row.code for row in rows]
        self.types = [session_type_pb(row) for row in rows]
        self.position = {code: i for i, code in enumerate(self.codes)}
        self.pages: dict[tuple[str | None, int], s.ListSessionTypesResponse] = {}

    def page(self, after: str | None, limit: int) -> s.ListSessionTypesResponse | None:
        """None when `after` is not a listed code (the database answers that page)."""
        key = (after, limit)
        answer = self.pages.get(key)
        if answer is not None:
            return answer
        if after is None:
            start = 0
        elif after in self.position:
            start = self.position[after] + 1
        else:
            return None
        chunk = self.types[start : start + limit]
        more = start + limit < len(self.types)
        answer = s.ListSessionTypesResponse(
            session_types=chunk, next_page_token=_token(self.codes[start + limit - 1]) if more else ""
        )
        if len(self.pages) < _PAGES_KEPT:
            self.pages[key] = answer
        return answer


class SessionTypeCatalogue:
    def __init__(
        self, store: Store, ttl_s: float = TTL_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.store = store
        self._snapshot: Snapshot[_Kept | None] = Snapshot(self._read, ttl_s, clock)

    def _read(self) -> _Kept | None:
        rows = self._list(None, MAX_KEPT)
        return _Kept(rows) if len(rows) <= MAX_KEPT else None

    def _list(self, after: list[Any] | None, limit: int) -> Sequence[Any]:
        """Up to limit + 1 types after `after`, in code order (one more says: more follow)."""
        with self.store.read() as uow:
            return uow.session_types.list(after, limit)

    def changed(self) -> None:
        """This process committed a change to the table: list it from now on."""
        self._snapshot.invalidate()

    def page(self, after: list[Any] | None, limit: int) -> s.ListSessionTypesResponse:
        """The page after the code `after` names (a decoded page token; None: the first)."""
        code = after[0] if after else None
        kept = self._snapshot.get()
        if kept is not None and (code is None or isinstance(code, str)):
            answer = kept.page(code, limit)
            if answer is not None:
                return answer
        rows = self._list(after, limit)
        more = len(rows) > limit
        rows = rows[:limit]
        return s.ListSessionTypesResponse(
            session_types=[session_type_pb(x) for x in rows],
            next_page_token=_token(rows[-1].code) if more else "",
        )
