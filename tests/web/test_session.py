"""Sessions in the browser with short-lived tokens: the access token is renewed silently
with the refresh token while the sign-in lasts, and when the provider ends the sign-in
the app asks, cleanly, to sign in again (no error page, no loop)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from phs_devstack import Ports, Stack
from tests.helpers import eventually, rest
from tests.web.conftest import Shots, new_page
from tests.web.test_portal import assert_accessible, sign_in

pytestmark = pytest.mark.slow

ACCESS_TTL_S = 6
SESSION_S = 20


@pytest.fixture(scope="module")
def short_stack(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[Stack]:
    s = Stack(
        root=tmp_path_factory.mktemp("web-session"),
        ports=Ports.free(),
        extra_env={
            "PHS_OIDC_ACCESS_TOKEN_SECONDS": str(ACCESS_TTL_S),
            "PHS_OIDC_SESSION_SECONDS": str(SESSION_S),
            "PHS_AUTH_LEEWAY_SECONDS": "0",
        },
    )
    try:
        s.start()
        yield s
    finally:
        s.stop()


def access_token(page: Any) -> str:
    for key in page.evaluate("Object.keys(sessionStorage)"):
        if key.startswith("oidc.user:"):
            stored = page.evaluate(f"sessionStorage.getItem({json.dumps(key)})")
            token: str = json.loads(stored)["access_token"]
            return token
    return ""


def test_renewal_then_a_clean_sign_in_again(browser: Any, short_stack: Stack) -> None:
    base = short_stack.rest_url
    p = rest(base, "POST", "/v1/psychologists", {"displayName": "Dr Short", "timeZone": "Europe/Paris"})
    assert p.status == 200, p
    c = rest(base, "POST", "/v1/clients", {"displayName": "Sam Session", "psychologist": p.body["name"]})
    assert c.status == 200, c
    page = new_page(browser)
    shot = Shots(page, "session-expiry")
    sign_in(page, short_stack, "Sam Session")
    signed_in_at = time.monotonic()  # the provider's sign-in began a little before
    first = access_token(page)
    assert first

    # Past the access token's life: the next page's calls renew it and succeed.
    time.sleep(ACCESS_TTL_S + 1)
    page.get_by_role("link", name="Appointments", exact=True).click()
    page.get_by_role("heading", name="Your appointments").wait_for()
    page.get_by_text("No upcoming sessions.").wait_for()
    # The list may show from the cache while its refetch renews the token in the background.
    renewed = eventually(lambda: access_token(page) not in ("", first), 15, what="a renewed token")
    assert renewed
    shot("renewed")

    # The sign-in itself ends: renewal is refused, and the app says so and offers sign-in.
    time.sleep(max(0.0, SESSION_S + 2 - (time.monotonic() - signed_in_at)))
    page.get_by_role("link", name="Book", exact=True).click()
    page.get_by_text("Your sign-in has ended. Please sign in again to continue.").wait_for()
    page.get_by_role("button", name="Sign in", exact=True).wait_for()
    assert access_token(page) == ""
    shot("ended")
    assert_accessible(page, "sign-in ended")
