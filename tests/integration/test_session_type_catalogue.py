"""The session-type catalogue each scheduling process keeps (phs_scheduling.catalogue),
on SQLite and PostgreSQL, with two stores on one database standing for two replicas:
its pages are the database's pages; a type created by this process is listed at once,
one created by another replica once the kept list expires; a catalogue too large to
keep is read page by page."""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

import grpc
import pytest

from phs.scheduling.v1 import resources_pb2 as r
from phs.scheduling.v1 import scheduling_service_pb2 as s
from phs_runtime import paging
from phs_scheduling import catalogue
from phs_scheduling.catalogue import SessionTypeCatalogue
from phs_scheduling.service import SchedulingServicer
from phs_scheduling.store import Store


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Context:
    """What a session-type handler reads of its call: no metadata."""

    def invocation_metadata(self) -> tuple[()]:
        return ()


@pytest.fixture
def replicas(db_url: str) -> Iterator[tuple[Store, Store]]:
    a, b = Store.open(db_url), Store.open(db_url, migrate=False)
    yield a, b
    b.close()
    a.close()


def _add(store: Store, code: str) -> None:
    row = {
        "code": code,
        "display_name": f"Type {code}",
        "duration_minutes": 50,
        "buffer_before_minutes": 0,
        "buffer_after_minutes": 10,
        "client_bookable": True,
    }
    with store.unit_of_work() as uow:
        uow.session_types.add(row)


def _codes(answer: s.ListSessionTypesResponse) -> list[str]:
    return [t.name.removeprefix("sessionTypes/") for t in answer.session_types]


def _walk(cat: SessionTypeCatalogue, size: int) -> list[list[str]]:
    pages, token = [], ""
    while True:
        answer = cat.page(paging.decode_token(token, "sessionTypes"), size)
        pages.append(_codes(answer))
        token = answer.next_page_token
        if not token:
            return pages


def test_pages_are_the_database_pages(replicas: tuple[Store, Store]) -> None:
    a, _ = replicas
    for code in ("A-1", "a-2", "Z9", "0-x"):
        _add(a, code)
    kept, uncached = SessionTypeCatalogue(a), SessionTypeCatalogue(a, ttl_s=0)
    everything = _codes(uncached.page(None, 1000))
    assert len(everything) >= 8 and not uncached.page(None, 1000).next_page_token
    for size in (1, 2, 3, 1000):
        walked = _walk(kept, size)
        assert walked == _walk(uncached, size)
        assert [c for p in walked for c in p] == everything
        assert all(len(p) == size for p in walked[:-1])
    # An answer is built once per kept list and shared.
    assert kept.page(None, 2) is kept.page(None, 2)


def test_another_replicas_type_is_listed_once_the_kept_list_expires(replicas: tuple[Store, Store]) -> None:
    a, b = replicas
    clock = Clock()
    cat = SessionTypeCatalogue(a, clock=clock)
    before = _codes(cat.page(None, 1000))
    _add(b, "other-1")
    clock.now += catalogue.TTL_S * 0.9
    assert _codes(cat.page(None, 1000)) == before
    clock.now += catalogue.TTL_S * 0.1
    assert "other-1" in _codes(cat.page(None, 1000))


def test_this_processs_new_and_changed_types_are_listed_at_once(replicas: tuple[Store, Store]) -> None:
    a, _ = replicas
    servicer = SchedulingServicer(a)
    # Kept for an hour: only the handlers' own invalidation can show the change.
    servicer.catalogue = SessionTypeCatalogue(a, ttl_s=3600)
    context = cast(grpc.ServicerContext, Context())
    listed = servicer.ListSessionTypes(s.ListSessionTypesRequest(page_size=1000), context)
    assert "mine-1" not in _codes(listed)
    servicer.CreateSessionType(
        s.CreateSessionTypeRequest(
            session_type_id="mine-1",
            session_type=r.SessionType(display_name="Mine", duration={"seconds": 3000}),
        ),
        context,
    )
    listed = servicer.ListSessionTypes(s.ListSessionTypesRequest(page_size=1000), context)
    assert "mine-1" in _codes(listed)
    servicer.UpdateSessionType(
        s.UpdateSessionTypeRequest(
            session_type=r.SessionType(name="sessionTypes/mine-1", duration={"seconds": 3600}),
            update_mask={"paths": ["duration"]},
        ),
        context,
    )
    listed = servicer.ListSessionTypes(s.ListSessionTypesRequest(page_size=1000), context)
    mine = next(t for t in listed.session_types if t.name == "sessionTypes/mine-1")
    assert mine.duration.seconds == 3600
    servicer.audit_log.close()


def test_a_catalogue_too_large_to_keep_is_read_per_call(
    replicas: tuple[Store, Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = replicas
    monkeypatch.setattr(catalogue, "MAX_KEPT", 3)
    cat = SessionTypeCatalogue(a, ttl_s=3600)
    first = _codes(cat.page(None, 1000))
    assert len(first) > 3
    _add(b, "late-1")  # another replica's: with nothing kept, listed at once
    assert "late-1" in _codes(cat.page(None, 1000))


def test_a_page_after_an_unlisted_code_is_the_databases(replicas: tuple[Store, Store]) -> None:
    a, _ = replicas
    cat, uncached = SessionTypeCatalogue(a, ttl_s=3600), SessionTypeCatalogue(a, ttl_s=0)
    codes = _codes(cat.page(None, 1000))
    gone = codes[0] + "0"  # as a page token naming a type no longer listed would
    assert gone not in codes
    assert _codes(cat.page([gone], 2)) == _codes(uncached.page([gone], 2))
    assert cat.page([gone], 2).next_page_token == uncached.page([gone], 2).next_page_token
