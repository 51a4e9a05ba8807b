"""The README's "Try it" works for a newcomer: its ```bash blocks, run verbatim with
bash (one shell, as pasted into one terminal), twice in a row, against a fresh stack
from the launcher. The only changes made to the text: the fixed `make up` ports become
the stack's free ports and `data/logs/` its log folder. bash runs with `-e -o pipefail`
(which the README does not set: in a terminal `set -e` would close it on the first
failure), so any failing command fails the test. The token commands find the stack's
key through PHS_DEV_KEYS, which conftest sets for every stack."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from phs_devstack import REPO, Ports, Stack

README = REPO / "README.md"
# google.rpc.Status code 6: the README books a taken slot on purpose, once per run.
EXPECTED_ERRORS = [(6, "SLOT_UNAVAILABLE")]
EXPECTED_STATUS_LINES = ["401", "409", "403"]  # no token; the taken slot; a client listing clients


def try_it_blocks() -> list[str]:
    text = README.read_text()
    section = text.split("\n## Try it\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^```bash\n(.*?)^```", section, re.DOTALL | re.MULTILINE)


def localized(script: str, stack: Stack) -> str:
    p = stack.ports
    for fixed, actual in [
        ("localhost:8080", f"localhost:{p.rest}"),
        ("127.0.0.1:50051", f"127.0.0.1:{p.scheduling}"),
        ("127.0.0.1:50052", f"127.0.0.1:{p.reports}"),
        ("data/logs/", f"{stack.root / 'logs'}/"),
    ]:
        script = script.replace(fixed, actual)
    assert not re.search(r":(8080|50051|50052|50053|9092)\b", script), "a fixed make-up port is left"
    return script


def _json(line: str) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        return None


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = Stack(root=tmp_path_factory.mktemp("readme"), ports=Ports.free())
    try:
        s.start()
        yield s
    finally:
        s.stop()


def test_the_try_it_section_has_its_blocks() -> None:
    blocks = try_it_blocks()
    assert len(blocks) >= 3
    script = "\n".join(blocks)
    assert "grpcurl -plaintext" in script and "for _ in $(seq" in script  # the parts this test checks


@pytest.mark.parametrize("run", [1, 2])
def test_the_try_it_commands_run_verbatim_and_again(stack: Stack, run: int) -> None:
    script = localized("\n".join(try_it_blocks()), stack)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS"))}
    out = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", script],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, f"run {run} failed:\n{out.stdout[-4000:]}\n{out.stderr[-4000:]}"
    assert out.stderr == "", out.stderr
    lines = out.stdout.splitlines()
    bodies = [b for b in map(_json, lines) if isinstance(b, dict)]
    errors = [
        (b["code"], next((d.get("reason") for d in b.get("details", []) if "reason" in d), None))
        for b in bodies
        if "code" in b and "message" in b
    ]
    assert errors == EXPECTED_ERRORS, out.stdout
    assert [x for x in lines if re.fullmatch(r"\d{3}", x)] == EXPECTED_STATUS_LINES
    # The poll loop saw the job through to the end, and the report is there.
    states = [x for x in lines if x.startswith("STATE_")]
    assert states and states[-1] == "STATE_SUCCEEDED", states
    (report,) = [b for b in bodies if b.get("name", "").startswith("reports/")]
    assert report["state"] == "STATE_SUCCEEDED" and "caseload" in report
    # The request id was found in the logs (grep prints the lines it matched).
    assert [x for x in lines if '"request_id": "demo-' in x or '"request_id":"demo-' in x]
    # gRPC through the bundled grpcurl: a listing, a call with a token, a health check.
    assert "phs.scheduling.v1.SchedulingService" in lines
    assert '"status": "SERVING"' in out.stdout  # grpcurl prints indented JSON
    assert '"psychologists": [' in out.stdout
