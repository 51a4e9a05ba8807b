"""The Tiltfile, evaluated with Tilt's builtins stubbed (starlark): it builds every image
the chart's workloads use (the official Envoy, Kafka and PostgreSQL images excepted),
deploys the chart with the dev values, names only resources that exist and leaves no
object uncategorized, orders Kafka and PostgreSQL before the services, forwards the
gateway as documented, makes the dev token keys (git-ignored, never committed) into the
ConfigMap and the Secrets values-dev.yaml names, and its live-update supervisor really
restarts the gRPC process (with those keys mounted)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import yaml

from phs_devstack import health_status
from tests.k8s import kube
from tests.k8s.conftest import REPO, ImageSite, render_profile
from tests.k8s.local import LocalCluster, wait_until

import render_manifests  # isort: skip  (tools/, put on sys.path by conftest)

UPSTREAM_IMAGES = {"envoyproxy/envoy", "apache/kafka", "postgres"}


def _dev_render(tilt: kube.TiltEvaluation) -> list[dict[str, Any]]:
    (call,) = tilt.helm
    assert (REPO / call["chart"]) == render_manifests.CHART
    values = render_manifests.load_values([REPO / v for v in call["values"]])
    for assignment in call.get("set", []):
        path, _, raw = assignment.partition("=")
        node = values
        *parents, leaf = path.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = {"true": True, "false": False}.get(raw, raw)
    rendered = render_manifests.render(values, release=call["name"], namespace=call["namespace"])
    return render_manifests.objects(rendered)


def _dev_objects(tilt: kube.TiltEvaluation) -> list[dict[str, Any]]:
    """Everything `tilt up` deploys: the chart and the Tiltfile's own objects (dev keys)."""
    return _dev_render(tilt) + tilt.yaml_objects()


def test_tiltfile_builds_every_image_the_workloads_use(tilt: kube.TiltEvaluation) -> None:
    objects = _dev_render(tilt)
    used = {c["image"].rsplit(":", 1)[0] for w in kube.workloads(objects) for c in kube.all_containers(w)}
    built = set(tilt.images)
    assert used - built == UPSTREAM_IMAGES, f"not built: {used - built - UPSTREAM_IMAGES}"
    assert built <= used, f"built but unused: {built - used}"
    for ref, build in tilt.images.items():
        assert build["context"] == "."
        assert (REPO / build["dockerfile"]).is_file(), ref


def test_live_update_syncs_every_package_of_the_image(
    tilt: kube.TiltEvaluation, image_sites: dict[str, ImageSite]
) -> None:
    objects = _dev_render(tilt)
    for ref, build in tilt.images.items():
        if ref == "phs-web":
            continue  # its files, not Python packages (test_live_update_syncs_the_web_apps_build)
        if ref == "phs-mail-sink":
            # A development tool: a change rebuilds the image (no supervisor, no live dir).
            assert "live_update" not in build and "entrypoint" not in build
            continue
        steps = build["live_update"]
        assert steps[0] == {
            "fall_back_on": ["pyproject.toml", "requirements.lock", "docker/build-requirements.lock"]
        }
        syncs = [s["sync"] for s in steps if "sync" in s]
        assert steps[-1] == {"run": "touch /tmp/phs-restart", "trigger": None}
        live_dir = next(a.split("=", 1)[1] for a in build["entrypoint"] if a.startswith("PHS_LIVE_DIR="))
        for src, dest in syncs:
            assert (REPO / src).is_dir(), src
            assert dest == f"{live_dir}/{Path(src).name}"
        (site_packages,) = (image_sites[ref].venv / "lib").glob("python3*/site-packages")
        packages = {p.name for p in site_packages.iterdir() if p.is_dir() and not p.name.endswith("-info")}
        assert {Path(dest).name for _src, dest in syncs} == packages, ref
        # The pods of the image mount a writable emptyDir there and import from it first.
        for w in kube.workloads(objects):
            if w["kind"] != "Deployment":
                continue
            for c in kube.pod_spec(w)["containers"]:
                if c["image"].rsplit(":", 1)[0] != ref:
                    continue
                mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
                volumes = {v["name"]: v for v in kube.pod_spec(w)["volumes"]}
                assert "emptyDir" in volumes[mounts[live_dir]], w["metadata"]["name"]
                env = {e["name"]: e.get("value") for e in c["env"]}
                assert env["PYTHONPATH"] == live_dir
                assert c["securityContext"]["readOnlyRootFilesystem"] is True
                assert c["command"] == ["python"], "Tilt's entrypoint replaces the command, keeps the args"


def test_live_update_syncs_the_web_apps_build(tilt: kube.TiltEvaluation, tmp_path: Path) -> None:
    """`make web` runs on source changes; its output is synced into a writable emptyDir the
    dev pod serves from, seeded once from the image's build; Python changes rebuild."""
    build = tilt.images["phs-web"]
    steps = build["live_update"]
    assert steps[0]["fall_back_on"][:3] == [
        "pyproject.toml",
        "requirements.lock",
        "docker/build-requirements.lock",
    ]
    assert {"services/web/phs_web", "services/runtime/phs_runtime"} <= set(steps[0]["fall_back_on"])
    assert [s["sync"] for s in steps if "sync" in s] == [["services/web/dist", "/opt/phs/live/dist"]]
    assert not [s for s in steps if "run" in s], "the server re-reads changed files: no restart"
    web_build = tilt.resources["phs-web-build"]
    assert web_build["cmd"] == "make web" and "services/web/src" in web_build["deps"]
    assert "phs-web-build" in tilt.resources["phs-web"]["resource_deps"]
    (web,) = [w for w in kube.workloads(_dev_render(tilt)) if w["metadata"]["name"] == "phs-web"]
    (c,) = kube.pod_spec(web)["containers"]
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in kube.pod_spec(web)["volumes"]}
    assert "emptyDir" in volumes[mounts["/opt/phs/live"]]
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["PHS_WEB_ROOT"] == "/opt/phs/live/dist" and c["securityContext"]["readOnlyRootFilesystem"]
    assert c["command"] == ["python"], "Tilt's entrypoint replaces the command, keeps the args"
    # The entrypoint seeds the live dir once (here with the image's /app/dist moved to a
    # temporary folder), then runs the chart's command; a second start keeps synced files.
    image_dist, live = tmp_path / "app-dist", tmp_path / "live"
    image_dist.mkdir()
    live.mkdir()
    (image_dist / "index.html").write_text("image")
    entrypoint = [a.replace("/app/dist", str(image_dist)) for a in build["entrypoint"]]
    assert entrypoint[-1] == "python"
    run_env = {"PATH": "/usr/bin:/bin", "PHS_WEB_ROOT": str(live / "dist")}
    argv = [*entrypoint[:-1], "sh", "-c", 'cat "$PHS_WEB_ROOT/index.html"']
    first = subprocess.run(argv, env=run_env, capture_output=True, text=True, timeout=30, check=True)
    assert first.stdout == "image"
    (live / "dist" / "index.html").write_text("synced")
    again = subprocess.run(argv, env=run_env, capture_output=True, text=True, timeout=30, check=True)
    assert again.stdout == "synced"
    # Outside Tilt's live dir (the image's own root, not writable) nothing is copied.
    run_env["PHS_WEB_ROOT"] = "/proc/phs-web-dist"
    argv = [*entrypoint[:-1], "sh", "-c", "echo started"]
    plain = subprocess.run(argv, env=run_env, capture_output=True, text=True, timeout=30, check=True)
    assert plain.stdout == "started\n"


def test_resources_exist_and_nothing_is_uncategorized(tilt: kube.TiltEvaluation) -> None:
    objects = _dev_objects(tilt)
    workloads = {w["metadata"]["name"] for w in kube.workloads(objects)}
    named = {name for name, r in tilt.resources.items() if r["workload"]}
    assert named == workloads, f"missing: {workloads - named}, unknown: {named - workloads}"
    by_selector = {(o["metadata"]["name"], o["kind"].lower()) for o in objects}
    assigned: set[tuple[str, str]] = set()
    for name, r in tilt.resources.items():
        for selector in r.get("objects", []):
            obj_name, kind = selector.split(":")[:2]
            assert (obj_name, kind) in by_selector, f"{name}: {selector} is not rendered"
            assert (obj_name, kind) not in assigned, f"{selector} assigned twice"
            assigned.add((obj_name, kind))
    # Tilt groups workloads and their Services itself; everything else needs a home.
    for o in objects:
        if o["kind"] in (*kube.WORKLOAD_KINDS, "Service"):
            continue
        assert (o["metadata"]["name"], o["kind"].lower()) in assigned, (
            f"{o['kind']}/{o['metadata']['name']} uncategorized"
        )
    assert tilt.k8s_yaml[0] == "k8s/namespace.yaml" and (REPO / "k8s" / "namespace.yaml").is_file()


def _deps(tilt: kube.TiltEvaluation, name: str) -> set[str]:
    """All resources `name` waits for, transitively."""
    seen: set[str] = set()
    todo = list(tilt.resources[name].get("resource_deps", []))
    while todo:
        dep = todo.pop()
        assert dep in tilt.resources, f"{name} depends on unknown resource {dep}"
        if dep not in seen:
            seen.add(dep)
            todo.extend(tilt.resources[dep].get("resource_deps", []))
    assert name not in seen, f"dependency cycle through {name}"
    return seen


def test_infrastructure_starts_before_the_services(tilt: kube.TiltEvaluation) -> None:
    assert {"phs-postgresql", "phs-kafka", "phs-kafka-topics"} <= _deps(tilt, "phs-scheduling")
    assert {"phs-postgresql", "phs-kafka", "phs-kafka-topics"} <= _deps(tilt, "phs-reports-api")
    assert {"phs-postgresql", "phs-kafka", "phs-scheduling"} <= _deps(tilt, "phs-reports-worker")
    assert {"phs-postgresql", "phs-kafka", "phs-scheduling"} <= _deps(tilt, "phs-notifications")
    assert "phs-mail-sink" in _deps(tilt, "phs-notifications"), "its SMTP server (values-dev.yaml)"
    assert {"phs-scheduling", "phs-reports-api", "phs-postgresql", "phs-kafka"} <= _deps(tilt, "phs-gateway")
    for service in ("phs-scheduling", "phs-reports-api", "phs-reports-worker", "phs-notifications"):
        assert "dev-auth-keys" in _deps(tilt, service), f"{service} would start without its token keys"
    assert _deps(tilt, "phs-kafka") == set() and _deps(tilt, "phs-postgresql") == set()


def test_gateway_port_forwards_are_as_documented(tilt: kube.TiltEvaluation) -> None:
    objects = _dev_render(tilt)
    gateway = next(w for w in kube.workloads(objects) if w["metadata"]["name"] == "phs-gateway")
    forwards = tilt.resources["phs-gateway"]["port_forwards"]
    assert {(f["local"], f["container"]) for f in forwards} == {(8080, 8080), (9901, 9901)}
    assert kube.container_port(gateway, "http") == 8080 and kube.container_port(gateway, "admin") == 9901
    doc = (REPO / "docs" / "kubernetes.md").read_text()
    assert "http://localhost:8080" in doc and "tilt up" in doc
    kind = (REPO / "k8s" / "kind-cluster.yaml").read_text()
    (contexts,), _ = tilt.called("allow_k8s_contexts")[0]
    assert "kind-phs" in contexts and "name: phs" in kind


def test_live_update_restarts_the_grpc_process(
    tmp_path: Path, tilt: kube.TiltEvaluation, image_sites: dict[str, ImageSite]
) -> None:
    """Run Tilt's entrypoint (the supervisor) with the dev pod spec of phs-scheduling: it
    seeds the live dir from the image, serves; a synced change plus the live_update `run`
    step restart the process, which then runs the synced code; SIGTERM stops it all."""
    build = tilt.images["phs-scheduling"]
    r = render_profile("dev", {"devLiveUpdate": {"enabled": True}})
    cluster = LocalCluster(
        objects=r.objects + tilt.yaml_objects(),  # the JWKS ConfigMap the pod mounts
        root=tmp_path / "pods",
        python_bin={ref: site.bin for ref, site in image_sites.items()},
        envoy_bin="envoy",
        secret_overrides={("phs-database", "scheduling-url"): f"sqlite:///{tmp_path / 'scheduling.db'}"},
    )
    # The pod's mounts (/opt/phs/live, /tmp) become local folders; the entrypoint's paths too.
    argv, env, root = cluster.command("phs-scheduling", entrypoint=build["entrypoint"])
    live = root / "fs" / "opt" / "phs" / "live"
    trigger = root / "fs" / "tmp" / "phs-restart"
    assert f"PHS_LIVE_DIR={live}" in argv and f"PHS_RESTART_TRIGGER={trigger}" in argv
    assert env["PYTHONPATH"] == str(live)
    log = root / "supervisor.log"
    with open(log, "wb") as out:
        popen = subprocess.Popen(
            argv, env=env, cwd=root, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    port = cluster.ports["phs-scheduling"][50051]
    try:
        wait_until(lambda: health_status(f"127.0.0.1:{port}", "liveness") == 1, 60, "first start")
        assert (live / ".seeded").exists() and (live / "phs_scheduling" / "__main__.py").exists()
        # What `sync` does: a changed file lands in the live dir; then the `run` step.
        marker = tmp_path / "new-code-ran"
        init = live / "phs_scheduling" / "__init__.py"
        init.write_text(init.read_text() + f"\nopen({str(marker)!r}, 'w').close()\n")
        trigger.touch()
        wait_until(marker.exists, 60, "restart with the synced code")
        wait_until(lambda: health_status(f"127.0.0.1:{port}", "liveness") == 1, 60, "serving after restart")
        assert not trigger.exists(), "the supervisor consumes the trigger"
        assert popen.poll() is None, "the container (supervisor) survives the restart"
    finally:
        t0 = time.monotonic()
        popen.terminate()
        code = popen.wait(30)
    assert time.monotonic() - t0 < 30
    assert code == 143, log.read_text()[-2000:]
    assert "restarting" in log.read_text()


def test_tilt_makes_the_dev_keys_the_dev_values_name(tilt: kube.TiltEvaluation, tilt_workdir: Path) -> None:
    """`tilt up` in a fresh checkout: local() makes two key pairs under data/ (git-ignored)
    with the services' generator, once: the worker's and the notifications service's own.
    The ConfigMap and Secrets it deploys are the ones values-dev.yaml (and so k8s/) names;
    the ConfigMap holds the public JWKS with both key ids, each Secret its service's
    private key."""
    auth = yaml.safe_load((render_manifests.CHART / "values-dev.yaml").read_text())["auth"]
    signings = [auth["workerSigningKey"], auth["notificationsSigningKey"]]
    keys = tilt_workdir / "data" / "k8s" / "dev-keys"
    jwks = keys / "jwks.json"
    pems = [keys / f"{signing['keyId']}.pem" for signing in signings]
    for pem in pems:
        assert pem.stat().st_mode & 0o777 == 0o600
        assert "PRIVATE KEY" in pem.read_text()
    assert pems[0].read_text() != pems[1].read_text(), "a key of its own"
    objects = {(o["kind"], o["metadata"]["name"]): o for o in tilt.yaml_objects()}
    assert set(objects) == {
        ("ConfigMap", auth["existingJwksConfigMap"]["name"]),
        *(("Secret", signing["existingSecret"]) for signing in signings),
    }
    cm = objects[("ConfigMap", auth["existingJwksConfigMap"]["name"])]
    published = json.loads(cm["data"][auth["existingJwksConfigMap"]["key"]])
    assert published == json.loads(jwks.read_text())
    assert [k["kid"] for k in published["keys"]] == [signing["keyId"] for signing in signings]
    for jwk in published["keys"]:
        assert not {"d", "p", "q"} & set(jwk), "public keys only in the ConfigMap"
    for signing, pem in zip(signings, pems, strict=True):
        secret = objects[("Secret", signing["existingSecret"])]
        assert secret["stringData"] == {signing["key"]: pem.read_text()}
    for o in objects.values():
        assert o["metadata"]["namespace"] == "phs"
    # The key pairs are made once: a Tiltfile reload keeps them (tokens stay valid).
    ((command,), _kwargs) = tilt.called("local")[0]
    before = [pem.read_bytes() for pem in pems]
    subprocess.run(["sh", "-c", command], cwd=tilt_workdir, check=True, timeout=120)
    assert [pem.read_bytes() for pem in pems] == before
    # A key folder from before the notifications key (dev-1 only) gets that key added,
    # keeping dev-1 (and so the tokens minted with it).
    pems[1].unlink()
    jwks.write_text(json.dumps({"keys": [k for k in published["keys"] if k["kid"] == signings[0]["keyId"]]}))
    subprocess.run(["sh", "-c", command], cwd=tilt_workdir, check=True, timeout=120)
    assert pems[0].read_bytes() == before[0] and pems[1].exists()
    assert [k["kid"] for k in json.loads(jwks.read_text())["keys"]] == [s["keyId"] for s in signings]
    # It lives where git never looks, and `phs_devstack.token --data data/k8s` finds it.
    assert str(pem.relative_to(tilt_workdir)).startswith("data/k8s/dev-keys/")
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "data/k8s/dev-keys/dev-1.pem"], cwd=REPO, check=False, timeout=30
    )
    assert ignored.returncode == 0, "data/ must stay git-ignored: it holds the dev private key"
    from phs_devstack import DEV_KID, DEV_NOTIFICATIONS_KID

    assert [s["keyId"] for s in signings] == [DEV_KID, DEV_NOTIFICATIONS_KID], "as `make up` has them"
