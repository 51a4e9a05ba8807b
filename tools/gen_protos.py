"""Generate Python stubs, the Envoy descriptor set, the gateway's Lua filter and the web
app's TypeScript (services/web/src/gen) from protos/.

Usage: python tools/gen_protos.py [--out DIR] [--web-out DIR] [--check]

The generated tree is committed (gen/) so that images and readers need no
toolchain; `--check` regenerates into a scratch folder and fails when the
committed files differ, which is how CI notices a proto edited without `make protos`.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import gen_gateway
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
THIRD_PARTY = ROOT / "third_party" / "googleapis"
WEB = ROOT / "services" / "web"
WEB_GEN = WEB / "src" / "gen"
# The buf CLI comes from the root package.json, protoc-gen-es from the web app's.
BUF = ROOT / "node_modules" / ".bin" / "buf"
WEB_BIN = WEB / "node_modules" / ".bin"
# Message types Envoy must know to render google.rpc.Status details as JSON.
EXTRA_DESCRIPTOR_INPUTS = ["google/rpc/error_details.proto"]


def _sources() -> list[str]:
    return sorted(str(p.relative_to(PROTOS)) for p in PROTOS.rglob("*.proto"))


def _run(args: list[str]) -> None:
    well_known = str(Path(protoc.__file__).parent / "_proto")
    code = protoc.main(["protoc", f"-I{PROTOS}", f"-I{THIRD_PARTY}", f"-I{well_known}", *args])
    if code != 0:
        raise SystemExit(f"protoc failed ({code}): {' '.join(args)}")


def generate(out: Path) -> None:
    py = out / "python"
    desc = out / "descriptors"
    gateway = out / "gateway"
    for d in (py, desc, gateway):
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
    sources = _sources()
    # Typed service stubs (.pyi for *_pb2_grpc.py) come from mypy-protobuf's plugin.
    plugin = Path(sys.executable).parent / "protoc-gen-mypy_grpc"
    _run(
        [
            f"--plugin=protoc-gen-mypy_grpc={plugin}",
            f"--python_out={py}",
            f"--pyi_out={py}",
            f"--grpc_python_out={py}",
            f"--mypy_grpc_out=quiet:{py}",
            *sources,
        ]
    )
    _run(
        [
            "--include_imports",
            "--include_source_info",
            f"--descriptor_set_out={desc / 'phs.pb'}",
            *sources,
            *EXTRA_DESCRIPTOR_INPUTS,
        ]
    )
    gen_gateway.generate(desc / "phs.pb", gateway / "gateway.lua")


def generate_web(dest: Path) -> None:
    """protobuf-es types and codecs (services/web/buf.gen.yaml) into `dest`."""
    for tool in (BUF, WEB_BIN / "protoc-gen-es"):
        if not tool.exists():
            raise SystemExit(f"{tool} is missing: run `make install` (npm ci here and in services/web)")
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PATH": f"{WEB_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
        subprocess.run(
            [str(BUF), "generate", "--template", str(WEB / "buf.gen.yaml"), "-o", tmp],
            cwd=ROOT,
            env=env,
            check=True,
        )
        if dest.exists():
            shutil.rmtree(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(Path(tmp) / "src" / "gen"), str(dest))


def _diff(a: Path, b: Path) -> list[str]:
    cmp = filecmp.dircmp(a, b)
    out = [f"only in committed: {a / n}" for n in cmp.left_only]
    out += [f"missing from committed: {b / n}" for n in cmp.right_only]
    out += [f"stale: {a / n}" for n in cmp.diff_files]
    for sub in cmp.common_dirs:
        out += _diff(a / sub, b / sub)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=ROOT / "gen")
    ap.add_argument("--web-out", type=Path, default=WEB_GEN)
    ap.add_argument("--check", action="store_true", help="fail if gen/ or the web app's gen is not current")
    ns = ap.parse_args()
    if not ns.check:
        generate(ns.out)
        generate_web(ns.web_out)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp)
        generate(fresh / "gen")
        generate_web(fresh / "web")
        problems = [p for p in _diff(ROOT / "gen", fresh / "gen") if "__pycache__" not in p]
        problems += _diff(WEB_GEN, fresh / "web")
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        print("generated code is stale: run `make protos`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
