"""Detector plug-ins: a Python callable registered by name in YAML.

    redaction:
      custom_detectors:
        - name: person
          function: mypackage.ner:find_people

The callable gets one value's text and returns the (start, end) character spans to mask
(any iterable of pairs). It is the way to bring detectors RE2 cannot express, an NER
model for person names or a Presidio recognizer the user already has, without putting a
model into the default install.

It runs inside the scanner as a detector whose RE2 candidate is every value (so the
sidecar's prefilter visits every span while a plug-in is configured), and like every
detector it fails closed: a callable that raises, or returns spans outside the text,
turns the values concerned into `[REDACTED:error]`. A callable that cannot be imported
is a configuration error at start-up, never a silently missing detector.
"""

from __future__ import annotations

import importlib
import operator
from collections.abc import Callable, Iterable

from spanguard.config.model import CustomDetector
from spanguard.errors import ConfigError
from spanguard.processors.detectors import Detector

PluginFunction = Callable[[str], Iterable[tuple[int, int]]]

# every value, whole: values are joined with NUL in the scan buffer
_EVERY_VALUE = r"[^\x00]+"


def _validator(function: PluginFunction) -> Callable[[bytes], tuple[int, int] | None]:
    """Adapt `function` to the scanner's validator contract: the first span, in bytes.

    The scanner calls again on the rest of the value after each accepted span; the last
    answer is kept so a value with several findings costs one call, not one per finding.
    """
    last_text = ""
    last_spans: list[tuple[int, int]] = []

    def validate(candidate: bytes) -> tuple[int, int] | None:
        nonlocal last_text, last_spans
        text = candidate.decode("utf-8")
        if last_text and last_text.endswith(text):
            shift = len(last_text) - len(text)
            spans = [(s - shift, e - shift) for s, e in last_spans if s >= shift]
        else:
            spans = []
            for start, end in function(text):
                if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(text)):
                    raise ValueError("custom detector returned a span outside the value")
                spans.append((start, end))
            spans.sort()
            last_text, last_spans = text, spans
        if not spans:
            return None
        start, end = spans[0]
        byte_start = len(text[:start].encode("utf-8"))
        return byte_start, byte_start + len(text[start:end].encode("utf-8"))

    return validate


def load_custom_detector(spec: CustomDetector) -> Detector:
    """Import `module:attribute` and wrap it as a detector named `spec.name`."""
    module_name, _, attribute = spec.function.partition(":")
    try:
        function = operator.attrgetter(attribute)(importlib.import_module(module_name))
    except Exception as exc:  # ImportError, AttributeError, or the module's own failure
        raise ConfigError(
            f"custom detector {spec.name!r}: cannot load {spec.function} ({type(exc).__name__})",
            key="redaction.custom_detectors",
        ) from None
    if not callable(function):
        raise ConfigError(
            f"custom detector {spec.name!r}: {spec.function} is not callable",
            key="redaction.custom_detectors",
        )
    return Detector(spec.name, _EVERY_VALUE, _validator(function))
