"""Provider token formats: the `api_key` detector, one RE2 alternative per format.

Written from the providers' public documentation of their key formats. Every entry
starts with a fixed literal (a prefix such as `glpat-`, or a URL host path): RE2's DFA
only keeps a thread alive after that literal, so hundreds of formats cost about what one
does, on clean text and in the sidecar's prefilter alike. Formats without a literal
(a Datadog key is 32 bare hex digits, an AWS secret key 40 base64 characters) are found
by the `password` detector next to their variable names (`DD_API_KEY=...`,
`aws_secret_access_key = ...`), never as bare strings: bare, they are hashes and ids.

Four formats have no leading literal (Azure AD client secrets, Discord bot tokens,
Telegram bot tokens, Terraform Cloud tokens). Their part before the distinctive
middle (`Q~`, `.`, `:AA`, `.atlasv1.`) is written as an unbounded run, not as the
documented count (`{3}`, `{23,27}`, `{8,10}`, `{14}`): a counted run that may start at
any word makes RE2's DFA track every word's length alongside every other pattern's
state, which cost the sidecar's prefilter about 2.5 ms per 6 MB request (measured with
`benchmarks/processor_overhead.py`, A/B in one process). The run is a superset, and
the literal middle keeps it from matching prose.

Lengths are the documented ones where a provider states them, else a lower bound long
enough that code identifiers which merely start like a prefix (`hf_hub_download`,
`sk_live_mode`, `secret_manager`) stay untouched: most bodies have no `_`, and the
trailing `\\b` refuses a longer identifier.
"""

from __future__ import annotations

_B64URL = "A-Za-z0-9_-"

# (provider, pattern): the provider is only documentation; all share the `api_key` marker.
PROVIDER_TOKENS: tuple[tuple[str, str], ...] = (
    # OpenAI (sk-, sk-proj-, sk-svcacct-, sk-admin-), Anthropic (sk-ant-api03-, sk-ant-admin01-),
    # DeepSeek, OpenRouter (sk-or-v1-), Langfuse (sk-lf-) share the sk- shape
    ("OpenAI / Anthropic", r"\bsk-(?:ant-|proj-|svcacct-|admin-|or-v1-|lf-)?[A-Za-z0-9_-]{20,}"),
    # AWS access key ids (AKIA long-term, ASIA temporary, ...); Bedrock API keys
    ("AWS", r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|APKA|AROA)[A-Z0-9]{16}\b"),
    ("AWS Bedrock", r"\bABSK[A-Za-z0-9+/]{60,}=*|\bbedrock-api-key-[A-Za-z0-9+/=]{40,}"),
    # GitHub: personal, OAuth, user-to-server, server-to-server, refresh; fine-grained PATs
    ("GitHub", r"\bgh[pousr]_[A-Za-z0-9]{36,}\b|\bgithub_pat_[A-Za-z0-9_]{22,}"),
    # GitLab: personal/project/group (glpat, routable ones carry dots), deploy, runner
    # authentication and registration, pipeline trigger, feed, incoming mail, agent,
    # SCIM, OAuth application secret, feature flag client, CI/CD job tokens, workspace
    (
        "GitLab",
        r"\b(?:glpat|gldt|glrt|glrtr|glptt|glft|glimt|glagent|glsoat|gloas|glffct|glwt|gltst)"
        r"-[A-Za-z0-9_.-]{20,}"
        r"|\bglcbt-[0-9A-Fa-f]{1,5}_[A-Za-z0-9_-]{20,}|\bGR1348941[A-Za-z0-9_-]{20,}",
    ),
    # Slack: bot, user, app-level, config, refresh (xoxe.xoxp-), legacy; incoming webhooks
    (
        "Slack",
        r"\bxox[abposer]-[A-Za-z0-9-]{10,}|\bxoxe\.xox[bp]-[A-Za-z0-9-]{10,}|\bxoxe-[0-9]-[A-Za-z0-9-]{20,}"
        r"|\bxapp-[0-9]-[A-Za-z0-9-]{10,}"
        r"|hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/-]{20,}",
    ),
    # Stripe: secret, restricted, publishable keys in live/test, organisation keys;
    # webhook signing secrets. Clerk uses the same sk_live_/sk_test_ shape.
    ("Stripe", r"\b(?:sk|rk|pk)_(?:live|test|org)_[A-Za-z0-9]{16,}|\bwhsec_[A-Za-z0-9+/=]{24,}"),
    # Google: API keys, OAuth client secrets, OAuth access and refresh tokens
    # (service-account private keys in JSON are the `private_key` detector's)
    (
        "Google",
        r"\bAIza[0-9A-Za-z_-]{35}|\bGOCSPX-[A-Za-z0-9_-]{28}|\bya29\.[A-Za-z0-9_-]{30,}"
        r"|\b1//0[A-Za-z0-9_-]{40,}",
    ),
    # Azure: storage account keys, shared access keys in connection strings, SAS
    # signatures, Entra ID (AD) client secrets (their fourth character then Q~)
    (
        "Azure",
        r"(?i:AccountKey|SharedAccessKey|AccessKey)=[A-Za-z0-9+/]{30,}={0,2}"
        r"|[?&]sig=[A-Za-z0-9%+/=]{30,}"
        r"|\b[A-Za-z0-9_~.-]*[0-9]Q~[A-Za-z0-9_~.-]{31,34}",
    ),
    # Hugging Face user and organisation tokens
    ("Hugging Face", r"\bhf_[A-Za-z0-9]{30,}\b|\bapi_org_[A-Za-z0-9]{30,}\b"),
    # Twilio API key SIDs and account SIDs
    ("Twilio", r"\bSK[0-9a-fA-F]{32}\b|\bAC[0-9a-f]{32}\b"),
    ("SendGrid", r"\bSG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}"),
    # Mailgun private API keys and webhook signing keys
    ("Mailgun", r"\b(?:key|pubkey)-[0-9a-f]{32}\b"),
    # Brevo (Sendinblue), MailerSend, Resend
    (
        "mail APIs",
        r"\bxkeysib-[0-9a-f]{64}-[A-Za-z0-9]{16}\b|\bxsmtpsib-[0-9a-f]{64}-[A-Za-z0-9]{16}\b"
        r"|\bmlsn\.[0-9a-f]{64}\b|\bre_[A-Za-z0-9]{8}_[A-Za-z0-9]{24}\b",
    ),
    # PyPI upload tokens (macaroons: base64 that always starts AgE)
    ("PyPI", r"\bpypi-AgE[A-Za-z0-9_-]{50,}"),
    # npm access tokens (legacy `_authToken=` lines are the `password` detector's)
    ("npm", r"\bnpm_[A-Za-z0-9]{36}\b"),
    # Docker Hub personal and organisation access tokens
    ("Docker Hub", r"\bdckr_(?:pat|oat)_[A-Za-z0-9_-]{20,}"),
    # Discord bot tokens (base64 user id . timestamp . HMAC) and webhook URLs
    (
        "Discord",
        r"\b[MNO][A-Za-z0-9_-]+\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,40}\b"
        r"|discord(?:app)?\.com/api/webhooks/[0-9]{5,}/[A-Za-z0-9_-]{50,}",
    ),
    # Telegram bot tokens: bot id, colon, AA and 33 characters
    ("Telegram", r"\b[0-9]+:AA[A-Za-z0-9_-]{33}\b"),
    # Shopify admin API, custom app, private app and shared secrets
    ("Shopify", r"\bshp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}\b"),
    # Atlassian (Jira, Confluence) API tokens; Bitbucket app passwords
    ("Atlassian", r"\bAT(?:ATT|CTT)[A-Za-z0-9_=-]{50,}|\bATBB[A-Za-z0-9_=.-]{28,}"),
    # Sentry organisation and user auth tokens; the key part of a DSN
    (
        "Sentry",
        r"\bsntrys_[A-Za-z0-9+/=_]{50,}|\bsntryu_[a-f0-9]{64}\b"
        r"|https?://(?P<secret>[0-9a-f]{32})@[A-Za-z0-9.-]+/[0-9]+",
    ),
    # New Relic user, insert, ingest, query, admin and browser keys
    ("New Relic", r"\bNR(?:AK|II|IQ|AA|JS)-[A-Za-z0-9]{19,32}\b"),
    # Cloudflare origin CA keys
    ("Cloudflare", r"\bv1\.0-[0-9a-f]{24}-[0-9a-f]{146}\b"),
    # Grafana Cloud tokens, service account tokens, legacy API keys (base64 of {"k":)
    (
        "Grafana",
        r"\bglc_[A-Za-z0-9+/]{32,}={0,2}|\bglsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}\b"
        r"|\beyJrIjoi[A-Za-z0-9+/=]{50,}",
    ),
    # PlanetScale passwords, service tokens and OAuth tokens
    ("PlanetScale", r"\bpscale_(?:pw|tkn|oauth)_[A-Za-z0-9_.=-]{32,64}"),
    # JFrog API keys and identity/access tokens (base64 of "reftkn:01:")
    ("JFrog", r"\bAKCp[A-Za-z0-9]{69}\b|\bcmVmdGtuOjAxOj[A-Za-z0-9]{50,}"),
    # Fly.io deploy, org and macaroon tokens
    ("Fly.io", r"\bfo1_[A-Za-z0-9_-]{40,}|\bfm[12][ar]?_[A-Za-z0-9+/=_-]{60,}"),
    # Databricks personal access tokens and OAuth secrets
    ("Databricks", r"\bdapi[0-9a-f]{32}(?:-[0-9])?\b|\bdose[0-9a-f]{32}\b"),
    # Heroku platform API tokens (bare UUID keys need their HEROKU_API_KEY name)
    ("Heroku", r"\bHRKU-[A-Za-z0-9_-]{20,}"),
    # DigitalOcean personal access, OAuth and refresh tokens
    ("DigitalOcean", r"\bdo[opr]_v1_[a-f0-9]{64}\b"),
    # Vercel personal, integration, app access, app refresh tokens and API keys
    ("Vercel", r"\bvc[pikar]_[A-Za-z0-9]{24,}"),
    # Supabase personal access tokens and secret API keys
    ("Supabase", r"\bsbp_[a-f0-9]{40}\b|\bsb_secret_[A-Za-z0-9_-]{20,}"),
    # Linear API keys and OAuth tokens
    ("Linear", r"\blin_(?:api|oauth)_[A-Za-z0-9]{40,64}\b"),
    # Notion integration secrets (old secret_ and new ntn_ forms)
    ("Notion", r"\bsecret_[A-Za-z0-9]{43}\b|\bntn_[0-9]{11}[A-Za-z0-9]{35}\b"),
    # HashiCorp Vault service/batch tokens, Terraform Cloud tokens
    ("HashiCorp", r"\bhv[sb]\.[A-Za-z0-9_-]{24,}|\b[A-Za-z0-9]+\.atlasv1\.[A-Za-z0-9_=-]{60,}"),
    # Doppler, Pulumi, Postman, Tailscale, 1Password service accounts, age keys
    (
        "developer platforms",
        r"\bdp\.(?:pt|st|sa|ct|scim|audit)\.[A-Za-z0-9]{40,}|\bpul-[a-f0-9]{40}\b"
        r"|\bPMAK-[a-f0-9]{24}-[a-f0-9]{34}\b"
        r"|\btskey-(?:api|auth|client|scim|webhook)-[A-Za-z0-9]+-[A-Za-z0-9]{20,}"
        r"|\bops_eyJ[A-Za-z0-9+/=_-]{50,}|\bAGE-SECRET-KEY-1[0-9A-Z]{58}\b",
    ),
    # CI and code hosts: CircleCI, Buildkite, Sourcegraph, Netlify, Render, Contentful, Figma
    (
        "CI and code hosts",
        r"\bCCIPAT_[A-Za-z0-9]{22}_[a-f0-9]{40}\b|\bbkua_[a-f0-9]{40}\b|\bsgp_[A-Za-z0-9_]{40,}"
        r"|\bnfp_[A-Za-z0-9]{36}\b|\brnd_[A-Za-z0-9]{32}\b|\bCFPAT-[A-Za-z0-9_-]{43}"
        r"|\bfigd_[A-Za-z0-9_-]{40,}",
    ),
    # Airtable, Mapbox secret tokens, Square, Shippo, Plaid, Typeform, Dynatrace
    (
        "SaaS APIs",
        r"\bpat[A-Za-z0-9]{14}\.[a-f0-9]{64}\b|\bsk\.eyJ[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{20,}"
        r"|\bsq0(?:atp|csp)-[A-Za-z0-9_-]{22,43}|\bEAAA[A-Za-z0-9_-]{60,}"
        r"|\bshippo_(?:live|test)_[a-f0-9]{40}\b"
        r"|\baccess-(?:sandbox|development|production)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"
        r"|\btfp_[A-Za-z0-9_.=-]{40,}|\bdt0c01\.[A-Z0-9]{24}\.[A-Z0-9]{64}\b",
    ),
    # AI APIs: Groq, xAI, Replicate, Perplexity, Pinecone, LangSmith, Tavily, Firecrawl,
    # Cerebras, Fireworks
    (
        "AI APIs",
        r"\bgsk_[A-Za-z0-9]{40,}|\bxai-[A-Za-z0-9]{40,}|\br8_[A-Za-z0-9]{30,}|\bpplx-[A-Za-z0-9]{40,}"
        r"|\bpcsk_[A-Za-z0-9_]{50,}|\blsv2_(?:pt|sk)_[a-f0-9]{32}_[a-f0-9]{10}\b"
        r"|\btvly-[A-Za-z0-9_-]{20,}|\bfc-[a-f0-9]{32}\b|\bcsk-[a-z0-9]{40,}|\bfw_[A-Za-z0-9]{20,}",
    ),
    # Alibaba Cloud and Tencent Cloud access key ids
    ("cloud access key ids", r"\bLTAI[A-Za-z0-9]{12,20}\b|\bAKID[A-Za-z0-9]{32}\b"),
)

API_KEY_PATTERN = "|".join(pattern for _, pattern in PROVIDER_TOKENS)
