"""The notifications API through the gateway (what the web app calls): preferences read
and changed over REST as each person's own, refused for others and without a token,
with the gateway's own checks (unknown body fields, wrong methods) applied to its
routes as to the other services'."""

from __future__ import annotations

import uuid

from phs_devstack import Stack
from tests.conftest import token_for
from tests.helpers import eventually, json_lines, rest


def _ids() -> tuple[str, str]:
    return f"clients/c-{uuid.uuid4().hex[:8]}", f"psychologists/p-{uuid.uuid4().hex[:8]}"


def test_a_client_reads_and_changes_their_own_preferences_over_rest(stack: Stack) -> None:
    client, _ = _ids()
    token = token_for(stack.keys, client, "client")  # type: ignore[arg-type]
    path = f"/v1/{client}/notificationPreferences"
    first = rest(stack.rest_url, "GET", path, token=token)
    assert first.status == 200, first.body
    assert first.body["name"] == f"{client}/notificationPreferences"
    assert first.body["emailEnabled"] is True  # the default until changed
    offsets = first.body["availableReminderOffsets"]
    assert offsets, first.body

    changed = rest(
        stack.rest_url,
        "PATCH",
        path + "?updateMask=emailEnabled,reminderOffsets,timeZone",
        {"emailEnabled": False, "reminderOffsets": offsets[:1], "timeZone": "America/Toronto"},
        token=token,
    )
    assert changed.status == 200, changed.body
    again = rest(stack.rest_url, "GET", path, token=token)
    assert again.body["emailEnabled"] is False
    assert again.body["reminderOffsets"] == offsets[:1]
    assert again.body["timeZone"] == "America/Toronto"

    # The gateway logged the call as the notifications cluster's.
    eventually(
        lambda: any(
            line.get("upstream_cluster") == "notifications" and line.get("http_method") == "PATCH"
            for line in json_lines(stack.log("envoy"))
        ),
        what="the access log names the notifications cluster",
    )


def test_a_psychologist_sets_new_request_mail_over_rest(stack: Stack) -> None:
    _, psychologist = _ids()
    token = token_for(stack.keys, psychologist, "psychologist")  # type: ignore[arg-type]
    path = f"/v1/{psychologist}/notificationPreferences"
    assert rest(stack.rest_url, "GET", path, token=token).body["newRequestEmails"] is False
    # On without an address is refused by the service, with its reason.
    bad = rest(stack.rest_url, "PATCH", path, {"newRequestEmails": True}, token=token)
    assert bad.status == 400, bad.body
    ok = rest(
        stack.rest_url, "PATCH", path, {"newRequestEmails": True, "email": "dr@example.org"}, token=token
    )
    assert ok.status == 200, ok.body
    assert ok.body["newRequestEmails"] is True and ok.body["email"] == "dr@example.org"


def test_other_peoples_preferences_and_no_token_are_refused(stack: Stack) -> None:
    client, psychologist = _ids()
    other_client, _ = _ids()
    token = token_for(stack.keys, client, "client")  # type: ignore[arg-type]
    other = rest(stack.rest_url, "GET", f"/v1/{other_client}/notificationPreferences", token=token)
    assert other.status == 403, other.body
    assert other.detail("ErrorInfo")["reason"] == "NOT_YOURSELF"
    psy = rest(stack.rest_url, "GET", f"/v1/{psychologist}/notificationPreferences", token=token)
    assert psy.status == 403, psy.body
    anonymous = rest(stack.rest_url, "GET", f"/v1/{client}/notificationPreferences", token=None)
    assert anonymous.status == 401, anonymous.body


def test_the_gateways_checks_apply_to_the_notifications_routes(stack: Stack) -> None:
    client, _ = _ids()
    token = token_for(stack.keys, client, "client")  # type: ignore[arg-type]
    path = f"/v1/{client}/notificationPreferences"
    typo = rest(stack.rest_url, "PATCH", path, {"emailEnabld": False}, token=token)
    assert typo.status == 400, typo.body
    assert typo.detail("ErrorInfo")["reason"] == "UNKNOWN_FIELD"
    wrong = rest(stack.rest_url, "DELETE", path, token=token)
    assert wrong.status == 405, wrong.body
    assert wrong.headers["allow"] == "GET, PATCH"
