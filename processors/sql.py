"""SQL statements with their literals replaced: `WHERE email = 'jane@x.io'` -> `WHERE email = ?`.

A recorded statement (`db.statement`, `db.query.text`, a tool's SQL argument) is worth
keeping for its shape, and its literals are where personal data sits. As the Collector's
database sanitizers do, string literals (`'...'`, with `''` and backslash escapes), numbers
and hex literals become `?`; identifiers, keywords, `"quoted identifiers"` and
placeholders (`$1`, `:name`, `?`) stay. An unterminated string literal is cut at its
quote (fail closed: what follows an open quote may be data).
"""

from __future__ import annotations

import re

_LITERAL = re.compile(
    r"""[xXbBnNeE]?'(?:[^'\\]|''|\\.)*'"""  # string literals, prefixed ones too (x'ff', N'..', E'..')
    r"|(?<![\w$:@.?])-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?\b"  # numbers, not inside names or placeholders
    r"|\$\$.*?\$\$",  # dollar-quoted bodies
    re.DOTALL,
)


def sanitize_sql(statement: str) -> tuple[str, int]:
    """(`statement` with every literal replaced by `?`, how many were replaced)."""
    sanitized, count = _LITERAL.subn("?", statement)
    quote = sanitized.find("'")
    if quote >= 0:  # an unterminated literal: nothing after it is shown
        sanitized, count = sanitized[:quote] + "?", count + 1
    return sanitized, count
