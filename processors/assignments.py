"""Secret assignments in prose, code and config: the `password` detector.

`DB_PASSWORD=...`, `password_super_secure: "two words"`, `apikey_myservice -> x`,
`if token == "abc"`, `my passphrase is X`. RE2 finds candidates (a secret-like name,
a separator, a value on the same line); `validate_assignment` then reads the candidate
in Python and decides, because the rules need what RE2 lacks (look-around, word lists):

- the name's other words must not make it a non-secret (`token_count`, `max_tokens`,
  `password_policy`, `next_page_token`, `secret_name`),
- the value must not be a template reference (`${VAR}`, `{{ var }}`, `var.db_password`,
  `os.environ[...]`), a placeholder (`xxxx`, `<your-key>`, `***`, `None`) or an
  earlier marker (`[REDACTED:password]`),
- after a prose separator (`is`, `was`, `as`) a broad name (`token`, `secret`) needs a
  value that looks generated ("the secret is out" stays), and
- an unquoted value ends before the next `&name=` / `;Name=` of a query or connection
  string; quoted values keep their spaces.

Only the value is masked: the result is the value's span inside the candidate.
"""

from __future__ import annotations

import re

# Secret words, matched case-insensitively with any prefix or suffix words.
_NAMES = (
    r"password|passwd|passphrase|passcode|pwd|pass|secret|token|pin|credentials?|"
    r"api[ _-]?key|access[ _-]?key|secret[ _-]?key|private[ _-]?key|signing[ _-]?key|"
    r"encryption[ _-]?key|master[ _-]?key|license[ _-]?key|auth[ _-]?key|app[ _-]?key|"
    r"client[ _-]?key|account[ _-]?key|subscription[ _-]?key|session[ _-]?key|"
    r"client[ _-]?secret|app[ _-]?secret|auth[ _-]?token|_auth(?:token)?"
)
# camelCase names (`dbPassword`, `apiKey`, `clientSecret`); case-sensitive on purpose
_CAMEL = (
    r"\b[a-z][A-Za-z0-9]*(?:Password|Passwd|Passphrase|Pwd|Pass|Secret|Token|ApiKey|"
    r"AccessKey|SecretKey|PrivateKey|AuthToken|Credentials?)(?:[A-Z][a-z0-9]+)*"
)
# a separator word is a whole word: `token assumes` is prose, not `token as sumes`
_SEPARATOR = r"[\"'`]?(?:[ \t]*(?:[:=]=?|!==?|->|=>)|[ \t]+(?i:(?:is|was|as|equals)\b|=)[ \t]*:?)[ \t]*"
_VALUE = r"(?:\\?\"(?:[^\"\\\n]|\\.)*\\?\"|'[^'\n]*'|`[^`\n]*`|[^\s\"'`][^\s\"'`]*)"
# environment-variable style: any `*_KEY`, `*_TOKEN`, `*_SECRET` (`STRIPE_KEY=...`)
_ENV = r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*_(?:KEY|TOKEN|SECRET|PASSWORD|PASS|PWD|PAT)(?:_[A-Z0-9]+)*\b"
ASSIGNMENT_PATTERN = (
    rf"(?:(?i:\b(?:[A-Za-z0-9]+[_.-])*(?:{_NAMES})(?:[_.-][A-Za-z0-9]+)*)|{_CAMEL}|{_ENV})"
    rf"{_SEPARATOR}{_VALUE}"
)


def _wordlist(text: str) -> list[str]:
    return text.split()


_WORD_SPLIT = re.compile(r"[ _.\-]+|(?<=[a-z0-9])(?=[A-Z])")
_SECRET_WORDS = frozenset(
    _wordlist(
        """
    password passwd passphrase passcode pwd pass secret token pin credential credentials key
    apikey auth
    """
    )
)
# words that, next to a secret word, name something that is not a secret
_NOT_SECRET_AFTER = frozenset(
    _wordlist(
        """
    count counts type types limit limits len length size url uri urls endpoint host name
    names id ids file files path dir expiry expires expiration exp ttl timeout usage used
    policy policies field required enabled disabled hint reset manager store version header
    prefix env ref arn label format rotation algorithm alg kind mode rate budget index min
    max total strength provider source location generator helper validator regex pattern
    changed updated created input prompt output code length_min length_max rules rule
    complexity age history method methods scheme schemes endpoint_url filename filepath
    ids_list value_from from_env error errors message status lifetime valid validity hash
    hashed hasher salt salted encoding encoder encrypted sent received caching cache cached
    ratio price prices cost costs per estimate
    """
    )
)
_NOT_SECRET_BEFORE = frozenset(
    _wordlist(
        """
    page next prev previous continuation max min num total input output prompt completion
    completions cached reasoning special bos eos pad unk sep cls mask stop start end
    cancellation sync pagination cursor last first request response word csrf_field forgot
    reset change new_password_hint no without
    """
    )
)
_PLACEHOLDERS = frozenset(
    _wordlist(
        """
    null none nil undefined true false empty redacted hidden masked secret password token
    changeme_placeholder required optional string str int bool your value tbd todo n/a na
    dummy example sample placeholder
    """
    )
)
# prose after `is`/`was`: words that say something about the secret, not what it is
_PROSE_WORDS = frozenset(
    _wordlist(
        """
    the a an not no empty incorrect wrong required invalid too set missing same changed
    expired correct valid strong weak short long stored hidden shown saved reset needed
    optional mandatory case sensitive encrypted hashed available visible known unknown being
    used also still now here there this that it mine yours ok okay fine good bad different
    similar displayed printed sent given asked updated leaked compromised
    """
    )
)
_TEMPLATE = re.compile(
    r"^(?:\$\{|\$\(|\$[A-Za-z_]|\{\{|\{%|%\(|%[sd]$|<[^>]*>$|\[REDACTED|\[[a-z_]+:[0-9a-f]{8,}\]"
    r"|(?:var|vars|local|locals|env|secrets|params|parameters|config|settings|os\.environ|"
    r"process\.env|os\.getenv|getenv|ENV|import\.meta\.env|self|this|data|module)[.\[(])"
)
_ONE_CHAR_RUN = re.compile(r"^(.)\1{2,}$")
_QUERY_NEXT = re.compile(r"[&;][A-Za-z_][A-Za-z0-9_. -]*=")
_PROSE_SEPARATOR = re.compile(r"(?i)[\"'`]?[ \t]+(?:is|was|as|equals)\b")
_SEPARATOR_RE = re.compile(
    r"[\"'`]?(?:[ \t]*(?:[:=]=?|!==?|->|=>)|[ \t]+(?:(?:is|was|as|equals)\b|=)[ \t]*:?)[ \t]*", re.IGNORECASE
)
_NAME_RE = re.compile(r"[A-Za-z0-9_.\-]+(?: (?:key|secret|token)\b)?", re.IGNORECASE)
_NARROW = frozenset(["password", "passwd", "passphrase", "passcode", "pwd", "pin"])


def _words(name: str) -> list[str]:
    """The name's words, case-folded as RE2's `(?i)` folds them: `paſſword` (long s) and
    `K` (Kelvin sign) are candidates, so they must read as the words they fold to."""
    return [w.casefold() for w in _WORD_SPLIT.split(name) if w]


def _name_is_secret(name: str) -> tuple[bool, bool]:
    """(is this a secret's name, is it a narrow one like `password`)."""
    words = _words(name)
    compact = "".join(words)
    hits = [
        i for i, w in enumerate(words) if w in _SECRET_WORDS or w.endswith(("password", "token", "secret"))
    ]
    if not hits and not compact.endswith(("apikey", "secretkey", "accesskey")):
        return False, False
    index = hits[-1] if hits else len(words) - 1
    after = words[index + 1 :]
    if any(w in _NOT_SECRET_AFTER for w in after):
        return False, False
    secret_word = words[index]
    if secret_word == "key" and index == 0:
        return False, False  # a bare `key` is a lookup key
    before = words[index - 1] if index > 0 else ""
    if before in _NOT_SECRET_BEFORE:
        return False, False
    if secret_word in ("pass", "pin") and (after or before in ("by", "com", "boarding", "bus")):
        return False, False
    return True, secret_word in _NARROW or any(w in _NARROW for w in words)


def _placeholder(value: str) -> bool:
    lowered = value.lower()
    if lowered in _PLACEHOLDERS or _TEMPLATE.match(value) or _ONE_CHAR_RUN.match(value):
        return True
    vague = lowered.startswith(("your", "my-", "<", "xxx", "***"))
    return vague and not any(c.isdigit() for c in value)


def _looks_generated(value: str) -> bool:
    """A value after `is` that is not an English word: has a digit or a symbol, or
    mixes cases inside the word, and is not short."""
    if len(value) < 6:
        return False
    has_digit = any(c.isdigit() for c in value)
    has_symbol = any(not c.isalnum() for c in value)
    mixed = any(c.isupper() for c in value[1:]) and any(c.islower() for c in value)
    return has_digit or has_symbol or mixed


def validate_assignment(candidate: bytes) -> tuple[int, int] | None:
    """The value's span inside a `name <separator> value` candidate, or None."""
    text = candidate.decode("utf-8", "replace")
    name_match = _NAME_RE.match(text)
    if name_match is None:
        return None
    name = name_match.group()
    is_secret, narrow = _name_is_secret(name)
    if not is_secret:
        return None
    separator = _SEPARATOR_RE.match(text, name_match.end())
    if separator is None:
        return None
    start, end = separator.end(), len(text)
    value = text[start:end]
    if value.endswith(("'", '"', "`")) and len(value) >= 2 and value.lstrip("\\")[:1] in "'\"`":
        opener = 2 if value.startswith("\\") else 1
        closer = 2 if value.endswith('\\"') else 1
        start, end = start + opener, end - closer
    else:
        cut = _QUERY_NEXT.search(value)
        if cut is not None:
            end = start + cut.start()
        while end > start and text[end - 1] in ".,;)":  # sentence punctuation after the value
            end -= 1
    value = text[start:end]
    if not value.strip() or _placeholder(value.strip()):
        return None
    if _PROSE_SEPARATOR.match(text, name_match.end()):
        if value.lower() in _PROSE_WORDS:
            return None
        if not narrow and not _looks_generated(value):
            return None
    if name_match.group().casefold() in ("pass", "pin") and not any(c.isdigit() for c in value):
        return None  # `pass: true`, YAML/python keywords; a PIN has digits
    # offsets are bytes: re-encode the prefix to find them
    byte_start = len(text[:start].encode("utf-8"))
    byte_end = byte_start + len(value.encode("utf-8"))
    return byte_start, byte_end
