"""Policy scan: checkov over the rendered chart (every profile, monitoring on) and the
Dockerfiles, with zero failures. Each suppressed check carries its reason next to it
(a `checkov.io/skipN: CHECK=reason` annotation) and the test insists on that reason."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from tests.k8s import kube
from tests.k8s.conftest import REPO, Render

# Checks suppressed somewhere in the chart, each with a justification in the annotation.
ALLOWED_SKIPS = {"CKV_K8S_8", "CKV_K8S_9", "CKV_K8S_15", "CKV_K8S_35", "CKV_K8S_40", "CKV_K8S_43"}


def _results(report: Any) -> list[dict[str, Any]]:
    reports = report if isinstance(report, list) else [report]
    return [r for r in reports if isinstance(r, dict) and "results" in r]


def test_checkov_finds_nothing(
    checkov_bin: str, renders: dict[str, Render], monitored_default: Render, tmp_path: Path
) -> None:
    for r in [*renders.values(), monitored_default]:
        out = tmp_path / ("monitored" if r is monitored_default else r.profile)
        out.mkdir()
        for path, text in r.templates.items():
            if path.endswith(".yaml") and text.strip():
                (out / Path(path).name).write_text(text)
    dockerfiles = tmp_path / "dockerfiles"
    for ref in ("scheduling", "reports"):
        (dockerfiles / ref).mkdir(parents=True)
        shutil.copy(REPO / "services" / ref / "Dockerfile", dockerfiles / ref / "Dockerfile")
    (dockerfiles / "mail-sink").mkdir()
    shutil.copy(REPO / "docker" / "mail-sink.Dockerfile", dockerfiles / "mail-sink" / "Dockerfile")
    proc = subprocess.run(
        [
            checkov_bin,
            "--directory",
            str(tmp_path),
            "--framework",
            "kubernetes",
            "dockerfile",
            "--output",
            "json",
            "--skip-download",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"},
        timeout=300,
    )
    assert proc.stdout.strip(), proc.stderr[-2000:]
    results = _results(json.loads(proc.stdout))
    frameworks = {report["check_type"] for report in results}
    assert frameworks == {"kubernetes", "dockerfile"}, frameworks
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}"
        for report in results
        for c in report["results"]["failed_checks"]
    ]
    assert failed == [], "\n".join(failed)
    passed = sum(int(report["summary"]["passed"]) for report in results)
    assert passed > 1000
    for report in results:
        for c in report["results"]["skipped_checks"]:
            assert c["check_id"] in ALLOWED_SKIPS, c["check_id"]
            reason = (c.get("check_result") or {}).get("suppress_comment", "")
            assert len(reason) > 30, f"{c['check_id']} on {c['resource']} is skipped without a reason"


def test_every_skip_annotation_names_a_reason(renders: dict[str, Render]) -> None:
    seen = set()
    for r in renders.values():
        for o in r.objects:
            for key, value in (o["metadata"].get("annotations") or {}).items():
                if key.startswith("checkov.io/skip"):
                    check, _, reason = str(value).partition("=")
                    assert check in ALLOWED_SKIPS, (o["metadata"]["name"], check)
                    assert len(reason.split()) >= 6, (o["metadata"]["name"], value)
                    seen.add(check)
    assert seen == ALLOWED_SKIPS, "a skip no object needs any more: drop it from ALLOWED_SKIPS"
    # Nothing exempts the hardening checks themselves.
    for r in renders.values():
        for w in kube.workloads(r.objects):
            annotations = " ".join(str(v) for v in (w["metadata"].get("annotations") or {}).values())
            for hardening in (
                "CKV_K8S_20",
                "CKV_K8S_22",
                "CKV_K8S_28",
                "CKV_K8S_37",
                "CKV_K8S_31",
                "CKV_K8S_38",
            ):
                assert hardening not in annotations


def test_checkov_is_the_locked_version(checkov_bin: str) -> None:
    pinned = next(
        line.split("==")[1].strip()
        for line in (REPO / "requirements-checkov.lock").read_text().splitlines()
        if line.startswith("checkov==")
    )
    out = subprocess.run([checkov_bin, "--version"], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == pinned
