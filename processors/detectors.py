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
from dataclasses import dataclass, replace

import phonenumbers

from spanguard.config.model import (
    DEFAULT_DETECTORS,
    DEFAULT_PHONE_REGIONS,
    DETECTOR_GROUPS,
    DETECTOR_NAMES,
    RedactionConfig,
    expand_detectors,
)
from spanguard.errors import ConfigError
from spanguard.processors.assignments import ASSIGNMENT_PATTERN, validate_assignment
from spanguard.processors.provider_tokens import API_KEY_PATTERN
from spanguard.processors.validators import (
    DE_ID_CARD_WORDS,
    phone_validator,
    resume_phone,
    validate_entropy,
    validate_iban,
    validate_mac,
    validate_national_id,
    validate_routing,
    validate_ssn,
    validate_wallet,
)

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
    # match could still begin and run past its end (None: the next byte).
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


def validate_ip(candidate: bytes) -> tuple[int, int] | None:
    """A real address (with an optional CIDR prefix that fits it), and not loopback or
    unspecified: those identify no one."""
    address_text, _, prefix = candidate.decode("ascii").partition("/")
    try:
        address = ipaddress.ip_address(address_text)
    except ValueError:
        return None
    if prefix and int(prefix) > address.max_prefixlen:
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

_MONTH = r"(?i:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_DATE = (
    r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}|[0-9]{1,2}[./-][0-9]{1,2}[./-](?:[0-9]{4}|[0-9]{2})"
    rf"|[0-9]{{1,2}}(?:st|nd|rd|th)?[ \t]+{_MONTH},?[ \t]+[0-9]{{4}}"
    rf"|{_MONTH}[ \t]+[0-9]{{1,2}}(?:st|nd|rd|th)?,?[ \t]+[0-9]{{4}}"
)
# a German ID card number: the letters of its alphabet (no vowels, no B D Q S) and
# digits, then a check digit; cards before 2010 have digits only
_DE_ID_CARD = r"[CFGHJ-NPRTV-Z0-9]{9}[0-9]"
# a context word, then up to a few words and separators before the value
_CONTEXT_GAP = r"(?:[ \t]*[:#=.-]?[ \t]*(?:[A-Za-z]+\.?[ \t]*){0,3}[:#=-]?[ \t]*)"

_PATTERNS: dict[str, str] = {
    "email": r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b",
    # Candidates in the shapes phones are written in; phonenumbers decides
    # (validators.phone_validator). International: + or 00 and 7-15 digits in groups.
    # National: a trunk 0 or an area code in parentheses, or the 3-3-4, 3-2-2-2 and 5-5
    # shapes (415 555 0142, 347 123 4567, Spain's 612 34 56 78, 98765 43210), so that a
    # few numbers in a row of prose ("494 405 395") are not candidates. Not read without
    # their +CC: Spain's 612 345 678 (3-3-3 is also a number with thousands separators,
    # French style) and a trunk-0 number as one bare run (09876543210: an order number).
    "phone": (
        r"(?:\+|\b00)[1-9](?:[ .()/-]{0,2}[0-9]){6,14}\b"
        # (a long group glued on by - . / is read too, for the validator to refuse:
        # 020-1359269-7555974 is a reference number)
        r"|(?:\(0?|\b0)[0-9](?:[ .()/-]{0,2}[0-9]){5,14}(?:[-./][0-9]{5,})?\b"
        r"|\b[1-9][0-9]{2}[ .-](?:[0-9]{3}[ .-][0-9]{4}|[0-9]{2}[ .-][0-9]{2}[ .-][0-9]{2})\b"
        r"|\b[1-9][0-9]{4}[ .-][0-9]{5}\b"
    ),
    "credit_card": r"\b[0-9](?:[ .-]?[0-9]){12,22}\b",
    "iban": r"\b[A-Za-z]{2}[0-9]{2}(?:[ .-]?[A-Za-z0-9]{4}){2,7}(?:[ .-]?[A-Za-z0-9]{1,3})?\b",
    "bank_routing": (rf"(?:(?i:\b(?:routing|transit))|\b(?:ABA|RTN|ACH)){_CONTEXT_GAP}[0-9]{{9}}\b"),
    "crypto_wallet": (
        r"\b[13][1-9A-HJ-NP-Za-km-z]{25,34}\b|\b(?:bc1|BC1|tb1)[02-9ac-hj-np-zAC-HJ-NP-Z]{11,71}\b"
        r"|\b0x[0-9a-fA-F]{40}\b"
    ),
    "us_ssn": (
        r"\b[0-9]{3}[- .][0-9]{2}[- .][0-9]{4}\b"
        rf"|(?:\b(?:SSN|ITIN|ssn)|(?i:\bsocial security)){_CONTEXT_GAP}[0-9]{{9}}\b"
    ),
    "national_id": (
        # shapes with letters or telling separators (validators.validate_national_id)
        r"\b[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-D]\b"  # UK NINO
        r"|\b[0-9]{8}-?[A-Z]\b|\b[XYZ]-?[0-9]{7}-?[A-Z]\b"  # Spanish DNI, NIE
        r"|\b[A-Z]{6}[0-9LMNPQRSTUV]{2}[A-EHLMPR-T][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z]\b"  # IT CF
        r"|\b[A-Z]{3}[ABCFGHLJPT][A-Z][0-9]{4}[A-Z]\b"  # Indian PAN
        r"|\b[STFGM][0-9]{7}[A-Z]\b"  # Singapore NRIC/FIN
        r"|\b[0-3][0-9][01][0-9]{3}[-+A-FU-Y][0-9]{3}[0-9A-Y]\b"  # Finnish HETU
        r"|\b[12] ?[0-9]{2} ?[0-9]{2} ?(?:[0-9]{2}|2[AB]) ?[0-9]{3} ?[0-9]{3} ?[0-9]{2}\b"  # French NIR
        r"|\b[0-9]{3}\.[0-9]{3}\.[0-9]{3}-[0-9]{2}\b"  # Brazilian CPF
        r"|\b[0-9]{2}\.[0-9]{3}\.[0-9]{3}/[0-9]{4}-[0-9]{2}\b"  # Brazilian CNPJ
        r"|\b[0-9]{6}-[0-9]{7}\b"  # Korean RRN
        r"|\b(?:19|20)?[0-9]{6}[-+][0-9]{4}\b"  # Swedish personnummer
        r"|\b[2-9][0-9]{3}[ -][0-9]{4}[ -][0-9]{4}\b"  # Aadhaar
        r"|\b[0-9]{13}\b"  # South African ID
        # German ID card (Personalausweis): 9 characters and the ICAO 9303 check digit,
        # after its word only (bare, 1 order number in 25 of the shape AB12345678 would
        # pass the check); bare in its machine-readable zone (TD1 line 1: IDD<<number)
        rf"|(?i:\b(?:{DE_ID_CARD_WORDS})){_CONTEXT_GAP}{_DE_ID_CARD}\b"
        rf"|\bIDD<<{_DE_ID_CARD}"
        # bare numbers only after their name: NHS, SIN, BSN, PESEL, TCKN, Steuer-ID, TFN, ...
        # (acronyms in capitals only: `sin` and `dl` are inside too many words)
        r"|(?:\b(?:NHS|SIN|BSN|TCKN|TC|TFN|DL|IDNR)"
        r"|(?i:\b(?:nhs|social insurance|burgerservicenummer|pesel|kimlik|steuer-?id|"
        r"steueridentifikationsnummer|tax file|tax id|medicare|personnummer|aadhaar|"
        r"passport|driver'?s? licen[cs]e|driving licen[cs]e|licen[cs]e)))"
        # the value has a digit early: the words after the name are not read as one
        rf"{_CONTEXT_GAP}[A-Za-z]{{0,5}}[0-9][0-9 -]{{4,16}}[0-9][A-Za-z0-9]{{0,6}}\b"
    ),
    "date_of_birth": (
        r"(?i:\b(?:born|birth ?date|date of birth|dob|d\.o\.b|birthday|geboren|geburtsdatum|"
        r"fecha de nacimiento|date de naissance|data di nascita))"
        rf"[ \t]*(?:[:=-]|on|am|el|le|is|was)?[ \t]*(?P<secret>{_DATE})\b"
    ),
    "ip_address": (
        # IPv6 with an embedded IPv4 tail (::ffff:192.0.2.1, 64:ff9b::198.51.100.7), then
        # plain forms; an optional CIDR prefix is masked with the address
        rf"(?:\b{_HEX4}|:):[0-9A-Fa-f:]{{0,30}}:{_OCTET}(?:\.{_OCTET}){{3}}(?:/[0-9]{{1,3}})?\b"
        # a network ending in :: (2001:db8::/32) only with its prefix
        rf"|\b(?:{_HEX4}:){{1,7}}:/[0-9]{{1,3}}\b"
        rf"|\b{_OCTET}(?:\.{_OCTET}){{3}}(?:/[0-9]{{1,2}})?\b"
        rf"|\b(?:{_HEX4}:){{7}}{_HEX4}(?:/[0-9]{{1,3}})?\b"
        rf"|(?:\b(?:{_HEX4}:){{1,6}}|::)(?::?{_HEX4}){{1,6}}(?:/[0-9]{{1,3}})?\b"
    ),
    "mac_address": (
        r"\b[0-9A-Fa-f]{2}(?:[:-][0-9A-Fa-f]{2}){5}\b|\b[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\b"
    ),
    "jwt": (
        r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{8,}"
        # unsigned (`alg: none`): header and payload both JSON, the signature empty
        r"|\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.?"
        # a JWT wrapped in base64 again (base64 of `eyJ` is `ZXlK`)
        r"|\bZXlK[A-Za-z0-9+/]{40,}={0,2}"
    ),
    "api_key": API_KEY_PATTERN,
    "private_key": (
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?"
        r"-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
        # no END in this value (cut upstream): mask the header and the base64 that follows
        r"|-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----(?:[A-Za-z0-9+/=:, \t\r\n-]|\\[nr])*"
    ),
    "bearer_token": (
        # Authorization / Proxy-Authorization with a well-known scheme: any credential
        r"(?i:\b(?:proxy-)?authorization)[\"']?\s*[:=]\s*[\"']?"
        r"(?i:bearer|basic|token|digest|apikey|api-key|api-token|sso-key|negotiate|ntlm|hmac|otlp)\s+"
        r"(?P<secret>[A-Za-z0-9._~+/=:-]{4,})"
        # any other scheme (or none): a credential long enough not to be a prose word
        r"|(?i:\b(?:proxy-)?authorization)[\"']?[ \t]*[:=][ \t]*[\"']?(?:[A-Za-z][A-Za-z0-9_-]*[ \t]+)?"
        r"(?P<secret2>[A-Za-z0-9._~+/=:-]{12,})"
        r"|\b[Bb]earer\s+(?P<secret3>[A-Za-z0-9._~+/-]{12,}=*)"
        # X-Api-Key, X-Auth-Token, X-Access-Token, X-Goog-Api-Key ... headers
        r"|(?i:\bx-(?:[a-z0-9]+-)*(?:api-?key|auth-?token|access-?token|auth|token|secret|key))"
        r"[\"']?[ \t]*[:=][ \t]*[\"']?(?P<secret4>[A-Za-z0-9._~+/=:-]{8,})"
        # curl -u user:password / --user user:password
        r"|\bcurl\b[^\n]*?[ \t](?:-u|--user)(?:[ \t]+|=)[\"']?[^\s:\"']+:(?P<secret5>[^\s\"']+)"
    ),
    "url_credentials": (
        # the password may hold reserved characters (`@`, `:`, `#`): up to the last `@`
        # before the host, never across a `/`
        r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:@/?#\[\]\"'<>]*:(?P<secret>[^\s/?\"'<>]+)@"
    ),
    # a secret in a query string, wherever a URL appears: ?api_key=, &token=, &sig=,
    # X-Amz-Signature=, access_token=; only the value is masked (a `;Password=` belongs to
    # a connection string: the `password` detector keeps it to its own value)
    "url_secret": (
        r"[?&](?i:(?:[a-z0-9]+[_.-])*(?:token|signature|secret|password|passwd|credential|api[_-]?key|apikey)"
        r"|sig|key|code|auth|pwd)=(?P<secret>[^&#\s\"'<>\x00]+)"
    ),
    "password": ASSIGNMENT_PATTERN,
    # off by default: a long high-entropy value next to a secret-like word
    "entropy": (
        r"(?i:\b[A-Za-z0-9_.-]*(?:key|token|secret|passw|pwd|auth|credential|cred|api)[A-Za-z0-9_.-]*)"
        r"[\"']?[ \t]*[:=][ \t]*[\"']?[A-Za-z0-9+/=_.~-]{16,}"
    ),
}

_VALIDATORS: dict[str, Validator] = {
    "phone": phone_validator(DEFAULT_PHONE_REGIONS),
    "credit_card": validate_credit_card,
    "iban": validate_iban,
    "bank_routing": validate_routing,
    "crypto_wallet": validate_wallet,
    "us_ssn": validate_ssn,
    "national_id": validate_national_id,
    "ip_address": validate_ip,
    "mac_address": validate_mac,
    "password": validate_assignment,
    "entropy": validate_entropy,
}

_RESUMERS: dict[str, Callable[[bytes], int]] = {"credit_card": resume_credit_card, "phone": resume_phone}

BUILTIN_DETECTORS: dict[str, Detector] = {
    name: Detector(name, _PATTERNS[name], _VALIDATORS.get(name), _RESUMERS.get(name))
    for name in DETECTOR_NAMES
}


def detectors_for(config: RedactionConfig) -> list[Detector]:
    """The built-in detectors a config turns on, the phone detector reading its
    `phone_regions`, then its `custom_detectors` plug-ins."""
    from spanguard.processors.plugins import load_custom_detector  # plugins import Detector

    detectors = resolve_detectors(config.detectors)
    regions = tuple(config.phone_regions)
    if regions != DEFAULT_PHONE_REGIONS:
        unknown = [r for r in regions if r not in phonenumbers.SUPPORTED_REGIONS]
        if unknown:
            raise ConfigError(f"unknown phone region {unknown[0]!r}", key="redaction.phone_regions")
        detectors = [
            replace(d, validator=phone_validator(regions)) if d.name == "phone" else d for d in detectors
        ]
    detectors.extend(load_custom_detector(spec) for spec in config.custom_detectors)
    return detectors


def resolve_detectors(selection: str | Sequence[str]) -> list[Detector]:
    """`default`, `all`, `none`, a name, a group name or a list of them -> detectors, in a
    stable order."""
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
    unknown = [name for name in names if name not in BUILTIN_DETECTORS and name not in DETECTOR_GROUPS]
    if unknown:
        raise ConfigError(
            f"unknown detector {unknown[0]!r}; known: {', '.join((*DETECTOR_NAMES, *DETECTOR_GROUPS))}",
            key="redaction.detectors",
        )
    return sorted((BUILTIN_DETECTORS[name] for name in expand_detectors(names)), key=_priority)


# The scan's priority where two candidates start at one place (the alternation is
# leftmost-first): formats with a fixed literal first (a Telegram token starts like a
# digit run), then cards and ids before the phone candidate that also covers their digits.
# It is deliberately not DETECTOR_NAMES' order: that one is the documented, user-facing
# order (configs, `enabled_detectors()`, error messages) and must not move when the scan's
# priority is tuned. The names are DETECTOR_NAMES' own, checked below at import.
SCAN_ORDER: tuple[str, ...] = (
    "jwt",
    "api_key",
    "private_key",
    "bearer_token",
    "url_credentials",
    "url_secret",
    "password",
    "email",
    "credit_card",
    "iban",
    "bank_routing",
    "crypto_wallet",
    "us_ssn",
    "national_id",
    "date_of_birth",
    "phone",
    "ip_address",
    "mac_address",
    "entropy",
)
if sorted(SCAN_ORDER) != sorted(DETECTOR_NAMES):  # a new detector needs a place in the scan
    raise RuntimeError(f"SCAN_ORDER and DETECTOR_NAMES differ: {set(SCAN_ORDER) ^ set(DETECTOR_NAMES)}")


def _priority(detector: Detector) -> int:
    return SCAN_ORDER.index(detector.name)
