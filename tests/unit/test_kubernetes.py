"""deploy/kubernetes/ holds valid manifests that run the gateway as docs/deploy.md says.

No cluster here: each manifest is validated offline against the Kubernetes API schemas
(kubernetes-validate, strict: an unknown field fails), and what they ask of the gateway is
checked against the code: the commands parse with the CLI, the worker id is the pod name,
probes and scrape annotations point at the port the worker serves, and the selectors meet.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.unit.test_compose import _parse

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "kubernetes"
KUBERNETES_VERSION = "1.31.0"  # a release clusters run today; the schemas ship with the package
MANIFESTS = sorted(path for path in DEPLOY.glob("*.yaml") if path.name != "kustomization.yaml")
MOUNTED_CONFIG = "/etc/residency-gateway/policy.yaml"


def _load(name: str) -> dict[str, Any]:
    [document] = list(yaml.safe_load_all((DEPLOY / name).read_text()))
    return document  # type: ignore[no-any-return]


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda path: path.name)
def test_each_manifest_is_valid_for_the_kubernetes_api(path: Path) -> None:
    for document in yaml.safe_load_all(path.read_text()):
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_the_kustomization_lists_every_manifest() -> None:
    listed = _load("kustomization.yaml")["resources"]
    assert sorted(listed) == sorted(path.name for path in MANIFESTS)


def _container(workload: dict[str, Any]) -> dict[str, Any]:
    [container] = workload["spec"]["template"]["spec"]["containers"]
    return container  # type: ignore[no-any-return]


def _command(container: dict[str, Any]) -> list[str]:
    """The container's args as the CLI sees them, with the repository's policy where the pod mounts it."""
    values = {"$(KAFKA_BOOTSTRAP)": "kafka:9092", "$(POD_NAME)": "residency-gateway-0"}
    return [
        values.get(arg, arg).replace(MOUNTED_CONFIG, str(ROOT / "config" / "policy.yaml"))
        for arg in container["args"]
    ]


def test_the_workers_run_with_their_pod_name_as_worker_id_and_the_mounted_policy() -> None:
    workers = _load("statefulset.yaml")
    container = _container(workers)
    args = container["args"]
    assert args[0] == "run" and args[args.index("--worker-id") + 1] == "$(POD_NAME)"
    env = {item["name"]: item for item in container["env"]}
    assert env["POD_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert args[args.index("--config") + 1] == MOUNTED_CONFIG
    mount = next(m for m in container["volumeMounts"] if MOUNTED_CONFIG.startswith(m["mountPath"]))
    volume = next(v for v in workers["spec"]["template"]["spec"]["volumes"] if v["name"] == mount["name"])
    assert volume["configMap"]["name"] == "residency-gateway-policy"
    # Keys come from a Secret, never written in a manifest.
    assert container["envFrom"] == [{"secretRef": {"name": "residency-gateway-keys"}}]
    assert not any(name.startswith("RESIDENCY_GATEWAY_KEY_") for name in env)
    _parse(_command(container), "statefulset")


def test_readiness_and_scraping_point_at_the_port_the_worker_serves() -> None:
    workers = _load("statefulset.yaml")
    container = _container(workers)
    port = next(p["containerPort"] for p in container["ports"] if p["name"] == "web")
    args = container["args"]
    assert "--web-port" not in args and port == 6066  # run's default port
    # Every interface of the pod: the kubelet and the scraper reach it from outside the container.
    assert args[args.index("--web-host") + 1] == "0.0.0.0"  # noqa: S104
    assert container["readinessProbe"]["httpGet"] == {"path": "/health", "port": "web"}
    annotations = workers["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(port),
        "prometheus.io/path": "/metrics",
    }


def test_the_service_and_the_disruption_budget_select_the_workers() -> None:
    workers = _load("statefulset.yaml")
    labels = workers["spec"]["template"]["metadata"]["labels"]
    assert workers["spec"]["selector"]["matchLabels"] == labels
    service = _load("service.yaml")
    assert workers["spec"]["serviceName"] == service["metadata"]["name"]
    assert service["spec"]["selector"].items() <= labels.items()
    budget = _load("poddisruptionbudget.yaml")
    assert budget["spec"]["selector"]["matchLabels"] == labels and budget["spec"]["maxUnavailable"] == 1


def test_the_topics_job_applies_the_same_policy() -> None:
    job = _load("job-topics.yaml")
    container = _container(job)
    assert container["args"][:2] == ["topics", "apply"]
    assert container["args"][container["args"].index("--config") + 1] == MOUNTED_CONFIG
    _parse(_command(container), "job")


def test_the_deploy_guides_key_loop_makes_every_key_run_needs(tmp_path: Path) -> None:
    # docs/deploy.md's loop, run as written: its keys.env must satisfy `check-config --keys`.
    import os
    import subprocess
    import sys

    page = (ROOT / "docs" / "deploy.md").read_text()
    start = page.index("for region in")
    loop = page[start : page.index("done > keys.env", start) + len("done > keys.env")]
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    env = {name: value for name, value in env.items() if not name.startswith("RESIDENCY_GATEWAY_KEY_")}
    subprocess.run(["bash", "-c", loop], cwd=tmp_path, env=env, check=True, timeout=120)
    keys = dict(line.split("=", 1) for line in (tmp_path / "keys.env").read_text().splitlines())
    policy = str(ROOT / "config" / "policy.yaml")
    checked = subprocess.run(
        ["residency-gateway", "check-config", policy, "--keys"],
        env={**env, **keys},
        capture_output=True,
        timeout=120,
    )
    assert checked.returncode == 0, checked.stderr
    assert b"keys: eu v1 (" in checked.stdout and b"row v1 (" in checked.stdout


def test_the_collector_deployment_and_its_service_serve_the_port_collect_listens_on() -> None:
    deployment, service = yaml.safe_load_all((DEPLOY / "collect.yaml").read_text())
    container = _container(deployment)
    args = _command(container)
    assert args[0] == "collect" and args[args.index("--host") + 1] == "0.0.0.0"  # noqa: S104
    _parse(args, "deploy/kubernetes/collect.yaml")  # parses with the CLI as it is
    port = container["ports"][0]
    assert port["containerPort"] == 8080 and "--port" not in args  # collect's default port
    assert container["readinessProbe"]["httpGet"] == {"path": "/health", "port": port["name"]}
    assert deployment["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"] == "8080"
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert [env["name"] for env in container["env"]] == ["RESIDENCY_GATEWAY_WRITE_KEYS"]
