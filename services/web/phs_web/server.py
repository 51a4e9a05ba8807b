"""The static server's rules.

- `GET /config.json`: the app's OpenID settings, from the environment (never cached).
- `GET /healthz` (readiness): 200 while index.html is there and the process is not
  draining, else 503. `GET /livez` (liveness): 200 while the process answers at all (a
  restart would not bring a missing build).
- A file under the root: `/assets/*` (Vite's content-hashed output) is cached for a year
  as immutable; everything else (index.html first) is revalidated on every use (ETag).
- A missing path without an extension is a route of the app: index.html (the SPA
  fallback). A missing path with one (or anything under /assets/) is 404: a stale asset
  URL must fail, not come back as HTML.
- Only GET and HEAD (405 with Allow); no directory listing; no dot-files; a path with
  `.`/`..` segments (encoded or not), a backslash or NUL is refused.
- Text is gzip-compressed when the client accepts it (kept in memory; a `.br` or `.gz`
  file beside the original, if the build wrote one, is sent as it is).
- Every response carries the security headers (a strict Content-Security-Policy that
  allows only this origin and the OpenID provider's).
- One JSON access-log line per request, without the query string.
"""

from __future__ import annotations

import email.utils
import gzip
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

from phs_runtime.claims import claim_settings_from_env
from phs_runtime.config import ConfigError, env_float, env_int, env_str
from phs_runtime.context import sanitize_request_id
from phs_runtime.logs import setup_logging
from phs_runtime.signals import stop_on_signals, wait_for
from phs_web import SERVICE_NAME

log = logging.getLogger("phs.web")
access = logging.getLogger("phs.web.access")

REPO = Path(__file__).resolve().parents[3]
DEFAULT_ROOT = REPO / "services" / "web" / "dist"

ALLOWED_METHODS = "GET, HEAD"
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
NO_STORE = "no-store"
# Files held in memory (with their gzip form); larger ones are read for each request.
MAX_CACHED_FILE = 8 * 1024 * 1024
MIN_COMPRESS = 256
MAX_LOGGED_PATH = 200

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json; charset=utf-8",
    ".map": "application/json; charset=utf-8",
    ".webmanifest": "application/manifest+json; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".xml": "application/xml; charset=utf-8",
    ".svg": "image/svg+xml; charset=utf-8",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".ttf": "font/ttf",
    ".otf": "font/otf",
    ".wasm": "application/wasm",
}
COMPRESSIBLE = {
    ".html",
    ".js",
    ".mjs",
    ".css",
    ".json",
    ".map",
    ".webmanifest",
    ".txt",
    ".xml",
    ".svg",
    ".ico",
}

# Errors are google.rpc.Status JSON, like every other error the gateway answers (AIP-193):
# HTTP status -> (google.rpc.Code, ErrorInfo reason). 405 carries UNIMPLEMENTED as the
# gateway's own 405 does.
STATUS_CODES = {
    400: (3, "INVALID_ARGUMENT"),
    404: (5, "NOT_FOUND"),
    405: (12, "METHOD_NOT_ALLOWED"),
    408: (4, "REQUEST_TIMEOUT"),
    413: (8, "REQUEST_TOO_LARGE"),
    414: (8, "URI_TOO_LONG"),
    431: (8, "HEADERS_TOO_LARGE"),
    501: (12, "NOT_IMPLEMENTED"),
    503: (14, "UNAVAILABLE"),
}


def status_body(http_status: int, message: str) -> bytes:
    code, reason = STATUS_CODES.get(http_status, (13 if http_status >= 500 else 3, "UNKNOWN"))
    return json.dumps(
        {
            "code": code,
            "message": message,
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": reason,
                    "domain": "phs.health",
                }
            ],
        }
    ).encode()


NOT_BUILT_HTML = (
    b"<!doctype html><meta charset=utf-8><title>Web app not built</title>"
    b"<h1>The web app is not built</h1><p>Run <code>make web</code> and reload.</p>\n"
)


@dataclass(frozen=True)
class Settings:
    root: Path
    host: str
    port: int
    authority: str
    client_id: str
    scope: str
    drain_s: float
    # Which token claims name the person and the role: the services' own settings.
    subject_claim: str = "sub"
    role_claim: str = "role"
    role_map: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> Settings:
        authority = os.environ.get("PHS_WEB_OIDC_AUTHORITY", "").strip()
        if authority:
            origin_of(authority)  # refuse a malformed issuer at start, not in the browser
        subject_claim, role_claim, role_map = claim_settings_from_env()
        return cls(
            root=Path(os.environ.get("PHS_WEB_ROOT") or DEFAULT_ROOT),
            host=env_str("PHS_WEB_HOST", "127.0.0.1"),
            port=env_int("PHS_WEB_PORT", 8070),
            authority=authority,
            client_id=env_str("PHS_WEB_OIDC_CLIENT_ID", "phs-web"),
            scope=env_str("PHS_WEB_OIDC_SCOPE", "openid profile offline_access"),
            drain_s=env_float("PHS_SHUTDOWN_DRAIN_SECONDS", 0.0),
            subject_claim=subject_claim,
            role_claim=role_claim,
            role_map=role_map,
        )


def origin_of(url: str) -> str:
    """scheme://host[:port] of an http(s) URL (what CSP source lists name)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"PHS_WEB_OIDC_AUTHORITY must be an http(s) URL, got {url[:80]!r}")
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"


def security_headers(authority: str) -> list[tuple[str, str]]:
    """The headers every response carries. The OpenID provider is the one other origin
    the app talks to (discovery and token calls), frames (silent renew) and posts to."""
    idp = origin_of(authority) if authority else ""
    plus = f" {idp}" if idp else ""
    frames = idp or "'none'"
    csp = "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "font-src 'self'",
            f"connect-src 'self'{plus}",
            f"frame-src {frames}",
            f"form-action 'self'{plus}",
            "base-uri 'none'",
            "object-src 'none'",
            "frame-ancestors 'none'",
        ]
    )
    return [
        ("Content-Security-Policy", csp),
        ("Referrer-Policy", "no-referrer"),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
        ("Cross-Origin-Resource-Policy", "same-origin"),
        ("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()"),
    ]


def accepted_encodings(header: str | None) -> set[str]:
    """Codings the client accepts (q > 0), lower case; `*` stands for any."""
    out: set[str] = set()
    for item in (header or "").split(","):
        name, _, params = item.strip().partition(";")
        name = name.strip().lower()
        if not name:
            continue
        q = 1.0
        for p in params.split(";"):
            key, _, value = p.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > 0:
            out.add(name)
    return out


@dataclass
class Entry:
    """One file as last read: its bytes, and its gzip form once asked for."""

    mtime_ns: int
    size: int
    body: bytes
    etag: str
    last_modified: str
    gz: bytes | None = None


@dataclass
class Files:
    """The built files, read on demand and kept while their size and mtime stay the same
    (Tilt and `make web` replace files under a running server)."""

    root: Path
    entries: dict[Path, Entry] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def resolve(self, url_path: str) -> Path | None:
        """The file a decoded URL path names, or None (missing, a directory, a dot-file,
        outside the root)."""
        rel = url_path.lstrip("/")
        if not rel:
            return None
        parts = rel.split("/")
        if any(p.startswith(".") or p == "" for p in parts):
            return None
        root = self.root.resolve()
        candidate = (root / rel).resolve()
        if not candidate.is_relative_to(root) or not candidate.is_file():
            return None
        return candidate

    @property
    def index(self) -> Path:
        return self.root / "index.html"

    def built(self) -> bool:
        return self.index.is_file()

    def get(self, path: Path) -> Entry | None:
        try:
            st = path.stat()
        except OSError:
            with self.lock:  # a file an earlier build had
                self.entries.pop(path, None)
            return None
        with self.lock:
            entry = self.entries.get(path)
        if entry is not None and entry.mtime_ns == st.st_mtime_ns and entry.size == st.st_size:
            return entry
        try:
            body = path.read_bytes()
        except OSError:
            return None
        entry = Entry(
            mtime_ns=st.st_mtime_ns,
            size=len(body),
            body=body,
            etag='"' + hashlib.sha256(body).hexdigest()[:32] + '"',
            last_modified=email.utils.formatdate(st.st_mtime, usegmt=True),
        )
        if len(body) <= MAX_CACHED_FILE:
            with self.lock:
                self.entries[path] = entry
        return entry

    def gzipped(self, path: Path, entry: Entry) -> bytes | None:
        """The gzip form (a `.gz` beside the file, else compressed once and kept), or None
        when compressing does not pay."""
        if entry.gz is None:
            sibling = path.with_name(path.name + ".gz")
            if sibling.is_file() and sibling.stat().st_mtime_ns >= entry.mtime_ns:
                entry.gz = sibling.read_bytes()
            else:
                entry.gz = gzip.compress(entry.body, compresslevel=9, mtime=0)
        return entry.gz if len(entry.gz) < entry.size else None

    @staticmethod
    def brotli(path: Path, entry: Entry) -> bytes | None:
        """A `.br` file the build wrote beside the original (the stdlib has no brotli)."""
        sibling = path.with_name(path.name + ".br")
        try:
            if sibling.stat().st_mtime_ns >= entry.mtime_ns:
                return sibling.read_bytes()
        except OSError:
            pass
        return None


class BadPath(ValueError):
    pass


def decode_path(target: str) -> str:
    """The decoded path of a request target (origin form), or BadPath."""
    if not target.startswith("/"):
        raise BadPath("not an origin-form request target")
    raw = target.split("?", 1)[0].split("#", 1)[0]
    try:
        path = unquote(raw, errors="strict")
    except UnicodeDecodeError as exc:
        raise BadPath("not UTF-8") from exc
    if "\x00" in path or "\\" in path:
        raise BadPath("NUL or backslash")
    if any(seg in (".", "..") for seg in path.split("/")):
        raise BadPath("dot segment")
    return path


class App:
    """What the handler needs: settings, files, header set, and whether we are draining."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.files = Files(settings.root)
        self.headers = security_headers(settings.authority)
        self.config_json = json.dumps(
            {
                "oidc": {
                    "authority": settings.authority,
                    "clientId": settings.client_id,
                    "scope": settings.scope,
                },
                "claims": {
                    "subject": settings.subject_claim,
                    "role": settings.role_claim,
                    "roleMap": settings.role_map,
                },
            }
        ).encode()
        self.draining = threading.Event()
        self.in_flight = 0
        self.in_flight_lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: Envoy reuses its upstream connections
    timeout = 60  # an idle keep-alive connection frees its thread after this
    # Headers and body go out in two writes: with Nagle's algorithm the body waits for
    # the peer's delayed ACK of the headers, tens of milliseconds per keep-alive request.
    disable_nagle_algorithm = True
    app: App  # set on the subclass that make_server builds

    # -- plumbing ----------------------------------------------------------------------

    def version_string(self) -> str:
        return "phs-web"

    def log_message(self, format: str, *args: object) -> None:
        """The stdlib's lines carry the query string; the access log below does not."""

    def __getattr__(self, name: str) -> Callable[[], None]:
        # The stdlib answers 501 for a method without a do_* handler: every method but
        # GET and HEAD is one this server knows and does not allow.
        if name.startswith("do_"):
            return self._not_allowed
        raise AttributeError(name)

    def handle_one_request(self) -> None:
        self._started = time.monotonic()
        self._status = 0
        self._sent = 0
        self._counted = False
        try:
            super().handle_one_request()
        finally:
            if self._counted:
                with self.app.in_flight_lock:
                    self.app.in_flight -= 1
            if self._status:
                self._access_log()

    def parse_request(self) -> bool:
        # Counted from here: a keep-alive connection waiting for its next request is not
        # a request in flight (shutdown waits only for those).
        self._started = time.monotonic()
        with self.app.in_flight_lock:
            self.app.in_flight += 1
        self._counted = True
        if not super().parse_request():
            return False
        # A body is never read here: left in the stream it would be taken for the next
        # request on this keep-alive connection (the gateway's, shared by every caller).
        # So a request with one is answered and the connection closed.
        length = self.headers.get("content-length", "").strip()
        if self.headers.get("transfer-encoding") or length not in ("", "0"):
            self.close_connection = True
        return True

    def _access_log(self) -> None:
        path = (getattr(self, "path", "") or "").split("?", 1)[0][:MAX_LOGGED_PATH]
        headers = getattr(self, "headers", None)
        rid = sanitize_request_id(headers.get("x-request-id") if headers is not None else None)
        access.info(
            "http request",
            extra={
                "request_id": rid,
                "http_method": (getattr(self, "command", "") or "")[:16],
                "path": path,
                "status": self._status,
                "bytes": self._sent,
                "duration_ms": round((time.monotonic() - self._started) * 1000, 2),
            },
        )

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The stdlib's errors (a malformed request line, a header too long) as small JSON
        without the input they quote."""
        self.close_connection = True
        status = HTTPStatus(code)
        self._reply(code, status_body(code, status.phrase.lower()), "application/json", NO_STORE)

    # -- responses ---------------------------------------------------------------------

    @staticmethod
    def _json(value: object) -> bytes:
        return json.dumps(value).encode()

    def _reply(
        self,
        status: int,
        body: bytes,
        content_type: str,
        cache: str,
        extra: list[tuple[str, str]] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if status != 304:  # a 304's length would have to be the full answer's
            self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", cache)
        for k, v in self.app.headers:
            self.send_header(k, v)
        for k, v in extra or []:
            self.send_header(k, v)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self._status = status
        if self.command != "HEAD" and status not in (204, 304):
            self.wfile.write(body)
            self._sent = len(body)

    def _not_allowed(self) -> None:
        self._reply(
            405,
            status_body(405, "only GET and HEAD are served here"),
            "application/json",
            NO_STORE,
            [("Allow", ALLOWED_METHODS)],
        )

    def _not_found(self) -> None:
        self._reply(404, status_body(404, "no such file"), "application/json", NO_STORE)

    def do_GET(self) -> None:
        try:
            path = decode_path(self.path)
        except BadPath:
            self._reply(400, status_body(400, "malformed path"), "application/json", NO_STORE)
            return
        if path == "/config.json":
            self._reply(200, self.app.config_json, "application/json", REVALIDATE)
            return
        if path == "/healthz":
            self._health()
            return
        if path == "/livez":
            self._reply(200, self._json({"status": "SERVING"}), "application/json", NO_STORE)
            return
        files = self.app.files
        file = files.resolve(path) if path != "/index.html" else None
        if file is not None:
            self._file(file, IMMUTABLE if path.startswith("/assets/") else REVALIDATE)
            return
        last = path.rsplit("/", 1)[-1]
        hidden = any(seg.startswith(".") for seg in path.split("/"))
        if path != "/index.html" and (hidden or path.startswith("/assets/") or PurePosixPath(last).suffix):
            self._not_found()
            return
        # "/", "/index.html" and every route of the app.
        if not files.built():
            self._reply(503, NOT_BUILT_HTML, "text/html; charset=utf-8", NO_STORE, [("Retry-After", "10")])
            return
        self._file(files.index, REVALIDATE)

    def do_HEAD(self) -> None:
        self.do_GET()

    def _health(self) -> None:
        if self.app.draining.is_set():
            body, status = {"status": "NOT_SERVING", "reason": "shutting down"}, 503
        elif not self.app.files.built():
            body, status = {"status": "NOT_SERVING", "reason": "web app not built (make web)"}, 503
        else:
            body, status = {"status": "SERVING"}, 200
        self._reply(status, self._json(body), "application/json", NO_STORE)

    def _file(self, path: Path, cache: str) -> None:
        entry = self.app.files.get(path)
        if entry is None:  # removed between the check and the read
            self._not_found()
            return
        suffix = path.suffix.lower()
        content_type = CONTENT_TYPES.get(suffix, "application/octet-stream")
        extra = [("ETag", entry.etag), ("Last-Modified", entry.last_modified), ("Vary", "Accept-Encoding")]
        if self._not_modified(entry):
            self._reply(304, b"", content_type, cache, extra)
            return
        body = entry.body
        if suffix in COMPRESSIBLE and entry.size >= MIN_COMPRESS:
            codings = accepted_encodings(self.headers.get("accept-encoding"))
            packed: bytes | None = None
            if "br" in codings:
                packed = Files.brotli(path, entry)
                if packed is not None:
                    extra.append(("Content-Encoding", "br"))
            if packed is None and ("gzip" in codings or "*" in codings):
                packed = self.app.files.gzipped(path, entry)
                if packed is not None:
                    extra.append(("Content-Encoding", "gzip"))
            body = packed if packed is not None else body
        self._reply(200, body, content_type, cache, extra)

    def _not_modified(self, entry: Entry) -> bool:
        tags = self.headers.get("if-none-match")
        if tags is None:
            return False
        return any(t.strip().removeprefix("W/") == entry.etag for t in tags.split(",")) or tags.strip() == "*"


class Server(ThreadingHTTPServer):
    daemon_threads = True  # an idle keep-alive connection never holds up the exit
    allow_reuse_address = True


def make_server(settings: Settings) -> tuple[Server, App]:
    app = App(settings)
    handler = type("BoundHandler", (Handler,), {"app": app})
    return Server((settings.host, settings.port), handler), app


def main() -> None:
    setup_logging(SERVICE_NAME)
    settings = Settings.from_env()
    server, app = make_server(settings)
    stop = stop_on_signals()
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    log.info(
        "serving the web app",
        extra={
            "root": str(settings.root),
            "port": server.server_address[1],
            "built": app.files.built(),
            "oidc_authority": settings.authority,
            "oidc_client_id": settings.client_id,
        },
    )
    if not app.files.built():
        log.warning("the web app is not built: / answers 503 until it is (make web)")
    wait_for(stop)
    # Health says NOT_SERVING first, so the gateway and Kubernetes stop sending requests;
    # then the listener closes and requests in flight finish.
    app.draining.set()
    if settings.drain_s > 0:
        time.sleep(settings.drain_s)
    server.shutdown()
    server.server_close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with app.in_flight_lock:
            if app.in_flight == 0:
                break
        time.sleep(0.05)
    log.info("stopped")
