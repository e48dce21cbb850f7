"""Small helpers for SDK attribute containers.

The SDK keeps dropped-attribute counts inside `BoundedAttributes`; a copy that should
keep the count must be one too. Building it through the constructor would re-validate
every value (measurable per span), and our values are already valid attribute values
because they came out of one, so the dict is installed directly.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.attributes import BoundedAttributes


def bounded_attributes(attributes: dict[str, Any], dropped: int) -> BoundedAttributes:
    """An immutable BoundedAttributes holding `attributes`, reporting `dropped`."""
    bounded = BoundedAttributes(maxlen=None, attributes=None, immutable=False)
    bounded._dict = attributes
    bounded.dropped = dropped
    bounded._immutable = True
    return bounded
