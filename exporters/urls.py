"""The one URL scrubber: every URL or endpoint spanguard shows goes through `display_url`.

An endpoint in a config may carry credentials in two places: the userinfo
(`http://user:secret@host`, also `user:secret@host:4317` for gRPC and listen endpoints,
which have no scheme) and the query or fragment (`?token=sk-...`, `?api_key=...`). A log
line, an error, a metric label or `spanguard check` must show neither, so the scrubber
keeps only scheme, host, port and path. One function, so a display site cannot forget one
of the two.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

UNPARSABLE = "(unparsable URL)"


def display_url(url: str) -> str:
    """`url` fit for a log line, an error or the CLI: no userinfo, query or fragment.

    A URL without a scheme (`host:port`, gRPC and listen endpoints) is parsed as a
    netloc and shown the same way, without scheme; one that does not parse at all is
    shown as `(unparsable URL)`, never as given.
    """
    has_scheme = "//" in url
    try:
        parts = urlsplit(url if has_scheme else f"//{url}")
    except ValueError:
        return UNPARSABLE
    host = parts.netloc.rsplit("@", 1)[-1]
    netloc = f"***@{host}" if "@" in parts.netloc else host
    shown = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    return shown if has_scheme else shown.removeprefix("//")
