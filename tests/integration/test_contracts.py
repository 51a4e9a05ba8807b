"""The contracts: generated code is current, every RPC is reachable over REST,
buf lint passes, and the gateway config renders from its one template."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from google.api import annotations_pb2
from google.protobuf import descriptor_pb2

from phs_devstack import REPO, without_faketime
from phs_devstack.gateway import DESCRIPTOR, envoy_binary, render_envoy_config
from tests.conftest import IN_CI


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


def test_buf_lint_passes() -> None:
    buf = REPO / "node_modules" / ".bin" / "buf"
    if not buf.exists():
        if IN_CI:
            pytest.fail("node_modules/.bin/buf missing: `make test` installs it")
        pytest.skip("buf not installed (run `make test`, which installs it from package-lock.json)")
    proc = subprocess.run([str(buf), "lint"], cwd=REPO, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


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
