"""PII detectors validated on candidates: phones (Google's metadata), national ids
(python-stdnum checksums), bank routing, wallets, IBAN/card separators, IPv6 forms, MAC
addresses and dates of birth. Valid examples are the published ones (the libraries'
documentation, the issuers' specimen numbers); each has a one-digit-off twin that fails."""

from __future__ import annotations

import json

import pytest

from spanguard.config.model import RedactionConfig
from spanguard.processors.redaction import Redactor
from spanguard.processors.validators import base58check_ok, bech32_ok, validate_national_id

DEFAULT = Redactor(RedactionConfig())
ALL = Redactor(RedactionConfig(detectors="all"))

# (detector, shown text, the sensitive part)
POSITIVES: list[tuple[str, str, str]] = [
    ("phone", "+1 415 555 0142", "+1 415 555 0142"),
    ("phone", "+90 532 123 45 67", "+90 532 123 45 67"),  # Turkish mobile
    ("phone", "0532 123 45 67", "0532 123 45 67"),  # the same, national
    ("phone", "07700 900123", "07700 900123"),  # UK mobile (Ofcom drama range)
    ("phone", "+44 20 7946 0958", "+44 20 7946 0958"),
    ("phone", "030 12345678", "030 12345678"),  # Berlin
    ("phone", "01 23 45 67 89", "01 23 45 67 89"),  # France
    ("phone", "(02) 9876 5432", "(02) 9876 5432"),  # Sydney
    ("phone", "0049 30 12345678", "0049 30 12345678"),
    ("phone", "98765 43210", "98765 43210"),  # India
    ("national_id", "NINO AB 12 34 56 C", "AB 12 34 56 C"),
    ("national_id", "NHS number: 943 476 5919", "943 476 5919"),
    ("national_id", "SIN: 123-456-782", "123-456-782"),
    ("national_id", "Steuer-ID 86095742719", "86095742719"),
    ("national_id", "NIR 1 84 12 76 451 089 46", "1 84 12 76 451 089 46"),
    ("national_id", "DNI 12345678Z", "12345678Z"),
    ("national_id", "NIE X1234567L", "X1234567L"),
    ("national_id", "codice fiscale RSSMRA85T10A562S", "RSSMRA85T10A562S"),
    ("national_id", "BSN 111222333", "111222333"),
    ("national_id", "PESEL 44051401359", "44051401359"),
    ("national_id", "HETU 131052-308T", "131052-308T"),
    ("national_id", "personnummer 880320-0016", "880320-0016"),
    ("national_id", "Aadhaar 2345 6789 0124", "2345 6789 0124"),
    ("national_id", "PAN ABCPE1234F", "ABCPE1234F"),
    ("national_id", "RRN 971013-9019902", "971013-9019902"),
    ("national_id", "NRIC S1234567D", "S1234567D"),
    ("national_id", "TFN 123 456 782", "123 456 782"),
    ("national_id", "CPF 111.444.777-35", "111.444.777-35"),
    ("national_id", "CNPJ 11.222.333/0001-81", "11.222.333/0001-81"),
    ("national_id", "TC Kimlik No: 10000000146", "10000000146"),
    ("national_id", "ID 8001015009087", "8001015009087"),  # South Africa
    ("national_id", "passport no. X1234567", "X1234567"),
    ("us_ssn", "SSN 536904399", "536904399"),
    ("us_ssn", "ssn: 536 90 4399", "536 90 4399"),
    ("us_ssn", "ITIN 912-70-1234", "912-70-1234"),
    ("bank_routing", "routing number 021000021", "021000021"),
    ("crypto_wallet", "send to 1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2"),
    (
        "crypto_wallet",
        "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
        "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
    ),
    (
        "crypto_wallet",
        "eth 0x52908400098527886E0F7030069857D2E4169EE7",
        "0x52908400098527886E0F7030069857D2E4169EE7",
    ),
    ("iban", "IBAN DE89-3704-0044-0532-0130-00", "DE89-3704-0044-0532-0130-00"),
    ("iban", "iban de89 3704 0044 0532 0130 00", "de89 3704 0044 0532 0130 00"),
    ("iban", "GB82.WEST.1234.5698.7654.32", "GB82.WEST.1234.5698.7654.32"),
    ("credit_card", "card 4111.1111.1111.1111", "4111.1111.1111.1111"),
    ("date_of_birth", "born on 12/03/1985", "12/03/1985"),
    ("date_of_birth", "date of birth: 1985-03-12", "1985-03-12"),
    ("date_of_birth", "DOB: March 12, 1985", "March 12, 1985"),
    ("date_of_birth", "Geburtsdatum 12.03.1985", "12.03.1985"),
]


@pytest.mark.parametrize(("detector", "text", "secret"), POSITIVES)
def test_found_in_prose_json_and_at_edges(detector: str, text: str, secret: str) -> None:
    for shown in (f"Hi, {text} -- thanks", text, json.dumps({"note": text, "n": 1})):
        out = DEFAULT.redact_text(shown)
        assert secret not in out and f"[REDACTED:{detector}]" in out, shown


@pytest.mark.parametrize(
    ("detector", "text", "expected"),
    [
        ("ip_address", "peer ::ffff:192.0.2.1 up", "peer [REDACTED:ip_address] up"),
        (
            "ip_address",
            "net 2001:db8::/32 and 10.1.2.0/24",
            "net [REDACTED:ip_address] and [REDACTED:ip_address]",
        ),
        ("ip_address", "nat64 64:ff9b::198.51.100.7", "nat64 [REDACTED:ip_address]"),
        (
            "mac_address",
            "iface 00:1A:2B:3C:4D:5E and 001a.2b3c.4d5e",
            "iface [REDACTED:mac_address] and [REDACTED:mac_address]",
        ),
        ("mac_address", "eth0 00-1A-2B-3C-4D-5E", "eth0 [REDACTED:mac_address]"),
    ],
)
def test_network_detectors(detector: str, text: str, expected: str) -> None:
    assert ALL.redact_text(text) == expected
    assert DEFAULT.redact_text(text) == text  # network detectors are off by default


LOOK_ALIKES = [
    "order 1234567890 shipped",  # a bare digit run is not a phone
    "numbers 494 405 395 and 87 131 35",
    "build 2024-01-15 10:30:00, run 2024.01.15",
    "ISBN 978-3-16-148410-0",
    "version 10.4.12.1 and 1.2.3.4567",
    "SIN: 123-456-789",  # fails Luhn
    "NHS 9434765918",  # fails mod 11
    "BSN 111222334",
    "DNI 12345678A",  # wrong letter
    "routing number 021000022",
    "the license is MIT, version 2",
    "born in 1985 in Lyon",
    "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN3",  # bad Base58Check
    "QQ123456C and BG123456A",  # NINO prefixes never issued
    "IBAN GB82 WEST 1234 5698 7654 33",
    "ab12 cdef ghij klmn",
    "uuid 550e8400-e29b-41d4-a716-446655440000",
    "trace 4bf92f3577b34da6a3ce929d0e0e4736",
    "$1,234.56 and EUR 99.99 and 1 234 567,89",
    "timestamp 1700000000123 and 1700000000",
]


@pytest.mark.parametrize("text", LOOK_ALIKES)
def test_look_alikes_survive(text: str) -> None:
    assert DEFAULT.redact_text(text) == text


def test_phone_regions_are_configurable() -> None:
    text = "call 0532 123 45 67"
    assert Redactor(RedactionConfig(phone_regions=["US"])).redact_text(text) == text
    assert Redactor(RedactionConfig(phone_regions=["TR"])).redact_text(text) == "call [REDACTED:phone]"
    # with +CC every region is known whatever the list says
    assert (
        Redactor(RedactionConfig(phone_regions=["US"])).redact_text("+90 532 123 45 67") == "[REDACTED:phone]"
    )


@pytest.mark.parametrize(
    ("valid", "invalid"),
    [
        (b"AB 12 34 56 C", b"QQ 12 34 56 C"),
        (b"12345678Z", b"12345678A"),
        (b"RSSMRA85T10A562S", b"RSSMRA85T10A562T"),
        (b"S1234567D", b"S1234567A"),
        (b"131052-308T", b"131052-308U"),
        (b"111.444.777-35", b"111.444.777-36"),
        (b"11.222.333/0001-81", b"11.222.333/0001-82"),
        (b"2345 6789 0124", b"2345 6789 0125"),
        (b"NHS 943 476 5919", b"NHS 943 476 5918"),
        (b"PESEL 44051401359", b"PESEL 44051401358"),
        (b"TCKN 10000000146", b"TCKN 10000000147"),
        (b"medicare 2123 45670 1", b"medicare 2123 45671 1"),
    ],
)
def test_national_id_checks_on_published_examples(valid: bytes, invalid: bytes) -> None:
    assert validate_national_id(valid) is not None
    assert validate_national_id(invalid) is None


def test_wallet_checksums() -> None:
    assert base58check_ok("1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2")
    assert base58check_ok("3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy")
    assert not base58check_ok("3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLz")
    assert bech32_ok("bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq")  # BIP-173
    assert bech32_ok("bc1p5d7rjq7g6rdk2yhzks9smlaqtedr4dekq08ge8ztwac72sfr9rusxg3297")  # BIP-350
    assert not bech32_ok("bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdr")
