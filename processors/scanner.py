"""One RE2 alternation over one UTF-8 buffer: the fast path of redaction.

Measured here (docs/redaction.md, Performance): calling RE2 once per attribute is dominated by per-call
overhead, so the detectors are compiled into a single alternation over bytes, the
caller joins every value of a batch into one buffer, and `Scanner.scan` walks it once.
Each top-level alternative is a named group `_d<i>`; a detector's `secret` groups are
renamed `_s<i>_...` so the scanner knows which part of a match to mask.

The scan loop calls the compiled program's `Match` directly: the public `finditer`
builds a Python match object per hit and, for `str`, re-maps offsets; on bytes we need
neither.

Validators can reject a candidate (an order number failing Luhn). Because the
alternation is leftmost-first, a rejected candidate may hide another detector's match
that starts inside it (a phone number inside a digit run), so the rejected span is
rescanned with the other detectors.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import re2

from spanguard.errors import ConfigError
from spanguard.processors.detectors import Detector

_UNANCHORED: Any = re2._Anchor.UNANCHORED
# How far past a rejected candidate a match that starts inside it may run (an e-mail or
# a token is far shorter); it bounds what one rescan reads.
_OVERHANG = 1024
# user named groups are renamed so two custom patterns may both use `(?P<x>...)`
_NAMED_GROUP = re.compile(r"\(\?P?<([A-Za-z_][A-Za-z0-9_]*)>")


def re2_options() -> Any:
    """UTF-8, and no logging: RE2 would print the offending pattern to stderr."""
    options = re2.Options()
    options.log_errors = False
    options.max_mem = 64 << 20  # room for the DFA of a dozen alternatives over MBs of text
    return options


def compile_pattern(pattern: str, name: str) -> Any:
    """Compile one pattern or raise a ConfigError that names it (never echoing the text,
    which may itself be a secret someone wants redacted)."""
    try:
        return re2.compile(pattern.encode("utf-8"), re2_options())
    except re2.error:
        raise ConfigError(
            f"pattern {name!r} is not valid RE2 syntax (RE2 has no look-around or back-references)",
            key="redaction.custom_patterns",
        ) from None


@dataclass(frozen=True, slots=True)
class Finding:
    """A sensitive span of the buffer: [start, end) in bytes, and who found it."""

    start: int
    end: int
    detector: int


def _group_renamer(index: int) -> Callable[[re.Match[str]], str]:
    """`secret*` groups become `_s<i>_secret*` (the part to mask), others `_u<i>_name`."""

    def rename(match: re.Match[str]) -> str:
        name = match.group(1)
        return f"(?P<_s{index}_{name}>" if name.startswith("secret") else f"(?P<_u{index}_{name}>"

    return rename


class _Combined:
    """The alternation of a subset of detectors, with group bookkeeping."""

    def __init__(self, detectors: Sequence[Detector], indexes: Sequence[int]) -> None:
        parts = []
        for index in indexes:
            pattern = _NAMED_GROUP.sub(_group_renamer(index), detectors[index].pattern)
            parts.append(f"(?P<_d{index}>{pattern})")
        self.regex = compile_pattern("|".join(parts), "combined detectors")
        groups = {
            (name.decode() if isinstance(name, bytes) else name): group
            for name, group in self.regex.groupindex.items()
        }
        # (detector index, its top-level group, its secret groups)
        self.layout: list[tuple[int, int, tuple[int, ...]]] = [
            (
                index,
                groups[f"_d{index}"],
                tuple(g for n, g in sorted(groups.items()) if n.startswith(f"_s{index}_")),
            )
            for index in indexes
        ]
        self.match = self.regex._regexp.Match
        # Which detector matched: its top-level group is the only one that took part,
        # and spans the whole match, so one C-level `index` over the top-level groups'
        # spans finds it (a Python loop over twenty detectors cost more than the rest).
        tops = [group for _, group, _ in self.layout]
        getter = itemgetter(*tops)
        self.top_spans: Callable[[Any], tuple[Any, ...]] = (
            getter if len(tops) > 1 else (lambda spans: (getter(spans),))
        )


class Scanner:
    """Finds every detector's matches in a bytes buffer in one pass."""

    def __init__(self, detectors: Sequence[Detector]) -> None:
        self.detectors = list(detectors)
        for detector in self.detectors:
            compile_pattern(detector.pattern, detector.name)  # names the bad one
        self._all = _Combined(self.detectors, range(len(self.detectors))) if self.detectors else None
        self._without: dict[frozenset[int], _Combined | None] = {}

    @property
    def empty(self) -> bool:
        return self._all is None

    def scan(
        self, buffer: bytes, start: int = 0, end: int | None = None, *, starts_before: int | None = None
    ) -> list[Finding]:
        """Findings in buffer[start:end], sorted by start, non-overlapping; with
        `starts_before`, only those that start before it (the search stops there).

        Validators are user-visible code paths (custom ones too): their exceptions
        propagate, and the caller fails closed on the values concerned.
        """
        if self._all is None:
            return []
        findings: list[Finding] = []
        stop = len(buffer) if end is None else end
        limit = stop + 1 if starts_before is None else starts_before
        self._scan_with(self._all, frozenset(), buffer, start, stop, findings, limit)
        return findings  # in order: a rescan only keeps matches that start inside its span

    def _others(self, excluded: frozenset[int]) -> _Combined | None:
        if excluded not in self._without:
            rest = [i for i in range(len(self.detectors)) if i not in excluded]
            self._without[excluded] = _Combined(self.detectors, rest) if rest else None
        return self._without[excluded]

    def _rescan_others(
        self,
        index: int,
        excluded: frozenset[int],
        buffer: bytes,
        start: int,
        end: int,
        endpos: int,
        out: list[Finding],
        starts_before: int | None = None,
    ) -> None:
        """The other detectors' matches that START in buffer[start:starts_before] (default
        `end`) inside buffer[start:end], a span detector `index` claimed and gave up. A
        match may run on past `end` (an e-mail whose first characters a greedy digit
        candidate swallowed): it is read up to `_OVERHANG` bytes further, so a rescan
        never reads the rest of the buffer."""
        others = self._others(excluded | {index})
        if others is not None:
            read_to = min(endpos, end + _OVERHANG)
            limit = end if starts_before is None else starts_before
            self._scan_with(others, excluded | {index}, buffer, start, read_to, out, limit)

    def _scan_with(
        self,
        combined: _Combined,
        excluded: frozenset[int],
        buffer: bytes,
        pos: int,
        endpos: int,
        out: list[Finding],
        starts_before: int,
    ) -> None:
        match = combined.match
        layout = combined.layout
        top_spans = combined.top_spans
        detectors = self.detectors
        while pos <= endpos and pos < starts_before:
            spans = match(_UNANCHORED, buffer, pos, endpos)
            m_start, m_end = spans[0]
            if m_start < 0 or m_start >= starts_before:
                return
            pos = m_end if m_end > m_start else m_end + 1
            if m_end == m_start:
                continue
            index, _, secret_groups = layout[top_spans(spans).index(spans[0])]
            validator = detectors[index].validator
            if validator is not None:
                accepted = validator(buffer[m_start:m_end])
                if accepted is None:
                    # A greedy candidate may have swallowed the start of a real match, its
                    # own detector's too, that runs on past its end. The scan goes on from
                    # where the detector's `resume` says ("ref 123456789 4111 1111 1111
                    # 1111"), or else from the next byte (`paſſword=x` read on into the
                    # next value, `password=hunter22`, and was refused whole). Only the
                    # other detectors' matches that start before that point are looked
                    # for here: the scan finds the rest, and jumping past a later one
                    # (an e-mail two values on) would skip whatever lies before it.
                    resume = detectors[index].resume
                    restart = m_start + 1 if resume is None else m_start + resume(buffer[m_start:m_end])
                    restart = max(restart, m_start + 1)
                    found = len(out)
                    self._rescan_others(index, excluded, buffer, m_start, m_end, endpos, out, restart)
                    pos = max(restart, out[-1].end if len(out) > found else 0)
                    continue
                a_start, a_end = m_start + accepted[0], m_start + accepted[1]
                if a_start > m_start:  # text the candidate swallowed before the accepted part
                    # (no overhang here: the accepted part follows)
                    self._rescan_others(index, excluded, buffer, m_start, a_start, a_start, out)
                pos = max(a_end, m_start + 1)  # the rest may begin another match
                m_start, m_end = a_start, a_end
            for group in secret_groups:
                s_start, s_end = spans[group]
                if s_start >= 0:
                    m_start, m_end = s_start, s_end
                    break
            if m_end > m_start:
                out.append(Finding(m_start, m_end, index))
