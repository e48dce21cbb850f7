"""Secret assignments, HTTP auth headers, curl credentials, unsigned and wrapped JWTs,
connection strings with reserved characters: what is masked (only the value), and the
names, templates and placeholders that must stay."""

from __future__ import annotations

import base64
import json

import pytest

from spanguard.config.model import RedactionConfig
from spanguard.processors.redaction import Redactor

DEFAULT = Redactor(RedactionConfig())
M = "[REDACTED:password]"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("DB_PASSWORD=hunter22", f"DB_PASSWORD={M}"),
        ("db_password: s3cr3t!", f"db_password: {M}"),
        ('password_super_secure = "two words here"', f'password_super_secure = "{M}"'),
        ("apikey_myservice -> 9f8e7d6c5b", f"apikey_myservice -> {M}"),
        ('if token == "abc123xyz":', f'if token == "{M}":'),
        ("assert secret != 'Zq8-x!'", f"assert secret != '{M}'"),
        ("my passphrase is correct-horse", f"my passphrase is {M}"),
        ("the api key is Abc123Def456", f"the api key is {M}"),
        ("password: p&ss#w%rd[1]", f"password: {M}"),
        ("STRIPE_KEY=abcdef123456 and next", f"STRIPE_KEY={M} and next"),
        ("GITHUB_TOKEN=ghx_notaprefix1234", f"GITHUB_TOKEN={M}"),
        (
            "export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            f"export AWS_SECRET_ACCESS_KEY={M}",
        ),
        ("aws_session_token = FwoGZXIvYXdzEJr//////////wEaDM", f"aws_session_token = {M}"),
        ("dbPassword: 'Pa55 word'", f"dbPassword: '{M}'"),
        ("clientSecret=abc.def-ghi", f"clientSecret={M}"),
        ("pin: 4821", f"pin: {M}"),
        ("//npm.example/:_authToken=0123abcd-4567-89ef", f"//npm.example/:_authToken={M}"),
        (
            "Server=db;User Id=app;Password=S3cr3t;Encrypt=true",
            f"Server=db;User Id=app;Password={M};Encrypt=true",
        ),
        ("password=hunter22&user=bob", f"password={M}&user=bob"),
        ("the password was: hunter22.", f"the password was: {M}."),
    ],
)
def test_secret_assignments_mask_only_the_value(text: str, expected: str) -> None:
    assert DEFAULT.redact_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "password = ${DB_PASSWORD}",
        "password: {{ vault_db_password }}",
        "password = var.db_password",
        "api_key = os.environ['API_KEY']",
        "token: process.env.TOKEN",
        "password: <your-password>",
        "secret: xxxx",
        "password: ********",
        "token = None",
        "password:\n  next_key: value",
        "token_count: 512",
        "max_tokens=4096",
        "password_policy: strict",
        "next_page_token = abc123def",
        "secret_name: prod/db",
        "the secret is out of the bag",
        "the token is expired",
        "pass: true",
        "compass: north",
        "cache_key = user:42",
        "key: user_id",
        f"password={M}",
        "password_reset_url=https://example.com/reset",
        # a separator word must be a whole word: not `token as sumes`
        "my token assumes nothing",
        "the secret isolates the key from the app",
        "a password wasabi recipe",
        "the api key equalsign",
    ],
)
def test_names_templates_and_placeholders_stay(text: str) -> None:
    assert DEFAULT.redact_text(text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Api-Token abcdef123456789", "Authorization: Api-Token [REDACTED:bearer_token]"),
        ("Authorization: Token 0123456789abcdef", "Authorization: Token [REDACTED:bearer_token]"),
        ("authorization: SSWS 00abcdefghijklmnop", "authorization: SSWS [REDACTED:bearer_token]"),
        ("Authorization: 0123456789abcdefXYZ", "Authorization: [REDACTED:bearer_token]"),
        ("X-Api-Key: 7f3a9c2e1b4d", "X-Api-Key: [REDACTED:bearer_token]"),
        ("x-goog-api-key=AbCdEf123456", "x-goog-api-key=[REDACTED:bearer_token]"),
        ("curl -u admin:hunter22 https://x", "curl -u admin:[REDACTED:bearer_token] https://x"),
        ("curl -s --user=bob:p@ss https://x", "curl -s --user=bob:[REDACTED:bearer_token] https://x"),
    ],
)
def test_auth_headers_and_curl_credentials(text: str, expected: str) -> None:
    assert DEFAULT.redact_text(text) == expected


def test_auth_header_prose_stays() -> None:
    for text in ("authorization: required for admins", "X-Request-Id: 4bf92f3577b34da6", "curl -s https://x"):
        assert DEFAULT.redact_text(text) == text


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "token",
    [
        _b64({"alg": "none", "typ": "JWT"}) + "." + _b64({"sub": "1234567890", "admin": True}) + ".",
        _b64({"alg": "none"}) + "." + _b64({"sub": "alice"}),
        base64.b64encode(
            (
                _b64({"alg": "HS256"}) + "." + _b64({"sub": "bob"}) + ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6y"
            ).encode()
        ).decode(),
    ],
)
def test_unsigned_and_wrapped_jwts(token: str) -> None:
    for text in (token, f"token {token} here", json.dumps({"t": token})):
        out = DEFAULT.redact_text(text)
        assert token not in out and "[REDACTED:" in out


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgres://app:p@ss:w0rd#1@db:5432/x", "postgres://app:[REDACTED:url_credentials]@db:5432/x"),
        ("mongodb+srv://u:s3cr%40t@cluster0/db", "mongodb+srv://u:[REDACTED:url_credentials]@cluster0/db"),
        ("redis://:hunter22@cache:6379", "redis://:[REDACTED:url_credentials]@cache:6379"),
        ("amqp://guest:gu3st@rabbit/", "amqp://guest:[REDACTED:url_credentials]@rabbit/"),
        ("https://bob:pw@example.com/a@b", "https://bob:[REDACTED:url_credentials]@example.com/a@b"),
    ],
)
def test_connection_strings(text: str, expected: str) -> None:
    assert DEFAULT.redact_text(text) == expected


def test_auth_header_keys_in_json_are_masked() -> None:
    out = json.loads(DEFAULT.redact_text(json.dumps({"X-Auth-Token": "abc123def456", "n": 1})))
    assert out["n"] == 1 and "abc123def456" not in out["X-Auth-Token"]


def test_entropy_detector_is_off_by_default_and_finds_generated_values() -> None:
    text = "build_key = 9f8Kq2LmZx7PwR4tYv1N"
    assert DEFAULT.redact_text(text) == text
    entropy = Redactor(RedactionConfig(detectors=["entropy"]))
    assert entropy.redact_text(text) == "build_key = [REDACTED:entropy]"
    for calm in (
        "cache_key = user_profile_settings_v2",
        "api_version: 2024-01-15T10:30:00Z",
        "key: com.example.service.name",
        "token_kind = AbCdEfGhIjKlMnOp",
    ):
        assert entropy.redact_text(calm) == calm
