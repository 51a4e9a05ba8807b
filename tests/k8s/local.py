"""Run rendered workloads as local processes: a container's command and args with its env,
where every in-cluster address is replaced by the local process (or broker) behind it,
every container port by a free loopback port, every Secret-provided database URL by a
local database, and every mounted ConfigMap or Secret by files in a temporary root (with
the items, paths and file modes the volume declares).

Nothing is added that the container spec does not say: the process environment is the
container's env plus PATH/HOME; a missing env var or port wiring shows up as a probe
that does not answer."""

from __future__ import annotations

import base64
import functools
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import yaml

from phs_devstack import free_port
from tests.clock.faketime import CLOCK_VARS
from tests.k8s import kube

Obj = dict[str, Any]
FQDN = re.compile(r"^(?P<svc>[a-z0-9-]+)\.(?P<ns>[a-z0-9-]+)\.svc\.cluster\.local$")


@dataclass
class Running:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    ports: dict[int, int]  # container port -> local port
    env: dict[str, str] = field(default_factory=dict)  # the process environment
    started: float = field(default_factory=time.monotonic)
    terminated_at: float | None = None

    def local(self, container_port: int) -> int:
        return self.ports[container_port]

    def alive(self) -> bool:
        return self.popen.poll() is None

    def terminate(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            self.terminated_at = time.monotonic()

    def stop(self, timeout: float) -> tuple[int | None, float]:
        """SIGTERM (unless sent already), wait up to `timeout` from the signal; returns
        (exit code, seconds since the signal)."""
        if self.terminated_at is None:
            self.terminate()
        t0 = self.terminated_at or time.monotonic()
        if self.popen.poll() is None:
            try:
                self.popen.wait(max(0.1, timeout - (time.monotonic() - t0)))
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
                return None, time.monotonic() - t0
        return self.popen.returncode, time.monotonic() - t0

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class LocalCluster:
    """The rendered objects of one release, about to run on loopback."""

    objects: list[Obj]
    root: Path
    python_bin: Mapping[str, Path]  # image ref (without tag) -> bin dir of its venv
    envoy_bin: str
    # Secret (name, key) -> value to use instead (e.g. database URLs -> local SQLite), also
    # for Secrets the release only references (e.g. the worker's signing key).
    secret_overrides: dict[tuple[str, str], str] = field(default_factory=dict)
    # Service name -> "host:port" of something running outside this harness (the broker).
    external: dict[str, str] = field(default_factory=dict)
    # (workload, variable) -> value instead of the rendered one, for what the image holds
    # and this harness does not (e.g. the web app's built files at PHS_WEB_ROOT).
    env_overrides: dict[tuple[str, str], str] = field(default_factory=dict)
    ports: dict[str, dict[int, int]] = field(default_factory=dict)
    running: dict[str, Running] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for w in kube.workloads(self.objects):
            self.ports[w["metadata"]["name"]] = {
                int(p["containerPort"]): free_port()
                for c in kube.pod_spec(w)["containers"]
                for p in c.get("ports", [])
            }

    # -- lookups -------------------------------------------------------------------------

    def get(self, kind: str, name: str) -> Obj:
        for o in self.objects:
            if o["kind"] == kind and o["metadata"]["name"] == name:
                return o
        raise KeyError(f"{kind}/{name}")

    def workload(self, name: str) -> Obj:
        return next(w for w in kube.workloads(self.objects) if w["metadata"]["name"] == name)

    def service_target(self, service: str, port: int) -> tuple[str, int]:
        """Service port -> (workload name, container port) the way kube-proxy/DNS route it."""
        svc = self.get("Service", service)
        entry = next(p for p in svc["spec"]["ports"] if int(p["port"]) == port)
        for w in kube.workloads(self.objects):
            if w["kind"] != "Job" and kube.selects(svc["spec"]["selector"], kube.pod_labels(w)):
                target = kube.container_port(w, entry.get("targetPort", port))
                if target is None:
                    raise AssertionError(
                        f"Service {service}:{port} targets {entry.get('targetPort')}, "
                        f"not a port of {w['metadata']['name']}"
                    )
                return w["metadata"]["name"], target
        raise AssertionError(f"Service {service} selects no workload")

    def resolve(self, host: str, port: int) -> str:
        m = FQDN.match(host)
        if m is None:
            raise AssertionError(f"unexpected address {host}:{port} (not a Service of the release)")
        if m["svc"] in self.external:
            return self.external[m["svc"]]
        name, target = self.service_target(m["svc"], port)
        return f"127.0.0.1:{self.ports[name][target]}"

    def _subst_addresses(self, value: str) -> str:
        def one(part: str) -> str:
            host, sep, port = part.rpartition(":")
            if sep and port.isdigit() and FQDN.match(host):
                return self.resolve(host, int(port))
            return part

        return ",".join(one(p) for p in value.split(","))

    # -- one container -------------------------------------------------------------------

    def env_of(self, w: Obj, container: Obj, mounts: Mapping[str, Path]) -> dict[str, str]:
        name = w["metadata"]["name"]
        env: dict[str, str] = {}
        for e in container.get("env", []):
            if "value" in e:
                value = str(e["value"])
            else:
                ref = e["valueFrom"]["secretKeyRef"]
                value = self.secret_value(ref["name"], ref["key"]).decode()
            if e["name"].endswith("_PORT") and value.isdigit() and int(value) in self.ports[name]:
                value = str(self.ports[name][int(value)])
            if value == "0.0.0.0":
                value = "127.0.0.1"
            value = self._subst_addresses(value)
            env[e["name"]] = _replace_mounts(value, mounts)
        for (workload, key), value in self.env_overrides.items():
            if workload == name:
                assert key in env, f"{name} has no variable {key} to override"
                env[key] = value
        return env

    def secret_value(self, name: str, key: str) -> bytes:
        """A Secret's value: the override, else the rendered (or otherwise given) object's."""
        if (name, key) in self.secret_overrides:
            return self.secret_overrides[(name, key)].encode()
        secret = self.get("Secret", name)
        if key in (secret.get("stringData") or {}):
            return str(secret["stringData"][key]).encode()
        return base64.b64decode(secret["data"][key])

    def _volume_files(self, vol: Obj) -> tuple[dict[str, bytes], dict[str, int]]:
        """A ConfigMap/Secret volume's files (path in the volume -> content) and their modes."""
        if "configMap" in vol:
            source = vol["configMap"]
            cm = self.get("ConfigMap", source["name"])
            data = {k: v.encode() for k, v in (cm.get("data") or {}).items()}
            data.update({k: base64.b64decode(v) for k, v in (cm.get("binaryData") or {}).items()})
            lookup: Callable[[str], bytes] = data.__getitem__
            keys = list(data)
        else:
            source = vol["secret"]
            name = source["secretName"]
            lookup = functools.partial(self.secret_value, name)
            keys = [k for (n, k) in self.secret_overrides if n == name]
            if not source.get("items"):
                secret = self.get("Secret", name)
                keys += [*(secret.get("data") or {}), *(secret.get("stringData") or {})]
        default_mode = int(source.get("defaultMode", 0o644))
        items = source.get("items") or [{"key": k, "path": k} for k in dict.fromkeys(keys)]
        files = {i["path"]: lookup(i["key"]) for i in items}
        modes = {i["path"]: int(i.get("mode", default_mode)) for i in items}
        return files, modes

    def materialize_mounts(self, w: Obj, container: Obj, root: Path) -> dict[str, Path]:
        """Write ConfigMap and Secret volumes as files, create emptyDirs; mountPath -> local path."""
        volumes = {v["name"]: v for v in kube.pod_spec(w).get("volumes", [])}
        out: dict[str, Path] = {}
        for m in container.get("volumeMounts", []):
            vol = volumes[m["name"]]
            local = root / m["mountPath"].lstrip("/")
            if "configMap" in vol or "secret" in vol:
                files, modes = self._volume_files(vol)
                targets = {local: m["subPath"]} if "subPath" in m else {local / p: p for p in files}
                for target, path in targets.items():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.unlink(missing_ok=True)  # a read-only file of an earlier run
                    target.write_bytes(files[path])
                    target.chmod(modes[path])
                if "subPath" not in m:
                    local.mkdir(parents=True, exist_ok=True)
            elif "emptyDir" in vol:
                local.mkdir(parents=True, exist_ok=True)
            else:
                raise AssertionError(
                    f"volume {m['name']} of {w['metadata']['name']}: kind not supported locally"
                )
            out[m["mountPath"]] = local
        return out

    def _localize_envoy_config(self, path: Path, name: str) -> None:
        config = yaml.safe_load(path.read_text())

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                sa = node.get("socket_address")
                if isinstance(sa, dict):
                    host, port = str(sa["address"]), int(sa["port_value"])
                    if host == "0.0.0.0":
                        sa["address"], sa["port_value"] = "127.0.0.1", self.ports[name][port]
                    else:
                        local_host, local_port = self.resolve(host, port).split(":")
                        sa["address"], sa["port_value"] = local_host, int(local_port)
                for v in node.values():
                    walk(v)
            elif isinstance(node, list):
                for v in node:
                    walk(v)

        walk(config)
        path.write_text(yaml.safe_dump(config))

    def command(
        self, name: str, *, container_index: int = 0, entrypoint: list[str] | None = None
    ) -> tuple[list[str], dict[str, str], Path]:
        """argv, env and working root of a workload's container, localized."""
        w = self.workload(name)
        container = kube.pod_spec(w)["containers"][container_index]
        root = self.root / name
        root.mkdir(parents=True, exist_ok=True)
        mounts = self.materialize_mounts(w, container, root / "fs")
        env = self.env_of(w, container, mounts)
        argv = [*(entrypoint if entrypoint is not None else container["command"]), *container.get("args", [])]
        argv = [_replace_mounts(a, mounts) for a in argv]
        image = container["image"].rsplit(":", 1)[0].split("/")[-1]
        path_dirs = [f"{root}/bin"]
        if argv[0] == "/usr/local/bin/envoy":
            argv[0] = self.envoy_bin
            argv += ["--base-id", str(self.ports[name][next(iter(self.ports[name]))])]
            for local in mounts.values():
                for f in [local] if local.is_file() else local.rglob("*"):
                    if f.suffix == ".yaml" and f.is_file():
                        f.write_text(_replace_mounts(f.read_text(), mounts))
                        self._localize_envoy_config(f, name)
            clock = {}  # Envoy deadlocks with libfaketime preloaded (phs_devstack.without_faketime)
        else:
            path_dirs.insert(0, str(self.python_bin[image]))
            # Under the clock matrix (tests/clock) the pods share the tests' faked clock, as
            # the devstack's processes do: tokens minted by the tests must not be "not yet valid".
            clock = {k: os.environ[k] for k in CLOCK_VARS if k in os.environ}
        full_env = {
            "PATH": ":".join([*path_dirs, "/usr/local/bin", "/usr/bin", "/bin"]),
            "HOME": str(root),
            "TMPDIR": str(mounts.get("/tmp", root)),
            **clock,
            **env,
        }
        return argv, full_env, root

    def start(self, name: str, *, entrypoint: list[str] | None = None) -> Running:
        argv, env, root = self.command(name, entrypoint=entrypoint)
        log = root / "process.log"
        out: IO[bytes] = open(log, "ab")  # noqa: SIM115 - handed to the child
        popen = subprocess.Popen(
            argv, env=env, cwd=root, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        out.close()
        run = Running(name, popen, log, self.ports[name], env)
        self.running[name] = run
        return run

    def stop_all(self) -> None:
        for run in self.running.values():
            if run.alive():
                run.stop(30)


def _replace_mounts(text: str, mounts: Mapping[str, Path]) -> str:
    """Rewrite absolute paths under a mount point to the local copy, in one pass (a local
    path may itself lie under a mount point such as /tmp)."""
    if not mounts:
        return text
    names = sorted(mounts, key=len, reverse=True)
    pattern = re.compile(r"(?<![\w./-])(" + "|".join(re.escape(m) for m in names) + r")(?=/|$|[^\w.-])")
    return pattern.sub(lambda m: str(mounts[m.group(1)]), text)


def wait_until(check: Callable[[], bool], timeout: float, what: str, run: Running | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if run is not None and not run.alive():
            raise AssertionError(
                f"{run.name} exited ({run.popen.returncode}) while waiting for {what}:\n{run.tail()}"
            )
        try:
            if check():
                return
        except Exception:  # noqa: BLE001, S110 - not yet: keep polling
            pass
        time.sleep(0.1)
    tail = f":\n{run.tail()}" if run is not None else ""
    raise AssertionError(f"timed out after {timeout}s waiting for {what}{tail}")
