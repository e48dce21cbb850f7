"""Integers and integer arrays are checked by the number detectors (as the Collector's
`redact_all_types`): a card number stored as a number becomes a marker string."""

from __future__ import annotations

import json

import pytest
from support_front_doors import FRONT_DOORS, FrontDoor, without_summary

CARD = 4111111111111111  # Luhn-valid test card
NOT_A_CARD = 4111111111111112  # fails Luhn


@pytest.fixture(params=sorted(FRONT_DOORS))
def door(request: pytest.FixtureRequest) -> FrontDoor:
    return FRONT_DOORS[request.param]


def test_integer_card_numbers_become_markers(door: FrontDoor) -> None:
    out = without_summary(
        door(
            {},
            {
                "payment.card": CARD,
                "payment.negative": -CARD,
                "order.id": NOT_A_CARD,
                "llm.token_count.total": 1234,
                "http.response.body.size": 123456789,
                "cards": [CARD, 7, NOT_A_CARD],
                "counts": [1, 2, 3],
            },
        )
    )
    assert out["payment.card"] == "[REDACTED:credit_card]"
    assert out["payment.negative"] == "[REDACTED:credit_card]"
    assert out["order.id"] == NOT_A_CARD and out["llm.token_count.total"] == 1234
    assert out["http.response.body.size"] == 123456789
    # the array keeps one type: every element a string once one is masked
    assert out["cards"] == ["[REDACTED:credit_card]", "7", str(NOT_A_CARD)]
    assert out["counts"] == [1, 2, 3]


def test_a_card_as_a_json_number_is_masked(door: FrontDoor) -> None:
    document = {"customer": {"card": CARD, "orders": 3}}
    out = without_summary(door({}, {"tool.parameters": json.dumps(document)}))
    assert json.loads(out["tool.parameters"]) == {"customer": {"card": "[REDACTED:credit_card]", "orders": 3}}


def test_numbers_stay_when_the_card_detector_is_off(door: FrontDoor) -> None:
    out = without_summary(door({"redaction": {"detectors": ["email"]}}, {"payment.card": CARD}))
    assert out["payment.card"] == CARD


def test_summary_counts_integer_findings() -> None:
    out = FRONT_DOORS["otlp"]({}, {"payment.card": CARD, "cards": [CARD, CARD]})
    assert out["spanguard.redacted.credit_card"] == 3 and out["spanguard.redacted.count"] == 3
