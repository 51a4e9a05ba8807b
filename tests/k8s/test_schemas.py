"""Every rendered object against its schema: Kubernetes' own (strict: misspelled fields
fail) for the oldest and newest supported versions, and the prometheus-operator CRDs for
ServiceMonitor and PrometheusRule. Plus yamllint on the values and the rendered output."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.k8s.conftest import CHART, REPO, Render

# The chart's kubeVersion floor (Chart.yaml) and the newest schemas kubernetes-validate has.
KUBE_VERSIONS = ["1.30.0", "1.37.0"]
CRD_KINDS = {"ServiceMonitor": "servicemonitors", "PrometheusRule": "prometheusrules"}


def _all_objects(renders: dict[str, Render], monitored_default: Render) -> list[tuple[str, dict[str, Any]]]:
    out = [(r.profile, o) for r in renders.values() for o in r.objects]
    out += [("default+monitoring", o) for o in monitored_default.objects]
    return out


@pytest.mark.parametrize("version", KUBE_VERSIONS)
def test_objects_validate_against_kubernetes_schemas_strictly(
    version: str, renders: dict[str, Render], monitored_default: Render
) -> None:
    import kubernetes_validate  # type: ignore[import-untyped]

    checked = 0
    errors: list[str] = []
    for profile, obj in _all_objects(renders, monitored_default):
        if obj["kind"] in CRD_KINDS:
            continue  # validated against the CRDs below; kubernetes-validate would skip them
        try:
            kubernetes_validate.validate(obj, version, strict=True)
            checked += 1
        except kubernetes_validate.ValidationError as err:
            path = ".".join(str(p) for p in err.path)
            errors.append(f"{profile} {obj['kind']}/{obj['metadata']['name']}: {path}: {err.message}")
        except kubernetes_validate.SchemaNotFoundError as err:
            errors.append(f"{profile} {obj['kind']}/{obj['metadata']['name']}: no schema ({err.message})")
    assert errors == []
    assert checked > 80


def test_strict_validation_catches_a_misspelled_field(renders: dict[str, Render]) -> None:
    """The check above would notice a typo: prove it on a damaged copy."""
    import kubernetes_validate

    broken = copy.deepcopy(renders["default"].get("Deployment", "phs-scheduling"))
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBE_VERSIONS[0], strict=True)


def _strict_crd_schema(node: Any) -> Any:
    """A CRD's openAPIV3Schema as JSON Schema: int-or-string and nullable mapped, and
    unknown fields forbidden wherever the API server would prune or reject them."""
    if isinstance(node, list):
        return [_strict_crd_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _strict_crd_schema(v) for k, v in node.items()}
    if out.pop("x-kubernetes-int-or-string", False):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if out.pop("nullable", False) and "type" in out:
        out["type"] = [out["type"], "null"]
    preserve = out.pop("x-kubernetes-preserve-unknown-fields", False)
    if out.get("type") == "object" and "properties" in out and not preserve:
        out.setdefault("additionalProperties", False)
    for key in list(out):
        if key.startswith("x-kubernetes-"):
            del out[key]
    return out


def _crd_validator(crds_dir: Path, plural: str) -> jsonschema.Draft7Validator:
    crd = yaml.safe_load((crds_dir / f"monitoring.coreos.com_{plural}.yaml").read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    schema = _strict_crd_schema(version["schema"]["openAPIV3Schema"])
    return jsonschema.Draft7Validator(schema)


def test_monitoring_objects_validate_against_the_prometheus_operator_crds(
    crds_dir: Path, renders: dict[str, Render], monitored_default: Render
) -> None:
    validators = {kind: _crd_validator(crds_dir, plural) for kind, plural in CRD_KINDS.items()}
    seen = {kind: 0 for kind in CRD_KINDS}
    for profile, obj in _all_objects(renders, monitored_default):
        if obj["kind"] not in CRD_KINDS:
            continue
        assert obj["apiVersion"] == "monitoring.coreos.com/v1"
        errors = [
            f"{profile} {obj['kind']}/{obj['metadata']['name']}: {'.'.join(map(str, e.path))}: {e.message}"
            for e in validators[obj["kind"]].iter_errors(obj)
        ]
        assert errors == []
        seen[obj["kind"]] += 1
    assert seen["ServiceMonitor"] >= 8 and seen["PrometheusRule"] >= 2, seen


def test_crd_validation_catches_a_misspelled_field(crds_dir: Path, monitored_default: Render) -> None:
    validator = _crd_validator(crds_dir, "servicemonitors")
    broken = copy.deepcopy(monitored_default.get("ServiceMonitor", "phs-gateway"))
    broken["spec"]["endpoints"][0]["paht"] = "/stats/prometheus"
    assert list(validator.iter_errors(broken))


def test_prometheus_rule_expressions_are_well_formed(monitored_default: Render) -> None:
    """Balanced brackets and no unrendered template text in any alert expression."""
    (rule,) = monitored_default.of_kind("PrometheusRule")
    for group in rule["spec"]["groups"]:
        for r in group["rules"]:
            expr = r["expr"]
            assert "{{" not in expr and "<no value>" not in expr, r["alert"]
            for open_, close in ("()", "{}", "[]"):
                assert expr.count(open_) == expr.count(close), (r["alert"], open_)
            assert r["labels"]["severity"] in ("warning", "critical")
            assert r["annotations"]["summary"]


YAMLLINT_CONFIG = """
extends: default
rules:
  # Base64 binaryData and the dashboard's PromQL are long single values.
  line-length: {max: 400, allow-non-breakable-inline-mappings: true}
  # Conditional templates may leave one blank line before the first or after the last document.
  empty-lines: {max: 2, max-start: 1, max-end: 1}
  document-start: disable
  comments: {min-spaces-from-content: 1}
  comments-indentation: disable
  braces: {max-spaces-inside: 1}
  brackets: {max-spaces-inside: 1}
  truthy: {check-keys: false}
  indentation: {spaces: consistent, indent-sequences: whatever}
"""


def test_yamllint_values_and_rendered_output(renders: dict[str, Render], tmp_path: Path) -> None:
    from yamllint import linter  # type: ignore[import-untyped]
    from yamllint.config import YamlLintConfig  # type: ignore[import-untyped]

    config = YamlLintConfig(YAMLLINT_CONFIG)
    texts: dict[str, str] = {p.name: p.read_text() for p in CHART.glob("values*.yaml")}
    texts["Chart.yaml"] = (CHART / "Chart.yaml").read_text()
    texts["kind-cluster.yaml"] = (REPO / "k8s" / "kind-cluster.yaml").read_text()
    for r in renders.values():
        for path, text in r.templates.items():
            if path.endswith(".yaml") and text.strip():
                texts[f"{r.profile}:{path}"] = text
    problems = [
        f"{name}:{p.line}: {p.desc}"
        for name, text in texts.items()
        for p in linter.run(text, config)
        if p.level == "error"
    ]
    assert problems == []
