"""Every built-in detector: found in prose, inside JSON and at the very edges of a value;
and the look-alikes that fill real traces (ids, hashes, timestamps, versions, prices,
order numbers, local URLs) left alone."""

from __future__ import annotations

import json

import pytest

from spanguard.config.model import DEFAULT_DETECTORS, DETECTOR_NAMES, RedactionConfig
from spanguard.errors import ConfigError
from spanguard.processors.detectors import BUILTIN_DETECTORS, SCAN_ORDER, iban_ok, luhn_ok, resolve_detectors
from spanguard.processors.redaction import Redactor

ALL = Redactor(RedactionConfig(detectors="all"))

# detector -> (secret, how it appears in text); `shown` defaults to the secret itself.
POSITIVES: dict[str, list[tuple[str, str | None]]] = {
    "email": [("jane.doe+work@example.co.uk", None), ("bob@mail.example.com", None)],
    "phone": [
        ("+1 415 555 0142", None),
        ("(415) 555-0142", None),
        ("415-555-0142", None),
        ("+44 20 7946 0958", None),
        ("+4915112345678", None),
    ],
    "credit_card": [
        ("4111 1111 1111 1111", None),
        ("5500-0000-0000-0004", None),
        ("378282246310005", None),
        ("4012888888881881", None),
    ],
    "iban": [("DE89 3704 0044 0532 0130 00", None), ("GB82WEST12345698765432", None)],
    "us_ssn": [("123-45-6789", None)],
    "ip_address": [("10.20.30.40", None), ("2001:db8:85a3::8a2e:370:7334", None), ("192.168.1.254", None)],
    "jwt": [
        (
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6y",
            None,
        )
    ],
    "api_key": [
        ("sk-proj-Abc123def456GHI789jkl012MNO345", None),
        ("sk-ant-api03-Abc123def456GHI789jkl012MNO345pqr", None),
        ("sk-Abc123def456GHI789jkl012MNO345", None),
        ("AKIAIOSFODNN7EXAMPLE", None),
        ("ASIAY34FZKBOKMUTVV7A", None),
        ("ghp_" + "a1B2" * 9, None),
        ("github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", None),
        ("xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", None),
        ("sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc", None),
        ("rk_test_" + "4eC39HqLyjWDarjtT1zdp7dc", None),
        ("AIzaSyA-1234567890abcdefghijklmnopqrstu", None),
        ("hf_" + "AbCdEfGhIjKlMnOpQrStUvWxYz012345", None),
    ],
    "private_key": [
        (
            "-----BEGIN RSA PRIVATE KEY-----\n"
            "MIIEowIBAAKCAQEA1c7+9z5Pad7OejecsQ0bu3aozN3tihPmljnnudb9G3HECdnH\n"
            "lWu2/a1gB9JW5TBQ+AVpum9Okx7KfqkfBKL9mcHgSL0yWMdjMfNOqNtrQqKlN4kE\n-----END RSA PRIVATE KEY-----",
            None,
        ),
        (
            "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n"
            "-----END PRIVATE KEY-----",
            None,
        ),
    ],
    "bearer_token": [
        ("eyJraWQiOiJrMSJ9abcdEFGH1234", "Authorization: Bearer {}"),
        ("dXNlcjpwYXNzd29yZA==", "Authorization: Basic {}"),
        ("mF_9.B5f-4.1JqM", "authorization=Bearer {}"),
        ("0123456789abcdefXYZ", "use bearer {} for the API"),
    ],
    "url_credentials": [
        ("s3cr3t-P4ss", "postgres://app:{}@db.internal:5432/app"),
        ("hunter2", "https://bob:{}@example.com/path"),
    ],
    "password": [
        ("hunter22", "my password is {}"),
        ("Tr0ub4dor&3", "passphrase: {}"),
        ("p4ssw0rd!", "password={}"),
        ("correct-horse", "DB_PASSWORD={}"),
        ("zz9-plural-z-alpha", "client_secret: {}"),
    ],
}


def _shown(secret: str, template: str | None) -> str:
    return template.format(secret) if template else secret


@pytest.mark.parametrize(
    ("detector", "secret", "template"), [(d, s, t) for d, cases in POSITIVES.items() for s, t in cases]
)
def test_detector_finds_secret_in_prose(detector: str, secret: str, template: str | None) -> None:
    text = f"Hello, here it is: {_shown(secret, template)} -- thanks!"
    out = ALL.redact_text(text)
    assert secret not in out
    assert f"[REDACTED:{detector}]" in out
    assert out.startswith("Hello, here it is: ") and out.endswith(" -- thanks!")


@pytest.mark.parametrize(
    ("detector", "secret", "template"), [(d, s, t) for d, cases in POSITIVES.items() for s, t in cases]
)
def test_detector_finds_secret_at_value_edges(detector: str, secret: str, template: str | None) -> None:
    shown = _shown(secret, template)
    out = ALL.redact_text(shown)
    assert secret not in out
    assert f"[REDACTED:{detector}]" in out
    # and as one value among many in the same batch (one buffer, offsets mapped back)
    changes = ALL.redact(["a", "b", "c"], ["plain words", shown, "more plain words"])
    assert changes[0] is None and changes[2] is None
    assert changes[1] is not None and secret not in changes[1].value


@pytest.mark.parametrize(
    ("detector", "secret", "template"), [(d, s, t) for d, cases in POSITIVES.items() for s, t in cases]
)
def test_detector_finds_secret_inside_json(detector: str, secret: str, template: str | None) -> None:
    document = {"messages": [{"role": "user", "content": f"note: {_shown(secret, template)}"}], "n": 3}
    out = ALL.redact_text(json.dumps(document))
    parsed = json.loads(out)  # still valid JSON
    assert secret not in out
    assert f"[REDACTED:{detector}]" in parsed["messages"][0]["content"]
    assert parsed["n"] == 3 and parsed["messages"][0]["role"] == "user"


def test_only_the_secret_part_of_url_credentials_and_key_values_is_masked() -> None:
    assert (
        ALL.redact_text("postgres://app:s3cret@db:5432/x")
        == "postgres://app:[REDACTED:url_credentials]@db:5432/x"
    )
    assert ALL.redact_text("password=hunter22&user=bob") == "password=[REDACTED:password]&user=bob"
    assert (
        ALL.redact_text("Authorization: Bearer abcdefghijklmnop")
        == "Authorization: Bearer [REDACTED:bearer_token]"
    )


def test_json_secret_keys_mask_their_values() -> None:
    out = json.loads(ALL.redact_text(json.dumps({"user": "bob", "password": "x1", "api_key": "k", "n": 1})))
    assert out == {"user": "bob", "password": "[REDACTED:password]", "api_key": "[REDACTED:password]", "n": 1}


LOOK_ALIKES = [
    "550e8400-e29b-41d4-a716-446655440000",  # UUID
    "4bf92f3577b34da6a3ce929d0e0e4736",  # trace id
    "00f067aa0ba902b7",  # span id
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4",  # git SHA
    "2024-01-15T10:30:00Z",  # ISO timestamp
    "2024-01-15T10:30:00.123456+02:00",
    "2024-01-15 10:30:00",
    "version 3.11.7, v2.14.1 and 1.0.0-rc.1",
    "$1,234.56 and EUR 99.99 and 1 234 567,89",
    "order 4111111111111112 shipped",  # 16 digits failing Luhn
    "order no. 1234 5678 9012 3456",  # fails Luhn
    "http://localhost:8080/v1/traces and http://127.0.0.1:6006/",
    "https://example.com/path?q=1#frag",
    "call me maybe at noon; room 404; 3 items",
    "the secret is out of the bag",  # prose about secrets, no value assigned
    "Bearer of bad news",
    "a basic understanding of tokens",
    "ISBN 978-3-16-148410-0",
    "sk-short",
    "AKIA-not-a-key",
    "the password field is empty",
]


@pytest.mark.parametrize("text", LOOK_ALIKES)
def test_look_alikes_survive_the_default_detectors(text: str) -> None:
    assert Redactor(RedactionConfig()).redact_text(text) == text


@pytest.mark.parametrize("text", [t for t in LOOK_ALIKES if "127.0.0.1" not in t and "3.11.7" not in t])
def test_look_alikes_survive_every_detector(text: str) -> None:
    assert ALL.redact_text(text) == text


def test_loopback_addresses_are_not_personal_data() -> None:
    assert (
        ALL.redact_text("listening on 127.0.0.1:4318 and [::1]:4317")
        == "listening on 127.0.0.1:4318 and [::1]:4317"
    )


def test_a_rejected_candidate_does_not_hide_a_neighbouring_secret() -> None:
    # the digit run fails Luhn as a card, but the phone number inside it must still be found
    out = ALL.redact_text("call 415-555-0142 1234 now")
    assert "415-555-0142" not in out and "[REDACTED:phone]" in out


def test_card_next_to_other_digits_is_still_found() -> None:
    out = ALL.redact_text("card 4111 1111 1111 1111 20")
    assert "4111 1111 1111 1111" not in out


def test_private_key_without_end_marker_is_masked_to_the_end() -> None:
    out = ALL.redact_text("key: -----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC")
    assert "MIIEvQ" not in out and "[REDACTED:private_key]" in out


def test_checksums() -> None:
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert iban_ok("DE89370400440532013000") and not iban_ok("DE89370400440532013001")


def test_detector_sets() -> None:
    # in scan priority: literal-prefixed secrets before digit runs, phones last of those
    assert [d.name for d in resolve_detectors("all")] == list(SCAN_ORDER)
    assert sorted(SCAN_ORDER) == sorted(DETECTOR_NAMES)
    assert {d.name for d in resolve_detectors("default")} == set(DEFAULT_DETECTORS)
    assert resolve_detectors("none") == []
    assert [d.name for d in resolve_detectors(["email", "jwt"])] == ["jwt", "email"]
    assert set(BUILTIN_DETECTORS) == set(DETECTOR_NAMES)
    with pytest.raises(ConfigError, match="unknown detector 'emial'"):
        resolve_detectors(["emial"])


def test_default_set_leaves_ip_addresses_alone() -> None:
    assert Redactor(RedactionConfig()).redact_text("peer 10.1.2.3") == "peer 10.1.2.3"
    assert (
        Redactor(RedactionConfig(detectors=["email"])).redact_text("x@y.io 10.1.2.3")
        == "[REDACTED:email] 10.1.2.3"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a greedy candidate swallowed the start of the second card; the accepted first card
        # must not hide it
        ("4111111111111111 4111111 111111111", "[REDACTED:credit_card] [REDACTED:credit_card]"),
        # a reference number in front: the candidate stops inside the card and fails Luhn
        ("ref 123456789 4111 1111 1111 1111", "ref 123456789 [REDACTED:credit_card]"),
        ("ids 12 34 56 78 90 4111-1111-1111-1111 ok", "ids 12 34 56 78 90 [REDACTED:credit_card] ok"),
        ("call 415 555 0142 4111111111111111", "call [REDACTED:phone] [REDACTED:credit_card]"),
    ],
)
def test_cards_next_to_other_numbers_are_found(text: str, expected: str) -> None:
    assert ALL.redact_text(text) == expected


def test_long_runs_of_short_digit_groups_are_left_alone() -> None:
    """Many rejected candidates in a row: each is judged, none is masked, nothing hangs."""
    for text in ("1 " * 4096, "1-" * 4096, "1234 " * 1640):
        assert ALL.redact_text(text) == text


def test_a_rejected_candidate_does_not_hide_a_match_that_runs_past_it() -> None:
    """A greedy digit candidate (here the IBAN/phone shapes) that swallows the start of an
    e-mail and is then rejected must not hide the e-mail: the rescan of the rejected span
    reads a match that starts inside it to its end (found by hypothesis: redaction was
    not idempotent on this text)."""
    from spanguard.config.model import RedactionConfig
    from spanguard.processors.redaction import Redactor

    redactor = Redactor(RedactionConfig(detectors="all"))
    (change,) = redactor.redact([None], ["AA0000000000 0121 0000 0@0.AA"])
    assert change is not None
    assert change.value.endswith("[REDACTED:email]")
    assert redactor.redact([None], [change.value]) == [None]


def test_a_rejected_candidate_does_not_hide_a_match_of_its_own_detector() -> None:
    """`token_count=x` matches the assignment pattern and its value runs on across the
    separator into the next value; the validator refuses the whole candidate (a count is
    no secret). The next value's own assignment must still be found, in a batch of values
    (the sidecar visiting every span) as when it is alone (found by hypothesis with
    `paſſword=x`, which is now masked: the exhaustive path left `password=hunter22` in
    clear where the prefiltered one masked it)."""
    from spanguard.config.model import RedactionConfig
    from spanguard.processors.redaction import Redactor

    redactor = Redactor(RedactionConfig())
    unchanged, masked = redactor.redact([None, None], ["token_count=x", "password=hunter22"])
    assert unchanged is None
    assert masked is not None and masked.value == "password=[REDACTED:password]"
    (in_array,) = redactor.redact([None, None], ["token_count=x", ("password=hunter22",)])[1:]
    assert in_array is not None and in_array.value == ("password=[REDACTED:password]",)


def test_a_rejected_candidate_does_not_skip_to_past_another_detectors_later_match() -> None:
    """`token_count=12` is an assignment candidate whose value runs on across the
    separators to the end of the batch; the validator refuses it (a count is no secret).
    Inside it, the e-mail two values on is another detector's match. The scan must not
    jump past that e-mail: `password=hunter22` between the two is its own detector's match
    (found by hypothesis in the sidecar's prefiltered path, which batches only the flagged
    values and so put three such values side by side)."""
    from spanguard.config.model import RedactionConfig
    from spanguard.processors.redaction import Redactor

    redactor = Redactor(RedactionConfig())
    values = ["token_count=12", "password=hunter22", "jane.doe@example.com"]
    first, second, third = redactor.redact([None] * 3, values)
    assert first is None
    assert second is not None and second.value == "password=[REDACTED:password]"
    assert third is not None and third.value == "[REDACTED:email]"
    # a detector's own `resume` point still governs where its rejected candidates resume
    (card,) = redactor.redact([None], ["ref 123456789 4111 1111 1111 1111"])
    assert card is not None and card.value == "ref 123456789 [REDACTED:credit_card]"


def test_names_are_read_as_re2_folds_them() -> None:
    """RE2's `(?i)` folds the long s and the Kelvin sign onto `s` and `k`, so `paſſword=`
    is a candidate; the validator reads its name the same way and masks the value."""
    from spanguard.config.model import RedactionConfig
    from spanguard.processors.redaction import Redactor

    redactor = Redactor(RedactionConfig())
    folded, kelvin = redactor.redact([None, None], ["paſſword=hunter22", "api_\u212aey: abc123DEF456"])
    assert folded is not None and folded.value == "paſſword=[REDACTED:password]"
    assert kelvin is not None and kelvin.value.endswith("[REDACTED:password]")
