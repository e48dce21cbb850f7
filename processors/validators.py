"""Validators that run on RE2 candidates only: checksums and metadata RE2 cannot check.

A validator gets a candidate's bytes and returns the (start, end) of the part that is
really sensitive, relative to the candidate, or None. They are Python, so the patterns
in `detectors.py` keep them rare: each family's candidate needs a shape (separators, a
context word, a fixed literal) that ordinary prose and ids seldom have.

- phone numbers: Google's metadata (`phonenumbers`), national formats for the
  configured regions, any region with `+CC`/`00CC`;
- national ids: `python-stdnum`'s checksums (NHS, SIN, BSN, PESEL, CPF, ...), by shape
  or by the context word in front;
- wallets: Base58Check, Bech32/Bech32m, EIP-55 (Keccak-256); MAC addresses; high-entropy strings.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Sequence
from functools import cache, lru_cache

import phonenumbers
from stdnum import iban as std_iban
from stdnum.au import tfn
from stdnum.br import cnpj, cpf
from stdnum.ca import sin
from stdnum.de import idnr
from stdnum.es import dni, nie
from stdnum.fi import hetu
from stdnum.fr import nir
from stdnum.gb import nhs
from stdnum.in_ import aadhaar, pan
from stdnum.it import codicefiscale
from stdnum.kr import rrn
from stdnum.nl import bsn
from stdnum.pl import pesel
from stdnum.se import personnummer
from stdnum.tr import tckimlik
from stdnum.us import itin, rtn, ssn
from stdnum.za import idnr as za_idnr

from spanguard.processors.keccak import keccak256

Span = tuple[int, int]

# ------------------------------------------------------------------ phones

_GROUP = re.compile(rb"[0-9]+")
_DATE_LIKE = re.compile(
    r"^(?:[0-9]{4}[-/.][0-9]{1,2}[-/.][0-9]{1,2}|[0-9]{1,2}[-/.][0-9]{1,2}[-/.][0-9]{2,4})(?:[ T]|$)"
)
_DOTTED_QUAD = re.compile(r"^[0-9]{1,3}(?:\.[0-9]{1,3}){3}$")


@cache
def _region_lengths(region: str) -> tuple[frozenset[int], str]:
    """The national significant number lengths and trunk prefix of a region."""
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    if metadata is None or metadata.general_desc is None:
        return frozenset(), ""
    lengths = frozenset(metadata.general_desc.possible_length or ())
    return lengths, metadata.national_prefix or ""


def _boundaries(text: str) -> frozenset[int]:
    """Digit counts before each break between digit groups ("415 555-0142" -> {3, 6})."""
    out: set[int] = set()
    count = 0
    previous_digit = False
    for char in text:
        if char.isdigit():
            if not previous_digit and count:
                out.add(count)
            count += 1
            previous_digit = True
        else:
            previous_digit = False
    return frozenset(out)


def _grouped_like(window: str, number: phonenumbers.PhoneNumber, international: bool) -> bool:
    """Do the window's breaks between digits fall where the number's own format puts
    them (national for a national window, international after the country code for a
    +CC one)? Digit groups that merely happen to be a valid number ("5678 9012 3456")
    almost never do."""
    breaks = _boundaries(window)
    if not breaks:
        return True
    if international:
        formatted = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    else:
        formatted = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return breaks <= _boundaries(formatted)


@lru_cache(maxsize=4096)
def _valid_phone(text: str, regions: tuple[str, ...]) -> bool:
    """Is `text` (digits with their separators) a valid number for some region,
    grouped as that region writes it?"""
    digits = _digits_of(text)
    if text.startswith("+") or text.startswith("00"):
        window = "+" + text[2:] if text.startswith("00") else text
        # +49 (0)151 ...: the trunk 0 in parentheses is not dialled from abroad (but
        # Italy's leading 0 is part of the number, so the text as written is tried too)
        if "(0)" in window and _valid_international(window.replace("(0)", "", 1)):
            return True
        return _valid_international(window)
    for region in regions:
        lengths, prefix = _region_lengths(region)
        without_trunk = prefix == "0" and not digits.startswith("0")
        national = digits[len(prefix) :] if prefix and digits.startswith(prefix) else digits
        if len(national) not in lengths:
            continue  # cheap: most regions are ruled out by length alone
        try:
            number = phonenumbers.parse(digits, region)
        except phonenumbers.NumberParseException:
            continue
        if not phonenumbers.is_valid_number(number):
            continue
        formatted = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
        breaks = _boundaries(text)
        if without_trunk and _digits_of(formatted).startswith(prefix):
            # Where numbers are dialled with a trunk 0 people write it, except mobiles
            # in some places (India: 98765 43210): compare with the format minus the 0.
            # (Where the national format itself has no 0, as Brazil's (11) 91234-5678,
            # the number is compared with it as written.)
            if phonenumbers.number_type(number) != phonenumbers.PhoneNumberType.MOBILE:
                continue
            if breaks <= frozenset(b - 1 for b in _boundaries(formatted) if b > 1):
                return True
            continue
        if breaks <= _boundaries(formatted):
            return True
        if prefix and digits.startswith(prefix) and _split_after_code(breaks, len(prefix), number):
            return True
    return False


def _valid_international(window: str) -> bool:
    """`+CC` and the national number, grouped as its international format or split once
    inside its area or network code after the country code (+49 151 23456789)."""
    try:
        number = phonenumbers.parse("+" + _digits_of(window), None)
    except phonenumbers.NumberParseException:
        return False
    if not phonenumbers.is_valid_number(number):
        return False
    if _grouped_like(window, number, True):
        return True
    code = len(str(number.country_code))
    breaks = _boundaries(window)
    return code in breaks and _split_after_code(breaks - {code}, code, number)


def _digits_of(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


_MOBILE_TYPES = (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)


def _split_after_code(breaks: frozenset[int], offset: int, number: phonenumbers.PhoneNumber) -> bool:
    """A mobile number's network code one digit shorter than phonenumbers' (after
    `offset` digits: the trunk prefix, or the country code), one break, then the
    subscriber number: German mobiles are written so (DIN 5008: 0151 23456789,
    +49 151 23456789), while phonenumbers groups them 01512 3456789. Only exactly
    there: a break anywhere inside a landline's area code would also read order numbers
    such as 0502-9466 as phones."""
    if len(breaks) != 1 or phonenumbers.number_type(number) not in _MOBILE_TYPES:
        return False
    (at,) = breaks
    return at == offset + phonenumbers.length_of_national_destination_code(number) - 1


def phone_validator(regions: Sequence[str]) -> Callable[[bytes], Span | None]:
    """The phone detector's validator for these default regions.

    Tries the longest run of whole digit groups from the candidate's start (after any
    `+`, `00` or `(`); a national number needs separators or parentheses, so a bare
    digit run (an order number, an id) is never read as a phone. Dates, times and dotted
    quads are refused before any metadata is consulted.
    """
    wanted = tuple(r.upper() for r in regions)

    @lru_cache(maxsize=4096)  # the same number recurs across the spans of a trace
    def validate(candidate: bytes) -> Span | None:
        groups = [(m.start(), m.end()) for m in _GROUP.finditer(candidate)]
        if not groups:
            return None
        begin = 0 if candidate[:1] in (b"+", b"(") else groups[0][0]
        text_all = candidate.decode("ascii", "replace")
        if _DATE_LIKE.match(text_all[groups[0][0] :]):
            return None
        for last in range(len(groups) - 1, -1, -1):
            end = groups[last][1]
            window = text_all[begin:end]
            digits = sum(e - s for s, e in groups[: last + 1])
            if not 7 <= digits <= 15:
                continue
            international = window.startswith(("+", "00"))
            if not international and last == 0 and "(" not in window:
                continue  # a bare digit run: an id, not a phone
            singles = sum(
                1 for s, e in groups[1 : last + 1] if e - s == 1 and candidate[s - 1 : e + 1] != b"(0)"
            )
            if singles > 1:
                continue  # "1 2 3 4 5 6 7": counting, not dialling (a trunk "(0)" aside)
            if not international and last == 1 and candidate[groups[0][1] : groups[1][0]] in (b".", b","):
                continue  # "06.672772" (the seconds of 10:30:06.672772): a decimal
            if _joined_to_long_group(candidate, groups, last):
                continue  # "020-1359269-7555974": one piece of a longer reference
            if _DOTTED_QUAD.match(window) or _DATE_LIKE.match(window):
                continue
            if _valid_phone(window, wanted):
                return begin, end
        return None

    return validate


def _joined_to_long_group(candidate: bytes, groups: list[tuple[int, int]], last: int) -> bool:
    """Does the window end where `-`, `.` or `/` glues a group of 5+ digits to it? An
    extension is shorter (030 901820-12); a longer tail makes the digits an order or
    reference number that merely starts like a phone."""
    if last + 1 >= len(groups):
        return False
    end, (start, stop) = groups[last][1], groups[last + 1]
    return start == end + 1 and candidate[end : end + 1] in (b"-", b".", b"/") and stop - start >= 5


def resume_phone(candidate: bytes) -> int:
    """After a rejected candidate, a phone may still start at its second digit group."""
    groups = list(_GROUP.finditer(candidate))
    return groups[1].start() if len(groups) > 1 else len(candidate)


# ------------------------------------------------------------- national ids

_Check = Callable[[str], bool]

# shape (fullmatch on the candidate) -> checks; a candidate passing any check is an id
_SHAPES: tuple[tuple[re.Pattern[str], tuple[_Check, ...]], ...] = (
    (re.compile(r"[A-Z]{2} ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-D]"), (lambda v: _nino_ok(v),)),
    (re.compile(r"[0-9]{8}-?[A-Z]"), (dni.is_valid,)),
    (re.compile(r"[XYZ]-?[0-9]{7}-?[A-Z]"), (nie.is_valid,)),
    (re.compile(r"[A-Z]{6}[0-9A-Z]{2}[A-Z][0-9A-Z]{2}[A-Z][0-9A-Z]{3}[A-Z]"), (codicefiscale.is_valid,)),
    (re.compile(r"[A-Z]{5}[0-9]{4}[A-Z]"), (pan.is_valid,)),
    (re.compile(r"[STFGM][0-9]{7}[A-Z]"), (lambda v: _nric_ok(v),)),
    (re.compile(r"[0-9]{6}[-+A-FU-Y][0-9]{3}[0-9A-Y]"), (hetu.is_valid,)),
    (
        re.compile(r"[12] ?[0-9]{2} ?[0-9]{2} ?(?:[0-9]{2}|2[AB]) ?[0-9]{3} ?[0-9]{3} ?[0-9]{2}"),
        (nir.is_valid,),
    ),
    (re.compile(r"[0-9]{3}\.[0-9]{3}\.[0-9]{3}-[0-9]{2}"), (cpf.is_valid,)),
    (re.compile(r"[0-9]{2}\.[0-9]{3}\.[0-9]{3}/[0-9]{4}-[0-9]{2}"), (cnpj.is_valid,)),
    (re.compile(r"[0-9]{6}-[0-9]{7}"), (rrn.is_valid,)),
    (re.compile(r"(?:19|20)?[0-9]{6}[-+][0-9]{4}"), (personnummer.is_valid,)),
    (re.compile(r"[2-9][0-9]{3}[ -][0-9]{4}[ -][0-9]{4}"), (aadhaar.is_valid,)),
    (re.compile(r"[0-9]{13}"), (za_idnr.is_valid,)),
)
# context word (lower case, first word) -> checks for the value after it
_BY_CONTEXT: dict[str, tuple[_Check, ...]] = {
    "nhs": (nhs.is_valid,),
    "sin": (sin.is_valid,),
    "social": (sin.is_valid,),  # social insurance number
    "bsn": (bsn.is_valid,),
    "burgerservicenummer": (bsn.is_valid,),
    "pesel": (pesel.is_valid,),
    "tckn": (tckimlik.is_valid,),
    "tc": (tckimlik.is_valid,),
    "kimlik": (tckimlik.is_valid,),
    "steuer-id": (idnr.is_valid,),
    "steuerid": (idnr.is_valid,),
    "steueridentifikationsnummer": (idnr.is_valid,),
    "idnr": (idnr.is_valid,),
    "tfn": (tfn.is_valid,),
    "tax": (tfn.is_valid, idnr.is_valid),
    "medicare": (lambda v: _medicare_ok(v),),
    "personnummer": (personnummer.is_valid,),
    "aadhaar": (aadhaar.is_valid,),
}
# documents without a public checksum: any value with a digit, after their word
_DOCUMENT_WORDS = ("passport", "driver", "driving", "licence", "license", "dl")
_CONTEXT_VALUE = re.compile(
    r"(?i)^([a-z][a-z'-]*)[^A-Za-z0-9]*(?:[a-z]+[^A-Za-z0-9]+)*?([A-Z0-9][A-Z0-9 -]*[A-Z0-9])$"
)


def _nino_ok(value: str) -> bool:
    """UK National Insurance number: HMRC's prefix rules (no public checksum)."""
    compact = value.replace(" ", "")
    first, second = compact[0], compact[1]
    if first in "DFIQUV" or second in "DFIOQUV":
        return False
    return compact[:2] not in ("BG", "GB", "NK", "KN", "TN", "NT", "ZZ")


_NRIC_WEIGHTS = (2, 7, 6, 5, 4, 3, 2)


def _nric_ok(value: str) -> bool:
    """Singapore NRIC/FIN: weighted sum mod 11 onto the letter tables of each series."""
    total = sum(int(d) * w for d, w in zip(value[1:8], _NRIC_WEIGHTS, strict=True))
    if value[0] in "TG":
        total += 4
    elif value[0] == "M":
        total += 3
    table = "JZIHGFEDCBA" if value[0] in "ST" else "XWUTRQPNMLK" if value[0] in "FG" else "XWUTRQPNJLK"
    return table[total % 11] == value[8]


def _medicare_ok(value: str) -> bool:
    """Australian Medicare card: first digit 2-6, weighted check digit at position 9."""
    digits = re.sub(r"[^0-9]", "", value)
    if len(digits) not in (10, 11) or digits[0] not in "23456":
        return False
    total = sum(int(d) * w for d, w in zip(digits[:8], (1, 3, 7, 9, 1, 3, 7, 9), strict=True))
    return total % 10 == int(digits[8])


def _safe(check: _Check, value: str) -> bool:
    try:
        return bool(check(value))
    except Exception:  # a library check that trips on odd input is a "no", not a crash
        return False


_ICAO_WEIGHTS = (7, 3, 1)
# the words a German ID card number follows (the detector's pattern reads them too)
DE_ID_CARD_WORDS = r"personalausweis|ausweis|identity card|id[ -]?card"
# a candidate that starts with one of them, or with its machine-readable zone
_DE_ID_CARD_START = re.compile(rf"(?i){DE_ID_CARD_WORDS}|IDD<<")


def icao_check_digit_ok(value: str) -> bool:
    """ICAO 9303 (machine-readable travel documents): the last character is the sum of
    the others' values (digits as such, A=10 ... Z=35, the filler `<` 0) weighted 7, 3,
    1, 7, ... modulo 10. German ID cards carry it on their 9-character number."""
    if len(value) < 2 or not value[-1].isdigit():
        return False
    total = 0
    for index, char in enumerate(value[:-1]):
        if char.isdigit():
            number = ord(char) - 48
        elif "A" <= char <= "Z":
            number = ord(char) - 55
        elif char == "<":
            number = 0
        else:
            return False
        total += number * _ICAO_WEIGHTS[index % 3]
    return total % 10 == ord(value[-1]) - 48


def validate_national_id(candidate: bytes) -> Span | None:
    """Accept a candidate whose shape or preceding context word has a passing check."""
    text = candidate.decode("ascii", "replace")
    if _DE_ID_CARD_START.match(text):
        # the pattern ends with the 10 characters of the number and its check digit
        return (len(text) - 10, len(text)) if icao_check_digit_ok(text[-10:]) else None
    shaped = False
    for shape, checks in _SHAPES:
        if shape.fullmatch(text):
            shaped = True
            if any(_safe(c, text) for c in checks):
                return 0, len(candidate)
    if shaped:
        return None
    match = _CONTEXT_VALUE.match(text)
    if match is None:
        return None
    word, value = match.group(1).lower(), match.group(2)
    start = match.start(2)
    if word in _DOCUMENT_WORDS:
        return (start, len(text)) if any(c.isdigit() for c in value) and len(value) >= 6 else None
    checks = _BY_CONTEXT.get(word, ())
    return (start, len(text)) if any(_safe(c, value) for c in checks) else None


def validate_ssn(candidate: bytes) -> Span | None:
    """US SSN or ITIN in any separator form; area 000/666, group 00 and serial 0000 are
    never issued, 9xx areas are ITINs only."""
    text = candidate.decode("ascii", "replace")
    digits_at = [m for m in re.finditer(r"[0-9]{9}|[0-9]{3}([- .])[0-9]{2}\1[0-9]{4}", text)]
    if not digits_at:
        return None
    found = digits_at[-1]
    digits = re.sub(r"[^0-9]", "", found.group())
    if digits[0] == "9":
        return found.span() if _safe(itin.is_valid, digits) else None
    return found.span() if _safe(ssn.is_valid, digits) else None


def validate_routing(candidate: bytes) -> Span | None:
    """US ABA routing number after its context word: the 3-7-1 weighted checksum."""
    text = candidate.decode("ascii", "replace")
    found = re.search(r"[0-9]{9}$", text)
    return found.span() if found and _safe(rtn.is_valid, found.group()) else None


def validate_iban(candidate: bytes) -> Span | None:
    """The longest prefix of groups that is a valid IBAN for its country (any case,
    spaces, dashes or dots between groups)."""
    text = candidate.decode("ascii", "replace")
    ends = [m.end() for m in re.finditer(r"[A-Za-z0-9]+", text)]
    for end in reversed(ends):
        compact = re.sub(r"[ .-]", "", text[:end]).upper()
        if 15 <= len(compact) <= 34 and _safe(std_iban.is_valid, compact):
            return 0, end
    return None


# ------------------------------------------------------------------ wallets

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def base58check_ok(text: str) -> bool:
    """Bitcoin legacy/P2SH addresses: base58, the last 4 bytes a double-SHA256 prefix."""
    number = 0
    for char in text:
        index = _B58.find(char)
        if index < 0:
            return False
        number = number * 58 + index
    raw = number.to_bytes(25, "big") if number.bit_length() <= 200 else b""
    if len(raw) != 25 or raw[0] not in (0x00, 0x05):
        return False
    return hashlib.sha256(hashlib.sha256(raw[:21]).digest()).digest()[:4] == raw[21:]


def bech32_ok(text: str) -> bool:
    """Segwit addresses (BIP-173 Bech32 and BIP-350 Bech32m checksums)."""
    text = text.lower()
    hrp, _, data = text.rpartition("1")
    if hrp not in ("bc", "tb") or len(data) < 6 or any(c not in _BECH32 for c in data):
        return False
    values = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp] + [_BECH32.index(c) for c in data]
    generator = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    checksum = 1
    for value in values:
        top = checksum >> 25
        checksum = (checksum & 0x1FFFFFF) << 5 ^ value
        for bit in range(5):
            if (top >> bit) & 1:
                checksum ^= generator[bit]
    return checksum in (1, 0x2BC830A3)


@lru_cache(maxsize=1024)  # Keccak in Python: an address recurs across a trace's spans
def eip55_ok(address: str) -> bool:
    """Ethereum's EIP-55 checksum: a hex letter of `0x` + 40 hex digits is upper case
    exactly where the matching nibble of Keccak-256 of the lower-case address is 8 or
    more. An address all in one case carries no checksum and passes: it is as much an
    address as a checksummed one, only written without the check (wallets and block
    explorers print both), so it stays masked as before."""
    body = address[2:]
    if body == body.lower() or body == body.upper():
        return True
    digest = keccak256(body.lower().encode("ascii")).hex()
    return all(
        char.isdigit() or char.isupper() == (int(nibble, 16) >= 8)
        for char, nibble in zip(body, digest, strict=False)
    )


def validate_wallet(candidate: bytes) -> Span | None:
    """Bitcoin (Base58Check, Bech32/m) and Ethereum addresses: a mixed-case `0x` address
    must pass its EIP-55 checksum (Keccak-256, `keccak.py`); one in a single case has no
    checksum to check and is masked (see `eip55_ok`)."""
    text = candidate.decode("ascii", "replace")
    if text.startswith("0x"):
        return (0, len(text)) if eip55_ok(text) else None
    if text[:3].lower() in ("bc1", "tb1"):
        return (0, len(text)) if bech32_ok(text) else None
    return (0, len(text)) if base58check_ok(text) else None


def validate_mac(candidate: bytes) -> Span | None:
    """A MAC address, not the all-zero or broadcast placeholders."""
    hexdigits = re.sub(rb"[^0-9A-Fa-f]", b"", candidate).lower()
    return None if hexdigits in (b"0" * 12, b"f" * 12) else (0, len(candidate))


# ------------------------------------------------------------------ entropy

ENTROPY_BITS_PER_CHAR = 4.0
_ENTROPY_VALUE = re.compile(r"[A-Za-z0-9+/=_.~-]{16,}$")


def shannon_entropy(text: str) -> float:
    counts: dict[str, int] = {}
    for char in text:
        counts[char] = counts.get(char, 0) + 1
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def validate_entropy(candidate: bytes) -> Span | None:
    """A value next to a secret-like word with >= 4 bits per character and at least
    two of letters/digits/symbols: a generated credential rather than a word."""
    text = candidate.decode("ascii", "replace")
    found = _ENTROPY_VALUE.search(text)
    if found is None:
        return None
    value = found.group()
    kinds = sum(
        (
            any(c.isalpha() for c in value),
            any(c.isdigit() for c in value),
            any(not c.isalnum() for c in value),
        )
    )
    if kinds < 2 or shannon_entropy(value) < ENTROPY_BITS_PER_CHAR:
        return None
    return found.span()
