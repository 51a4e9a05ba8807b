"""Fixtures of the Kubernetes tests: the chart rendered with each values profile, the
Prometheus-operator CRDs, checkov, the Tiltfile evaluated with Tilt's builtins stubbed,
and "image sites": what each Dockerfile installs, built from only the files it copies.

The "default" profile is the chart's defaults plus the two things every install must
give: token keys (auth.*), here a public JWKS made for the test session and the names of
the signing-key Secrets of the worker and of notifications (each its own key, both in the
JWKS); and the SMTP server the notifications service sends with.

Everything here is offline. A fixture skips only when a tool outside the project's venv
is missing, says why, and fails instead when CI=true.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools"))

import render_manifests  # noqa: E402  (tools/ is not a package)

from tests.k8s import kube  # noqa: E402

IN_CI = os.environ.get("CI", "").lower() == "true"
CHART = render_manifests.CHART
PROFILES: dict[str, tuple[Path, ...]] = {
    "default": (),
    "dev": (CHART / "values-dev.yaml",),
    "production": (CHART / "values-production.yaml",),
}
TEST_KID = "test-1"
TEST_SIGNING_SECRET = "phs-auth-signing-key"
TEST_NOTIFICATIONS_KID = "test-notifications-1"
TEST_NOTIFICATIONS_SECRET = "phs-auth-notifications-key"


@functools.cache
def session_jwks() -> str:
    """A JWKS (public keys only) of the worker's and notifications' keys made for this
    test session."""
    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec

    keys = []
    for kid in (TEST_KID, TEST_NOTIFICATIONS_KID):
        public = ec.generate_private_key(ec.SECP256R1()).public_key()
        jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(public))
        jwk.update({"kid": kid, "alg": "ES256", "use": "sig"})
        keys.append(jwk)
    return json.dumps({"keys": keys}, indent=2)


def default_auth(
    jwks: str | None = None, kid: str = TEST_KID, notifications_kid: str = TEST_NOTIFICATIONS_KID
) -> dict[str, Any]:
    """The auth values the default profile adds: an inline JWKS and the key Secrets of the
    worker and of notifications."""
    return {
        "auth": {
            "jwks": jwks if jwks is not None else session_jwks(),
            "workerSigningKey": {"existingSecret": TEST_SIGNING_SECRET, "keyId": kid},
            "notificationsSigningKey": {
                "existingSecret": TEST_NOTIFICATIONS_SECRET,
                "keyId": notifications_kid,
            },
        }
    }


TEST_SMTP_HOST = "smtp.example.org"


def profile_values(profile: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    smtp = {"notifications": {"smtp": {"host": TEST_SMTP_HOST}}}
    base = render_manifests.deep_merge(default_auth(), smtp) if profile == "default" else {}
    return render_manifests.load_values(PROFILES[profile], render_manifests.deep_merge(base, overrides or {}))


def make_keys(directory: Path, kid: str) -> tuple[Path, str]:
    """A key pair as the services' generator writes it: (private PEM path, JWKS text)."""
    from phs_runtime.auth import generate_keys

    pem, jwks = generate_keys(directory, kid)
    return pem, jwks.read_text()


def skip_or_fail(reason: str) -> None:
    """Skip locally; in CI a missing prerequisite is a failure, never a silent skip."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: this test must run)")
    pytest.skip(reason)


@dataclass
class Render:
    profile: str
    values: dict[str, Any]
    templates: dict[str, str]
    objects: list[dict[str, Any]] = field(default_factory=list)

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == kind]

    def get(self, kind: str, name: str) -> dict[str, Any]:
        for o in self.objects:
            if o["kind"] == kind and o["metadata"]["name"] == name:
                return o
        raise KeyError(f"{kind}/{name} not rendered ({self.profile})")


def render_profile(profile: str, overrides: dict[str, Any] | None = None) -> Render:
    values = profile_values(profile, overrides)
    templates = render_manifests.render(values)
    return Render(profile, values, templates, render_manifests.objects(templates))


@pytest.fixture(scope="session")
def renders() -> dict[str, Render]:
    """The chart rendered with default, dev and production values."""
    return {p: render_profile(p) for p in PROFILES}


@pytest.fixture(scope="session")
def monitored_default() -> Render:
    """Default values with every monitoring object on (ServiceMonitors, rule, dashboard)."""
    return render_profile(
        "default",
        {
            "monitoring": {
                "serviceMonitors": {"enabled": True},
                "prometheusRule": {"enabled": True},
                "grafanaDashboard": {"enabled": True},
            }
        },
    )


@pytest.fixture(scope="session")
def crds_dir() -> Path:
    """<repo>/../shared/crds: the real ServiceMonitor/PrometheusRule CRDs (never copied here)."""
    path = REPO.parent / "shared" / "crds"
    if not path.is_dir():
        skip_or_fail(f"{path} (the prometheus-operator CRDs, <repo>/../shared/crds) is absent")
    return path


@pytest.fixture(scope="session")
def checkov_bin() -> str:
    candidate = os.environ.get("PHS_CHECKOV") or str(REPO / ".venv-checkov" / "bin" / "checkov")
    if not Path(candidate).exists():
        skip_or_fail(
            f"checkov not found at {candidate}: `make test` installs requirements-checkov.lock "
            "into .venv-checkov (or set PHS_CHECKOV)"
        )
    return candidate


@pytest.fixture(scope="session")
def kubectl_bin() -> str:
    found = shutil.which("kubectl")
    if found is None:
        skip_or_fail("kubectl (client) is not installed; it builds k8s/ with `kubectl kustomize`")
    assert found is not None
    return found


@pytest.fixture(scope="session")
def tilt_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository as a fresh checkout sees it: every top-level entry linked, except
    data/ (git-ignored, where the Tiltfile makes the dev keys), which starts out empty."""
    work = tmp_path_factory.mktemp("tilt-checkout")
    for entry in REPO.iterdir():
        if entry.name not in ("data", ".git"):
            (work / entry.name).symlink_to(entry)
    return work


@pytest.fixture(scope="session")
def tilt(tilt_workdir: Path) -> kube.TiltEvaluation:
    """The Tiltfile evaluated in `tilt_workdir`: its local() commands really run there."""
    return kube.evaluate_tiltfile(tilt_workdir / "Tiltfile", workdir=tilt_workdir)


@dataclass
class ImageSite:
    """A Dockerfile's image, rebuilt locally from only the files the Dockerfile copies."""

    dockerfile: Path
    wheel: Path
    venv: Path  # a venv whose site-packages hold the wheel; third-party deps come from .venv

    @property
    def bin(self) -> Path:
        return self.venv / "bin"


@pytest.fixture(scope="session")
def image_sites(tmp_path_factory: pytest.TempPathFactory, tilt: kube.TiltEvaluation) -> dict[str, ImageSite]:
    """Image ref (as the chart and the Tiltfile name it) -> its locally rebuilt contents.

    For each Dockerfile: copy exactly the COPY sources of its wheel stage (minus what
    .dockerignore excludes) into an empty context, build the wheel there with the pinned
    setuptools, and install it into a fresh venv. The venv sees the pinned third-party
    packages of .venv through a .pth line but not the editable install of the project, so
    a process started from it imports the service only from what the image would hold."""
    root = tmp_path_factory.mktemp("images")
    main_site = Path(next(p for p in sys.path if p.endswith("site-packages")))
    sites: dict[str, ImageSite] = {}
    for ref, build in tilt.images.items():
        dockerfile = REPO / build["dockerfile"]
        parsed = kube.parse_dockerfile(dockerfile)
        context = root / ref / "context"
        for src, _dest in parsed.copies(stage="wheel"):
            kube.stage_copy(REPO, src, context)
        wheels = root / ref / "wheels"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--no-deps",
                "--no-build-isolation",
                "--no-index",
                "--quiet",
                "--wheel-dir",
                str(wheels),
                str(context),
            ],
            check=True,
            env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
        )
        (wheel,) = wheels.glob("*.whl")
        venv = root / ref / "venv"
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
        (venv_site,) = (venv / "lib").glob("python3*/site-packages")
        with zipfile.ZipFile(wheel) as zf:
            zf.extractall(venv_site)
        (venv_site / "_phs_test_deps.pth").write_text(f"{main_site}\n")
        sites[ref] = ImageSite(dockerfile, wheel, venv)
    return sites


@pytest.fixture()
def kafka_broker(tmp_path: Path) -> Iterator[str]:
    """A fresh local Kafka-protocol broker (Tansu, as `make up` uses); yields host:port."""
    from phs_devstack import Ports, Stack

    stack = Stack(root=tmp_path / "broker", ports=Ports.free())
    try:
        stack.start_kafka()
        yield stack.kafka_bootstrap
    finally:
        stack.stop()
