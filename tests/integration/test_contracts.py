"""The contracts: generated code is current, every RPC is reachable over REST,
buf lint passes, no released field is broken, and the gateway config renders from its one template."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from google.api import annotations_pb2
from google.protobuf import descriptor_pb2

from phs_devstack import REPO, without_faketime
from phs_devstack.gateway import DESCRIPTOR, envoy_binary, render_envoy_config
from tests.conftest import IN_CI

# The contracts as released (`make protos-release` rewrites it when a release goes out).
RELEASED = REPO / "protos" / "released.binpb"


def _descriptor_set() -> descriptor_pb2.FileDescriptorSet:
    return descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTOR.read_bytes())


def test_generated_code_is_current() -> None:
    proc = subprocess.run(
        [sys.executable, "tools/gen_protos.py", "--check"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


def test_every_rpc_has_an_http_rule_and_services_are_versioned() -> None:
    services = 0
    for f in _descriptor_set().file:
        if not f.package.startswith("phs."):
            continue
        assert f.package.split(".")[-1] in ("v1",), f.package
        for svc in f.service:
            services += 1
            for m in svc.method:
                rule = m.options.Extensions[annotations_pb2.http]
                assert rule.WhichOneof("pattern"), f"{svc.name}.{m.name} has no google.api.http rule"
                if m.name.startswith(("Create", "Update")):
                    assert rule.body, f"{svc.name}.{m.name} needs a body"
    assert services == 3  # scheduling, reports, notifications


READ_ONLY_PREFIXES = ("Get", "List", "Find", "Watch", "Export", "Compute")


def test_mutating_requests_carry_a_request_id() -> None:
    messages = {f"{f.package}.{m.name}": m for f in _descriptor_set().file for m in f.message_type}
    for f in _descriptor_set().file:
        for svc in f.service if f.package.startswith("phs.") else []:
            for m in svc.method:
                if not m.name.startswith(READ_ONLY_PREFIXES):  # every mutating RPC
                    fields = {x.name for x in messages[m.input_type.lstrip(".")].field}
                    assert "request_id" in fields, m.name


def _buf() -> Path:
    buf = REPO / "node_modules" / ".bin" / "buf"
    if not buf.exists():
        if IN_CI:
            pytest.fail("node_modules/.bin/buf missing: `make test` installs it")
        pytest.skip("buf not installed (run `make test`, which installs it from package-lock.json)")
    return buf


def test_buf_lint_passes() -> None:
    proc = subprocess.run([str(_buf()), "lint"], cwd=REPO, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _breaking(root: Path) -> subprocess.CompletedProcess[str]:
    """`buf breaking` of the contracts under `root` against the released ones."""
    return subprocess.run(
        [str(_buf()), "breaking", "protos", "--against", str(RELEASED)],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )


def test_contracts_keep_every_released_field() -> None:
    proc = _breaking(REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_breaking_check_catches_a_renumbered_field(tmp_path: Path) -> None:
    """The check above can fail: a copy of the contracts with one field's number
    changed is refused, naming the field."""
    shutil.copy(REPO / "buf.yaml", tmp_path / "buf.yaml")
    for tree in ("protos", "third_party"):
        shutil.copytree(REPO / tree, tmp_path / tree)
    proto = tmp_path / "protos" / "phs" / "scheduling" / "v1" / "resources.proto"
    text = proto.read_text()
    field = re.search(r"^  string display_name = (\d+)", text, re.MULTILINE)
    assert field is not None
    proto.write_text(text[: field.start(1)] + "99" + text[field.end(1) :])
    proc = _breaking(tmp_path)
    assert proc.returncode != 0
    assert "display_name" in proc.stdout + proc.stderr, proc.stdout + proc.stderr


def test_rendered_gateway_config_is_valid_envoy_config() -> None:
    config = render_envoy_config(
        listen_port=18080,
        admin_port=19901,
        scheduling=[("scheduling", 50051), ("scheduling-2", 50051)],
        reports=("reports", 50051),
        descriptor=DESCRIPTOR,
    )
    assert "${" not in config
    path = REPO / "build" / "envoy-validate.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(config)
    proc = subprocess.run(
        [envoy_binary(), "--mode", "validate", "-c", str(path), "--disable-hot-restart"],
        env=without_faketime(os.environ),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
