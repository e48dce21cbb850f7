"""The built-in detectors: what sensitive text looks like, as RE2 patterns plus validators.

Every detector is an RE2 pattern (linear time, so no input can hang the process) and, for
formats with a checksum, a Python validator that runs on candidate matches only (Luhn
for cards, mod-97 for IBANs). The scanner combines all enabled patterns into one
alternation and runs it over one large UTF-8 buffer; see `scanner.py` for why.

Patterns may mark the part that is actually secret with named groups `secret`,
`secret2`, ...: `url_credentials` masks only the password of `user:password@host`, the
`password` detector only the value after `password=`. Without such a group the whole
match is masked.

RE2 has no look-around, so patterns lean on `\\b` and on validators to keep look-alikes
(trace ids, git SHAs, UUIDs, timestamps, versions, prices, order numbers) intact.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from spanguard.config.model import DEFAULT_DETECTORS, DETECTOR_NAMES
from spanguard.errors import ConfigError

# A validator gets the candidate's bytes and returns the (start, end) of the part that
# really is sensitive (relative to the candidate), or None to reject the candidate.
Validator = Callable[[bytes], "tuple[int, int] | None"]


@dataclass(frozen=True, slots=True)
class Detector:
    """One kind of sensitive text; `name` is what markers and counters show."""

    name: str
    pattern: str
    validator: Validator | None = None
    # After the validator rejects a greedy candidate: the offset in it from which a real
    # match could still begin and run past its end (None: resume after the candidate).
    resume: Callable[[bytes], int] | None = None


# ---------------------------------------------------------------- validators


_DIGIT_RUN = re.compile(rb"\d+")


def _digit_groups(candidate: bytes) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in _DIGIT_RUN.finditer(candidate)]


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum every payment card number carries."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


# Luhn doubles every second digit from the right; this is a digit's doubled value.
_LUHN_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)
# issuer identification numbers start with 2-6 (Visa, Mastercard, Amex, ...)
_CARD_FIRST_DIGITS = frozenset((2, 3, 4, 5, 6))


def validate_credit_card(candidate: bytes) -> tuple[int, int] | None:
    """Accept the longest run of whole digit groups with 13-19 digits that passes Luhn.

    The pattern is greedy and may swallow a neighbouring number ("card 4111 ... 1111 20");
    trying sub-runs of whole groups keeps such a card from slipping through. Prefix sums
    of plain and doubled digits by position parity make each window's Luhn sum O(1), so
    long runs of short groups cost no more than a few dozen additions per window.
    """
    groups = _digit_groups(candidate)
    digits = [byte - 48 for start, end in groups for byte in candidate[start:end]]
    offsets = [0]
    for start, end in groups:
        offsets.append(offsets[-1] + end - start)
    plain = ([0], [0])  # plain[parity][k]: sum of digits[i] for i < k with i % 2 == parity
    doubled = ([0], [0])
    for index, digit in enumerate(digits):
        parity = index & 1
        plain[parity].append(plain[parity][-1] + digit)
        plain[1 - parity].append(plain[1 - parity][-1])
        doubled[parity].append(doubled[parity][-1] + _LUHN_DOUBLED[digit])
        doubled[1 - parity].append(doubled[1 - parity][-1])
    best: tuple[int, int] | None = None
    best_len = 0
    for first in range(len(groups)):
        i = offsets[first]
        if digits[i] not in _CARD_FIRST_DIGITS:
            continue
        for last in range(len(groups) - 1, first - 1, -1):
            j = offsets[last + 1]
            length = j - i
            if not 13 <= length <= 19 or length <= best_len:
                continue
            kept = (j - 1) & 1  # the rightmost digit and every second one leftwards stay
            total = plain[kept][j] - plain[kept][i] + doubled[1 - kept][j] - doubled[1 - kept][i]
            if total % 10 == 0:
                best, best_len = (groups[first][0], groups[last][1]), length
    return best


def resume_credit_card(candidate: bytes) -> int:
    """Where a card hidden behind a rejected candidate could start.

    Every window of whole groups inside the candidate was tried, so only a card that
    starts at one of its groups and runs on past its end is left. A card has at most 19
    digits, so that group has at most 18 digits up to the candidate's end
    ("ref 123456789 4111 1111 1111 1111": the greedy candidate stops inside the card).
    Skipping the groups before it keeps long digit runs linear.
    """
    groups = _digit_groups(candidate)
    remaining = sum(end - start for start, end in groups)
    for start, end in groups:
        if remaining <= 18:
            return start
        remaining -= end - start
    return len(candidate)


def iban_ok(compact: str) -> bool:
    """ISO 13616 mod-97: move the country code and check digits to the end."""
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(char, 36)) for char in rearranged)
    return int(number) % 97 == 1


def validate_iban(candidate: bytes) -> tuple[int, int] | None:
    """Accept the longest prefix of space-separated groups that passes mod-97."""
    text = candidate.decode("ascii", "replace")
    ends = [m.end() for m in re.finditer(r"[A-Z0-9]+", text)]
    for end in reversed(ends):
        if iban_ok(text[:end].replace(" ", "")):
            return 0, end
    return None


def validate_ssn(candidate: bytes) -> tuple[int, int] | None:
    """Area 000, 666 and 9xx, group 00 and serial 0000 are never issued."""
    area, group, serial = candidate.decode().split("-")
    if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
        return None
    return 0, len(candidate)


def validate_ip(candidate: bytes) -> tuple[int, int] | None:
    """A real address, and not loopback/unspecified (those identify no one)."""
    try:
        address = ipaddress.ip_address(candidate.decode("ascii"))
    except ValueError:
        return None
    if address.is_loopback or address.is_unspecified:
        return None
    return 0, len(candidate)


# ------------------------------------------------------------------ patterns

# Names whose value is a secret: used in prose/key=value/JSON by `password`, and on
# attribute keys (an attribute called `db.password` is masked whole).
SECRET_NAME = (
    r"(?:[A-Za-z0-9]+[_-])*(?:password|passwd|passphrase|pwd|secret|"
    r"api[_-]?key|access[_-]?key|secret[_-]?key|private[_-]?key|"
    r"access[_-]?token|auth[_-]?token|refresh[_-]?token|client[_-]?secret)"
)
SECRET_KEY_NAME = re.compile(rf"(?i){SECRET_NAME}")

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_HEX4 = r"[0-9A-Fa-f]{1,4}"

_PATTERNS: dict[str, str] = {
    "email": r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b",
    "phone": (
        # +CC then 2-5 groups: +1 555 123 4567, +44 20 7946 0958, +4915112345678
        r"\+[1-9][0-9]{0,2}(?:[ .-]?\(?[0-9]{1,4}\)?){2,5}\b"
        # North American with separators or parentheses: (555) 123-4567, 555-123-4567
        r"|\([0-9]{3}\)[ .-]?[0-9]{3}[ .-][0-9]{4}\b"
        r"|\b[0-9]{3}[.-][0-9]{3}[.-][0-9]{4}\b"
        r"|\b[0-9]{3} [0-9]{3} [0-9]{4}\b"
    ),
    "credit_card": r"\b[0-9](?:[ -]?[0-9]){12,22}\b",
    "iban": r"\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b",
    "us_ssn": r"\b[0-9]{3}-[0-9]{2}-[0-9]{4}\b",
    "ip_address": (
        rf"\b{_OCTET}(?:\.{_OCTET}){{3}}\b"
        rf"|\b(?:{_HEX4}:){{7}}{_HEX4}\b"
        rf"|(?:\b(?:{_HEX4}:){{1,6}}|::)(?::?{_HEX4}){{1,6}}\b"
    ),
    "jwt": r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{8,}",
    "api_key": (
        r"\bsk-(?:ant-|proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}"  # OpenAI, Anthropic
        r"|\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|APKA|AROA)[A-Z0-9]{16}\b"  # AWS
        r"|\bgh[pousr]_[A-Za-z0-9]{36,}\b|\bgithub_pat_[A-Za-z0-9_]{22,}"  # GitHub
        r"|\bxox[abprse]-[A-Za-z0-9-]{10,}|\bxapp-[0-9]-[A-Za-z0-9-]{10,}"  # Slack
        r"|\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}"  # Stripe
        r"|\bAIza[0-9A-Za-z_-]{35}"  # Google
        r"|\bhf_[A-Za-z0-9]{30,}"  # Hugging Face
        r"|\bglpat-[A-Za-z0-9_-]{20,}"  # GitLab
        r"|\bnpm_[A-Za-z0-9]{36}\b"  # npm
        r"|\bSG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}"  # SendGrid
        r"|\bgsk_[A-Za-z0-9]{40,}|\bxai-[A-Za-z0-9]{40,}|\br8_[A-Za-z0-9]{30,}"  # Groq, xAI, Replicate
        r"|\bdapi[0-9a-f]{32}\b"  # Databricks
    ),
    "private_key": (
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?"
        r"-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
        # no END in this value (cut upstream): mask the header and the base64 that follows
        r"|-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----(?:[A-Za-z0-9+/=:, \t\r\n-]|\\[nr])*"
    ),
    "bearer_token": (
        r"(?i:\bauthorization)[\"']?\s*[:=]\s*[\"']?(?i:bearer|basic|token|digest|apikey)\s+"
        r"(?P<secret>[A-Za-z0-9._~+/=-]{4,})"
        r"|\b[Bb]earer\s+(?P<secret2>[A-Za-z0-9._~+/-]{12,}=*)"
    ),
    "url_credentials": (r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:@/?#\[\]\"'<>]+:(?P<secret>[^\s@/?#\"'<>]+)@"),
    # a secret in a query string, wherever a URL appears: ?api_key=, &token=, &sig=,
    # X-Amz-Signature=, access_token=; only the value is masked
    "url_secret": (
        r"[?&;](?i:(?:[a-z0-9]+[_.-])*(?:token|signature|secret|password|passwd|credential|api[_-]?key|apikey)"
        r"|sig|key|code|auth|pwd)=(?P<secret>[^&#\s\"'<>\x00]+)"
    ),
    "password": (
        # JSON: "password": "value" (the body of the JSON string, escapes and all)
        rf"\"{SECRET_NAME}\"\s*:\s*\"(?P<secret>(?:[^\"\\\x00]|\\.)+)\""
        # key=value and key: value, optionally quoted
        rf"|(?i:\b{SECRET_NAME})['\"]?\s*[:=]\s*['\"]?"
        r"(?P<secret2>[^\s\"',;&<>\x00]{3,})"
        # prose: "my password is X" (not "the secret is out": prose uses the narrow names)
        r"|(?i:\b(?:password|passphrase|passwd|pwd|passcode)\s+(?:is|was)\s*:?\s+)['\"]?"
        r"(?P<secret3>[^\s\"',;&<>\x00]{3,})"
    ),
}

_VALIDATORS: dict[str, Validator] = {
    "credit_card": validate_credit_card,
    "iban": validate_iban,
    "us_ssn": validate_ssn,
    "ip_address": validate_ip,
}

_RESUMERS: dict[str, Callable[[bytes], int]] = {"credit_card": resume_credit_card}

BUILTIN_DETECTORS: dict[str, Detector] = {
    name: Detector(name, _PATTERNS[name], _VALIDATORS.get(name), _RESUMERS.get(name))
    for name in DETECTOR_NAMES
}


def resolve_detectors(selection: str | Sequence[str]) -> list[Detector]:
    """`default`, `all`, `none` or a list of names -> detectors, in a stable order."""
    if isinstance(selection, str):
        if selection == "default":
            names: Sequence[str] = DEFAULT_DETECTORS
        elif selection == "all":
            names = DETECTOR_NAMES
        elif selection == "none":
            names = ()
        else:
            names = [selection]
    else:
        names = selection
    unknown = [name for name in names if name not in BUILTIN_DETECTORS]
    if unknown:
        raise ConfigError(
            f"unknown detector {unknown[0]!r}; known: {', '.join(DETECTOR_NAMES)}",
            key="redaction.detectors",
        )
    wanted = set(names)
    return [BUILTIN_DETECTORS[name] for name in DETECTOR_NAMES if name in wanted]
