"""k8s/: the plain manifests for `kubectl apply -k` are exactly the chart's render
(`make manifests`), kustomize builds them, and the kind config fits the dev profile."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tests.k8s.conftest import REPO, Render

import render_manifests  # isort: skip  (tools/, put on sys.path by conftest)

K8S = REPO / "k8s"


def test_k8s_manifests_match_the_chart() -> None:
    problems = render_manifests.drift(render_manifests.expected_files())
    assert problems == [], "\n".join(problems) + "\nrun `make manifests`"


def test_drift_check_notices_an_edit(tmp_path: Path) -> None:
    expected = render_manifests.expected_files()
    render_manifests.write(expected, tmp_path)
    assert render_manifests.drift(expected, tmp_path) == []
    target = tmp_path / "phs" / "gateway.yaml"
    target.write_text(target.read_text().replace("replicas: 1", "replicas: 3"))
    (tmp_path / "phs" / "leftover.yaml").write_text("kind: ConfigMap\n")
    problems = render_manifests.drift(expected, tmp_path)
    assert any("gateway.yaml" in p for p in problems) and any("leftover.yaml" in p for p in problems)
    assert render_manifests.main(["--check"]) == 0


def test_kustomize_builds_the_rendered_objects(kubectl_bin: str, renders: dict[str, Render]) -> None:
    built = subprocess.run(
        [kubectl_bin, "kustomize", str(K8S)], capture_output=True, text=True, check=True
    ).stdout
    objects = [o for o in yaml.safe_load_all(built) if o]
    names = sorted((o["kind"], o["metadata"]["name"]) for o in objects)
    dev = renders["dev"]
    expected = sorted([(o["kind"], o["metadata"]["name"]) for o in dev.objects] + [("Namespace", "phs")])
    assert names == expected
    for o in objects:
        if o["kind"] != "Namespace":
            assert o["metadata"]["namespace"] == "phs"
            assert o == dev.get(o["kind"], o["metadata"]["name"])
    namespace = next(o for o in objects if o["kind"] == "Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_kind_cluster_exposes_the_dev_gateway(renders: dict[str, Render]) -> None:
    kind = yaml.safe_load((K8S / "kind-cluster.yaml").read_text())
    assert kind["kind"] == "Cluster" and kind["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    (node,) = kind["nodes"]
    image_tag = node["image"].split(":v")[1]
    assert tuple(int(x) for x in image_tag.split(".")[:2]) >= (1, 30), "the chart needs Kubernetes >= 1.30"
    mapped = {m["containerPort"]: m["hostPort"] for m in node["extraPortMappings"]}
    service = renders["dev"].get("Service", "phs-gateway")
    assert service["spec"]["type"] == "NodePort"
    node_port = service["spec"]["ports"][0]["nodePort"]
    assert node_port in mapped
    assert f"localhost:{mapped[node_port]}" in renders["dev"].templates["phs/templates/NOTES.txt"]
