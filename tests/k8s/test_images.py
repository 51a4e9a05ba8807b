"""The images: every file a Dockerfile copies exists and gets past .dockerignore, the base
is a pinned slim Python, dependencies come from requirements.lock (the file `make test`
installs, complete and matching the tested venv; the development mail sink's from
requirements-up.lock, what `make up` runs it with), the runtime stage is non-root without
build tools, and the commands an image runs are the ones the chart (and so the contract
test) runs. The image contents are rebuilt from exactly the copied files (image_sites)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

from tests.k8s import kube
from tests.k8s.conftest import REPO, ImageSite, Render

DOCKERFILES = {
    "phs-scheduling": REPO / "services" / "scheduling" / "Dockerfile",
    "phs-reports": REPO / "services" / "reports" / "Dockerfile",
    "phs-notifications": REPO / "services" / "notifications" / "Dockerfile",
    "phs-web": REPO / "services" / "web" / "Dockerfile",
    "phs-mail-sink": REPO / "docker" / "mail-sink.Dockerfile",
}
# The gRPC services' images install the whole lock; the web image only what phs_web imports.
GRPC_IMAGES = ("phs-scheduling", "phs-reports", "phs-notifications")
# Packages each image must hold, and ones it must not (it is not the other service).
PACKAGES = {
    "phs-scheduling": (
        {"phs", "phs_runtime", "phs_scheduling"},
        {"phs_reports", "phs_notifications", "phs_devstack", "phs_web"},
    ),
    "phs-reports": (
        {"phs", "phs_runtime", "phs_reports"},
        {"phs_scheduling", "phs_notifications", "phs_devstack", "phs_web"},
    ),
    "phs-notifications": (
        {"phs", "phs_runtime", "phs_notifications"},
        {"phs_scheduling", "phs_reports", "phs_devstack", "phs_web"},
    ),
    "phs-web": (
        {"phs_runtime", "phs_web"},
        {"phs", "phs_scheduling", "phs_reports", "phs_notifications", "phs_devstack"},
    ),
    # phs_devstack here is the sink's one module (test_the_mail_sink_image_holds_the_sink_alone).
    "phs-mail-sink": (
        {"phs_runtime", "phs_devstack"},
        {"phs", "phs_scheduling", "phs_reports", "phs_notifications", "phs_web"},
    ),
}
# Build outputs an image copies, made before `docker build` (absent from a fresh checkout).
BUILT = {"services/web/dist": "make web"}
# What each image's process runs (imported from the image, not the repo).
MAIN_MODULE = {
    "phs-scheduling": "phs_scheduling.__main__",
    "phs-reports": "phs_reports.worker",
    "phs-notifications": "phs_notifications.__main__",
    "phs-web": "phs_web.server",
    "phs-mail-sink": "phs_devstack.mailsink",
}
# Images of the dev profile alone (values-dev.yaml), not of a default install.
DEV_ONLY = {"phs-mail-sink": "dev"}


def _pins(path: Path) -> dict[str, str]:
    pins: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        assert sep and version and not re.search(r"[<>~!;\[ ]", line), f"{path.name}: not an exact pin: {raw}"
        pins[_norm(name)] = version
    return pins


def _venv_as_built(tmp_path: Path, wheel: Path, selected: list[str], pins: dict[str, str]) -> Path:
    """A bare venv holding what an image's venv stage installs: the project wheel and
    the `selected` distributions at their pins (copied from this venv's own files)."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    (site_packages,) = (venv / "lib").glob("python3*/site-packages")
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site_packages)
    for name in selected:
        dist = metadata.distribution(name)
        assert dist.version == pins[_norm(name)]
        for f in dist.files or []:
            if f.parts[0].endswith(".dist-info") or ".." in f.parts:
                continue
            target = site_packages / f
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(Path(str(dist.locate_file(f))), target)
    return venv


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_copied_file_exists_and_is_in_the_build_context() -> None:
    ignore = kube.DockerIgnore.load(REPO / ".dockerignore")
    for ref, path in DOCKERFILES.items():
        parsed = kube.parse_dockerfile(path)
        copies = parsed.copies()
        assert copies, ref
        for src, _dest in copies:
            assert not ignore.excluded(src), f"{path}: COPY {src} is excluded by .dockerignore"
            if src in BUILT and not (REPO / src).exists():
                continue  # e.g. the web app's build: `make web` makes it before the image
            assert (REPO / src).exists(), f"{path}: COPY {src}: no such file"
            files = kube.context_files(REPO, src, ignore)
            assert files, f"{path}: COPY {src} brings no file"
            assert not any("__pycache__" in f.parts or f.suffix == ".pyc" for f in files)
        # Stages copied from exist.
        names = {s.name for s in parsed.stages}
        for stage in parsed.stages:
            for ins in stage.instructions:
                m = re.search(r"--from=(\S+)", ins.args) if ins.keyword == "COPY" else None
                if m:
                    assert m.group(1) in names, f"{path}:{ins.line}: unknown stage {m.group(1)}"


def test_dockerignore_keeps_secrets_and_junk_out() -> None:
    ignore = kube.DockerIgnore.load(REPO / ".dockerignore")
    for path in [
        ".git/config",
        ".venv/bin/python",
        "node_modules/x",
        "data/scheduling.db",
        ".env",
        "services/scheduling/phs_scheduling/__pycache__/x.pyc",
        "tests/test_x.py",
        "helm/phs/values.yaml",
    ]:
        assert ignore.excluded(path), path
    for path in ["pyproject.toml", "requirements.lock", "services/runtime/phs_runtime/db.py"]:
        assert not ignore.excluded(path), path


def test_base_images_are_pinned_slim_python_of_the_project_version() -> None:
    bases = {s.base for path in DOCKERFILES.values() for s in kube.parse_dockerfile(path).stages}
    assert len(bases) == 1, f"all stages of all images share one base: {bases}"
    (base,) = bases
    m = re.fullmatch(r"python:(\d+)\.(\d+)\.(\d+)-slim-[a-z]+", base)
    assert m, f"{base}: want python:X.Y.Z-slim-<debian release>"
    pyproject = (REPO / "pyproject.toml").read_text()
    assert f'requires-python = ">={m.group(1)}.{m.group(2)}"' in pyproject
    import sys

    assert (int(m.group(1)), int(m.group(2))) == sys.version_info[:2], "tests run the image's Python minor"


def test_runtime_stage_is_non_root_and_has_no_build_tools(renders: dict[str, Render]) -> None:
    for ref, path in DOCKERFILES.items():
        parsed = kube.parse_dockerfile(path)
        final = parsed.final
        assert final.name is None and len(parsed.stages) == 3, "multi-stage: wheel, venv, runtime"
        users = [i.args for i in final.instructions if i.keyword == "USER"]
        assert users == ["10001:10001"], ref
        runs = " ".join(i.args for i in final.instructions if i.keyword == "RUN")
        assert "apt-get" not in runs and "install" not in runs.replace("uninstall", ""), ref
        assert "pip uninstall --yes pip setuptools wheel" in runs, ref
        copied = [i.args for i in final.instructions if i.keyword == "COPY"]
        expected = ["--from=venv /opt/venv /opt/venv"]
        if ref == "phs-web":
            expected.append("services/web/dist /app/dist")  # the app's files, served read-only
        assert copied == expected, "the runtime stage gets the venv (and the web app's files) only"
        for r in renders.values():
            for w in kube.workloads(r.objects):
                for c in kube.pod_spec(w)["containers"]:
                    if c["image"].split("/")[-1].split(":")[0] == ref:
                        assert c["securityContext"]["runAsUser"] == 10001


def test_images_install_the_lock_file_that_make_test_installs() -> None:
    for ref, path in DOCKERFILES.items():
        parsed = kube.parse_dockerfile(path)
        venv = parsed.stage("venv")
        runs = [i.args for i in venv.instructions if i.keyword == "RUN"]
        if ref == "phs-mail-sink":
            # aiosmtpd and its dependencies at the pins `make up` (and the tests) run it with.
            assert parsed.copies("venv") == [("requirements-up.lock", "/tmp/requirements-up.lock")]
            assert any("pip install --no-deps -r /tmp/mail-sink-requirements.txt" in r for r in runs)
            imports = "import phs_devstack.mailsink"
            assert any("pip install --no-deps /wheels/*.whl" in r and imports in r for r in runs)
            continue
        assert ("requirements.lock", "/tmp/requirements.lock") in parsed.copies("venv")
        if ref in GRPC_IMAGES:
            assert any("pip install --no-deps -r /tmp/requirements.lock" in r for r in runs)
            assert any("pip install --no-deps /wheels/*.whl" in r and "pip check" in r for r in runs)
        else:
            # A subset of the lock, at its pins; the import proves it is enough.
            assert any("pip install --no-deps -r /tmp/web-requirements.txt" in r for r in runs)
            assert any(
                "pip install --no-deps /wheels/*.whl" in r and "import phs_web.server" in r for r in runs
            )
        wheel = parsed.stage("wheel")
        assert any(
            "-r docker/build-requirements.lock" in i.args for i in wheel.instructions if i.keyword == "RUN"
        )


def test_requirements_lock_is_complete_and_is_what_the_tests_run_on() -> None:
    """--no-deps in the images is safe only when the lock is closed under dependencies; and
    the versions the tests exercised are the versions the images get."""
    pins = _pins(REPO / "requirements.lock")
    for name, version in pins.items():
        installed = metadata.version(name)
        assert installed == version, f"{name}: lock {version}, tested {installed}"
        for raw in metadata.requires(name) or []:
            req = Requirement(raw)
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            assert _norm(req.name) in pins, f"{name} needs {req.name}, missing from requirements.lock"
            assert req.specifier.contains(pins[_norm(req.name)], prereleases=True), (name, raw)
    # The project's own dependencies (pyproject) are all pinned.
    project = metadata.requires("phs") or []
    for raw in project:
        req = Requirement(raw)
        assert _norm(req.name) in pins, f"pyproject dependency {req.name} is not in requirements.lock"
    build = _pins(REPO / "docker" / "build-requirements.lock")
    assert build == {"setuptools": metadata.version("setuptools")}, (
        "the local wheel build uses the pinned setuptools"
    )


def test_image_commands_are_the_chart_commands_the_contract_test_runs(renders: dict[str, Render]) -> None:
    for ref, path in DOCKERFILES.items():
        final = kube.parse_dockerfile(path).final
        (cmd,) = [i.exec_form() for i in final.instructions if i.keyword == "CMD"]
        assert not [i for i in final.instructions if i.keyword == "ENTRYPOINT"]
        render = renders[DEV_ONLY.get(ref, "default")]
        chart_commands = [
            [*c["command"], *c["args"]]
            for d in render.of_kind("Deployment")
            for c in kube.pod_spec(d)["containers"]
            if c["image"].split("/")[-1].split(":")[0] == ref
        ]
        assert chart_commands, f"no Deployment uses {ref}"
        assert cmd in chart_commands, f"{path}: CMD {cmd} is run by no Deployment ({chart_commands})"


def test_image_contents_hold_each_service_and_nothing_else(image_sites: dict[str, ImageSite]) -> None:
    for ref, site in image_sites.items():
        (site_packages,) = (site.venv / "lib").glob("python3*/site-packages")
        present = {p.name for p in site_packages.iterdir() if p.is_dir() and not p.name.endswith("-info")}
        must, must_not = PACKAGES[ref]
        assert must <= present, (ref, present)
        assert not (must_not & present), (ref, present)
        if ref in GRPC_IMAGES:
            # Alembic needs its non-Python files (script template) at run time.
            assert list(site_packages.glob("phs_*/migrations/script.py.mako")), ref
        out = subprocess.run(
            [
                str(site.bin / "python"),
                "-c",
                "import importlib, sys; m = importlib.import_module(sys.argv[1]); print(m.__file__)",
                MAIN_MODULE[ref],
            ],
            env={"PATH": str(site.bin)},
            capture_output=True,
            text=True,
            check=True,
        )
        assert out.stdout.strip().startswith(str(site.venv)), "imported from the image, not the repo"


def test_the_mail_sink_image_holds_the_sink_alone_with_the_pins_it_needs(
    image_sites: dict[str, ImageSite], tmp_path: Path
) -> None:
    """Of phs_devstack the image holds mailsink.py alone (no launcher, no OpenID provider);
    its venv gets the pins of requirements-up.lock its Dockerfile selects, closed under
    their dependencies, and the sink starts from exactly that: here a venv with the wheel
    and just those packages copied from .venv, which then accepts a message over SMTP."""
    import smtplib
    import socket
    import time

    site = image_sites["phs-mail-sink"]
    with zipfile.ZipFile(site.wheel) as zf:
        devstack = sorted(n for n in zf.namelist() if n.startswith("phs_devstack/"))
    assert devstack == ["phs_devstack/mailsink.py"], devstack
    parsed = kube.parse_dockerfile(DOCKERFILES["phs-mail-sink"])
    runs = " ".join(i.args for i in parsed.stage("venv").instructions if i.keyword == "RUN")
    (pattern,) = re.findall(r"'\^\(([A-Za-z0-9_.|-]+)\)=='", runs)
    selected = pattern.split("|")
    pins = _pins(REPO / "requirements-up.lock")
    assert "aiosmtpd" in selected and all(_norm(name) in pins for name in selected), selected
    for name in selected:
        for raw in metadata.requires(name) or []:
            req = Requirement(raw)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                assert _norm(req.name) in {_norm(s) for s in selected}, f"{name} needs {req.name}"
    venv = _venv_as_built(tmp_path, site.wheel, selected, pins)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mail = tmp_path / "mail"
    env = {"PHS_MAIL_SINK_HOST": "127.0.0.1", "PHS_MAIL_SINK_PORT": str(port), "PHS_MAIL_SINK_DIR": str(mail)}
    proc = subprocess.Popen(
        [str(venv / "bin" / "python"), "-I", "-m", "phs_devstack.mailsink"],
        env={"PATH": "/usr/bin:/bin", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, proc.communicate()[0].decode()[-2000:]
            try:
                with smtplib.SMTP("127.0.0.1", port, timeout=5) as client:
                    client.sendmail("a@phs.localhost", ["b@phs.localhost"], b"Subject: hello\r\n\r\nhi\r\n")
                break
            except OSError:
                assert time.monotonic() < deadline, "the sink did not accept connections"
                time.sleep(0.2)
        (kept,) = mail.glob("*.eml")
        assert b"Subject: hello" in kept.read_bytes()
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out.decode()[-2000:]


def test_test_tool_locks_are_exact_complete_and_installed() -> None:
    """requirements-k8s.lock pins what tests/k8s imports, as installed in .venv, closed
    under dependencies together with the other two locks, without repeating their pins."""
    runtime, dev = _pins(REPO / "requirements.lock"), _pins(REPO / "requirements-dev.lock")
    k8s = _pins(REPO / "requirements-k8s.lock")
    assert not (set(k8s) & (set(runtime) | set(dev))), "pinned twice"
    pins = {**runtime, **dev, **k8s}
    for name, version in k8s.items():
        installed = metadata.version(name)
        assert installed == version, f"{name}: lock {version}, installed {installed}"
        for raw in metadata.requires(name) or []:
            req = Requirement(raw)
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            assert _norm(req.name) in pins, f"{name} needs {req.name}, pinned nowhere"
    needed = {"helm-python-sdk", "kubernetes-validate", "jsonschema", "starlark-pyo3", "yamllint", "pyyaml"}
    assert needed <= set(k8s)
    checkov = _pins(REPO / "requirements-checkov.lock")
    assert "checkov" in checkov and "packaging" in checkov


def test_the_web_images_few_pins_are_all_phs_web_needs(
    image_sites: dict[str, ImageSite], tmp_path: Path
) -> None:
    """The web venv holds the project wheel and only the lock's pins its Dockerfile selects:
    the server must start from exactly that (here: a venv with the wheel and just those
    packages copied from .venv, no access to anything else)."""
    parsed = kube.parse_dockerfile(DOCKERFILES["phs-web"])
    runs = " ".join(i.args for i in parsed.stage("venv").instructions if i.keyword == "RUN")
    selected = re.findall(r"\^([A-Za-z0-9_.-]+)==", runs)
    pins = _pins(REPO / "requirements.lock")
    assert selected and all(_norm(name) in pins for name in selected), selected
    venv = _venv_as_built(tmp_path, image_sites["phs-web"].wheel, selected, pins)
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-I", "-c", "import phs_web.server, phs_web.__main__; print('ok')"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
