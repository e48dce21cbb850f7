"""deploy/k8s rendered (base and the postgres overlay) and validated offline.

Rendering: `support_deploy.render_kustomization`, a small kustomize for the features
deploy/k8s uses (it refuses others); where kubectl is installed it is compared with
`kubectl kustomize`. Validation: every object against the Kubernetes 1.33 OpenAPI
schemas shipped by kubernetes-validate, in strict mode (unknown fields rejected).
"""

from __future__ import annotations

import base64
import copy
import shutil
import subprocess
from typing import Any

import kubernetes_validate
import pytest
import yaml
from support_deploy import (
    K8S_BASE,
    K8S_POSTGRES,
    Resource,
    env_of,
    find,
    kustomization_of,
    pod_containers,
    pod_spec,
    render_kustomization,
)

KUBERNETES_VERSION = "1.33"
SIDECAR_LABEL = ("spanguard/sidecar", "true")
KUSTOMIZATIONS = {"base": K8S_BASE, "postgres": K8S_POSTGRES}


@pytest.fixture(scope="module")
def base() -> list[Resource]:
    return render_kustomization(K8S_BASE)


@pytest.fixture(scope="module")
def postgres() -> list[Resource]:
    return render_kustomization(K8S_POSTGRES)


def _id(resource: Resource) -> str:
    return f"{resource['kind']}/{resource['metadata']['name']}"


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_every_rendered_object_matches_the_kubernetes_schema(name: str) -> None:
    resources = render_kustomization(KUSTOMIZATIONS[name])
    assert resources
    for resource in resources:
        try:
            kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(part) for part in exc.path)
            pytest.fail(f"{name}: {_id(resource)} invalid at {path}: {exc.message}")


def test_the_schema_check_catches_a_misspelled_field(base: list[Resource]) -> None:
    # a control: strict validation must reject one typo in a container
    broken = copy.deepcopy(find(base, "Deployment", "spanguard-app"))
    container = broken["spec"]["template"]["spec"]["containers"][0]
    container["readinessProbes"] = container.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_every_manifest_in_a_kustomization_folder_is_used(name: str) -> None:
    directory = KUSTOMIZATIONS[name]
    spec = kustomization_of(directory)
    used = set(spec.get("resources", [])) | {patch["path"] for patch in spec.get("patches", [])}
    manifests = {path.name for path in directory.glob("*.yaml")} - {"kustomization.yaml"}
    assert manifests <= used, f"not referenced by {directory}/kustomization.yaml: {manifests - used}"


def _normalised(resources: list[Resource]) -> dict[str, Resource]:
    out = {}
    for resource in resources:
        resource = copy.deepcopy(resource)
        if resource["kind"] == "Secret":
            # kubectl wraps long base64 values; compare the decoded bytes
            resource["data"] = {
                key: base64.b64decode("".join(value.split())) for key, value in resource["data"].items()
            }
        out[_id(resource)] = resource
    return out


@pytest.mark.skipif(
    shutil.which("kubectl") is None, reason="cross-check needs kubectl; the renderer tests above do not"
)
@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_renderer_agrees_with_kubectl_kustomize(name: str) -> None:
    directory = KUSTOMIZATIONS[name]
    printed = subprocess.run(
        ["kubectl", "kustomize", str(directory)], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    theirs = [doc for doc in yaml.safe_load_all(printed) if doc]
    assert _normalised(render_kustomization(directory)) == _normalised(theirs)


def test_spanguard_runs_as_a_native_sidecar_of_the_app(base: list[Resource]) -> None:
    spec = pod_spec(find(base, "Deployment", "spanguard-app"))
    assert spec is not None
    (sidecar,) = spec["initContainers"]
    assert sidecar["restartPolicy"] == "Always"
    assert sidecar["args"][0] == "sidecar"
    # the app starts only after the sidecar's startup probe passes
    assert sidecar["startupProbe"]["httpGet"]["path"] == "/healthz"
    (app,) = spec["containers"]
    assert app["args"][0] == "serve"
    assert spec["securityContext"]["runAsNonRoot"] is True


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_every_container_has_probes_and_resources(name: str) -> None:
    for resource in render_kustomization(KUSTOMIZATIONS[name]):
        for container in pod_containers(resource):
            where = f"{_id(resource)}:{container['name']}"
            assert "readinessProbe" in container and "livenessProbe" in container, where
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), where
            assert "memory" in container["resources"]["limits"], where


def test_only_pods_with_the_sidecar_reach_phoenix_ingest(base: list[Resource]) -> None:
    policy = find(base, "NetworkPolicy", "phoenix-ingest-from-sidecars")
    phoenix = find(base, "StatefulSet", "phoenix")
    phoenix_labels = phoenix["spec"]["template"]["metadata"]["labels"]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= phoenix_labels.items()
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    (rule,) = policy["spec"]["ingress"]
    (source,) = rule["from"]
    assert source["podSelector"]["matchLabels"] == dict([SIDECAR_LABEL])
    phoenix_ports = {
        port["containerPort"] for port in phoenix["spec"]["template"]["spec"]["containers"][0]["ports"]
    }
    assert {port["port"] for port in rule["ports"]} == phoenix_ports
    # the label is worn by pods that carry a spanguard sidecar, and by no other pod
    labelled = [
        r
        for r in base
        if pod_spec(r) is not None
        and r["spec"]["template"]["metadata"]["labels"].get(SIDECAR_LABEL[0]) == SIDECAR_LABEL[1]
    ]
    assert labelled
    for workload in labelled:
        init = (pod_spec(workload) or {}).get("initContainers", [])
        assert any(c.get("restartPolicy") == "Always" and c["args"][0] == "sidecar" for c in init), _id(
            workload
        )


def test_app_pods_admit_only_the_chat_port(base: list[Resource]) -> None:
    policy = find(base, "NetworkPolicy", "spanguard-app-chat-only")
    (rule,) = policy["spec"]["ingress"]
    assert [port["port"] for port in rule["ports"]] == [8000]


def test_phoenix_keeps_its_data_on_a_persistent_volume(base: list[Resource]) -> None:
    phoenix = find(base, "StatefulSet", "phoenix")
    (claim,) = phoenix["spec"]["volumeClaimTemplates"]
    container = phoenix["spec"]["template"]["spec"]["containers"][0]
    mounts = {mount["name"]: mount["mountPath"] for mount in container["volumeMounts"]}
    assert mounts[claim["metadata"]["name"]] == env_of(container)["PHOENIX_WORKING_DIR"]


def test_postgres_overlay_moves_phoenix_to_postgres(postgres: list[Resource]) -> None:
    phoenix = find(postgres, "StatefulSet", "phoenix")
    env = env_of(phoenix["spec"]["template"]["spec"]["containers"][0])
    reference = env["PHOENIX_SQL_DATABASE_URL"]["secretKeyRef"]
    secret = find(postgres, "Secret", reference["name"])
    url = base64.b64decode(secret["data"][reference["key"]]).decode()
    service = find(postgres, "Service", "postgres")
    port = service["spec"]["ports"][0]["port"]
    database = base64.b64decode(secret["data"]["POSTGRES_DB"]).decode()
    assert url.startswith("postgresql://") and url.endswith(f"@postgres:{port}/{database}")
    # the rest of Phoenix's settings survived the patch
    assert env["PHOENIX_PORT"] == "6006"
    db = find(postgres, "StatefulSet", "postgres")
    assert db["spec"]["volumeClaimTemplates"]
    assert all(r["metadata"].get("namespace") == "spanguard" for r in postgres if r["kind"] != "Namespace")
    policy = find(postgres, "NetworkPolicy", "postgres-from-phoenix")
    (rule,) = policy["spec"]["ingress"]
    assert rule["from"][0]["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "phoenix"}


def test_images_are_pinned(base: list[Resource]) -> None:
    images: dict[str, Any] = {}
    for resource in base:
        for container in pod_containers(resource):
            images[container["name"]] = container["image"]
    assert images["phoenix"].startswith("arizephoenix/phoenix:version-")
    assert images["app"] == images["spanguard-sidecar"] == "spanguard:local"
