"""Phone numbers in national format, without their country code: found for the regions in
`phone_regions` by the RE2 candidate shapes and phonenumbers' metadata (and the same
numbers after their +CC, grouped as at home or with a `(0)`), while the digit
groups that fill traces (dates, times, prices, versions, order numbers, ids, addresses)
are left alone. Every number here is one phonenumbers itself calls valid for its region
(asserted first), so the examples cannot drift into numbers no one can dial.

Not read without their +CC (documented in `detectors.py`): Spain's 3-3-3 grouping
(612 345 678 is also a number with French thousands separators) and a trunk-0 number
written as one bare run (09876543210 is as much an order number)."""

from __future__ import annotations

import json
import random
import uuid

import phonenumbers
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from support_otlp import key_value, prefiltered_as_exhaustive

from spanguard.config.model import DEFAULT_PHONE_REGIONS, RedactionConfig
from spanguard.processors.redaction import Redactor

# (region, number as people there write it)
NATIONAL = [
    ("GB", "020 7946 0958"),  # London
    ("GB", "07400 123456"),  # mobile (07700 900123, Ofcom's drama range, is not valid)
    ("DE", "030 901820"),  # Berlin
    ("DE", "0151 23456789"),  # mobile, as DIN 5008 groups it (phonenumbers: 01512 3456789)
    ("FR", "01 23 45 67 89"),
    ("FR", "06 12 34 56 78"),
    ("TR", "0532 123 45 67"),
    ("IN", "098765 43210"),
    ("IN", "98765 43210"),  # mobiles are written without the trunk 0 too
    ("BR", "(11) 91234-5678"),  # Brazil writes no trunk 0
    ("BR", "(21) 3456-7890"),
    ("JP", "03-1234-5678"),  # Tokyo
    ("JP", "090-1234-5678"),
    ("AU", "(02) 9876 5432"),
    ("AU", "0412 345 678"),
    ("ES", "612 34 56 78"),
    ("ES", "912 34 56 78"),
    ("IT", "06 1234 5678"),  # Rome
    ("IT", "347 123 4567"),
    ("US", "(201) 555-0123"),
    ("US", "201-555-0123"),
    ("NL", "020 123 4567"),
]

# with the country code: German mobiles split after the network code as at home, and
# the trunk 0 in parentheses that many write after the +CC
INTERNATIONAL = [
    "+49 151 23456789",
    "0049 151 23456789",
    "+49 (0)151 23456789",
    "+49 (0)30 901820",
    "+44 (0)20 7946 0958",
    "+44 (0) 7400 123456",
    "+33 (0)6 12 34 56 78",
    "+41 (0)44 668 18 00",
]

# the documented default regions, plus Japan, which it does not include
REGIONS = [*DEFAULT_PHONE_REGIONS, "JP"]
REDACTOR = Redactor(RedactionConfig(phone_regions=REGIONS))
DEFAULT = Redactor(RedactionConfig())


def _masked(redactor: Redactor, text: str, number: str) -> bool:
    out = redactor.redact_text(text)
    return number not in out and "[REDACTED:phone]" in out


@pytest.mark.parametrize(("region", "number"), NATIONAL)
def test_national_number_is_masked(region: str, number: str) -> None:
    assert phonenumbers.is_valid_number(phonenumbers.parse(number, region))
    redactor = DEFAULT if region in DEFAULT_PHONE_REGIONS else REDACTOR
    for shown in (
        f"please call {number} after 5",
        number,
        f"({number})" if not number.startswith("(") else f"tel. {number}",
        json.dumps({"content": f"my number is {number}", "n": 1}),
    ):
        assert _masked(redactor, shown, number), shown
    # the region's own metadata finds it, not a coincidence in another region's
    assert _masked(Redactor(RedactionConfig(phone_regions=[region])), f"call {number}", number)


@pytest.mark.parametrize("number", INTERNATIONAL)
def test_international_number_is_masked_whatever_the_regions(number: str) -> None:
    redactor = Redactor(RedactionConfig(phone_regions=["US"]))
    for shown in (f"please call {number} after 5", number, json.dumps({"content": f"tel {number}"})):
        assert _masked(redactor, shown, number), shown
    assert redactor.redact_text(f"call {number}.") == "call [REDACTED:phone]."


def test_japan_needs_its_region() -> None:
    # Japan is not a default region: 090-1234-5678 is then read for the others only
    # (it is no valid number there), and needs JP in phone_regions or its +81
    text = "call 090-1234-5678"
    assert Redactor(RedactionConfig(phone_regions=["US", "GB", "DE"])).redact_text(text) == text
    assert REDACTOR.redact_text(text) == "call [REDACTED:phone]"
    assert DEFAULT.redact_text("call +81 90-1234-5678") == "call [REDACTED:phone]"


LOOK_ALIKES = [
    "released 2024-05-01, due 01.05.2024 and 01/05/2024",
    "on 01 05 2024 at 10:30:00, 23:59 or 10:30:00.123456",
    "2024-05-01T10:30:00.123Z and 2024-05-01 10:30",
    "total 1 234,56 EUR and 12 345 678,90 and 1.234.567,89",
    "$1,234.56 and 99.99 and 1,234,567",
    "version 1.2.3, 10.4.12.1, v2.31.0 and 2024.05.01",
    "order 1234567890, order #4501234567, order 0123456789, invoice 2024-000123-01",
    "uuid 550e8400-e29b-41d4-a716-446655440000",
    "trace 4bf92f3577b34da6a3ce929d0e0e4736 span 00f067aa0ba902b7",
    "peer 192.168.10.20 and 10.0.0.1:8080",
    "population 612 345 678",  # 3-3-3: a number with thousands separators
    "ISBN 978-3-16-148410-0 and 978 3 16 148410 0",
    "epoch 1714559400, ms 1714559400123, build 20240501.1234",
    "page 12 of 345, items 1 2 3 4 5 6 7, ports 8080 9090 3000 5432",
    "lat 48.858844 lon 2.294351, duration 0.123456789 s",
    "+1 2 3 4 5 6 7 8 and +49 (0) 1 2 3 4 5 6",  # counting after a plus sign
    "at 10:30:06.672772 and 23:59:02.459142",  # the seconds would read as 06 672772
    "duration 06.672772 s",  # two groups joined by a dot: a decimal
    "ref 020-1359269-7555974 and 0012-345678-90123",  # a long group glued on: a reference
]


def test_extension_after_a_number_is_left_out() -> None:
    # DIN 5008 writes an extension after a dash: the number is masked, the extension kept
    assert DEFAULT.redact_text("Zentrale 030 901820-12") == "Zentrale [REDACTED:phone]-12"
    assert DEFAULT.redact_text("+49 30 901820-0") == "[REDACTED:phone]-0"


@pytest.mark.parametrize("text", LOOK_ALIKES)
def test_look_alikes_survive_with_all_regions(text: str) -> None:
    assert REDACTOR.redact_text(text) == text
    assert DEFAULT.redact_text(text) == text


def test_sidecar_prefilter_flags_every_number() -> None:
    """Over OTLP the prefilter's relaxed patterns decide which spans are visited at all:
    each number above (one per span, between clean spans) must be masked there too,
    exactly as when every span is visited."""
    request = ExportTraceServiceRequest()
    scope_spans = request.resource_spans.add().scope_spans.add()
    numbers = [number for _region, number in NATIONAL] + INTERNATIONAL
    for number in numbers:
        for value in ("nothing to see here", f"call me on {number} please"):
            scope_spans.spans.add().attributes.append(key_value("input.value", value))
    fast = prefiltered_as_exhaustive(request, REDACTOR)
    values = [span.attributes[0].value.string_value for span in fast.resource_spans[0].scope_spans[0].spans]
    assert values[1::2] == ["call me on [REDACTED:phone] please"] * len(numbers)
    assert values[0::2] == ["nothing to see here"] * len(numbers)


def _generated_look_alikes(rng: random.Random) -> list[str]:
    """Dates, times, prices, versions, ids and addresses as traces carry them, in the
    separator forms the phone candidates also accept."""

    def digits(n: int) -> str:
        return "".join(rng.choice("0123456789") for _ in range(n))

    y, m, d = rng.randint(1990, 2030), rng.randint(1, 12), rng.randint(1, 28)
    hh, mm, ss = rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59)
    amount = f"{rng.randint(1000, 99_999_999):,}"
    return [
        f"{y}-{m:02}-{d:02}",
        f"{d:02}.{m:02}.{y}",
        f"{m:02}/{d:02}/{y}",
        f"{d:02}-{m:02}-{y}",
        f"{d:02} {m:02} {y}",
        f"{y}-{m:02}-{d:02} {hh:02}:{mm:02}",
        f"{hh:02}:{mm:02}:{ss:02}.{digits(6)}",
        f"{amount}.{digits(2)}",
        amount.replace(",", " ") + f",{digits(2)}",
        amount.replace(",", ".") + f",{digits(2)}",
        ".".join(str(rng.randint(0, 40)) for _ in range(rng.randint(2, 5))),
        str(uuid.UUID(int=rng.getrandbits(128))),
        f"{rng.getrandbits(128):032x} {rng.getrandbits(64):016x}",
        ".".join(str(rng.randint(1, 254)) for _ in range(4)) + f":{rng.randint(1, 65535)}",
    ]


def test_generated_look_alikes_survive() -> None:
    rng = random.Random(15)
    for _ in range(150):
        for look_alike in _generated_look_alikes(rng):
            text = f"value {look_alike} here"
            assert REDACTOR.redact_text(text) == text
