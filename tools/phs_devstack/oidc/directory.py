"""The people who can sign in: the fixed practice staff, and the psychologists and
clients the scheduling service holds, read over gRPC with an admin token (so people
that tests create appear at once). Display names are shown on the sign-in page and
never logged."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import grpc

from phs.scheduling.v1 import scheduling_service_pb2 as ss
from phs.scheduling.v1 import scheduling_service_pb2_grpc as ss_grpc
from phs_devstack.oidc import STAFF, Person
from phs_runtime.auth import ADMIN, CLIENT, PSYCHOLOGIST, ClaimLayout, mint
from phs_runtime.interceptors import ClientInterceptor

# Listing stops here: the page shows the newest matches, the filter finds the rest.
_MAX_SCANNED = 20_000
_PAGE = 1000


class AdminTokens:
    """The provider's own admin token for reading the directory, re-minted before
    it expires (a TokenSource)."""

    def __init__(
        self, pem: bytes, kid: str, issuer: str, audience: str, layout: ClaimLayout, ttl_s: float = 300
    ) -> None:
        self.pem, self.kid, self.issuer, self.audience, self.ttl_s = pem, kid, issuer, audience, ttl_s
        self.layout = layout
        self._token, self._renew_at = "", 0.0
        self._lock = threading.Lock()

    def header(self) -> str:
        with self._lock:
            if time.monotonic() >= self._renew_at:
                subject = "staff/dev-sign-in"
                self._token = mint(
                    self.pem,
                    self.kid,
                    subject=subject,
                    role=ADMIN,
                    issuer=self.issuer,
                    audience=self.audience,
                    ttl=dt.timedelta(seconds=self.ttl_s),
                    # In the services' claim layout, like the provider's other tokens.
                    extra=self.layout.claims_for(subject, ADMIN),
                )
                self._renew_at = time.monotonic() + self.ttl_s / 2
            return f"Bearer {self._token}"


@dataclass(frozen=True)
class Listing:
    """One section of the sign-in page: at most `limit` matches, newest first."""

    people: list[Person]
    matched: int


class Directory:
    def __init__(self, target: str, tokens: AdminTokens, timeout_s: float = 10) -> None:
        channel = grpc.intercept_channel(grpc.insecure_channel(target), ClientInterceptor(tokens))
        self._stub = ss_grpc.SchedulingServiceStub(channel)
        self._timeout = timeout_s

    def _pages(self, call: Any, request_type: Any, field: str) -> Iterator[Any]:
        token, seen = "", 0
        while seen < _MAX_SCANNED:
            resp = call(request_type(page_size=_PAGE, page_token=token), timeout=self._timeout)
            items = list(getattr(resp, field))
            seen += len(items)
            yield from items
            token = resp.next_page_token
            if not token:
                return

    def psychologists(self) -> list[Person]:
        rows = self._pages(self._stub.ListPsychologists, ss.ListPsychologistsRequest, "psychologists")
        return _newest_first((p, Person(p.name, PSYCHOLOGIST, p.display_name)) for p in rows)

    def clients(self) -> list[Person]:
        rows = self._pages(self._stub.ListClients, ss.ListClientsRequest, "clients")
        return _newest_first((c, Person(c.name, CLIENT, c.display_name)) for c in rows)

    def find(self, subject: str) -> Person | None:
        """The person named `subject` as they are now, or None."""
        staff = next((p for p in STAFF if p.subject == subject), None)
        if staff is not None:
            return staff
        collection, _, rest = subject.partition("/")
        if not rest or "/" in rest or collection not in ("psychologists", "clients"):
            return None
        try:
            if collection == "psychologists":
                p = self._stub.GetPsychologist(ss.GetPsychologistRequest(name=subject), timeout=self._timeout)
                return Person(p.name, PSYCHOLOGIST, p.display_name)
            c = self._stub.GetClient(ss.GetClientRequest(name=subject), timeout=self._timeout)
            return Person(c.name, CLIENT, c.display_name)
        except grpc.RpcError as err:
            if err.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                return None
            raise


def _newest_first(rows: Iterator[tuple[Any, Person]]) -> list[Person]:
    ordered = sorted(rows, key=lambda row: row[0].create_time.ToNanoseconds(), reverse=True)
    return [person for _, person in ordered]


def select(people: list[Person], query: str, limit: int) -> Listing:
    """The people whose display name or resource name contains `query`
    (case-insensitive), at most `limit` of them."""
    q = query.strip().casefold()
    matches = [p for p in people if not q or q in p.display_name.casefold() or q in p.subject.casefold()]
    return Listing(matches[:limit], len(matches))
