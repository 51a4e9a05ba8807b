"""The rule every answer of the REST gateway keeps, defined once.

- Never a 5xx (a 503 included), and always an answer within the route's timeout.
- A success (2xx) is JSON of the method's response message (an array of them for a
  server stream, one per line); a google.api.HttpBody method answers with the file's own type.
- Anything else is `application/json` holding a google.rpc.Status: `code` an int that
  maps to the HTTP status (google/rpc/code.proto's mapping; the gateway's own 405,
  408, 413, 414 and 431, which no code maps to, carry UNIMPLEMENTED,
  DEADLINE_EXCEEDED and RESOURCE_EXHAUSTED), `message` a string, `details` a list of
  Any, each with its `@type`.
- An error never echoes a long input value (any generated string of LONG characters
  or more) in its body or headers.
- The statuses the case decides (431, 413, 404, 405, 400, 401 for a missing or bad
  token) are the ones answered; a valid token is never answered 401.
- A gRPC request (a gRPC content type) is refused in gRPC's own framing, as a gRPC
  server refuses a method it does not have: HTTP 200, grpc-status UNIMPLEMENTED, no body.
- A GET or HEAD whose path left /v1/ (a mutated first segment) is the web app's: its
  index.html (text/html with the app's security headers), or a 400 or 404 Status.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format
from google.protobuf.message_factory import GetMessageClass

from tests.fuzz.cases import Case
from tests.fuzz.client import Answer
from tests.fuzz.routes import Route, pool, routes, served

# google.rpc.Code -> HTTP status (google/rpc/code.proto).
STATUS_FOR_CODE = {
    0: 200,
    1: 499,
    2: 500,
    3: 400,
    4: 504,
    5: 404,
    6: 409,
    7: 403,
    8: 429,
    9: 400,
    10: 409,
    11: 400,
    12: 501,
    13: 500,
    14: 503,
    15: 500,
    16: 401,
}
# Statuses only the gateway answers (no code maps to them) and the code they carry.
GATEWAY_CODES = {405: 12, 408: 4, 413: 8, 414: 8, 431: 8}
STATUS_KEYS = {"code", "message", "details"}


def codes_for(status: int) -> set[int]:
    codes = {c for c, s in STATUS_FOR_CODE.items() if s == status}
    if status in GATEWAY_CODES:
        codes.add(GATEWAY_CODES[status])
    return codes


@dataclass(frozen=True)
class Failure:
    kind: str  # the class: "server error", "not a Status", "wrong status", "echo", ...
    detail: str  # what tells causes apart within the class (content type, the rule broken, ...)
    why: str  # the specifics of this case


def check(case: Case, answer: Answer, deadline: float, anonymous: bool) -> list[Failure]:
    if answer.status is None:
        return [Failure("no answer", answer.error, f"after {answer.elapsed:.1f}s")]
    if case.grpc:
        if (answer.status, answer.headers.get("grpc-status"), answer.body) != (200, "12", b""):
            grpc_status = answer.headers.get("grpc-status")
            return [Failure("gRPC on the REST port", f"HTTP {answer.status}, grpc-status {grpc_status}", "")]
        return []
    out: list[Failure] = []
    status = answer.status
    if answer.elapsed > deadline:
        out.append(Failure("slow", f"over {deadline:g}s", f"{answer.elapsed:.1f}s"))
    if status >= 500:
        out.append(Failure("server error", _message(answer), _snippet(answer.body)))
    if case.expect is not None and status not in case.expect.statuses:
        out.append(Failure("wrong status", str(case.expect), case.note))
    if not anonymous and status == 401:
        out.append(Failure("401 for a valid token", _message(answer), _snippet(answer.body)))
    if 200 <= status < 300 and case.web_app:
        # The app's index.html (for any route of the app), with the app's security headers.
        if not answer.content_type.startswith("text/html") or "content-security-policy" not in answer.headers:
            out.append(Failure("bad success body", "not the web app", answer.content_type))
        return out
    if 200 <= status < 300:
        problem = success_problem(served_by(case), answer)
        if problem:
            out.append(Failure("bad success body", problem[0], problem[1]))
        return out
    problem = status_problem(answer)
    if problem:
        out.append(Failure(problem[0], problem[1], _snippet(answer.body)))
    echoed = echo(case.longs, answer)
    if echoed:
        out.append(Failure("echo", echoed, f"{len(case.longs[0])}+ characters sent"))
    return out


def _message(answer: Answer) -> str:
    """The start of the error message (what tells one cause from another)."""
    try:
        data = json.loads(answer.body)
        message = str(data.get("message", "")) if isinstance(data, dict) else ""
    except ValueError:
        message = answer.body.decode("utf-8", "replace")
    return re.sub(r"[0-9a-f-]{8,}|\d+", "#", message)[:60] or answer.content_type


def _snippet(body: bytes, limit: int = 160) -> str:
    text = body[:limit].decode("utf-8", "replace")
    return text + ("…" if len(body) > limit else "")


def served_by(case: Case) -> list[Route]:
    """The routes whose answer this can be: the one the path and method select (a
    mutated path can name another method's resource; the gateway ignores one trailing
    slash), else any of the method's."""
    path = case.target.split("?", 1)[0]
    all_routes = routes()
    for candidate in (path, path.removesuffix("/")):
        found = served(candidate, case.method, all_routes)
        if found:
            return found
    return [r for r in all_routes if r.http_method == case.method] or [case.route]


def success_problem(candidates: list[Route], answer: Answer) -> tuple[str, str] | None:
    """None when the answer is the response of one of the routes."""
    problem: tuple[str, str] | None = None
    for route in candidates:
        problem = _not_response_of(route, answer)
        if problem is None:
            return None
    return problem


def _not_response_of(route: Route, answer: Answer) -> tuple[str, str] | None:
    if route.raw_output:
        return None if answer.content_type else ("no content type", "an HttpBody answer without its type")
    if not answer.content_type.startswith("application/json"):
        return (answer.content_type or "no content type", "a success that is not JSON")
    try:
        # A stream through the gateway: one JSON message per line.
        lines = answer.body.splitlines() if route.streams else [answer.body]
        items = [json.loads(line) for line in lines if line.strip()]
        cls = GetMessageClass(route.output)
        for item in items:
            json_format.ParseDict(item, cls(), descriptor_pool=pool())
    except (ValueError, TypeError, AttributeError, json_format.ParseError) as err:
        return ("not the response message", f"{type(err).__name__}: {str(err)[:120]}")
    return None


def status_problem(answer: Answer) -> tuple[str, str] | None:
    """(class, detail) when an error answer is not a proper google.rpc.Status."""
    assert answer.status is not None
    if not answer.content_type.startswith("application/json"):
        return ("not JSON", answer.content_type or "no content type")
    try:
        data = json.loads(answer.body)
    except ValueError:
        return ("not a Status", "the body is not JSON")
    if not isinstance(data, dict) or not set(data) <= STATUS_KEYS or "code" not in data:
        keys = sorted(data) if isinstance(data, dict) else type(data).__name__
        return ("not a Status", f"with {keys}")
    code, message, details = data.get("code"), data.get("message", ""), data.get("details", [])
    if not isinstance(code, int) or isinstance(code, bool) or not isinstance(message, str):
        return ("not a Status", f"code {code!r}")
    if not isinstance(details, list) or not all(isinstance(d, dict) and "@type" in d for d in details):
        return ("not a Status", "details without @type")
    try:
        json_format.ParseDict(
            data, GetMessageClass(pool().FindMessageTypeByName("google.rpc.Status"))(), descriptor_pool=pool()
        )
    except json_format.ParseError as err:
        return ("not a Status", str(err)[:80])
    if code not in codes_for(answer.status):
        return ("code mismatch", f"code {code} with HTTP {answer.status}")
    return None


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def echo(longs: list[str], answer: Answer) -> str:
    """Where a long input value comes back: "body" or a header name; "" when nowhere."""
    if not longs:
        return ""
    text = answer.body.decode("utf-8", "replace")
    try:
        texts = [text, *_strings(json.loads(answer.body))]
    except ValueError:
        texts = [text]
    # Every form of a value is at least as long as the value: skip those longer than
    # anything in the answer (the 1 MiB bodies) without encoding them.
    room = max([len(answer.body), *(len(h) for h in answer.headers.values())])
    for value in longs:
        if len(value) > room:
            continue
        forms = {value, urllib.parse.quote(value, safe=""), json.dumps(value)[1:-1]}
        if any(form in t for form in forms for t in texts):
            return "body"
        for name, header in answer.headers.items():
            if any(form in header or form in urllib.parse.unquote(header) for form in forms):
                return f"header {name}"
    return ""
