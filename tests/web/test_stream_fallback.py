"""When a live stream is down the web app says so and polls instead, through the real
stack in Chromium:

- the staff's reports page with its WatchReport stream blocked in the browser: it says
  it is checking every second, reads the report with GetReport, and still shows it
  reaching SUCCEEDED;
- a WatchAppointments stream that fails after it started (the broker goes away: the
  service ends open watches with UNAVAILABLE). Envoy's transcoder (1.40, HTTP/1.1,
  stream_newline_delimited) does not write that status into the body: the gRPC status
  is a trailer, which HTTP/1.1 here drops, and the body just ends. So a client cannot
  tell a failed watch from one that ended, and the web app treats every end as a drop:
  the psychologist's workspace falls back to polling and says so. The test pins both,
  so a gateway that starts sending a status line (src/api/stream.ts reads one) shows up.

Each step leaves a screenshot in test-artifacts/screenshots/."""

from __future__ import annotations

import json
import re
import signal
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from phs_devstack import Ports, Stack
from tests.helpers import auth_headers, eventually, json_lines, rest
from tests.web.conftest import PSY_ZONE, Shots, new_page
from tests.web.test_portal import assert_accessible
from tests.web.test_psychologist import sign_in as sign_in_psychologist
from tests.web.test_staff import open_page, report_row, sign_in_staff

pytestmark = pytest.mark.slow

WATCH = re.compile(r"/v1/reports/[^/?]+:watch$")
POLLING = "Live updates paused; checking every second."


def test_reports_poll_while_the_watch_is_blocked(browser: Any, web_stack: Stack) -> None:
    psy_name = f"Dr Blocked {uuid.uuid4().hex[:6]}"
    made = rest(
        web_stack.rest_url, "POST", "/v1/psychologists", {"displayName": psy_name, "timeZone": PSY_ZONE}
    )
    assert made.status == 200, made
    page = new_page(browser)
    shot = Shots(page, "staff-reports-polling")
    blocked: list[str] = []
    reads: list[str] = []  # GetReport of single reports

    def block(route: Any) -> None:
        blocked.append(urlsplit(route.request.url).path)
        route.abort()

    def seen(request: Any) -> None:
        path = urlsplit(request.url).path
        if request.method == "GET" and re.fullmatch(r"/v1/reports/[^/:]+", path):
            reads.append(path)

    page.route(lambda url: bool(WATCH.search(urlsplit(url).path)), block)
    page.on("request", seen)
    sign_in_staff(page, web_stack)
    open_page(page, "Reports", "Reports")
    form = page.get_by_role("form", name="New report")
    form.get_by_label("Caseload of one psychologist").check()
    form.get_by_label("Psychologist", exact=True).select_option(label=psy_name)
    # Paused, the worker leaves the job QUEUED long enough to see how the page follows it.
    worker = web_stack.procs["reports-worker"].popen
    worker.send_signal(signal.SIGSTOP)
    try:
        form.get_by_role("button", name="Create report").click()
        row = report_row(page, f"Caseload: {psy_name}")
        row.locator('[data-state="Queued"]').wait_for()
        row.get_by_role("status").filter(has_text=POLLING).wait_for()
        name = row.get_attribute("data-report")
        assert name and blocked and set(blocked) == {f"/v1/{name}:watch"}, (name, blocked)
        # Polled: GetReport again and again while the watch stays down.
        page.wait_for_timeout(2_500)
        assert reads.count(f"/v1/{name}") >= 2, reads
        shot("polling")
        assert_accessible(page, "reports while polling")
    finally:
        worker.send_signal(signal.SIGCONT)
    row.locator('[data-state="Succeeded"]').wait_for(timeout=60_000)
    # Final: nothing more to follow, so no line about how.
    row.get_by_role("status").wait_for(state="detached")
    shot("succeeded")
    job = rest(web_stack.rest_url, "GET", f"/v1/{name}").body
    assert job["state"] == "STATE_SUCCEEDED", job
    page.context.close()


@pytest.fixture(scope="module")
def fragile(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[Stack]:
    """A stack of its own: its broker is killed."""
    st = Stack(
        root=tmp_path_factory.mktemp("stream-error"),
        ports=Ports.free(),
        extra_env={"PHS_WATCH_HEARTBEAT_SECONDS": "1"},
    )
    try:
        st.start()
        yield st
    finally:
        st.stop()


class RestWatch:
    """One WatchAppointments through the gateway, its lines read on a thread."""

    def __init__(self, st: Stack, parent: str) -> None:
        token = st.token("staff/test-admin", "admin")
        url = f"{st.rest_url}/v1/{parent}/appointments:watch"
        req = urllib.request.Request(url, headers=auth_headers(token))
        self.resp = urllib.request.urlopen(req, timeout=60)
        self.lines: list[dict[str, Any]] = []
        self.first = threading.Event()
        self.done = threading.Event()
        self.error: BaseException | None = None
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for raw in self.resp:  # one JSON value per line; ends when the response does
                if raw.strip():
                    self.lines.append(json.loads(raw))
                    self.first.set()
        except BaseException as exc:  # noqa: BLE001 - kept for the assertion
            self.error = exc
        finally:
            self.done.set()


def test_a_watch_that_fails_mid_stream_just_ends_and_the_page_polls(browser: Any, fragile: Stack) -> None:
    st = fragile
    psy_name = f"Dr Fragile {uuid.uuid4().hex[:6]}"
    made = rest(st.rest_url, "POST", "/v1/psychologists", {"displayName": psy_name, "timeZone": PSY_ZONE})
    assert made.status == 200, made
    psych = made.body["name"]

    # The workspace, live: its watch is open through the gateway.
    page = new_page(browser)
    shot = Shots(page, "workspace-watch-error")
    watches: list[Any] = []
    path = f"/v1/{psych}/appointments:watch"
    page.on("response", lambda r: watches.append(r) if urlsplit(r.url).path == path else None)
    sign_in_psychologist(page, st, psy_name)
    page.get_by_role("link", name="Requests").click()
    status = page.get_by_role("status").filter(has_text="live updates")
    page.get_by_text("New requests appear here as clients send them.").wait_for()
    shot("live")

    # And one read line by line over plain HTTP.
    watch = RestWatch(st, psych)
    assert watch.first.wait(10), "no first line"
    assert set(watch.lines[0]) == {"heartbeatTime"}, watch.lines[0]
    assert watch.resp.status == 200

    st.stop_proc("kafka", sig=signal.SIGKILL)

    # (a) The service ended the watch with UNAVAILABLE (the gateway's access log says
    # so), yet over HTTP the body ends cleanly after its last heartbeat: no status line.
    assert watch.done.wait(30), "the watch did not end"
    assert watch.error is None, repr(watch.error)  # a clean end, not a cut connection
    assert watch.lines and all(set(x) == {"heartbeatTime"} for x in watch.lines), watch.lines[-3:]
    request_id = watch.resp.headers["x-request-id"]

    def access_entry() -> dict[str, Any] | None:
        return next((x for x in json_lines(st.log("envoy")) if x.get("request_id") == request_id), None)

    entry = eventually(access_entry, timeout=10, what="the watch in the gateway's access log")
    assert entry["status"] == 200 and entry["grpc_status"] == "Unavailable", entry

    # (b) The browser's watch ended the same way, and the page fell back to polling, in
    # words (it would for a status line too: stream.ts throws on one).
    status.filter(has_text="Connecting for live updates").wait_for(timeout=30_000)
    first = watches[0]
    assert first.status == 200, first.status
    body = [json.loads(line) for line in first.text().splitlines() if line.strip()]
    assert body and all(set(x) == {"heartbeatTime"} for x in body), body[-3:]
    shot("fell-back")
    assert_accessible(page, "requests after the watch failed")
    page.context.close()
