"""The web app in Chromium against the real stack (Envoy serving the built app and the
API, the development OpenID provider): the initial JavaScript and each lazy chunk
gzipped, the time until the client's portal is interactive on localhost, the time to
render 14 days of open slots after their data arrives, and the time to render the
psychologist's week holding 200 appointments after their data arrives. Figures are
printed, not asserted (except that the week shows all 200 appointments).

    python -m bench.web_portal [--runs 7]

Needs a build (`make web`) and Debian's Chromium.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import re
import statistics
import tempfile
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from phs_devstack import REPO, Ports, Stack
from tests.browser import CHROMIUM_ARGS, chromium_path
from tests.helpers import local_slot, rest, rfc3339

DIST = REPO / "services" / "web" / "dist"


ZONE = "America/Toronto"
WEEK_APPOINTMENTS = 200
# The lazy chunks by the module Vite names them after (src/App.tsx, psychologist/Workspace.tsx).
LAZY_CHUNKS = {
    "workspace (psychologist)": "Workspace",
    "caseload chart": "CaseloadPage",
    "staff console": "StaffConsole",
}


def gzipped(path: Path) -> int:
    return len(gzip.compress(path.read_bytes(), 9))


def initial_js_files() -> list[Path]:
    """What index.html loads before anything else: its module script and preloads."""
    html = (DIST / "index.html").read_text()
    files = re.findall(r'<(?:script[^>]*src|link[^>]*rel="modulepreload"[^>]*href)="([^"]+\.js)"', html)
    return [DIST / f.lstrip("/") for f in files]


def initial_js_gzipped() -> int:
    return sum(gzipped(f) for f in initial_js_files())


def static_imports(chunk: Path) -> set[Path]:
    """The chunks `chunk` imports statically, transitively (Vite's `from"./x.js"`)."""
    seen: set[Path] = set()
    todo = [chunk]
    while todo:
        for name in re.findall(r'from\s*"\./([^"]+\.js)"', todo.pop().read_text()):
            dep = chunk.parent / name
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def lazy_chunk_sizes() -> list[tuple[str, int, int]]:
    """Per lazy chunk: its own gzipped size, and what opening it fetches beyond what is
    already loaded: the initial JavaScript and any lazy chunk it imports (the caseload
    chart opens inside the workspace), so its own file and the shared chunks it needs."""
    chunks: dict[str, Path] = {}
    for label, stem in LAZY_CHUNKS.items():
        found = sorted((DIST / "assets").glob(f"{stem}-*.js"))
        if len(found) != 1:
            raise SystemExit(f"expected one {stem}-*.js chunk in {DIST / 'assets'}, found {len(found)}")
        chunks[label] = found[0]
    initial = set(initial_js_files())
    out = []
    for label, chunk in chunks.items():
        needs = static_imports(chunk)
        loaded = set(initial)
        for other in chunks.values():
            if other in needs:
                loaded |= {other} | static_imports(other)
        extra = ({chunk} | needs) - loaded
        out.append((label, gzipped(chunk), sum(gzipped(f) for f in extra)))
    return out


def make_practice(base: str, token: str) -> str:
    """A psychologist open every day 07-21 on a 15-minute grid (about 800 slots in 14
    days, more than any real week offers), and a client assigned to them."""

    def ok(method: str, path: str, body: Any) -> Any:
        resp = rest(base, method, path, body, token=token)
        assert resp.status == 200, resp
        return resp.body

    made = ok("POST", "/v1/psychologists", {"displayName": "Dr Bench", "timeZone": "America/Toronto"})
    p = str(made["name"])
    days = ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"]
    ok(
        "PATCH",
        f"/v1/{p}/availability",
        {
            "weeklyHours": [
                {"dayOfWeek": d, "startTime": {"hours": 7}, "endTime": {"hours": 21}} for d in days
            ],
            "bookingPolicy": {
                "minimumNotice": "3600s",
                "slotAlignment": "900s",
                "bookingHorizon": "2592000s",
            },
        },
    )
    ok("POST", "/v1/clients", {"displayName": "Bench Client", "psychologist": p})
    return p


def make_busy_week(base: str, token: str) -> tuple[str, dt.datetime]:
    """A psychologist with 200 booked appointments in one week (Monday at least two weeks
    ahead): 20-minute sessions every half hour from 06:30, 29 a day (26 on Sunday), all
    inside the week page's 06:00-21:00 grid and none overlapping. Staff may book outside
    working hours, so no availability is needed."""

    def ok(method: str, path: str, body: Any) -> Any:
        resp = rest(base, method, path, body, token=token)
        assert resp.status == 200, resp
        return resp.body

    ok(
        "POST",
        "/v1/sessionTypes?sessionTypeId=bench-20",
        {"displayName": "Bench check-in", "duration": "1200s", "clientBookable": False},
    )
    p = str(ok("POST", "/v1/psychologists", {"displayName": "Dr Busy Week", "timeZone": ZONE})["name"])
    c = str(ok("POST", "/v1/clients", {"displayName": "Busy Client", "psychologist": p})["name"])
    zone = ZoneInfo(ZONE)
    monday = local_slot(zone, 1, 6, 30, weeks_ahead=2)
    for i in range(WEEK_APPOINTMENTS):
        day, slot = divmod(i, 29)
        d = monday.date() + dt.timedelta(days=day)
        start = dt.datetime(d.year, d.month, d.day, 6, 30, tzinfo=zone) + dt.timedelta(minutes=30 * slot)
        body = {"client": c, "sessionType": "sessionTypes/bench-20", "startTime": rfc3339(start)}
        ok("POST", f"/v1/{p}/appointments", body)
    return p, monday


def week_render(pw: Any, exe: str, base: str, monday: dt.datetime, runs: int) -> tuple[list[float], int]:
    """Signed in as the busy psychologist: each load of /week?date=… measures the time
    from the agenda data's arrival to the week painted (phs:week-render)."""
    browser = pw.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
    page = browser.new_context(viewport={"width": 1280, "height": 900}, timezone_id=ZONE).new_page()
    page.goto(base + "/")
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.get_by_label("Filter people by name or resource name").fill("Dr Busy Week")
    page.get_by_role("button", name="Filter").click()
    page.get_by_role("button", name="Sign in as Dr Busy Week").click()
    page.get_by_role("heading", name="Today").wait_for()
    render: list[float] = []
    shown = 0
    for _ in range(runs):
        page.goto(f"{base}/week?date={monday.date().isoformat()}")
        page.wait_for_function(
            "() => performance.getEntriesByName('phs:week-render').length > 0", polling="raf"
        )
        render.append(page.evaluate("performance.getEntriesByName('phs:week-render')[0].duration"))
        shown = page.locator(".psy-calendar [data-appointment]").count()
    browser.close()
    return render, shown


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=7)
    ns = ap.parse_args()
    exe = chromium_path()
    if exe is None or not (DIST / "index.html").exists():
        raise SystemExit("needs Chromium (apt-get install -y chromium) and a build (make web)")
    from playwright.sync_api import sync_playwright

    js = initial_js_gzipped()
    chunks = lazy_chunk_sizes()
    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack(root=Path(tmp), ports=Ports.free())
        try:
            stack.start()
            base = stack.rest_url
            staff = stack.token("staff/bench", "admin")
            make_practice(base, staff)
            _, monday = make_busy_week(base, staff)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
                page = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
                page.goto(base + "/")
                page.get_by_role("button", name="Sign in", exact=True).click()
                page.get_by_label("Filter people by name or resource name").fill("Bench Client")
                page.get_by_role("button", name="Filter").click()
                page.get_by_role("button", name="Sign in as Bench Client").click()
                page.get_by_role("heading", name="Your sessions").wait_for()
                interactive: list[float] = []
                for _ in range(ns.runs):
                    # A fresh load of the portal, signed in (the session lives in this tab):
                    # until the page's data is on screen and the controls respond.
                    page.reload()
                    page.wait_for_function(
                        "() => !!document.querySelector('#coming-up') && !document.querySelector('.loading')",
                        polling="raf",
                    )
                    interactive.append(page.evaluate("performance.now()"))
                render: list[float] = []
                slots = 0
                for _ in range(ns.runs):
                    page.goto(base + "/book")
                    page.wait_for_function(
                        "() => performance.getEntriesByName('phs:slots-render').length > 0", polling="raf"
                    )
                    render.append(
                        page.evaluate("performance.getEntriesByName('phs:slots-render')[0].duration")
                    )
                    slots = page.locator('input[name="slot"]').count()
                browser.close()
                week, shown = week_render(pw, exe, base, monday, ns.runs)
        finally:
            stack.stop()
    print(f"initial JS (client portal): {js / 1024:.1f} kB gzipped (budget 200 kB)")
    for label, own, fetched in chunks:
        print(
            f"lazy chunk, {label}: {own / 1024:.1f} kB gzipped "
            f"({fetched / 1024:.1f} kB fetched when opened, shared chunks included)"
        )
    print(
        f"portal interactive on localhost (navigation start to data on screen, {ns.runs} reloads): "
        f"median {statistics.median(interactive):.0f} ms, max {max(interactive):.0f} ms (budget 1000 ms)"
    )
    print(
        f"14 days of slots rendered after the data arrived ({slots} slots, {ns.runs} loads): "
        f"median {statistics.median(render):.1f} ms, max {max(render):.1f} ms (budget 300 ms)"
    )
    print(
        f"psychologist's week rendered after the data arrived ({shown} appointments shown, {ns.runs} loads): "
        f"median {statistics.median(week):.1f} ms, max {max(week):.1f} ms (budget 300 ms)"
    )
    if shown != WEEK_APPOINTMENTS:
        raise SystemExit(f"error: the week showed {shown} appointments, not {WEEK_APPOINTMENTS}")


if __name__ == "__main__":
    main()
