"""deploy/compose.yaml and deploy/otelcol/compose.yaml, checked offline.

The compose-spec JSON schema (vendored by check-jsonschema) is the validator `docker
compose config` itself follows; the rest are the promises the compose file makes in
its comments: the app reaches Phoenix only through the sidecar, Phoenix's gRPC stays
inside the network, the postgres profile has its own volume, and every variable it
reads is documented in .env.example.
"""

from __future__ import annotations

import copy
import json
import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from support_deploy import COMPOSE_FILES, DEPLOY, load_yaml

COMPOSE = DEPLOY / "compose.yaml"
ENV_EXAMPLE = DEPLOY / ".env.example"
# `${VAR}`, `${VAR:-default}`, `${VAR-default}`; `$${...}` is a literal for the container
_COMPOSE_VARIABLE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)")


def compose_schema() -> dict[str, Any]:
    schema_file = resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    return dict(json.loads(schema_file.read_text()))


def schema_errors(document: Any) -> list[str]:
    schema = compose_schema()
    validator_class = jsonschema.validators.validator_for(schema)
    validator = validator_class(schema)
    return [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator.iter_errors(document)
    ]


def locked_phoenix_version() -> str:
    pyproject = tomllib.loads((DEPLOY / "phoenix" / "pyproject.toml").read_text())
    (requirement,) = [dep for dep in pyproject["project"]["dependencies"] if dep.startswith("arize-phoenix")]
    return requirement.split("==", 1)[1]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return dict(load_yaml(COMPOSE))


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda p: str(Path(p).relative_to(DEPLOY)))
def test_compose_file_matches_the_compose_spec(path: Path) -> None:
    assert schema_errors(load_yaml(path)) == []


def test_the_schema_check_catches_a_misspelled_key(compose: dict[str, Any]) -> None:
    # a control: the same validator must reject a file with one typo in it
    broken = copy.deepcopy(compose)
    broken["services"]["sidecar"]["healtcheck"] = broken["services"]["sidecar"].pop("healthcheck")
    errors = schema_errors(broken)
    assert errors and any("healtcheck" in error for error in errors)


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda p: str(Path(p).relative_to(DEPLOY)))
def test_phoenix_image_is_the_locked_server_version(path: Path) -> None:
    images = [
        service["image"]
        for service in load_yaml(path)["services"].values()
        if str(service.get("image", "")).startswith("arizephoenix/phoenix")
    ]
    assert images
    assert set(images) == {f"arizephoenix/phoenix:version-{locked_phoenix_version()}"}


def test_env_example_lists_every_variable_compose_reads() -> None:
    read = set(_COMPOSE_VARIABLE.findall(COMPOSE.read_text()))
    documented = set(re.findall(r"^#?\s*([A-Z_][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), re.MULTILINE))
    assert read, "the compose file reads no variables?"
    assert read <= documented, f"not in .env.example: {sorted(read - documented)}"
    # and the postgres switch is documented where users look for it
    assert "COMPOSE_PROFILES" in documented


def test_the_app_reaches_phoenix_only_through_the_sidecar(compose: dict[str, Any]) -> None:
    services = compose["services"]
    app_networks = set(services["app"]["networks"])
    assert not app_networks & set(services["phoenix"]["networks"])
    assert app_networks & set(services["sidecar"]["networks"])
    assert set(services["sidecar"]["networks"]) & set(services["phoenix"]["networks"])
    assert services["app"]["depends_on"]["sidecar"]["condition"] == "service_healthy"
    assert services["app"]["environment"]["SPANGUARD_SIDECAR_ENDPOINT"] == "http://sidecar:4318"


def test_phoenix_grpc_stays_inside_the_network(compose: dict[str, Any]) -> None:
    phoenix = compose["services"]["phoenix"]
    published_targets = {int(str(mapping).rsplit(":", 1)[1]) for mapping in phoenix["ports"]}
    assert published_targets == {6006}
    assert "4317" in [str(port) for port in phoenix["expose"]]
    assert phoenix["environment"]["PHOENIX_GRPC_PORT"] == "4317"


def test_published_ports_default_to_loopback(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for mapping in service.get("ports", []):
            assert re.match(r"\$\{[A-Z_]+_BIND:-127\.0\.0\.1\}:", str(mapping)), (name, mapping)


def test_phoenix_and_the_queue_keep_their_data_in_named_volumes(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert "phoenix-data:/mnt/data" in services["phoenix"]["volumes"]
    assert services["phoenix"]["environment"]["PHOENIX_WORKING_DIR"] == "/mnt/data"
    assert "sidecar-queue:/var/lib/spanguard/queue" in services["sidecar"]["volumes"]
    assert {"phoenix-data", "sidecar-queue", "postgres-data"} <= set(compose["volumes"])


def test_postgres_profile_puts_phoenix_on_its_own_database(compose: dict[str, Any]) -> None:
    services = compose["services"]
    postgres = services["postgres"]
    assert postgres["profiles"] == ["postgres"]
    assert postgres["volumes"] == ["postgres-data:/var/lib/postgresql/data"]
    assert "healthcheck" in postgres
    assert services["phoenix"]["environment"]["PHOENIX_SQL_DATABASE_URL"].startswith(
        "${PHOENIX_SQL_DATABASE_URL:-"
    )
    # only waits for postgres when the profile is active
    assert services["phoenix"]["depends_on"]["postgres"] == {
        "condition": "service_healthy",
        "required": False,
    }
    # the URL .env.example suggests points at that service, on its port, in its database
    (url,) = re.findall(r"^#\s*PHOENIX_SQL_DATABASE_URL=(\S+)$", ENV_EXAMPLE.read_text(), re.MULTILINE)
    assert re.fullmatch(r"postgresql://phoenix:[^@]+@postgres:5432/phoenix", url)


@pytest.mark.parametrize("service", ["phoenix", "sidecar", "app"])
def test_long_running_services_have_healthchecks_on_healthz(compose: dict[str, Any], service: str) -> None:
    test = compose["services"][service]["healthcheck"]["test"]
    assert test[0] == "CMD"
    assert any("/healthz" in part for part in test)
