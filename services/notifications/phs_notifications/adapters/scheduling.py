"""The scheduling service, as the notifications service needs it: an appointment's
current state, a client's name and address, a psychologist's name and zone, a
session type's name. Called at send time as a service principal (a token this
service signs itself, as the report worker does), never cached beyond a few
minutes (session type names only), never taken from an event.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass

import grpc

from phs.scheduling.v1 import resources_pb2 as sr
from phs.scheduling.v1 import scheduling_service_pb2 as ss
from phs.scheduling.v1 import scheduling_service_pb2_grpc as ss_grpc
from phs_notifications.domain.model import Appointment, State
from phs_runtime.auth import TokenSource
from phs_runtime.interceptors import client_channel

# Failures worth another attempt: the dependency may come back.
TRANSIENT = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.UNAUTHENTICATED,  # a key rotation in progress
    }
)

_STATES = {
    sr.Appointment.STATE_PENDING: State.PENDING,
    sr.Appointment.STATE_BOOKED: State.BOOKED,
    sr.Appointment.STATE_DECLINED: State.DECLINED,
    sr.Appointment.STATE_CANCELLED: State.CANCELLED,
    sr.Appointment.STATE_COMPLETED: State.COMPLETED,
    sr.Appointment.STATE_NO_SHOW: State.NO_SHOW,
}


class LookupFailed(Exception):
    """The scheduling service could not answer. `transient`: try again later."""

    def __init__(self, code: grpc.StatusCode) -> None:
        super().__init__(code.name)
        self.code = code
        self.transient = code in TRANSIENT


@dataclass(frozen=True)
class ClientRecord:
    display_name: str
    email: str


@dataclass(frozen=True)
class PsychologistRecord:
    display_name: str
    time_zone: str


def appointment_of(pb: sr.Appointment) -> Appointment:
    return Appointment(
        name=pb.name,
        client=pb.client,
        session_type=pb.session_type,
        start=pb.start_time.ToDatetime(tzinfo=dt.UTC),
        end=pb.end_time.ToDatetime(tzinfo=dt.UTC),
        state=_STATES.get(pb.state, State.UNKNOWN),
        rescheduled_from=pb.rescheduled_from,
    )


class Directory:
    def __init__(self, target: str, tokens: TokenSource | None, timeout_s: float = 10.0) -> None:
        self.channel = client_channel(target, tokens=tokens)
        self.stub = ss_grpc.SchedulingServiceStub(self.channel)
        self.timeout_s = timeout_s
        self._types: dict[str, str] = {}
        self._types_at = -1e9
        self._lock = threading.Lock()

    def _call(self, fn: object, request: object) -> object:
        try:
            return fn(request, timeout=self.timeout_s)  # type: ignore[operator]
        except grpc.RpcError as err:
            raise LookupFailed(err.code()) from None

    def appointment(self, name: str) -> Appointment | None:
        """The appointment as it is now; None if it does not exist (any more)."""
        try:
            pb = self._call(self.stub.GetAppointment, ss.GetAppointmentRequest(name=name))
        except LookupFailed as exc:
            if exc.code is grpc.StatusCode.NOT_FOUND:
                return None
            raise
        assert isinstance(pb, sr.Appointment)
        return appointment_of(pb)

    def earlier(self, name: str, limit: int = 100) -> list[str]:
        """The appointments `name` replaced (a chain of moves), newest first, back to the
        first booking; empty for one never moved or not found. At most `limit`."""
        out: list[str] = []
        current = self.appointment(name)
        while current is not None and current.rescheduled_from and len(out) < limit:
            out.append(current.rescheduled_from)
            current = self.appointment(current.rescheduled_from)
        return out

    def client(self, name: str) -> ClientRecord:
        pb = self._call(self.stub.GetClient, ss.GetClientRequest(name=name))
        assert isinstance(pb, sr.Client)
        return ClientRecord(pb.display_name, pb.email)

    def psychologist(self, name: str) -> PsychologistRecord:
        pb = self._call(self.stub.GetPsychologist, ss.GetPsychologistRequest(name=name))
        assert isinstance(pb, sr.Psychologist)
        return PsychologistRecord(pb.display_name, pb.time_zone)

    def session_type_name(self, name: str) -> str:
        """Display names of session types change rarely: the list is re-read every few
        minutes, or at once when a name is missing."""
        with self._lock:
            if name not in self._types or time.monotonic() - self._types_at > 300:
                types: dict[str, str] = {}
                token = ""
                while True:
                    resp = self._call(
                        self.stub.ListSessionTypes,
                        ss.ListSessionTypesRequest(page_size=1000, page_token=token),
                    )
                    assert isinstance(resp, ss.ListSessionTypesResponse)
                    types.update({t.name: t.display_name for t in resp.session_types})
                    token = resp.next_page_token
                    if not token:
                        break
                self._types, self._types_at = types, time.monotonic()
            return self._types.get(name, "Session")

    def close(self) -> None:
        self.channel.close()
