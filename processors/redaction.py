"""The redaction engine: plain values in, masked values out, in few large RE2 scans.

`Redactor.redact(keys, values)` takes every value of a batch (one span, or one whole
OTLP request) and returns one `Change` or `None` (untouched) per value. All string
values of the batch are joined into one UTF-8 buffer and scanned once (see
`scanner.py`); findings are mapped back to their values by offset.

Rules, in order, on the flattened key: `allow_keys` (never touched), `drop_keys`
(removed), `block_keys` (masked whole), a key named like a secret (`db.password`,
masked whole when the `password` detector is on), else the value is scanned.

The jobs around that core live in their own modules: `tokens.py` (marker or keyed
pseudonym), `json_values.py` (JSON documents redacted leaf by leaf), `summary.py` (the
summary attributes); this module keeps the orchestration and re-exports what the
adapters import.

Fail closed: if anything raises while a value is being redacted, that value becomes
`[REDACTED:error]` and the rest of the batch carries on. Matched text is never logged,
printed or put in an exception; markers carry only the detector's name.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping, Sequence
from typing import Any

from spanguard.config.model import RedactionConfig
from spanguard.processors.changes import (
    BLOCKED,
    DROPPED,
    DROPPED_ACTION,
    ERROR_MARKER,
    FAILED,
    MASKED,
    TOKEN,
    Change,
    TextResult,
)
from spanguard.processors.detectors import SECRET_KEY_NAME, Detector, detectors_for
from spanguard.processors.hide import hide_globs
from spanguard.processors.json_values import JsonValues, NotJson, looks_like_json
from spanguard.processors.key_rules import ALLOW, BLOCK, DROP, HIDE, SCAN, SECRET_NAME, SQL, GlobSet, KeyCache
from spanguard.processors.numbers import NumberCheck, big
from spanguard.processors.scanner import Scanner, compile_pattern
from spanguard.processors.sql import sanitize_sql
from spanguard.processors.summary import finding_counts, summary_attributes
from spanguard.processors.tokens import Tokens
from spanguard.processors.values import all_strings

SEPARATOR = "\x00"

# key verdicts
_SCAN, _ALLOW, _DROP, _BLOCK, _SECRET_NAME = SCAN, ALLOW, DROP, BLOCK, SECRET_NAME


# Values inside an array that need a recursive visit rather than the flat scan.
_NESTED = (list, tuple, Mapping)


class Redactor:
    """Masks sensitive text in plain attribute values, many values per RE2 scan."""

    def __init__(
        self, config: RedactionConfig | None = None, *, extra_detectors: Sequence[Detector] = ()
    ) -> None:
        self.config = config or RedactionConfig()
        detectors = detectors_for(self.config)
        for custom in self.config.custom_patterns:
            compile_pattern(custom.pattern, custom.name)
            detectors.append(Detector(custom.name, custom.pattern))
        detectors.extend(extra_detectors)
        self.detectors = detectors
        self._names = [d.name for d in detectors]
        self._scanner = Scanner(detectors)
        self._numbers = NumberCheck(detectors)
        self._allowed = [
            compile_pattern(p, f"allowed_values[{i}]") for i, p in enumerate(self.config.allowed_values)
        ]
        self._secret_names = any(d.name == "password" for d in detectors)
        self._allow = GlobSet(self.config.allow_keys)
        self._drop = GlobSet(self.config.drop_keys)
        self._block = GlobSet(self.config.block_keys)
        self._sql = GlobSet(self.config.sql_keys)
        hide_drop, hide_mask = hide_globs(self.config.hidden)
        self._hide_drop = GlobSet(hide_drop)
        self._hide = GlobSet(hide_mask)
        # every glob that removes or changes a value whatever it holds, for the OTLP prefilter
        self.drop_globs = (*self.config.drop_keys, *hide_drop)
        self.block_globs = (*self.config.block_keys, *hide_mask, *self.config.sql_keys)
        # allow-list mode: keys outside `allowed_keys` go (attribute keys; JSON paths and
        # their own rules are decided without it, by `_path_verdict`)
        self._listed = None if self.config.allow_all_keys else GlobSet(self.config.allowed_keys)
        self._verdict = KeyCache(self._decide)
        self._identity = GlobSet(self.config.identity_keys)
        self._is_identity = KeyCache(self._identity.matches)
        self._path_verdict = self._verdict if self._listed is None else KeyCache(self._decide_path)
        # attribute keys whose JSON values key rules may reach inside (`input.value.*.email`)
        self._json_rules = KeyCache(self._rules_below)
        self._scan_only_keys: dict[tuple[str | None, ...], bool] = {}
        self.tokens = Tokens(self.config)
        self.token = self.tokens.token
        self._json = JsonValues(
            self.tokens,
            lambda texts, protect: self._redact_texts(texts, json_aware=False, protect=protect),
            self._allowed_value,
            self._secret_names,
            self._path_verdict,
            self._numbers,
        )

    @property
    def checks_numbers(self) -> bool:
        """Are integers checked (a number detector such as `credit_card` is on)?"""
        return bool(self._numbers)

    @property
    def hash_key_missing(self) -> bool:
        """replacement is hash but no key was set when the config loaded (markers are written)."""
        return self.tokens.key_missing

    @property
    def hash_fallbacks(self) -> int:
        """Tokens written as markers because the hash key was missing."""
        return self.tokens.fallbacks

    # ------------------------------------------------------------------ keys

    def _decide(self, key: str) -> int:
        verdict = self._decide_path(key)
        if self._listed is not None and verdict not in (_ALLOW, _DROP) and not self._listed.matches(key):
            return _DROP  # fail closed: not on the allow-list
        return verdict

    def _decide_path(self, key: str) -> int:
        # hide presets first: a privacy setting, not to be undone by allow_keys
        if self._hide_drop.matches(key):
            return _DROP
        if self._hide.matches(key):
            return HIDE
        if self._allow.matches(key):
            return _ALLOW
        if self._drop.matches(key):
            return _DROP
        if self._block.matches(key):
            return _BLOCK
        if self._sql.matches(key):
            return SQL
        if self._secret_names and SECRET_KEY_NAME.fullmatch(key.rsplit(".", 1)[-1]):
            return _SECRET_NAME
        return _SCAN

    def _rules_below(self, key: str) -> bool:
        return self.config.json_values and any(
            rules.may_match_below(key)
            for rules in (self._allow, self._drop, self._block, self._sql, self._hide_drop, self._hide)
        )

    # ---------------------------------------------------------------- values

    def _allowed_value(self, secret: str) -> bool:
        if not self._allowed:
            return False
        data = secret.encode("utf-8", "surrogatepass")
        return any(regex.fullmatch(data) is not None for regex in self._allowed)

    # ------------------------------------------------------------ public API

    def redact(
        self,
        keys: Sequence[str | None],
        values: Sequence[Any],
        scan_windows: Mapping[int, tuple[int, int]] | None = None,
    ) -> list[Change | None]:
        """One Change (or None: untouched) per value. A key of None skips key rules
        (span names, status descriptions). Never raises for a value's sake.

        `scan_windows[i] = (first, stop)`: every detector candidate in string value i,
        scanned alone, starts in its UTF-8 bytes [first, stop) (the sidecar's prefilter
        proved it), so the scan reads from `first` and stops looking at `stop`."""
        results = self._redact(keys, values, scan_windows)
        if self._identity and any(results):
            self._pseudonymize(keys, values, results)
        return results

    def _pseudonymize(
        self, keys: Sequence[str | None], values: Sequence[Any], results: list[Change | None]
    ) -> None:
        """An identity key whose value a detector matched: the whole value becomes its
        keyed pseudonym, so grouping by user or session survives."""
        for index, change in enumerate(results):
            key = keys[index]
            if change is None or change.action != MASKED or key is None or not change.detectors:
                continue
            value = values[index]
            if isinstance(value, str) and self._is_identity(key):
                change.value = self.tokens.identity(change.detectors[0], value)

    def _redact(
        self,
        keys: Sequence[str | None],
        values: Sequence[Any],
        scan_windows: Mapping[int, tuple[int, int]] | None = None,
    ) -> list[Change | None]:
        results: list[Change | None] = [None] * len(values)
        if not self.config.enabled:
            return results
        if self._scan_only(keys, values):
            # every key is scanned and every value is a string (most spans): no per-value work
            texts_only = values if isinstance(values, list) else list(values)
            outcomes = self._redact_texts(
                texts_only, json_aware=self.config.json_values, windows=scan_windows
            )
            if any(outcomes):
                self._apply(values, list(range(len(values))), {}, outcomes, results)
            return results
        texts: list[str] = []
        owners: list[int] = []  # value index per text; see `special` for the rest
        special: dict[int, tuple[int, int, bool]] = {}  # text index -> (value, element, was bytes)
        json_paths: dict[int, str] = {}  # text index -> its key, for JSON values rules reach into
        text_windows: dict[int, tuple[int, int]] = {}  # text index -> its value's scan window
        sql_done: dict[int, tuple[str, int]] = {}  # value index -> (sanitized SQL, literals)
        rules_below = self._json_rules
        add_text = texts.append
        add_owner = owners.append
        cached = self._verdict.cached
        for index, key in enumerate(keys):
            value = values[index]
            verdict = _SCAN if key is None else cached(key, -1)
            if verdict < 0:
                verdict = self._verdict(key)  # type: ignore[arg-type]
            if verdict == _SCAN:
                if value.__class__ is str:  # the common case, kept tight
                    if key is not None and rules_below(key):
                        json_paths[len(texts)] = key
                    if scan_windows and index in scan_windows:
                        text_windows[len(texts)] = scan_windows[index]
                    add_text(value)
                    add_owner(index)
                else:
                    self._collect(index, value, key, texts, owners, special, results)
            elif verdict == _ALLOW:
                continue
            elif verdict == SQL and value.__class__ is str:
                sanitized, count = sanitize_sql(value)
                if count:
                    sql_done[index] = (sanitized, count)
                add_text(sanitized)
                add_owner(index)
            elif verdict == _DROP:
                results[index] = Change(DROPPED, DROPPED_ACTION)
            elif isinstance(value, (bool, int, float)) or value is None:
                continue  # numbers stay: a blocked key masks text, not counters
            else:
                name = "password" if verdict == _SECRET_NAME else "hidden" if verdict == HIDE else "blocked"
                results[index] = self._mask_whole(value, name)
        if not texts:
            return results
        outcomes = self._redact_texts(
            texts, json_aware=self.config.json_values, json_paths=json_paths, windows=text_windows
        )
        if any(outcomes):
            self._apply(values, owners, special, outcomes, results)
        for index, (sanitized, count) in sql_done.items():
            change = results[index]
            found = ("sql_literal",) * count
            if change is None:
                results[index] = Change(sanitized, MASKED, found)
            else:
                change.detectors = found + change.detectors
        return results

    def _scan_only(self, keys: Sequence[str | None], values: Sequence[Any]) -> bool:
        """Are all these keys plain "scan" keys and all values strings? Remembered per key set."""
        signature = tuple(keys)
        verdict = self._scan_only_keys.get(signature)
        if verdict is None:
            verdict = all(
                key is None or (self._verdict(key) == _SCAN and not self._json_rules(key))
                for key in signature
            )
            if len(self._scan_only_keys) >= 4096:
                self._scan_only_keys.clear()
            self._scan_only_keys[signature] = verdict
        return verdict and all_strings(values)

    def drops(self, key: str) -> bool:
        """Would `key` be removed? Lets adapters skip materialising such values."""
        return self.config.enabled and self._verdict(key) == _DROP

    def redact_value(self, key: str | None, value: Any) -> Change | None:
        return self.redact([key], [value])[0]

    def redact_text(self, text: str) -> str:
        """Redact one free-standing string (no key rules)."""
        change = self.redact([None], [text])[0]
        return text if change is None else str(change.value)

    # -------------------------------------------------------------- internals

    def _mask_whole(self, value: Any, name: str) -> Change:
        try:
            return Change(self._masked(value, name), BLOCKED, (name,))
        except Exception:
            return Change(ERROR_MARKER, FAILED)

    def _masked(self, value: Any, name: str) -> Any:
        """Every text inside `value` replaced by its token, nested arrays and maps too:
        a blocked key must not leak through the depth of its value."""
        if isinstance(value, (str, bytes)):
            return self.tokens.whole(name, value)
        if isinstance(value, (list, tuple)):
            return tuple(self._masked(v, name) for v in value)
        if isinstance(value, Mapping):
            return {k: self._masked(v, name) for k, v in value.items()}
        return value

    def _collect(
        self,
        index: int,
        value: Any,
        key: str | None,
        texts: list[str],
        owners: list[int],
        special: dict[int, tuple[int, int, bool]],
        results: list[Change | None],
    ) -> None:
        if isinstance(value, str):
            texts.append(value)
            owners.append(index)
        elif isinstance(value, bytes):
            special[len(texts)] = (index, -1, True)
            texts.append(value.decode("utf-8", "surrogateescape"))
            owners.append(index)
        elif big(value):
            results[index] = self._redact_numbers((value,), whole=True)
        elif isinstance(value, (list, tuple)):
            if any(isinstance(element, _NESTED) for element in value):
                results[index] = self._redact_nested_sequence(key, value)
                return
            if self._numbers and any(big(element) for element in value):
                if all(element.__class__ is int for element in value):
                    results[index] = self._redact_numbers(value, whole=False)
                else:  # mixed (OTLP): element by element
                    results[index] = self._redact_nested_sequence(key, value)
                return
            for element_index, element in enumerate(value):
                if isinstance(element, str):
                    special[len(texts)] = (index, element_index, False)
                    texts.append(element)
                    owners.append(index)
                elif isinstance(element, bytes):
                    special[len(texts)] = (index, element_index, True)
                    texts.append(element.decode("utf-8", "surrogateescape"))
                    owners.append(index)
        elif isinstance(value, Mapping):
            results[index] = self._redact_mapping(key, value)

    def _redact_numbers(self, value: Sequence[Any], *, whole: bool) -> Change | None:
        """An integer (`whole`) or an array of them checked by the number detectors; a
        match becomes its marker, and then every element of the array a string."""
        if not self._numbers:
            return None
        try:
            names: list[str] = []
            out: list[Any] = []
            for element in value:
                name = self._numbers.detector(element) if big(element) else None
                if name is None:
                    out.append(element)
                else:
                    names.append(name)
                    out.append(self.tokens.token(name, str(element)))
            if not names:
                return None
            if whole:
                return Change(out[0], MASKED, tuple(names))
            return Change(tuple(str(e) if not isinstance(e, str) else e for e in out), MASKED, tuple(names))
        except Exception:
            return Change(ERROR_MARKER, FAILED)

    def _redact_nested_sequence(self, key: str | None, value: Sequence[Any]) -> Change | None:
        """Arrays holding arrays or maps (OTLP AnyValue, SDK extended attributes): each
        element is redacted as a value of the same key, so rules and detectors reach every
        depth; the flat fast path stays for the usual arrays of strings."""
        try:
            elements = list(value)
            changes = self.redact([key] * len(elements), elements)
            if not any(changes):
                return None
            rebuilt: list[Any] = []
            detectors: list[str] = []
            for element, change in zip(elements, changes, strict=True):
                if change is None:
                    rebuilt.append(element)
                elif change.value is not DROPPED:
                    rebuilt.append(change.value)
                    detectors.extend(change.detectors)
            failed = any(c is not None and c.action == FAILED for c in changes)
            return Change(tuple(rebuilt), FAILED if failed else MASKED, tuple(detectors))
        except Exception:
            return Change(ERROR_MARKER, FAILED)

    def _redact_mapping(self, key: str | None, value: Mapping[str, Any]) -> Change | None:
        """Extended (nested) attribute values: rules apply to the flattened keys."""
        try:
            inner_keys = list(value)
            prefix = "" if key is None else key + "."
            changes = self.redact([prefix + str(k) for k in inner_keys], [value[k] for k in inner_keys])
            if not any(changes):
                return None
            rebuilt: dict[str, Any] = {}
            detectors: list[str] = []
            for inner, change in zip(inner_keys, changes, strict=True):
                if change is None:
                    rebuilt[inner] = value[inner]
                elif change.value is not DROPPED:
                    rebuilt[inner] = change.value
                    detectors.extend(change.detectors)
            failed = any(c is not None and c.action == FAILED for c in changes)
            return Change(rebuilt, FAILED if failed else MASKED, tuple(detectors))
        except Exception:
            return Change(ERROR_MARKER, FAILED)

    def _apply(
        self,
        values: Sequence[Any],
        owners: list[int],
        special: dict[int, tuple[int, int, bool]],
        outcomes: list[TextResult | None],
        results: list[Change | None],
    ) -> None:
        """Write text outcomes back into values (strings, bytes, array elements)."""
        pending: dict[int, list[Any]] = {}
        for text_index, outcome in enumerate(outcomes):
            if outcome is None:
                continue
            index, element_index, was_bytes = special.get(text_index) or (owners[text_index], -1, False)
            new: Any = outcome.text.encode("utf-8", "surrogateescape") if was_bytes else outcome.text
            action = FAILED if outcome.failed else MASKED
            if element_index < 0:
                results[index] = Change(new, action, outcome.detectors)
                continue
            elements = pending.get(index)
            if elements is None:
                elements = pending[index] = list(values[index])
                results[index] = Change(None, action, ())
            elements[element_index] = new
            change = results[index]
            assert change is not None
            if outcome.failed:
                change.action = FAILED
            change.detectors = change.detectors + outcome.detectors
        for index, elements in pending.items():
            change = results[index]
            assert change is not None
            change.value = tuple(elements)

    def _redact_texts(
        self,
        texts: list[str],
        *,
        json_aware: bool,
        protect: list[int] | None = None,
        json_paths: dict[int, str] | None = None,
        windows: Mapping[int, tuple[int, int]] | None = None,
    ) -> list[TextResult | None]:
        """The batch core: one buffer, one scan, findings mapped back by offset.

        `protect[i]` leading characters of text i are context only (a JSON key put in front
        of its value): findings may start there, but only the rest is replaced.
        `json_paths[i]` is text i's attribute key when key rules may reach inside its JSON.
        `windows[i]`: where in text i candidates can start (`redact`'s `scan_windows`)."""
        count = len(texts)
        results: list[TextResult | None] = [None] * count
        joined = SEPARATOR.join(texts)
        buffer = joined.encode("utf-8", "surrogatepass")
        ascii_only = joined.isascii()
        offsets = _text_offsets(texts, ascii_only) if windows else None
        rescan: set[int] = set()
        try:
            if offsets is not None and windows:
                findings = self._scan_windows(buffer, *offsets, windows)
            else:
                findings = self._scanner.scan(buffer)
        except Exception:
            findings = []
            rescan = set(range(count))  # scan each value alone; the culprit fails closed
        escapes = json_aware and "\\" in joined and "\\u" in joined
        if not findings and not rescan and not escapes and not json_paths:
            return results  # the common case: nothing found, no offsets needed
        starts, ends = offsets if offsets is not None else _text_offsets(texts, ascii_only)
        per_text: dict[int, list[Any]] = {}
        for finding in findings:
            first = bisect_right(starts, finding.start) - 1
            if finding.end > ends[first]:  # straddles a separator: rescan the values it touches
                last = bisect_right(starts, finding.end - 1) - 1
                rescan.update(range(first, last + 1))
                continue
            per_text.setdefault(first, []).append(finding)
        failed: set[int] = set()
        for index in rescan:
            try:
                per_text[index] = self._scanner.scan(buffer, starts[index], ends[index])
            except Exception:
                failed.add(index)
        todo = set(per_text) | failed
        if escapes:  # JSON whose escapes could hide text from the raw scan
            todo.update(i for i, t in enumerate(texts) if "\\u" in t)
        if json_paths:
            todo.update(json_paths)
        for index in sorted(todo):
            if index in failed:
                results[index] = TextResult(ERROR_MARKER, (), True)
                continue
            text = texts[index]
            found = per_text.get(index)
            try:
                if json_aware and looks_like_json(text):
                    outcome = self._json.redact(text, json_paths.get(index) if json_paths else None)
                    if not isinstance(outcome, NotJson):
                        results[index] = outcome
                        continue
                if found:
                    results[index] = self._replace(
                        text, buffer, starts[index], found, ascii_only, protect[index] if protect else 0
                    )
            except Exception:
                results[index] = TextResult(ERROR_MARKER, (), True)
        return results

    def _scan_windows(
        self, buffer: bytes, starts: list[int], ends: list[int], windows: Mapping[int, tuple[int, int]]
    ) -> list[Any]:
        """`Scanner.scan` over the buffer, reading only the windows of the texts that have
        one: the texts before a windowed one are scanned as one stretch up to its
        separator, the windowed one alone, from its window's start, for candidates that
        start before its end. RE2 reads the bytes around a stretch as context, so `\\b`
        at its edges sees what it sees in one scan, and a match cut at a text's end is
        what scanning that text alone finds (what a match across a separator gets anyway:
        a rescan of each text alone)."""
        scan = self._scanner.scan
        findings: list[Any] = []
        stretch = 0  # where the texts not yet scanned begin
        for index in sorted(windows):
            first, stop = windows[index]
            begin, end = starts[index], ends[index]
            if begin > stretch:
                findings.extend(scan(buffer, stretch, begin - 1))
            findings.extend(scan(buffer, min(begin + first, end), end, starts_before=begin + stop))
            stretch = end + 1
        if stretch < len(buffer):
            findings.extend(scan(buffer, stretch, len(buffer)))
        return findings

    def _replace(
        self, text: str, buffer: bytes, base: int, findings: list[Any], ascii_only: bool, protect: int = 0
    ) -> TextResult | None:
        """Replace findings (byte offsets into `buffer`) inside `text`, after `protect` chars."""
        if ascii_only or text.isascii():
            spans = [(f.start - base, f.end - base, f.detector) for f in findings]
        else:
            data = buffer[base : base + len(text.encode("utf-8", "surrogatepass"))]

            def chars(offset: int) -> int:
                return len(data[:offset].decode("utf-8", "surrogatepass"))

            spans = [(chars(f.start - base), chars(f.end - base), f.detector) for f in findings]
        tokens = [(m.start(), m.end()) for m in TOKEN.finditer(text)] if "[" in text else []
        pieces: list[str] = []
        detectors: list[str] = []
        cursor = 0
        for start, end, detector in spans:
            if end <= protect:
                continue
            start = max(start, protect)
            if start < cursor:
                continue
            if any(t_start <= start and end <= t_end for t_start, t_end in tokens):
                continue
            secret = text[start:end]
            if self._allowed_value(secret):
                continue
            name = self._names[detector]
            pieces.append(text[cursor:start])
            pieces.append(self.token(name, secret))
            detectors.append(name)
            cursor = end
        if not detectors:
            return None
        pieces.append(text[cursor:])
        return TextResult("".join(pieces), tuple(detectors), False)


def _text_offsets(texts: list[str], ascii_only: bool) -> tuple[list[int], list[int]]:
    """Where each text's UTF-8 bytes lie in the joined buffer: text i starts after the
    lengths before it plus one separator byte each."""
    starts: list[int] = []
    ends: list[int] = []
    position = 0
    for text in texts:
        starts.append(position)
        position += len(text) if ascii_only or text.isascii() else len(text.encode("utf-8", "surrogatepass"))
        ends.append(position)
        position += 1
    return starts, ends


__all__ = ["ERROR_MARKER", "SEPARATOR", "Redactor", "finding_counts", "summary_attributes"]
