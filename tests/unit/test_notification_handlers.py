"""The notification preferences API in-process on a throwaway SQLite database
(tests/unit/servicers.py): an update changes only the masked fields, its request id
answers a retry with the first response and refuses another request, and a bad
value writes nothing. Through the stack: tests/e2e/test_notifications.py."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import field_mask_pb2

from phs.notifications.v1 import notifications_service_pb2 as ns
from phs.notifications.v1 import resources_pb2 as nr
from phs_notifications.handlers.api import NotificationServicer
from tests.unit.servicers import acting_as, ctx, fields, notification_servicer, refused

OFFSETS = (dt.timedelta(hours=24), dt.timedelta(hours=2))
NAME = "clients/c1/notificationPreferences"


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[NotificationServicer]:
    with notification_servicer(tmp_path, OFFSETS) as servicer, acting_as("clients/c1", "client"):
        yield servicer


def _update(
    paths: list[str], request_id: str = "", **values: object
) -> ns.UpdateClientNotificationPreferencesRequest:
    return ns.UpdateClientNotificationPreferencesRequest(
        preferences=nr.ClientNotificationPreferences(name=NAME, **values),  # type: ignore[arg-type]
        update_mask=field_mask_pb2.FieldMask(paths=paths),
        request_id=request_id,
    )


def _get(svc: NotificationServicer) -> nr.ClientNotificationPreferences:
    return svc.GetClientNotificationPreferences(ns.GetClientNotificationPreferencesRequest(name=NAME), ctx())


def test_an_update_changes_only_the_masked_fields(svc: NotificationServicer) -> None:
    svc.UpdateClientNotificationPreferences(_update(["time_zone"], time_zone="Europe/Paris"), ctx())
    svc.UpdateClientNotificationPreferences(_update(["email_enabled"], email_enabled=False), ctx())
    now = _get(svc)
    assert (now.time_zone, now.email_enabled) == ("Europe/Paris", False)


def test_a_request_id_answers_a_retry_and_refuses_another_request(svc: NotificationServicer) -> None:
    first = svc.UpdateClientNotificationPreferences(
        _update(["time_zone"], "prefs-1", time_zone="Europe/Paris"), ctx()
    )
    svc.UpdateClientNotificationPreferences(_update(["time_zone"], time_zone="Asia/Tokyo"), ctx())
    again = svc.UpdateClientNotificationPreferences(
        _update(["time_zone"], "prefs-1", time_zone="Europe/Paris"), ctx()
    )
    assert again == first and _get(svc).time_zone == "Asia/Tokyo"  # the replay changed nothing
    other = _update(["time_zone"], "prefs-1", time_zone="America/Toronto")
    err = refused(
        lambda: svc.UpdateClientNotificationPreferences(other, ctx()), grpc.StatusCode.FAILED_PRECONDITION
    )
    assert err.reason == "IDEMPOTENCY_KEY_REUSED"
    header = _update(["email_enabled"], email_enabled=False)
    svc.UpdateClientNotificationPreferences(header, ctx([("idempotency-key", "prefs-2")]))
    assert not _get(svc).email_enabled


def test_a_bad_value_is_refused_and_writes_nothing(svc: NotificationServicer) -> None:
    svc.UpdateClientNotificationPreferences(_update(["time_zone"], time_zone="Europe/Paris"), ctx())
    bad = _update(["time_zone"], "prefs-3", time_zone="Mars/Olympus")
    err = refused(
        lambda: svc.UpdateClientNotificationPreferences(bad, ctx()), grpc.StatusCode.INVALID_ARGUMENT
    )
    assert fields(err) and _get(svc).time_zone == "Europe/Paris"
    # The refused request left no record: the same id can carry a good request.
    good = _update(["time_zone"], "prefs-3", time_zone="Asia/Tokyo")
    assert svc.UpdateClientNotificationPreferences(good, ctx()).time_zone == "Asia/Tokyo"
