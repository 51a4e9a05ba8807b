"""The client's portal in Chromium against the real stack (Envoy serving the built app
and the API, the development OpenID provider): the initial JavaScript gzipped, the time
until the portal is interactive on localhost, and the time to render 14 days of open
slots after their data arrives. Figures are printed, not asserted.

    python -m bench.web_portal [--runs 7]

Needs a build (`make web`) and Debian's Chromium.
"""

from __future__ import annotations

import argparse
import gzip
import re
import statistics
import tempfile
from pathlib import Path
from typing import Any

from phs_devstack import REPO, Ports, Stack
from tests.browser import CHROMIUM_ARGS, chromium_path
from tests.helpers import rest

DIST = REPO / "services" / "web" / "dist"


def initial_js_gzipped() -> int:
    """What index.html loads before anything else: its module script and preloads."""
    html = (DIST / "index.html").read_text()
    files = re.findall(r'<(?:script[^>]*src|link[^>]*rel="modulepreload"[^>]*href)="([^"]+\.js)"', html)
    return sum(len(gzip.compress((DIST / f.lstrip("/")).read_bytes(), 9)) for f in files)


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=7)
    ns = ap.parse_args()
    exe = chromium_path()
    if exe is None or not (DIST / "index.html").exists():
        raise SystemExit("needs Chromium (apt-get install -y chromium) and a build (make web)")
    from playwright.sync_api import sync_playwright

    js = initial_js_gzipped()
    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack(root=Path(tmp), ports=Ports.free())
        try:
            stack.start()
            base = stack.rest_url
            make_practice(base, stack.token("staff/bench", "admin"))
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
        finally:
            stack.stop()
    print(f"initial JS: {js / 1024:.1f} kB gzipped (budget 200 kB)")
    print(
        f"portal interactive on localhost (navigation start to data on screen, {ns.runs} reloads): "
        f"median {statistics.median(interactive):.0f} ms, max {max(interactive):.0f} ms (budget 1000 ms)"
    )
    print(
        f"14 days of slots rendered after the data arrived ({slots} slots, {ns.runs} loads): "
        f"median {statistics.median(render):.1f} ms, max {max(render):.1f} ms (budget 300 ms)"
    )


if __name__ == "__main__":
    main()
