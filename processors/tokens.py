"""What a secret is replaced by: a `[REDACTED:<detector>]` marker or a keyed pseudonym.

One job, one place: every part of the engine (text scans, JSON leaves, blocked keys)
asks `Tokens` for the replacement, so the choice between markers and HMAC tokens, and
the fail-closed fallback when the hash key is missing, are made once.

The HMAC key comes from the config (`redaction.hash.key`, read from the environment when
the config was loaded); this module never reads the environment. A token never contains
the secret, and a text that already is a token is left as it is (idempotence).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from typing import Any

from spanguard.config.model import RedactionConfig
from spanguard.processors.changes import TOKEN

_log = logging.getLogger("spanguard.processors.redaction")


class Tokens:
    """Writes replacement tokens for one redaction config."""

    def __init__(self, config: RedactionConfig) -> None:
        self.hashing = config.replacement == "hash"
        self.length = config.hash.length
        self._key = config.hash.key if self.hashing else None
        self.key_missing = self.hashing and self._key is None
        self.fallbacks = 0  # tokens written as markers because the hash key was missing
        # Identity keys (user.id, session.id) always get pseudonyms so grouping survives.
        # Without a configured key, a random key of this process: still unreadable, and
        # grouping holds for as long as the process runs (documented fallback).
        self._identity_key = config.hash.key
        self.identity_key_random = bool(config.identity_keys) and self._identity_key is None
        if self.identity_key_random:
            self._identity_key = secrets.token_bytes(32)
        if self.key_missing:
            # Fail closed: markers hide as much as hashes; we only lose correlation.
            _log.warning(
                "replacement: hash but $%s is not set; writing [REDACTED:<detector>] markers",
                config.hash.key_env,
            )

    def token(self, detector: str, secret: str) -> str:
        """The replacement for one secret; never contains the secret."""
        if self.hashing:
            if self._key is None:
                self.fallbacks += 1
            else:
                return self.pseudonym(detector, secret)
        return f"[REDACTED:{detector}]"

    def pseudonym(self, detector: str, secret: str) -> str:
        """`[<detector>:<hex>]`, the same for the same secret under the same key.
        Only valid when a key is set (`key_missing` is False)."""
        assert self._key is not None
        digest = hmac.new(self._key, secret.encode("utf-8", "surrogatepass"), hashlib.sha256)
        return f"[{detector}:{digest.hexdigest()[: self.length]}]"

    def identity(self, detector: str, value: str) -> str:
        """The pseudonym for an identity value (`user.id` holding an e-mail): the same
        value gives the same token, so Phoenix still groups by user and session."""
        assert self._identity_key is not None
        digest = hmac.new(self._identity_key, value.encode("utf-8", "surrogatepass"), hashlib.sha256)
        return f"[{detector}:{digest.hexdigest()[: self.length]}]"

    def whole(self, name: str, value: Any) -> Any:
        """The token for a whole value, of the value's own type (bytes stay bytes)."""
        if isinstance(value, bytes):
            text = value.decode("utf-8", "surrogateescape")
            return value if TOKEN.fullmatch(text) else self.token(name, text).encode("utf-8")
        text = str(value)
        return text if TOKEN.fullmatch(text) else self.token(name, text)
