"""The Phoenix span filters docs/redaction.md gives for the summary attributes work on a
real Phoenix: spans redacted by spanguard, then filtered through Phoenix's GraphQL API."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from support_phoenix import PhoenixServer
from support_spans import provider_with

from spanguard.api import build_span_processor
from spanguard.config import load_config

pytestmark = pytest.mark.phoenix

_PROJECTS = "query { projects { edges { node { id name } } } }"
_SPANS = """
query ($id: ID!, $filter: String!) {
  node(id: $id) { ... on Project { spans(first: 100, filterCondition: $filter) { edges { node { name } } } } }
}
"""


def _graphql(phoenix: PhoenixServer, query: str, **variables: Any) -> Any:
    response = httpx.post(
        f"{phoenix.base_url}/graphql", json={"query": query, "variables": variables}, timeout=10.0
    )
    response.raise_for_status()
    body = response.json()
    assert not body.get("errors"), body.get("errors")
    return body["data"]


def _filtered(phoenix: PhoenixServer, project_id: str, condition: str) -> set[str]:
    data = _graphql(phoenix, _SPANS, id=project_id, filter=condition)
    return {edge["node"]["name"] for edge in data["node"]["spans"]["edges"]}


def test_documented_phoenix_filters_select_redacted_spans(phoenix: PhoenixServer) -> None:
    project = "summary-filters"
    config = load_config(
        {
            "exporters": {
                "phoenix": {"endpoint": phoenix.base_url, "project": project},
                "batch": {"schedule_delay_ms": 100},
            }
        }
    )
    provider = provider_with(build_span_processor(config))
    tracer = provider.get_tracer("summary.filters")
    spans = {
        "two-emails": "mail jane.doe@example.com or bob@example.org",
        "one-phone": "call +1 415 555 0142",
        "clean": "nothing to hide here",
    }
    for name, text in spans.items():
        with tracer.start_as_current_span(name) as span:
            span.set_attribute("input.value", text)
    provider.shutdown()
    phoenix.wait_for_spans(project, 3)
    projects = _graphql(phoenix, _PROJECTS)["projects"]["edges"]
    (project_id,) = [edge["node"]["id"] for edge in projects if edge["node"]["name"] == project]
    assert _filtered(phoenix, project_id, "attributes['spanguard']['redacted']['count'] > 0") == {
        "two-emails",
        "one-phone",
    }
    assert _filtered(phoenix, project_id, "attributes['spanguard']['redacted']['email'] >= 2") == {
        "two-emails"
    }
    assert _filtered(phoenix, project_id, "attributes['spanguard']['redacted']['phone'] > 0") == {"one-phone"}
    # the flat key in one subscript does not reach the nested attribute
    assert _filtered(phoenix, project_id, "attributes['spanguard.redacted.count'] > 0") == set()
