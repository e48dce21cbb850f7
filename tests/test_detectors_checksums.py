"""Checksums the national_id and crypto_wallet detectors compute themselves: the ICAO 9303
check digit of German ID card numbers and Ethereum's EIP-55 mixed-case checksum (over
Keccak-256, pure Python in `keccak.py`). Valid examples are published ones (the ID card
specimens, the EIP-55 test vectors, Keccak's empty-input digest); each has a twin one
character off that must fail."""

from __future__ import annotations

import hashlib
import json

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from support_otlp import key_value, prefiltered_as_exhaustive

from spanguard.config.model import RedactionConfig
from spanguard.processors.keccak import keccak256, sponge256
from spanguard.processors.redaction import Redactor
from spanguard.processors.validators import eip55_ok, icao_check_digit_ok, validate_national_id

DEFAULT = Redactor(RedactionConfig())


# ------------------------------------------------------------- German ID card


def test_icao_check_digit_on_the_specimen_cards() -> None:
    # the specimen cards (Erika Mustermann): the 2010 card T22000129, check digit 3;
    # the 2019 card L01X00T47, check digit 1 (7*21 + 1 + 7*33 + 7*29 + 3*4 + 7 = 601)
    assert icao_check_digit_ok("T220001293")
    assert icao_check_digit_ok("L01X00T471")
    assert icao_check_digit_ok("1220001297")  # the digits-only cards before 2010
    for wrong in ("T220001294", "L01X00T470", "1220001296", "T22000129X", "T2200012", "a220001293"):
        assert not icao_check_digit_ok(wrong), wrong


ID_CARDS = [
    ("Personalausweis T220001293", "T220001293"),
    ("Personalausweisnummer: L01X00T471", "L01X00T471"),
    ("Ausweisnummer L01X00T471", "L01X00T471"),
    ("Ausweis-Nr.: T220001293", "T220001293"),
    ("ID card no. L01X00T471", "L01X00T471"),
    ("identity card number T220001293", "T220001293"),
    ("Ausweis 1220001297", "1220001297"),
]


@pytest.mark.parametrize(("text", "number"), ID_CARDS)
def test_id_card_found_in_prose_json_and_at_edges(text: str, number: str) -> None:
    for shown in (f"Hi, {text} -- thanks", text, f"{text}.", json.dumps({"note": text, "n": 1})):
        out = DEFAULT.redact_text(shown)
        assert number not in out and "[REDACTED:national_id]" in out, shown
    # the context word stays: only the number is masked
    assert DEFAULT.redact_text(text) == text.replace(number, "[REDACTED:national_id]")


def test_id_card_machine_readable_zone() -> None:
    mrz = "IDD<<T220001293<<<<<<<<<<<<<<<"
    assert DEFAULT.redact_text(mrz) == "IDD<<[REDACTED:national_id]<<<<<<<<<<<<<<<"
    assert DEFAULT.redact_text(json.dumps({"mrz": mrz})) == json.dumps(
        {"mrz": "IDD<<[REDACTED:national_id]<<<<<<<<<<<<<<<"}
    )
    assert DEFAULT.redact_text("IDD<<T220001294<<<<<<<<<<<<<<<") == "IDD<<T220001294<<<<<<<<<<<<<<<"


@pytest.mark.parametrize(
    "text",
    [
        "Personalausweis T220001294",  # check digit off by one
        "Ausweisnummer: L01X00T472",
        "Ausweis 1220001296",
        "ID card L01X00T47",  # without its check digit
        # bare numbers of the shape, even with a passing check digit: order numbers and
        # SKUs (2-3 letters + digits) pass it one time in 25-35, so the word is required
        "order NR12345678 and T220001293 and L01X00T471 shipped",
        "SKU CFX1234567, ref 7F3C9A01B2",
        "a valid card T220001293",  # `id card` inside another word
        "my ID is T220001293",  # `ID` alone is too common a word
    ],
)
def test_id_card_look_alikes_and_bad_check_digits_survive(text: str) -> None:
    assert DEFAULT.redact_text(text) == text


def test_id_card_validator_returns_the_number_only() -> None:
    assert validate_national_id(b"Ausweis-Nr.: T220001293") == (13, 23)
    assert validate_national_id(b"IDD<<L01X00T471") == (5, 15)
    assert validate_national_id(b"Ausweis-Nr.: T220001292") is None


# ------------------------------------------------------------------- Ethereum


def test_keccak256_known_digests() -> None:
    # Keccak-256 as Ethereum uses it: not SHA3-256, whose padding differs
    assert keccak256(b"").hex() == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    assert keccak256(b"abc").hex() == "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"
    assert (
        keccak256(b"The quick brown fox jumps over the lazy dog").hex()
        == "4d741b6f1eb29cb2a9b9911c82f56fa8d73b04959d3d9d222895df6c0b28aa15"
    )
    assert hashlib.sha3_256(b"").hexdigest() != keccak256(b"").hex()


def test_sponge_equals_hashlib_sha3_with_sha3_padding() -> None:
    # the same permutation with FIPS 202's padding is SHA3-256: every length up to three
    # blocks, so one-block, block-boundary (135, 136, 137) and multi-block inputs agree
    for length in range(0, 3 * 136 + 2):
        data = bytes(i * 7 % 251 for i in range(length))
        assert sponge256(data, 0x06) == hashlib.sha3_256(data).digest(), length


EIP55_VECTORS = [
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
    "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
]


def _flip_first_letter(address: str) -> str:
    index = next(i for i, c in enumerate(address) if i >= 2 and c.isalpha())
    return address[:index] + address[index].swapcase() + address[index + 1 :]


@pytest.mark.parametrize("address", EIP55_VECTORS)
def test_eip55_vectors_pass_and_one_flipped_letter_fails(address: str) -> None:
    assert eip55_ok(address)
    flipped = _flip_first_letter(address)
    assert not eip55_ok(flipped)
    for shown in (f"send to {address} today", address, json.dumps({"to": address})):
        out = DEFAULT.redact_text(shown)
        assert address not in out and "[REDACTED:crypto_wallet]" in out, shown
    # a mixed-case address with a broken checksum is not an address (a typo or a
    # look-alike): it is left as it is
    assert DEFAULT.redact_text(f"send to {flipped} today") == f"send to {flipped} today"


def test_single_case_addresses_carry_no_checksum_and_stay_masked() -> None:
    for address in (
        "0x52908400098527886E0F7030069857D2E4169EE7",  # EIP-55's all-caps vector
        "0xde709f2102306220921060314715629080e2fb77",  # EIP-55's all-lower vector
        "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed",
    ):
        assert eip55_ok(address)
        assert DEFAULT.redact_text(f"to {address}") == "to [REDACTED:crypto_wallet]"


@pytest.mark.parametrize(
    "text",
    [
        # a transaction hash (64 hex digits) and short hex constants are not addresses
        "tx 0x88df016429689c079f3b2f6ad39fa052532c56795b733da78a91ebe6a713944b",
        "mask 0xdeadbeef and 0x00ff",
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD",  # last letter's case changed
    ],
)
def test_eth_look_alikes_survive(text: str) -> None:
    assert DEFAULT.redact_text(text) == text


def test_sidecar_prefilter_flags_id_cards_and_addresses() -> None:
    """Over OTLP the prefilter's relaxed patterns decide which spans are visited: the new
    shapes are masked there exactly as when every span is visited."""
    shown = [text for text, _ in ID_CARDS] + ["IDD<<T220001293<<<"] + [f"to {a}" for a in EIP55_VECTORS]
    request = ExportTraceServiceRequest()
    scope_spans = request.resource_spans.add().scope_spans.add()
    for text in shown:
        scope_spans.spans.add().attributes.append(key_value("note", text))
        scope_spans.spans.add().attributes.append(key_value("note", "Personalausweis T220001294"))
    fast = prefiltered_as_exhaustive(request, DEFAULT)
    values = [span.attributes[0].value.string_value for span in fast.resource_spans[0].scope_spans[0].spans]
    assert all("[REDACTED:" in value for value in values[0::2])
    assert values[1::2] == ["Personalausweis T220001294"] * len(shown)
