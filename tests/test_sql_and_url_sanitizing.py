"""SQL literals replaced in db.statement-like keys and tool arguments; secrets in URL query
strings masked wherever a URL appears. Through every front door."""

from __future__ import annotations

import json

import pytest
from support_front_doors import FRONT_DOORS, FrontDoor, without_summary

STATEMENT = "SELECT id, name FROM users WHERE email = 'jane.doe@example.com' AND age > 41 AND org = $1"
ARGUMENTS_KEY = "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments"


@pytest.fixture(params=sorted(FRONT_DOORS))
def door(request: pytest.FixtureRequest) -> FrontDoor:
    return FRONT_DOORS[request.param]


def test_db_statement_literals_become_placeholders(door: FrontDoor) -> None:
    # no detector: the literals go because of the key alone (the sidecar must visit it too)
    config = {"redaction": {"detectors": "none"}}
    out = without_summary(door(config, {"db.statement": STATEMENT, "db.system": "postgresql"}))
    assert out["db.statement"] == "SELECT id, name FROM users WHERE email = ? AND age > ? AND org = $1"
    assert out["db.system"] == "postgresql"


def test_sql_inside_tool_arguments(door: FrontDoor) -> None:
    config = {"redaction": {"sql_keys": ["db.statement", "*.function.arguments.sql"], "detectors": "none"}}
    arguments = json.dumps({"sql": "DELETE FROM orders WHERE customer = 'Bob Smith'", "dry_run": True})
    out = without_summary(door(config, {ARGUMENTS_KEY: arguments}))
    assert json.loads(out[ARGUMENTS_KEY]) == {"sql": "DELETE FROM orders WHERE customer = ?", "dry_run": True}


def test_unterminated_literal_is_cut_at_its_quote(door: FrontDoor) -> None:
    out = without_summary(door({}, {"db.query.text": "SELECT 1 FROM t WHERE note = 'call me on"}))
    assert out["db.query.text"] == "SELECT ? FROM t WHERE note = ?"


def test_url_query_secrets_are_masked_wherever_a_url_appears(door: FrontDoor) -> None:
    attributes = {
        "http.url": "https://api.example.com/v1/items?api_key=abc123XYZ&page=2",
        "url.full": "https://acct.blob.core.windows.net/c/b?sv=2020-08-04&sig=abcd%2Bef&se=2024",
        "output.value": (
            "Fetched https://s3.amazonaws.com/b/k?X-Amz-Credential=AKIAFAKE&X-Amz-Signature=deadbeef ok"
        ),
        "input.value": json.dumps({"callback": "https://app.example/cb?code=xyz789&state=1"}),
        "plain": "https://example.com/search?q=cats&page=3",
    }
    out = without_summary(door({}, attributes))
    assert out["http.url"] == "https://api.example.com/v1/items?api_key=[REDACTED:url_secret]&page=2"
    assert (
        out["url.full"]
        == "https://acct.blob.core.windows.net/c/b?sv=2020-08-04&sig=[REDACTED:url_secret]&se=2024"
    )
    assert out["output.value"] == (
        "Fetched https://s3.amazonaws.com/b/k?X-Amz-Credential=[REDACTED:url_secret]"
        "&X-Amz-Signature=[REDACTED:url_secret] ok"
    )
    assert json.loads(out["input.value"]) == {
        "callback": "https://app.example/cb?code=[REDACTED:url_secret]&state=1"
    }
    assert out["plain"] == attributes["plain"]


def test_sql_findings_are_counted() -> None:
    out = FRONT_DOORS["otlp"]({"redaction": {"detectors": "none"}}, {"db.statement": STATEMENT})
    assert out["spanguard.redacted.sql_literal"] == 2 and out["spanguard.redacted.count"] == 2
