"""Helpers of the Kubernetes tests (no fixtures here; they live in conftest.py):
pod templates of rendered objects, a NetworkPolicy evaluator, a Dockerfile and
.dockerignore reader, and the Tiltfile evaluated with Tilt's builtins stubbed."""

from __future__ import annotations

import re
import shlex
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "Job")

Obj = dict[str, Any]


# -- rendered objects -------------------------------------------------------------------


def pod_spec(obj: Obj) -> Obj:
    spec: Obj = obj["spec"]["template"]["spec"]
    return spec


def pod_labels(obj: Obj) -> dict[str, str]:
    labels: dict[str, str] = obj["spec"]["template"]["metadata"]["labels"]
    return labels


def workloads(objects: Iterable[Obj]) -> list[Obj]:
    return [o for o in objects if o["kind"] in WORKLOAD_KINDS]


def all_containers(obj: Obj) -> list[Obj]:
    spec = pod_spec(obj)
    return [*spec.get("initContainers", []), *spec["containers"]]


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def container_port(obj: Obj, port: int | str) -> int | None:
    """A port of a workload's containers, by number or name -> the number (None if absent)."""
    for c in pod_spec(obj)["containers"]:
        for p in c.get("ports", []):
            if port in (p.get("name"), p["containerPort"]):
                return int(p["containerPort"])
    return None


def services_of(objects: Iterable[Obj], workload: Obj) -> list[Obj]:
    labels = pod_labels(workload)
    return [
        o
        for o in objects
        if o["kind"] == "Service" and o["spec"].get("selector") and selects(o["spec"]["selector"], labels)
    ]


# -- NetworkPolicy evaluation ----------------------------------------------------------


def _port_matches(rule_ports: list[Obj] | None, port: int, protocol: str, target: Obj | None) -> bool:
    if not rule_ports:
        return True
    for rp in rule_ports:
        if rp.get("protocol", "TCP") != protocol:
            continue
        want = rp.get("port")
        if want is None:
            return True
        if isinstance(want, str):
            if target is not None and container_port(target, want) == port:
                return True
        elif int(want) == port or (rp.get("endPort") and int(want) <= port <= int(rp["endPort"])):
            return True
    return False


def _peer_matches(peers: list[Obj] | None, other: Obj | None) -> bool:
    """Peers match an in-namespace workload (`other`) or, for other=None, anything outside
    the release (other namespaces, external hosts)."""
    if peers is None:
        return True
    for peer in peers:
        if "ipBlock" in peer or "namespaceSelector" in peer:
            if other is None:
                return True
            continue
        if other is not None and selects(peer["podSelector"].get("matchLabels", {}), pod_labels(other)):
            return True
    return False


def allowed(policies: list[Obj], src: Obj | None, dst: Obj | None, port: int, protocol: str = "TCP") -> bool:
    """Would NetworkPolicies let `src` open a connection to `dst` on `port`? None stands for
    an endpoint outside the namespace. Both sides must allow (egress of src, ingress of dst);
    a pod no policy selects for a direction is unrestricted in that direction."""

    def side_allows(pod: Obj | None, direction: str, peer: Obj | None, target: Obj | None) -> bool:
        if pod is None:
            return True
        relevant = [
            p
            for p in policies
            if selects(p["spec"]["podSelector"].get("matchLabels", {}), pod_labels(pod))
            and direction in p["spec"].get("policyTypes", ["Ingress"])
        ]
        if not relevant:
            return True
        key, peer_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
        for p in relevant:
            for rule in p["spec"].get(key, []) or []:
                if _peer_matches(rule.get(peer_key), peer) and _port_matches(
                    rule.get("ports"), port, protocol, target
                ):
                    return True
        return False

    return side_allows(src, "Egress", dst, dst) and side_allows(dst, "Ingress", src, dst)


# -- Dockerfiles -------------------------------------------------------------------------


@dataclass
class Instruction:
    keyword: str
    args: str
    line: int

    def exec_form(self) -> list[str] | None:
        import json

        text = self.args.strip()
        if not text.startswith("["):
            return None
        value = json.loads(text)
        assert isinstance(value, list)
        return [str(v) for v in value]


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)


@dataclass
class Dockerfile:
    path: Path
    stages: list[Stage]

    def stage(self, name: str) -> Stage:
        for s in self.stages:
            if s.name == name:
                return s
        raise KeyError(name)

    @property
    def final(self) -> Stage:
        return self.stages[-1]

    def copies(self, stage: str | None = None) -> list[tuple[str, str]]:
        """(source, destination) of COPY/ADD from the build context (not --from=stage)."""
        out: list[tuple[str, str]] = []
        for s in self.stages if stage is None else [self.stage(stage)]:
            for ins in s.instructions:
                if ins.keyword not in ("COPY", "ADD"):
                    continue
                words = shlex.split(ins.args)
                flags = [w for w in words if w.startswith("--")]
                paths = [w for w in words if not w.startswith("--")]
                if any(f.startswith("--from=") for f in flags):
                    continue
                *sources, dest = paths
                out.extend((src, dest) for src in sources)
        return out


def parse_dockerfile(path: Path) -> Dockerfile:
    lines = path.read_text().splitlines()
    stages: list[Stage] = []
    buf = ""
    start = 0
    for number, raw in enumerate(lines, 1):
        if not buf and (not raw.strip() or raw.lstrip().startswith("#")):
            continue
        if not buf:
            start = number
        if raw.rstrip().endswith("\\"):
            buf += raw.rstrip()[:-1] + " "
            continue
        buf += raw
        keyword, _, args = buf.strip().partition(" ")
        keyword = keyword.upper()
        buf = ""
        if keyword == "FROM":
            words = args.split()
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name))
            continue
        if not stages:
            continue  # ARG before FROM
        stages[-1].instructions.append(Instruction(keyword, args.strip(), start))
    return Dockerfile(path, stages)


def _glob_regex(pattern: str) -> re.Pattern[str]:
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out)


@dataclass
class DockerIgnore:
    """Docker's .dockerignore semantics: the last matching pattern wins, `!` re-includes, and
    a pattern matching a directory covers everything below it."""

    rules: list[tuple[bool, re.Pattern[str]]]

    @classmethod
    def load(cls, path: Path) -> DockerIgnore:
        rules: list[tuple[bool, re.Pattern[str]]] = []
        for raw in path.read_text().splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            negate = line.startswith("!")
            pattern = line[1:].strip() if negate else line
            rules.append((negate, _glob_regex(pattern.strip("/"))))
        return cls(rules)

    def excluded(self, rel: str) -> bool:
        parts = rel.strip("/").split("/")
        candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        result = False
        for negate, regex in self.rules:
            if any(regex.fullmatch(c) for c in candidates):
                result = not negate
        return result


def context_files(repo: Path, src: str, ignore: DockerIgnore) -> list[Path]:
    """The files a COPY source brings into the image, after .dockerignore."""
    base = repo / src
    paths = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file())
    return [p for p in paths if not ignore.excluded(p.relative_to(repo).as_posix())]


def stage_copy(repo: Path, src: str, context: Path) -> None:
    ignore = DockerIgnore.load(repo / ".dockerignore")
    for path in context_files(repo, src, ignore):
        target = context / path.relative_to(repo)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)


# -- Tiltfile ----------------------------------------------------------------------------


@dataclass
class TiltEvaluation:
    """What the Tiltfile asked Tilt to do, recorded by stub builtins."""

    calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]]
    images: dict[str, dict[str, Any]]
    resources: dict[str, dict[str, Any]]
    helm: list[dict[str, Any]]
    k8s_yaml: list[Any]

    def called(self, name: str) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
        return [(a, k) for n, a, k in self.calls if n == name]

    def yaml_objects(self) -> list[Obj]:
        """The objects the Tiltfile deploys besides the chart: k8s_yaml of YAML text (the
        encode_yaml stub returns text; file paths and helm() results are skipped)."""
        import yaml

        out: list[Obj] = []
        for entry in self.k8s_yaml:
            if isinstance(entry, str) and "\n" in entry:
                out += [o for o in yaml.safe_load_all(entry) if o]
        return out


def evaluate_tiltfile(path: Path, workdir: Path | None = None) -> TiltEvaluation:
    """Evaluate a Tiltfile with Tilt's builtins as recording stubs. local() runs its command
    with sh in `workdir` (Tilt runs it in the Tiltfile's folder); read_file/read_yaml read
    relative to it; encode_yaml returns YAML text."""
    import subprocess

    import starlark
    import yaml

    base = workdir or path.parent

    def local(command: str, **_kwargs: Any) -> str:
        proc = subprocess.run(
            ["sh", "-c", command], cwd=base, capture_output=True, text=True, timeout=120, check=False
        )
        if proc.returncode != 0:
            raise RuntimeError(f"local({command!r}) failed ({proc.returncode}): {proc.stderr[-2000:]}")
        return proc.stdout

    calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def recorder(name: str, result: Callable[..., Any] | None = None) -> Callable[..., Any]:
        def record(*args: Any, **kwargs: Any) -> Any:
            calls.append((name, args, kwargs))
            if result is not None:
                return result(*args, **kwargs)
            return None

        return record

    module = starlark.Module()
    helm_calls: list[dict[str, Any]] = []

    def helm_result(chart: str, **kwargs: Any) -> dict[str, Any]:
        entry = {"chart": chart, **kwargs}
        helm_calls.append(entry)
        return {"helm": len(helm_calls) - 1}

    stubs: dict[str, Callable[..., Any] | None] = {
        "version_settings": None,
        "allow_k8s_contexts": None,
        "docker_build": None,
        "k8s_yaml": None,
        "k8s_resource": None,
        "local_resource": None,
        "helm": helm_result,
        "sync": lambda src, dest: {"sync": [src, dest]},
        "run": lambda cmd, trigger=None: {"run": cmd, "trigger": trigger},
        "fall_back_on": lambda files: {"fall_back_on": files},
        "port_forward": lambda local, container=None, name=None, **kw: {
            "local": local,
            "container": container,
            "name": name,
        },
        "local": local,
        "read_file": lambda p, default=None: (base / p).read_text(),
        "read_yaml": lambda p, default=None: yaml.safe_load((base / p).read_text()),
        "encode_yaml": lambda obj: yaml.safe_dump(obj, sort_keys=False),
    }
    for name, result in stubs.items():
        module.add_callable(name, recorder(name, result))
    ast = starlark.parse(str(path), path.read_text(), starlark.Dialect.extended())
    starlark.eval(module, ast, starlark.Globals.standard())

    images: dict[str, dict[str, Any]] = {}
    resources: dict[str, dict[str, Any]] = {}
    yamls: list[Any] = []
    for name, args, kwargs in calls:
        if name == "docker_build":
            ref, context = args[0], args[1]
            images[ref] = {"context": context, **kwargs}
        elif name == "k8s_resource":
            key = args[0] if args else kwargs.get("workload") or kwargs["new_name"]
            resources[key] = {"workload": bool(args or kwargs.get("workload")), **kwargs}
        elif name == "local_resource":
            resources[args[0]] = {"workload": False, "local": True, **kwargs}
        elif name == "k8s_yaml":
            yamls.append(args[0])
    return TiltEvaluation(calls, images, resources, helm_calls, yamls)
