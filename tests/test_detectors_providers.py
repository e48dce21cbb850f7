"""Provider token formats (the `api_key` detector): every documented variant found in
prose, inside JSON and at the edges of a value; identifiers and ids that merely start
like a prefix left alone. Tokens are built from a fixed pseudo-random body, so no real
credential is in the repository."""

from __future__ import annotations

import json
import random
import string

import pytest

from spanguard.config.model import RedactionConfig
from spanguard.processors.redaction import Redactor

ALL = Redactor(RedactionConfig(detectors="all"))
DEFAULT = Redactor(RedactionConfig())
_RNG = random.Random(15)


def body(length: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(_RNG.choice(alphabet) for _ in range(length))


HEX = "0123456789abcdef"
B64 = string.ascii_letters + string.digits + "+/"
URLSAFE = string.ascii_letters + string.digits + "_-"

TOKENS: dict[str, list[str]] = {
    "OpenAI / Anthropic": [
        "sk-proj-" + body(48, URLSAFE),
        "sk-svcacct-" + body(40, URLSAFE),
        "sk-admin-" + body(40),
        "sk-ant-api03-" + body(90, URLSAFE),
        "sk-ant-admin01-" + body(90, URLSAFE),
        "sk-or-v1-" + body(64, HEX),
    ],
    "AWS": ["AKIA" + body(16, string.ascii_uppercase + string.digits), "ABSK" + body(120, B64) + "=="],
    "GitHub": [
        "ghp_" + body(36),
        "gho_" + body(36),
        "ghu_" + body(36),
        "ghs_" + body(36),
        "ghr_" + body(76),
        "github_pat_11" + body(20) + "_" + body(59),
    ],
    "GitLab": [
        "glpat-" + body(20, URLSAFE),
        "glpat-" + body(27) + ".01.0" + body(9),  # routable token
        "gldt-" + body(20),
        "glrt-" + body(20),
        "glptt-" + body(40, HEX),
        "glft-" + body(20),
        "glimt-" + body(25),
        "glagent-" + body(50),
        "gloas-" + body(64),
        "glsoat-" + body(20),
        "glffct-" + body(20),
        "glcbt-" + "2a_" + body(20),
        "GR1348941" + body(20),
    ],
    "Slack": [
        "xoxb-" + body(12, string.digits) + "-" + body(13, string.digits) + "-" + body(24),
        "xoxp-" + body(12, string.digits) + "-" + body(12, string.digits) + "-" + body(32, HEX),
        "xoxe.xoxp-1-" + body(60),
        "xapp-1-A" + body(10, string.digits) + "-" + body(64, HEX),
        "https://hooks.slack.com/services/T"
        + body(8, string.ascii_uppercase)
        + "/B"
        + body(8, string.ascii_uppercase)
        + "/"
        + body(24),
    ],
    "Stripe": [
        "sk_live_" + body(24),
        "sk_test_" + body(99),
        "rk_live_" + body(24),
        "pk_test_" + body(24),
        "whsec_" + body(32),
    ],
    "Google": [
        "AIza" + body(35, URLSAFE),
        "GOCSPX-" + body(28, URLSAFE),
        "ya29." + body(120, URLSAFE),
        "1//0" + body(60, URLSAFE),
    ],
    "Azure": [
        "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=" + body(86, B64) + "==",
        "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=root;SharedAccessKey="
        + body(43, B64)
        + "=",
        "https://acct.blob.core.windows.net/c?sv=2022-11-02&ss=b&sig=" + body(40) + "%3D",
        body(3) + "8Q~" + body(34, string.ascii_letters + string.digits + "_~.-"),
    ],
    "Hugging Face": ["hf_" + body(34), "api_org_" + body(34)],
    "Twilio": ["SK" + body(32, HEX), "AC" + body(32, HEX)],
    "SendGrid": ["SG." + body(22, URLSAFE) + "." + body(43, URLSAFE)],
    "Mailgun": ["key-" + body(32, HEX), "pubkey-" + body(32, HEX)],
    "PyPI": ["pypi-AgE" + body(70, URLSAFE)],
    "npm": ["npm_" + body(36)],
    "Docker Hub": ["dckr_pat_" + body(27, URLSAFE), "dckr_oat_" + body(32)],
    "Discord": [
        "M" + body(25) + "." + body(6) + "." + body(38),
        "https://discord.com/api/webhooks/123456789012345678/" + body(68, URLSAFE),
    ],
    "Telegram": ["123456789:AA" + body(33, URLSAFE)],
    "Shopify": ["shpat_" + body(32, HEX), "shpss_" + body(32, HEX), "shpca_" + body(32, HEX)],
    "Atlassian": ["ATATT3x" + body(180, URLSAFE), "ATBB" + body(32)],
    "Sentry": ["sntrys_" + body(80, B64), "sntryu_" + body(64, HEX)],
    "New Relic": ["NRAK-" + body(27, string.ascii_uppercase + string.digits), "NRJS-" + body(19, HEX)],
    "Cloudflare": ["v1.0-" + body(24, HEX) + "-" + body(146, HEX)],
    "Grafana": ["glc_" + body(40, B64) + "=", "glsa_" + body(32) + "_" + body(8, HEX), "eyJrIjoi" + body(70)],
    "PlanetScale": ["pscale_pw_" + body(43, URLSAFE), "pscale_tkn_" + body(43, URLSAFE)],
    "JFrog": ["AKCp" + body(69), "cmVmdGtuOjAxOj" + body(50)],
    "Fly.io": ["fo1_" + body(43, URLSAFE), "fm2_" + body(120, URLSAFE)],
    "Databricks": ["dapi" + body(32, HEX), "dose" + body(32, HEX)],
    "Heroku": ["HRKU-AA" + body(58, URLSAFE)],
    "DigitalOcean": ["dop_v1_" + body(64, HEX), "doo_v1_" + body(64, HEX), "dor_v1_" + body(64, HEX)],
    "Vercel": ["vcp_" + body(56), "vci_" + body(56)],
    "Supabase": ["sbp_" + body(40, HEX), "sb_secret_" + body(31, URLSAFE)],
    "Linear": ["lin_api_" + body(40), "lin_oauth_" + body(64, HEX)],
    "Notion": ["secret_" + body(43), "ntn_" + body(11, string.digits) + body(35)],
    "HashiCorp": ["hvs." + body(90, URLSAFE), body(14) + ".atlasv1." + body(67)],
    "others": [
        "pul-" + body(40, HEX),
        "PMAK-" + body(24, HEX) + "-" + body(34, HEX),
        "tskey-auth-k" + body(10) + "-" + body(30),
        "dp.pt." + body(43),
        "AGE-SECRET-KEY-1" + body(58, "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L"),
        "CCIPAT_" + body(22) + "_" + body(40, HEX),
        "figd_" + body(40, URLSAFE),
        "gsk_" + body(52),
        "xai-" + body(80),
        "r8_" + body(37),
        "pplx-" + body(48),
        "lsv2_pt_" + body(32, HEX) + "_" + body(10, HEX),
        "tvly-" + body(32),
        "xkeysib-" + body(64, HEX) + "-" + body(16),
        "LTAI" + body(20),
    ],
}
CASES = [(provider, token) for provider, tokens in TOKENS.items() for token in tokens]


def _secret_part(token: str) -> str:
    """The part that must not survive (a URL's host may stay)."""
    for marker in ("AccountKey=", "SharedAccessKey=", "sig=", "/services/", "/webhooks/"):
        if marker in token:
            return token.split(marker, 1)[1][:20]
    return token


@pytest.mark.parametrize(("provider", "token"), CASES)
def test_provider_token_in_prose(provider: str, token: str) -> None:
    out = DEFAULT.redact_text(f"here is my key {token} please keep it safe")
    assert _secret_part(token) not in out and "[REDACTED:api_key]" in out
    assert out.startswith("here is my key ") and out.endswith(" please keep it safe")


@pytest.mark.parametrize(("provider", "token"), CASES)
def test_provider_token_at_value_edges_and_in_json(provider: str, token: str) -> None:
    assert _secret_part(token) not in DEFAULT.redact_text(token)
    out = DEFAULT.redact_text(json.dumps({"note": token, "n": 1}))
    assert _secret_part(token) not in out and json.loads(out)["n"] == 1


def test_sentry_dsn_masks_only_the_key() -> None:
    dsn = "https://" + "0123456789abcdef" * 2 + "@o123.ingest.sentry.io/4505"
    assert DEFAULT.redact_text(f"dsn={dsn}") == "dsn=https://[REDACTED:api_key]@o123.ingest.sentry.io/4505"


LOOK_ALIKES = [
    "from huggingface_hub import hf_hub_download",
    "if config.sk_live_mode and secret_manager_client:",
    "ghp_helper() and github_pat_ok",
    "a key-value store with pubkey-based auth",
    "glpat-short, gldt-x and xoxb-abc",
    "AKIA-not-a-key and ASIA is a continent",
    "re_compile_patterns(); pat_file; dose response curve",
    "release v1.0-beta and v1.0-0123456789abcdef01234567",
    "sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "trace 4bf92f3577b34da6a3ce929d0e0e4736 span 00f067aa0ba902b7",
    "uuid 550e8400-e29b-41d4-a716-446655440000",
    "Module.Submodule.ClassName.method_name_here",
    "secret_key_base_generator and sk-learn",
    "fw_version 2.1 and fc-layer sizes",
    "user 123456789: AA battery",
]


@pytest.mark.parametrize("text", LOOK_ALIKES)
def test_identifiers_that_start_like_a_prefix_survive(text: str) -> None:
    assert ALL.redact_text(text) == text


def test_google_service_account_key_file() -> None:
    key_body = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7" + body(40, B64)
    document = {
        "type": "service_account",
        "project_id": "demo-project",
        "private_key_id": "0123456789abcdef0123456789abcdef01234567",
        "private_key": f"-----BEGIN PRIVATE KEY-----\n{key_body}\n-----END PRIVATE KEY-----\n",
        "client_email": "svc@demo-project.iam.gserviceaccount.com",
        "client_id": "123456789012345678901",
    }
    text = json.dumps(document, indent=2)
    for shown in (text, f"here is the key file: {text} thanks"):
        out = DEFAULT.redact_text(shown)
        assert key_body[:40] not in out and "svc@demo-project" not in out
        assert "demo-project" in out  # the project id is not a secret
