"""Small helpers for SDK attribute containers.

The SDK keeps dropped-attribute counts inside `BoundedAttributes`; a copy that should
keep the count must be one too. Building it through the constructor would re-validate
every value (measurable per span), and our values are already valid attribute values
because they came out of one, so the dict is installed directly.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from opentelemetry.attributes import BoundedAttributes

_ONLY_STR = frozenset({str})


def all_strings(values: Iterable[Any]) -> bool:
    """Is every value a `str` (not a subclass)? The engine's fast paths ask this of each
    span's values; the type set is built in C, about twice as fast as a generator."""
    return set(map(type, values)) <= _ONLY_STR


def bounded_attributes(attributes: dict[str, Any], dropped: int) -> BoundedAttributes:
    """An immutable BoundedAttributes holding `attributes`, reporting `dropped`."""
    bounded = BoundedAttributes(maxlen=None, attributes=None, immutable=False)
    bounded._dict = attributes
    bounded.dropped = dropped
    bounded._immutable = True
    return bounded
