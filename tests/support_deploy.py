"""Read deploy/ for the static tests: compose files, a small kustomize, the ports table.

There is no kubectl on a fresh machine, so `render_kustomization` implements the part
of kustomize that deploy/k8s uses — resources (files and directories), `namespace`,
`labels`, `images`, config-map and secret generators without name hashes, and
strategic-merge `patches` (maps merge, lists of named items merge by `name`) — and
raises on anything else, so a new feature in a kustomization cannot be silently
ignored. `test_deploy_k8s.py` compares it with `kubectl kustomize` where kubectl exists.
"""

from __future__ import annotations

import base64
import copy
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
K8S_BASE = DEPLOY / "k8s" / "base"
K8S_POSTGRES = DEPLOY / "k8s" / "overlays" / "postgres"
COMPOSE_FILES = (DEPLOY / "compose.yaml", DEPLOY / "otelcol" / "compose.yaml")
DEPLOY_DOC = ROOT / "docs" / "deploy.md"
# kinds in deploy/k8s that are not namespaced
CLUSTER_SCOPED = {"Namespace"}
_SUPPORTED_KEYS = {
    "apiVersion",
    "kind",
    "namespace",
    "labels",
    "resources",
    "images",
    "configMapGenerator",
    "secretGenerator",
    "generatorOptions",
    "patches",
}
Resource = dict[str, Any]


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def load_all_yaml(path: Path) -> list[Resource]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


# --- kustomize, the subset deploy/k8s uses -----------------------------------------


def kustomization_of(directory: Path) -> dict[str, Any]:
    data = load_yaml(directory / "kustomization.yaml")
    unknown = set(data) - _SUPPORTED_KEYS
    if unknown:
        raise NotImplementedError(f"{directory}: kustomize features not modelled here: {sorted(unknown)}")
    return dict(data)


def render_kustomization(directory: Path) -> list[Resource]:
    """The resources `kubectl kustomize directory` would print (as data, not text)."""
    spec = kustomization_of(directory)
    resources: list[Resource] = []
    for entry in spec.get("resources", []):
        target = (directory / entry).resolve()
        if target.is_dir():
            resources.extend(render_kustomization(target))
        else:
            resources.extend(load_all_yaml(target))
    options = spec.get("generatorOptions", {})
    generators = spec.get("configMapGenerator", []) + spec.get("secretGenerator", [])
    if generators and not options.get("disableNameSuffixHash"):
        raise NotImplementedError(f"{directory}: name-suffix hashes are not modelled here")
    for generator in spec.get("configMapGenerator", []):
        resources.append(_config_map(directory, generator))
    for generator in spec.get("secretGenerator", []):
        resources.append(_secret(directory, generator))
    for patch in spec.get("patches", []):
        if set(patch) != {"path"}:
            raise NotImplementedError(f"{directory}: only file patches are modelled: {patch}")
        for body in load_all_yaml(directory / patch["path"]):
            _apply_patch(resources, body)
    namespace = spec.get("namespace")
    for resource in resources:
        if namespace and resource["kind"] not in CLUSTER_SCOPED:
            resource.setdefault("metadata", {})["namespace"] = namespace
        for label_set in spec.get("labels", []):
            if label_set.get("includeSelectors") or label_set.get("includeTemplates"):
                raise NotImplementedError("labels on selectors/templates are not modelled here")
            resource.setdefault("metadata", {}).setdefault("labels", {}).update(label_set["pairs"])
        for image in spec.get("images", []):
            _set_image(resource, image)
    return resources


def _read_files(directory: Path, entries: list[str]) -> dict[str, str]:
    data: dict[str, str] = {}
    for entry in entries:
        key, _, path = entry.partition("=") if "=" in entry else (Path(entry).name, "", entry)
        data[key] = (directory / path).read_text()
    return data


def _read_envs(directory: Path, entries: list[str]) -> dict[str, str]:
    data: dict[str, str] = {}
    for entry in entries:
        for line in (directory / entry).read_text().splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                key, _, value = line.partition("=")
                data[key.strip()] = value
    return data


def _generated(directory: Path, generator: dict[str, Any]) -> dict[str, str]:
    unknown = set(generator) - {"name", "namespace", "files", "envs", "literals"}
    if unknown:
        raise NotImplementedError(f"generator options not modelled: {sorted(unknown)}")
    data = _read_files(directory, generator.get("files", []))
    data.update(_read_envs(directory, generator.get("envs", [])))
    for literal in generator.get("literals", []):
        key, _, value = literal.partition("=")
        data[key] = value
    return data


def _metadata(generator: dict[str, Any]) -> dict[str, Any]:
    metadata = {"name": generator["name"]}
    if "namespace" in generator:
        metadata["namespace"] = generator["namespace"]
    return metadata


def _config_map(directory: Path, generator: dict[str, Any]) -> Resource:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(generator),
        "data": _generated(directory, generator),
    }


def _secret(directory: Path, generator: dict[str, Any]) -> Resource:
    data = {
        key: base64.b64encode(value.encode()).decode()
        for key, value in _generated(directory, generator).items()
    }
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": _metadata(generator),
        "data": data,
    }


def _apply_patch(resources: list[Resource], patch: Resource) -> None:
    name = patch["metadata"]["name"]
    for resource in resources:
        if resource["kind"] == patch["kind"] and resource["metadata"]["name"] == name:
            merged = strategic_merge(resource, patch)
            resource.clear()
            resource.update(merged)
            return
    raise LookupError(f"patch target {patch['kind']}/{name} not found")


def strategic_merge(base: Any, patch: Any) -> Any:
    """Maps merge key by key; lists of maps with `name` merge item by item; else replace."""
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = copy.deepcopy(base)
        for key, value in patch.items():
            merged[key] = strategic_merge(base[key], value) if key in base else copy.deepcopy(value)
        return merged
    if isinstance(base, list) and isinstance(patch, list) and _named(base) and _named(patch):
        by_name = {item["name"]: item for item in base}
        new_items = [copy.deepcopy(item) for item in patch if item["name"] not in by_name]
        patches = {item["name"]: item for item in patch if item["name"] in by_name}
        kept = [
            strategic_merge(item, patches[item["name"]]) if item["name"] in patches else copy.deepcopy(item)
            for item in base
        ]
        # kustomize puts items new to the list first
        return new_items + kept
    return copy.deepcopy(patch)


def _named(items: list[Any]) -> bool:
    return all(isinstance(item, dict) and "name" in item for item in items)


def _set_image(resource: Resource, image: dict[str, Any]) -> None:
    for container in pod_containers(resource):
        current = container.get("image", "")
        name = current.split("@")[0].rsplit(":", 1)[0] if ":" in current.split("/")[-1] else current
        if name == image["name"]:
            new_name = image.get("newName", name)
            container["image"] = f"{new_name}:{image['newTag']}" if "newTag" in image else new_name


# --- reading rendered resources ----------------------------------------------------


def pod_spec(resource: Resource) -> dict[str, Any] | None:
    if resource["kind"] in {"Deployment", "StatefulSet", "DaemonSet", "Job"}:
        return dict(resource["spec"]["template"]["spec"])
    return None


def pod_containers(resource: Resource) -> Iterator[dict[str, Any]]:
    """Every container and init container of a workload (native sidecars included)."""
    spec = pod_spec(resource)
    if spec is None:
        return
    if resource["kind"] in {"Deployment", "StatefulSet", "DaemonSet", "Job"}:
        spec = resource["spec"]["template"]["spec"]
    yield from spec.get("initContainers", [])
    yield from spec.get("containers", [])


def find(resources: list[Resource], kind: str, name: str) -> Resource:
    for resource in resources:
        if resource["kind"] == kind and resource["metadata"]["name"] == name:
            return resource
    raise LookupError(f"{kind}/{name} not rendered")


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {item["name"]: item.get("value", item.get("valueFrom")) for item in container.get("env", [])}


# --- the ports table in docs/deploy.md ----------------------------------------------


def ports_table(doc: Path = DEPLOY_DOC) -> dict[tuple[str, str], dict[str, int | None]]:
    """Rows of the table under "### Ports": (service, grpc|http|tcp) -> {stack, compose, k8s}.

    A cell holds a port number or `—` (the service does not exist in that setting).
    """
    text = doc.read_text()
    section = text.split("### Ports", 1)[1].split("\n### ", 1)[0]
    rows: dict[tuple[str, str], dict[str, int | None]] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 5 or not re.fullmatch(r"`?[a-z][a-z-]*`?", cells[0]) or cells[0] == "service":
            continue
        service = cells[0].strip("`")
        what = "grpc" if "grpc" in cells[1].lower() else "tcp" if service == "postgres" else "http"
        rows[(service, what)] = {
            column: (int(cell) if cell.isdigit() else None)
            for column, cell in zip(("stack", "compose", "k8s"), cells[2:], strict=True)
        }
    return rows
