"""Which parts of an OTLP request could the engine change at all? Answered at C speed.

Walking every attribute of a 512-span request in Python costs more than parsing it
(about 1 µs per attribute), so the sidecar cannot afford to visit values that will
not change. This module decides, per span (and per resource/scope), whether a visit is
needed, from the span's serialized bytes:

- one RE2 scan over the serialized spans with every detector *relaxed*: context
  assertions (`\\b`) removed, validators skipped. An assertion only ever forbids a
  match, so the relaxed pattern matches wherever the real one does, even when
  protobuf framing bytes sit next to the value. Any hit -> visit the span.
- the same scan looks for block/drop key globs (as unanchored regexes) and, when there
  are any, key/value-list values (their nested keys are matched dotted) and string values
  that open a JSON document (rules reach its members by key + JSON path), secret-looking
  key names, JSON `\\u` escapes (which can hide text from a raw scan) and arrays long
  enough to exceed `max_list_items` (an array field with a multi-byte length).
- a span whose serialized size is at most the smallest length limit cannot hold a
  value longer than that limit.

A visited span is processed exactly as without the prefilter; a span that is not
visited provably has nothing to change. When a rule cannot be relaxed safely (a custom
pattern with anchors or `\\B`, a tiny `max_list_items`), every span is visited.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import re2

from spanguard.processors.detectors import SECRET_NAME
from spanguard.processors.numbers import NUMBER_DETECTORS
from spanguard.processors.redaction import Redactor
from spanguard.processors.truncation import Truncator

# What RE2's (?i) matches for `s` and `k` in UTF-8 mode and not in Latin-1: the long s
# (U+017F) and the Kelvin sign (U+212A). Only the flag part below finds them, so a hit
# near them says where a span needs a visit, not where a candidate starts.
FOLDED_LETTERS = ("\u017f".encode(), "\u212a".encode())
_FOLDED = "|".join("".join(f"\\x{byte:02X}" for byte in letter) for letter in FOLDED_LETTERS)
# RE2 context assertions; `\b` is the only one the built-in patterns use
_ASSERTIONS = re.compile(r"\\[bBAz]|\^|\$")
_WORD_BOUNDARY = re.compile(r"(?<!\\)\\b")
# An array with more than N elements takes at least 2(N+1) bytes (tag and length per
# element). AnyValue.array_value is field 5 (tag 0x2A) and ArrayValue's only field is
# tag 0x0A, so a long array reads: 0x2A, a varint >= 2(N+1), 0x0A. Requiring the 0x0A
# keeps random id bytes from looking like arrays.
_ARRAY_AT_LEAST_128 = r"\x2A[\x80-\xFF][\x01-\x7F]\x0A|\x2A[\x80-\xFF]{2,4}[\x00-\x7F]\x0A"
_ARRAY_AT_LEAST_512 = r"\x2A[\x80-\xFF][\x04-\x7F]\x0A|\x2A[\x80-\xFF]{2,4}[\x00-\x7F]\x0A"
_MIN_LIST_ITEMS_FOR_PREFILTER = 63
# A key/value list value: KeyValue.value (tag 0x12), its length, then AnyValue.kvlist_value
# (tag 0x32). Nested keys reach key rules dotted (`http.request.header.cookie`), a form
# that never occurs in the bytes, so with any key glob every such value is visited.
_KVLIST_VALUE = r"\x12[\x80-\xFF]{0,4}[\x00-\x7F]\x32"
# An integer value of at least 6 varint bytes (>= 2^35, so every 13-digit number and every
# negative one): AnyValue.int_value (tag 0x18). Its digits are not in the bytes, so the
# number detectors (`numbers.py`) need the attribute visited.
_BIG_INT_VALUE = r"\x18[\x80-\xFF]{5,9}[\x00-\x7F]"
# A string value that opens a JSON document: AnyValue.string_value (tag 0x0A), its
# length, optional whitespace, then `{` or `[`. Key rules reach JSON members by the
# attribute key plus the JSON path (`input.value.messages.0.content`), which is not in
# the bytes either, so with any key glob every JSON-looking value is visited.
_JSON_STRING_VALUE = r"\x0A[\x80-\xFF]{0,4}[\x00-\x7F][ \t\r\n]*[{\[]"


def _relaxable(pattern: str) -> bool:
    """Can this pattern run over Latin-1 framed bytes and still match everything it
    matches in UTF-8 text? Only ASCII patterns without assertions or Unicode classes."""
    if not pattern.isascii() or any(token in pattern for token in ("\\p", "\\P", "\\x{", "\\C")):
        return False
    return _ASSERTIONS.search(pattern.replace("[^", "[")) is None


def glob_to_re2(glob: str) -> str:
    """An unanchored RE2 regex matching wherever the glob could match a key."""
    out = []
    index = 0
    while index < len(glob):
        char = glob[index]
        if char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        elif char == "[" and "]" in glob[index + 2 :]:
            end = glob.index("]", index + 2)
            body = glob[index + 1 : end]
            if body.startswith("!"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            index = end
        else:
            out.append(re2.escape(char))
        index += 1
    return "".join(out)


_POSIX_CLASS = re.compile(r"\[:\^?[a-z]+:\]")


def _class_end(pattern: str, index: int) -> int:
    """Where the character class opening at pattern[index] ("[") ends (after its "]").
    A "]" right after "[" or "[^" is a member; so is a POSIX class such as [:alpha:]."""
    end = index + 1
    if pattern.startswith("^", end):
        end += 1
    if pattern.startswith("]", end):
        end += 1
    while end < len(pattern):
        char = pattern[end]
        if char == "\\":
            end += 2
        elif char == "[" and (posix := _POSIX_CLASS.match(pattern, end)) is not None:
            end = posix.end()
        elif char == "]":
            return end + 1
        else:
            end += 1
    return end  # unterminated: RE2 refuses it anyway


_ESCAPE, _CLASS, _CAPTURE, _OTHER = range(4)


def _tokens(pattern: str) -> Iterator[tuple[int, str]]:
    """`pattern` in the pieces the rewrites below care about: escapes, whole character
    classes, capturing group openers (`(` and `(?P<name>`), and every other character."""
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            yield _ESCAPE, pattern[index : index + 2]
            index += 2
        elif char == "[":
            end = _class_end(pattern, index)
            yield _CLASS, pattern[index:end]
            index = end
        elif char == "(" and pattern.startswith("(?P<", index):
            end = pattern.index(">", index) + 1
            yield _CAPTURE, pattern[index:end]
            index = end
        elif char == "(" and not pattern.startswith("(?", index):
            yield _CAPTURE, char
            index += 1
        else:
            yield _OTHER, char
            index += 1


def without_captures(pattern: str) -> str:
    """`pattern` with every capturing group made non-capturing. The prefilter wants only
    where a match is; with groups RE2 runs a second, slower engine over each match to
    find them (~6% of the scan on the reference request)."""
    return "".join("(?:" if kind == _CAPTURE else text for kind, text in _tokens(pattern))


# Digits, lower- and upper-case letters: the blocks `broadened` widens a class to.
_BLOCKS = (("0", "9"), ("a", "z"), ("A", "Z"))


def broadened(pattern: str) -> str:
    """`pattern` with every plain character class widened to the whole blocks of digits,
    lower- and upper-case letters it touches: `[0-9a-f]` -> `[0-9a-z]`, `[A-HJ-NP-Z]` ->
    `[A-Z]`. Why: a hundred formats each with its own letter set (hex, base58, bech32,
    check letters) split the alphabet into many byte classes, and RE2's DFA then keeps
    more states for the same text; widened, the 512-span reference request scans a few
    per cent faster, with the same hits. Safe for the prefilter: a class that is not
    negated only gains members, so every match of `pattern` is a match of the result.
    Negated classes, classes with escapes like `\\s` or `\\x41` and POSIX classes stay
    as they are."""
    return "".join(_broadened_class(text) if kind == _CLASS else text for kind, text in _tokens(pattern))


def _broadened_class(text: str) -> str:
    body = text[1:-1]
    if not text.endswith("]") or body.startswith("^") or not body:
        return text
    members: list[tuple[str, bool]] = []  # (character, written as an escape)
    index = 0
    while index < len(body):
        char = body[index]
        if char == "\\":
            escaped = body[index + 1 : index + 2]
            if not escaped or escaped.isalnum():
                return text  # \\s, \\d, \\x41, \\t...: keep the class as written
            members.append((escaped, True))
            index += 2
        elif char == "[":
            return text  # a POSIX class
        else:
            members.append((char, False))
            index += 1
    chars: set[str] = set()
    index = 0
    while index < len(members):
        char = members[index][0]
        if index + 2 < len(members) and members[index + 1] == ("-", False):
            chars.update(chr(code) for code in range(ord(char), ord(members[index + 2][0]) + 1))
            index += 3
        else:
            chars.add(char)
            index += 1
    if any(ord(char) > 0x7F for char in chars):
        return text
    parts: list[str] = []
    for first, last in _BLOCKS:
        block = {chr(code) for code in range(ord(first), ord(last) + 1)}
        if chars & block:
            parts.append(f"{first}-{last}")
            chars -= block
    parts.extend(char if char.isalnum() else "\\" + char for char in sorted(chars))
    return "[" + "".join(parts) + "]"


class Prefilter:
    """One RE2 program answering "could anything in these bytes change?"."""

    def __init__(self, redactor: Redactor | None, truncator: Truncator | None) -> None:
        self.exhaustive = False  # True: the prefilter cannot be trusted; visit everything
        parts: list[str] = []
        if redactor is not None and redactor.config.enabled and not redactor.config.allow_all_keys:
            self.exhaustive = True  # allow-list mode: any attribute may go, visit everything
        if redactor is not None and redactor.config.enabled:
            for detector in redactor.detectors:
                relaxed = _WORD_BOUNDARY.sub("", detector.pattern)
                if not _relaxable(relaxed):
                    self.exhaustive = True
                parts.append(broadened(without_captures(relaxed)))
            # (?i) in UTF-8 mode folds s/k onto U+017F and U+212A; Latin-1 does not: flag them
            # where they touch a letter (every (?i) word in the patterns has other letters)
            parts.append(f"[A-Za-z](?:{_FOLDED})|(?:{_FOLDED})[A-Za-z]")
            if any(d.name in NUMBER_DETECTORS for d in redactor.detectors):
                parts.append(_BIG_INT_VALUE)
            if any(d.name == "password" for d in redactor.detectors):
                parts.append(f"(?i:{SECRET_NAME})")
            parts.extend(glob_to_re2(g) for g in (*redactor.block_globs, *redactor.drop_globs))
            if redactor.block_globs or redactor.drop_globs:
                parts.append(_KVLIST_VALUE)
                if redactor.config.json_values:
                    parts.append(_JSON_STRING_VALUE)
            if redactor.config.json_values:
                parts.append(r"\\u")
        self.min_limit: int | None = None
        array_part = ""
        if truncator is not None and truncator.config.enabled:
            config = truncator.config
            parts.extend(glob_to_re2(g) for g in config.drop_keys)
            if config.drop_keys:
                parts.append(_KVLIST_VALUE)
            if config.max_list_items < _MIN_LIST_ITEMS_FOR_PREFILTER:
                self.exhaustive = True
            array_part = _ARRAY_AT_LEAST_512 if config.max_list_items >= 255 else _ARRAY_AT_LEAST_128
            self.min_limit = min([config.max_length, *config.max_length_by_key.values()])
        self._regex: Any = None
        if parts and not self.exhaustive:
            # Latin-1: framing bytes are not UTF-8, and `.` must step over any byte
            options = re2.Options()
            options.log_errors = False
            options.max_mem = 64 << 20
            options.encoding = re2.Options.Encoding.LATIN1
            try:
                self._regex = re2.compile(
                    "|".join(f"(?:{p})" for p in [*parts, array_part] if p).encode("utf-8"), options
                )
            except re2.error:
                self.exhaustive = True

    def locate(self, segments: list[bytes]) -> list[list[tuple[int, int]] | None]:
        """For each serialized unit: None when nothing in it can change, else where the hits
        are ([start, end) offsets into the unit; an oversized unit also gets OVERSIZED).

        Scanning goes on after a unit's first hit, so the caller can visit
        only the attributes the hits touch. Why that is exact: scanning resumes at each
        hit's end, and RE2 returns the leftmost match, so any match lying wholly inside a
        stretch no reported hit overlaps would have been reported. A value's bytes lie
        wholly inside its field, so a field no hit overlaps holds nothing to change."""
        starts: list[int] = []
        ends: list[int] = []
        position = 0
        for segment in segments:
            starts.append(position)
            position += len(segment)
            ends.append(position)
        return self.locate_in(b"".join(segments), starts, ends)

    def locate_in(
        self, buffer: bytes | memoryview, starts: list[int], ends: list[int]
    ) -> list[list[tuple[int, int]] | None]:
        """`locate` for units that already lie in one buffer, at [starts[i], ends[i]) in
        ascending order (a request as it arrived). Bytes between units (the framing
        around them) are scanned too; a hit there alone touches no unit."""
        regex = self._regex
        count = len(starts)
        if self.exhaustive:
            return [[(0, ends[i] - starts[i])] for i in range(count)]
        located: list[list[tuple[int, int]] | None] = [None] * count
        if self.min_limit is not None:
            limit = self.min_limit
            for index in range(count):
                if ends[index] - starts[index] > limit:
                    located[index] = [OVERSIZED]
        if regex is None or not count:
            return located
        match = regex._regexp.Match
        unanchored = re2._Anchor.UNANCHORED
        pos = starts[0]
        size = ends[-1]
        index = 0
        while pos < size:
            m_start, m_end = match(unanchored, buffer, pos, size)[0]
            if m_start < 0 or m_start >= size:
                break
            if m_end <= m_start:  # an empty match: count the byte it sits on
                m_end = m_start + 1
            while index < count and ends[index] <= m_start:
                index += 1
            unit = index
            while unit < count and starts[unit] < m_end:  # a hit across units: each gets its part
                base = starts[unit]
                if ends[unit] > base:  # an empty unit holds nothing
                    hits = located[unit]
                    if hits is None:
                        hits = located[unit] = []
                    hits.append((max(m_start, base) - base, min(m_end, ends[unit]) - base))
                unit += 1
            pos = m_end
        return located


OVERSIZED = (-1, -1)  # in `Prefilter.locate`: the unit is longer than the smallest length limit


def prefilter_for(redactor: Redactor | None, truncator: Truncator | None) -> Prefilter:
    """Built once per (redactor, truncator) pair and kept on the redactor/truncator."""
    holder: Any = redactor if redactor is not None else truncator
    if holder is None:
        return Prefilter(None, None)
    cache: dict[int, Prefilter] = holder.__dict__.setdefault("_otlp_prefilters", {})
    other = truncator if holder is redactor else None
    key = id(other)
    if key not in cache:
        cache[key] = Prefilter(redactor, truncator)
    return cache[key]
