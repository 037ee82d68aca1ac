//! The one typed configuration: every field is a flag and an `AUTHGATE_*` variable, and
//! `authgate --help` prints the doc comments below under one heading per group. Values are
//! parsed into their types (`values`, `secrets`) here, so that a bad setting stops startup with
//! one clear line instead of failing on first use. Imports nothing from the crate but the pure
//! path rules (`crate::paths`).

pub mod providers;
pub mod redirects;
mod secrets;
pub mod values;
pub mod webhooks;

use std::net::SocketAddr;
use std::time::Duration;

use clap::{ArgAction, Args, Parser};
use ipnet::IpNet;

pub use providers::{Endpoints, Preset, ProviderConfig};
pub use redirects::{RedirectRule, ReturnTo};
pub use secrets::{redact_url_password, DatabaseUrl, EncryptionKey, Secret, SmtpUrl};
use values::*;
pub use values::{
    is_role_name, role_rules, rp_id, CaptchaProvider, HashPriority, JwtAlgorithm, Ladder,
    LogFormat, PathPattern, Rate, RoleRule, SameSite,
};
pub use webhooks::{WebhookEndpoint, WebhookEventType};

/// Every setting of the service. Flags may come before or after the subcommand.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Address to listen on.
    #[arg(
        long,
        env = "AUTHGATE_LISTEN",
        default_value = "127.0.0.1:8080",
        help_heading = "Server"
    )]
    pub listen: SocketAddr,

    /// Database: sqlite://FILE (created on first start) or postgres://USER@HOST/DB.
    #[arg(long, env = "AUTHGATE_DATABASE_URL", default_value = "sqlite://authgate.db",
          value_parser = DatabaseUrl::parse,
          help_heading = "Database"
    )]
    pub database_url: DatabaseUrl,

    /// Connections in the database pool. On SQLite, refreshes run on one more connection of
    /// their own.
    #[arg(
        long,
        env = "AUTHGATE_DATABASE_POOL_SIZE",
        default_value_t = 8,
        help_heading = "Database"
    )]
    pub database_pool_size: u32,

    /// How long a request waits for a database connection before it gets 503.
    #[arg(long, env = "AUTHGATE_DATABASE_TIMEOUT", default_value = "3s", value_parser = duration, help_heading = "Database")]
    pub database_timeout: Duration,

    /// Apply pending migrations when `serve` starts.
    #[arg(long, env = "AUTHGATE_AUTO_MIGRATE", default_value_t = true, action = ArgAction::Set, help_heading = "Database")]
    pub auto_migrate: bool,

    /// The service's own origin: the `iss` claim and links derive from it.
    #[arg(long, env = "AUTHGATE_PUBLIC_URL", default_value = "http://localhost:8080",
          value_parser = public_url,
          help_heading = "Tokens and sessions"
    )]
    pub public_url: String,

    /// The `aud` claim of access tokens.
    #[arg(
        long,
        env = "AUTHGATE_AUDIENCE",
        default_value = "authgate",
        help_heading = "Tokens and sessions"
    )]
    pub audience: String,

    /// Lifetime of an access token.
    #[arg(long, env = "AUTHGATE_ACCESS_TOKEN_TTL", default_value = "15m", value_parser = duration, help_heading = "Tokens and sessions")]
    pub access_token_ttl: Duration,

    /// Absolute lifetime of a session signed in without remember-me.
    #[arg(long, env = "AUTHGATE_SESSION_TTL", default_value = "24h", value_parser = duration, help_heading = "Tokens and sessions")]
    pub session_ttl: Duration,

    /// Absolute lifetime of a remember-me session (its refresh cookie is persistent).
    #[arg(long, env = "AUTHGATE_REMEMBER_ME_TTL", default_value = "30d", value_parser = duration, help_heading = "Tokens and sessions")]
    pub remember_me_ttl: Duration,

    /// A session not refreshed for this long ends.
    #[arg(long, env = "AUTHGATE_SESSION_IDLE_TIMEOUT", default_value = "7d", value_parser = duration, help_heading = "Tokens and sessions")]
    pub session_idle_timeout: Duration,

    /// How long the previous refresh token still answers (concurrent tabs, lost responses).
    #[arg(long, env = "AUTHGATE_REFRESH_REUSE_GRACE", default_value = "10s", value_parser = duration, help_heading = "Tokens and sessions")]
    pub refresh_reuse_grace: Duration,

    /// Signing algorithm of access tokens.
    #[arg(
        long,
        env = "AUTHGATE_JWT_ALGORITHM",
        value_enum,
        default_value = "EdDSA",
        help_heading = "Tokens and sessions"
    )]
    pub jwt_algorithm: JwtAlgorithm,

    /// Shared secret for HS256 (raw bytes, 32 at least); unused by the other algorithms.
    #[arg(
        long,
        env = "AUTHGATE_JWT_SECRET",
        hide_env_values = true,
        help_heading = "Tokens and sessions"
    )]
    pub jwt_secret: Option<Secret>,

    /// Set `Secure` on cookies; turn off only for plain-http local development.
    #[arg(long, env = "AUTHGATE_COOKIE_SECURE", default_value_t = true, action = ArgAction::Set, help_heading = "Browsers and cookies")]
    pub cookie_secure: bool,

    /// `SameSite` attribute of both cookies.
    #[arg(
        long,
        env = "AUTHGATE_COOKIE_SAMESITE",
        value_enum,
        default_value = "lax",
        help_heading = "Browsers and cookies"
    )]
    pub cookie_samesite: SameSite,

    /// `Domain` attribute of both cookies (share them with sibling subdomains); none by default.
    #[arg(
        long,
        env = "AUTHGATE_COOKIE_DOMAIN",
        help_heading = "Browsers and cookies"
    )]
    pub cookie_domain: Option<String>,

    /// Name of the access-token cookie (`__Secure-access_token` adds the browser-enforced prefix).
    #[arg(long, env = "AUTHGATE_ACCESS_COOKIE_NAME", default_value = "access_token", value_parser = cookie_name, help_heading = "Browsers and cookies")]
    pub access_cookie_name: String,

    /// Name of the refresh-token cookie.
    #[arg(long, env = "AUTHGATE_REFRESH_COOKIE_NAME", default_value = "refresh_token", value_parser = cookie_name, help_heading = "Browsers and cookies")]
    pub refresh_cookie_name: String,

    /// Name of the session hint cookie: not `HttpOnly`, no secret, only the access token's expiry
    /// (Unix seconds), set and cleared with the session cookies so a page knows without a
    /// request whether a session probably exists and when to refresh. Empty: not set.
    #[arg(long, env = "AUTHGATE_SESSION_HINT_COOKIE_NAME", default_value = "authgate_session", value_parser = hint_cookie_name, help_heading = "Browsers and cookies")]
    pub session_hint_cookie_name: String,

    /// Browser origins allowed to call with credentials (comma-separated, exact match).
    #[arg(long, env = "AUTHGATE_ALLOWED_ORIGINS", default_value = "", value_parser = origin_list, help_heading = "Browsers and cookies")]
    pub allowed_origins: std::vec::Vec<String>,

    /// Proxies whose X-Forwarded-For is believed (comma-separated IPs or CIDR ranges).
    #[arg(long, env = "AUTHGATE_TRUSTED_PROXIES", default_value = "", value_parser = proxy_list, help_heading = "Browsers and cookies")]
    pub trusted_proxies: std::vec::Vec<IpNet>,

    /// bcrypt cost for new password hashes.
    #[arg(long, env = "AUTHGATE_BCRYPT_COST", default_value = "10", value_parser = bcrypt_cost, help_heading = "Passwords and secrets at rest")]
    pub bcrypt_cost: u32,

    /// Key of the HMAC pre-hash of passwords (16+ characters). Changing it invalidates every password.
    #[arg(long, env = "AUTHGATE_PASSWORD_PEPPER", value_parser = pepper, hide_env_values = true, help_heading = "Passwords and secrets at rest")]
    pub password_pepper: Option<Secret>,

    /// Extra context words refused in new passwords (comma-separated, e.g. company and product
    /// names). Always refused too: "authgate", AUTHGATE_PRODUCT_NAME, the account's email address,
    /// its local part and domain labels. A word (4+ characters) is refused when it makes up most of
    /// the password (fewer than 8 other characters left), and so is a password too close to the
    /// email address. Sign-in never applies these rules.
    #[arg(long, env = "AUTHGATE_PASSWORD_CONTEXT_WORDS", default_value = "", value_parser = name_list, help_heading = "Passwords and secrets at rest")]
    pub password_context_words: std::vec::Vec<String>,

    /// Check new passwords against Have I Been Pwned's range API (k-anonymity: only the first 5
    /// hex digits of the SHA-1 leave the service). Off by default: it needs outbound HTTPS.
    #[arg(long, env = "AUTHGATE_PASSWORD_BREACH_CHECK", default_value_t = false, action = ArgAction::Set, help_heading = "Passwords and secrets at rest")]
    pub password_breach_check: bool,

    /// Base URL of the Pwned Passwords range API (`GET {url}/range/{prefix}`).
    #[arg(long, env = "AUTHGATE_PASSWORD_BREACH_API_URL", default_value = "https://api.pwnedpasswords.com", value_parser = http_url, help_heading = "Passwords and secrets at rest")]
    pub password_breach_api_url: String,

    /// How long the breach check may take, connection included.
    #[arg(long, env = "AUTHGATE_PASSWORD_BREACH_TIMEOUT", default_value = "2s", value_parser = duration, help_heading = "Passwords and secrets at rest")]
    pub password_breach_timeout: Duration,

    /// When the breach API fails or is slow: false accepts the password (logged at WARN and
    /// counted in `authgate_password_breach_checks_total{outcome="unavailable"}`); true refuses
    /// the request with 503 `service_unavailable`.
    #[arg(long, env = "AUTHGATE_PASSWORD_BREACH_FAIL_CLOSED", default_value_t = false, action = ArgAction::Set, help_heading = "Passwords and secrets at rest")]
    pub password_breach_fail_closed: bool,

    /// 32 bytes, base64: seals session secrets and private signing keys at rest.
    #[arg(long, env = "AUTHGATE_ENCRYPTION_KEY", value_parser = encryption_key, hide_env_values = true, help_heading = "Passwords and secrets at rest")]
    pub encryption_key: Option<EncryptionKey>,

    /// A rotated-in key is published this long before it signs (longer than the JWKS cache time,
    /// 10 minutes, so every verifier has it first).
    #[arg(long, env = "AUTHGATE_KEY_PUBLISH_DELAY", default_value = "11m", value_parser = duration, help_heading = "Tokens and sessions")]
    pub key_publish_delay: Duration,

    /// Rotate the signing key automatically at this age (off when unset), e.g. `30d`.
    #[arg(long, env = "AUTHGATE_KEY_ROTATION_INTERVAL", value_parser = duration, help_heading = "Tokens and sessions")]
    pub key_rotation_interval: Option<Duration>,
    /// Captcha required on the public endpoints (signup, signin, token password grant,
    /// password/forgot, verify-email/resend, sms/code): none, recaptcha, hcaptcha or turnstile.
    #[arg(
        long,
        env = "AUTHGATE_CAPTCHA_PROVIDER",
        value_enum,
        default_value = "none",
        help_heading = "Captcha"
    )]
    pub captcha_provider: CaptchaProvider,

    /// The provider's secret key (required when a provider is set).
    #[arg(
        long,
        env = "AUTHGATE_CAPTCHA_SECRET",
        hide_env_values = true,
        help_heading = "Captcha"
    )]
    pub captcha_secret: Option<Secret>,

    /// Verification endpoint; defaults to the provider's documented siteverify URL.
    #[arg(long, env = "AUTHGATE_CAPTCHA_VERIFY_URL", value_parser = http_url, help_heading = "Captcha")]
    pub captcha_verify_url: Option<String>,

    /// How long a verification may take before the request gets 503 `captcha_unavailable`.
    #[arg(long, env = "AUTHGATE_CAPTCHA_TIMEOUT", default_value = "3s", value_parser = duration, help_heading = "Captcha")]
    pub captcha_timeout: Duration,

    /// Lowest reCAPTCHA v3 score accepted (0.0 bot … 1.0 human); v2 answers carry no score.
    #[arg(long, env = "AUTHGATE_CAPTCHA_MIN_SCORE", default_value = "0.5", value_parser = score, help_heading = "Captcha")]
    pub captcha_min_score: f64,

    /// Hostnames a solved challenge must come from (comma-separated, exact); any when empty.
    #[arg(long, env = "AUTHGATE_CAPTCHA_HOSTNAMES", default_value = "", value_parser = name_list, help_heading = "Captcha")]
    pub captcha_hostnames: std::vec::Vec<String>,

    /// Action the challenge must carry (reCAPTCHA v3, Turnstile); not checked when unset.
    #[arg(long, env = "AUTHGATE_CAPTCHA_ACTION", help_heading = "Captcha")]
    pub captcha_action: Option<String>,

    /// hCaptcha only: the site key sent as `sitekey`, so a token from another site is refused.
    #[arg(long, env = "AUTHGATE_CAPTCHA_SITEKEY", help_heading = "Captcha")]
    pub captcha_sitekey: Option<String>,

    /// How often each replica reloads signing keys from the database.
    #[arg(long, env = "AUTHGATE_KEY_RELOAD_INTERVAL", default_value = "60s", value_parser = duration, help_heading = "Tokens and sessions")]
    pub key_reload_interval: Duration,

    /// How often `verify/` and the proxy reload the sessions revoked on other replicas (those
    /// this one ends are refused at once); `0` turns the list off: they then accept a revoked
    /// session's access token until its `exp`.
    #[arg(long, env = "AUTHGATE_REVOCATION_LIST_INTERVAL", default_value = "5s", value_parser = duration, help_heading = "Tokens and sessions")]
    pub revocation_list_interval: Duration,

    /// Serve `/metrics` only on this address (e.g. 127.0.0.1:9090), not on the public listener.
    #[arg(long, env = "AUTHGATE_METRICS_LISTEN", help_heading = "Server")]
    pub metrics_listen: Option<SocketAddr>,

    /// On SIGTERM/SIGINT, how long in-flight requests may take to finish before they are cut.
    #[arg(long, env = "AUTHGATE_SHUTDOWN_TIMEOUT", default_value = "25s", value_parser = duration, help_heading = "Server")]
    pub shutdown_timeout: Duration,

    /// On SIGTERM/SIGINT, how long to keep serving with `/readyz` at 503 before stopping, so load
    /// balancers stop routing here first (Kubernetes: a few seconds).
    #[arg(long, env = "AUTHGATE_SHUTDOWN_DELAY", default_value = "0s", value_parser = duration, help_heading = "Server")]
    pub shutdown_delay: Duration,

    /// Verified access tokens remembered (by the SHA-256 of the exact string, until `exp`) so a
    /// token presented again skips the signature check; 0 turns the cache off. An entry (digest
    /// and claims) takes under 1 KB: 4,096 full entries measured 3.4 MB.
    #[arg(
        long,
        env = "AUTHGATE_TOKEN_CACHE_SIZE",
        default_value_t = 4_096,
        help_heading = "Tokens and sessions"
    )]
    pub token_cache_size: usize,

    /// Password hashing threads (bcrypt), run at a lower CPU priority than the request workers so
    /// a sign-in storm uses idle cores without slowing token checks; 0 means one per core.
    #[arg(
        long,
        env = "AUTHGATE_PASSWORD_HASH_CONCURRENCY",
        default_value_t = 0,
        help_heading = "Passwords and secrets at rest"
    )]
    pub password_hash_concurrency: usize,

    /// How the password hashing threads yield to the request workers. `idle` (Linux
    /// `SCHED_IDLE`): they run only on CPU nothing else wants, and a waking worker takes the core
    /// at once, so token checks keep their latency during a sign-in storm; while the workers
    /// saturate every core, sign-ins wait. `low` (nice +10): they keep about a tenth of a busy
    /// core's time, at the cost of check latency (bench/README.md has both measured).
    #[arg(
        long,
        env = "AUTHGATE_PASSWORD_HASH_PRIORITY",
        value_enum,
        default_value_t = HashPriority::Idle,
        help_heading = "Passwords and secrets at rest"
    )]
    pub password_hash_priority: HashPriority,

    /// HTTP worker threads (0: one per core).
    #[arg(
        long,
        env = "AUTHGATE_WORKERS",
        default_value_t = 0,
        help_heading = "Server"
    )]
    pub workers: usize,

    /// SMTP server for outgoing mail: `smtp://[user:password@]host[:port]` (add `?tls=required`
    /// for STARTTLS) or `smtps://...` (TLS from the first byte). Unset: mail is written to the log
    /// (development only).
    #[arg(long, env = "AUTHGATE_SMTP_URL", value_parser = SmtpUrl::parse, hide_env_values = true, help_heading = "Mail and SMS")]
    pub smtp_url: Option<SmtpUrl>,

    /// Sender of every mail (`Name <address>` or a bare address).
    #[arg(
        long,
        env = "AUTHGATE_MAIL_FROM",
        default_value = "authgate@localhost",
        help_heading = "Mail and SMS"
    )]
    pub mail_from: String,

    /// How long one SMTP delivery may take before it counts as failed and is retried.
    #[arg(long, env = "AUTHGATE_SMTP_TIMEOUT", default_value = "10s", value_parser = duration, help_heading = "Mail and SMS")]
    pub smtp_timeout: Duration,

    /// Product name used in mail subjects and bodies.
    #[arg(
        long,
        env = "AUTHGATE_PRODUCT_NAME",
        default_value = "authgate",
        help_heading = "Mail and SMS"
    )]
    pub product_name: String,

    /// Origin of the front end that links in mails point to (`/verify-email`, `/reset-password`,
    /// `/revert-email`). Required with AUTHGATE_SMTP_URL, since authgate serves no pages; in
    /// proxy mode it defaults to AUTHGATE_PUBLIC_URL (the app's own origin).
    #[arg(long, env = "AUTHGATE_FRONTEND_URL", value_parser = public_url, help_heading = "Mail and SMS")]
    pub frontend_url: Option<String>,

    /// Directory whose files override the built-in mail templates (`<template>.subject.txt`,
    /// `<template>.txt`, `<template>.html`; see docs/mail.md).
    #[arg(
        long,
        env = "AUTHGATE_MAIL_TEMPLATES_DIR",
        help_heading = "Mail and SMS"
    )]
    pub mail_templates_dir: Option<std::path::PathBuf>,

    /// Lifetime of an email verification (or email change) code.
    #[arg(long, env = "AUTHGATE_EMAIL_CODE_TTL", default_value = "24h", value_parser = duration, help_heading = "Mail and SMS")]
    pub email_code_ttl: Duration,

    /// Lifetime of a password reset code.
    #[arg(long, env = "AUTHGATE_RESET_CODE_TTL", default_value = "30m", value_parser = duration, help_heading = "Mail and SMS")]
    pub reset_code_ttl: Duration,

    /// At most one code message of each kind (verification, reset, email change, phone binding,
    /// SMS sign-in) per address or number within this time.
    #[arg(long, env = "AUTHGATE_MAIL_COOLDOWN", default_value = "60s", value_parser = duration, help_heading = "Mail and SMS")]
    pub mail_cooldown: Duration,

    /// Mail the account's verified address after a change to how it signs in (password changed
    /// or reset, email changed, TOTP or phone added or removed), when its sign-in lockout
    /// reaches a new step, and when wrong TOTP codes after a right password lock the second
    /// factor. Unset: on when `AUTHGATE_SMTP_URL` is set, off otherwise.
    #[arg(long, env = "AUTHGATE_NOTIFY_SECURITY_CHANGES", action = ArgAction::Set, help_heading = "Mail and SMS")]
    pub notify_security_changes: Option<bool>,

    /// Requests per client IP per hour to the endpoints that send mail (0: no limit).
    #[arg(
        long,
        env = "AUTHGATE_MAIL_PER_IP_PER_HOUR",
        default_value_t = 30,
        help_heading = "Rate limits and lockout"
    )]
    pub mail_per_ip_per_hour: u32,

    /// Sign-in failure lockout per account, known or unknown alike, kept in the database so
    /// replicas share it: `failures:lock` steps, e.g. `5:30s,10:5m,20:1h` (from 5 consecutive
    /// failures each further failure locks the login for 30 s, from 10 for 5 min, from 20 for
    /// 1 h; while locked even the right password gets 429). Empty: no lockout.
    #[arg(long, env = "AUTHGATE_LOCKOUT_LADDER", default_value = "5:30s,10:5m,20:1h",
          value_parser = Ladder::parse,
          help_heading = "Rate limits and lockout"
    )]
    pub lockout_ladder: Ladder,

    /// Per-IP rate of each credential, code and mail endpoint (signup, signin, token password
    /// grant, verify-email, resend, password forgot/reset/change, sms, phone, TOTP): `N/period`,
    /// N at once at most; `0` turns it off.
    #[arg(long, env = "AUTHGATE_RATE_LIMIT_AUTH", default_value = "30/5m",
          value_parser = Rate::parse,
          help_heading = "Rate limits and lockout"
    )]
    pub rate_limit_auth: Rate,

    /// Per-IP rate of refreshes (`custom-refresh/` and the `refresh_token` grant together).
    #[arg(long, env = "AUTHGATE_RATE_LIMIT_REFRESH", default_value = "150/5m",
          value_parser = Rate::parse,
          help_heading = "Rate limits and lockout"
    )]
    pub rate_limit_refresh: Rate,

    /// Per-IP rate of every other endpoint under /api/v1/auth/ (the forward-auth `verify/` is
    /// never limited).
    #[arg(long, env = "AUTHGATE_RATE_LIMIT_API", default_value = "300/1m",
          value_parser = Rate::parse,
          help_heading = "Rate limits and lockout"
    )]
    pub rate_limit_api: Rate,

    /// Failed sign-ins (signin, token password grant, sms/signin) allowed per IP; over it
    /// every sign-in from that IP gets 429 until the budget refills.
    #[arg(long, env = "AUTHGATE_RATE_LIMIT_SIGNIN_FAILURES", default_value = "100/15m",
          value_parser = Rate::parse,
          help_heading = "Rate limits and lockout"
    )]
    pub rate_limit_signin_failures: Rate,

    /// Code mails and SMS per recipient per hour (on top of AUTHGATE_MAIL_COOLDOWN); requests
    /// over it answer as usual (202) and send nothing. 0: no cap.
    #[arg(
        long,
        env = "AUTHGATE_MESSAGES_PER_RECIPIENT_PER_HOUR",
        default_value_t = 10,
        help_heading = "Rate limits and lockout"
    )]
    pub messages_per_recipient_per_hour: u32,
    /// Refuse sign-in (403 email_not_verified) until the address is verified.
    #[arg(long, env = "AUTHGATE_REQUIRE_EMAIL_VERIFICATION", default_value_t = false, action = ArgAction::Set, help_heading = "Accounts")]
    pub require_email_verification: bool,

    /// Roles every new account gets (comma-separated lower-case names).
    #[arg(long, env = "AUTHGATE_DEFAULT_ROLES", default_value = "", value_parser = role_list, help_heading = "Accounts")]
    pub default_roles: std::vec::Vec<String>,

    /// The WebAuthn relying party ID passkeys are bound to: a domain, the front ends' host or a
    /// parent of it (a passkey made for `example.com` works on `app.example.com`). Default: the
    /// host of AUTHGATE_PUBLIC_URL. Changing it makes every registered passkey unusable.
    #[arg(long, env = "AUTHGATE_WEBAUTHN_RP_ID", value_parser = rp_id, help_heading = "Passkeys")]
    pub webauthn_rp_id: Option<String>,

    /// Origins whose pages may run passkey ceremonies (comma-separated, exact). Default:
    /// AUTHGATE_PUBLIC_URL's origin and AUTHGATE_ALLOWED_ORIGINS. Each must be on the RP ID's
    /// domain or below it.
    #[arg(long, env = "AUTHGATE_WEBAUTHN_ORIGINS", default_value = "", value_parser = origin_list, help_heading = "Passkeys")]
    pub webauthn_origins: std::vec::Vec<String>,

    /// The name browsers show when a passkey is made. Default: AUTHGATE_PRODUCT_NAME.
    #[arg(long, env = "AUTHGATE_WEBAUTHN_RP_NAME", help_heading = "Passkeys")]
    pub webauthn_rp_name: Option<String>,

    /// Webhook that delivers SMS: receives `POST {"to", "message"}` signed per the Standard
    /// Webhooks specification. Unset: SMS (with its codes) is written to the log; development only.
    #[arg(long, env = "AUTHGATE_SMS_WEBHOOK_URL", value_parser = webhook_url, help_heading = "Mail and SMS")]
    pub sms_webhook_url: Option<String>,

    /// Signing secret of the SMS webhook (`whsec_<base64>` as Standard Webhooks issues it, or
    /// any string of 16+ characters, used as raw bytes).
    #[arg(long, env = "AUTHGATE_SMS_WEBHOOK_SECRET", value_parser = pepper, hide_env_values = true, help_heading = "Mail and SMS")]
    pub sms_webhook_secret: Option<Secret>,

    /// How long one SMS webhook call may take before it counts as failed and is retried.
    #[arg(long, env = "AUTHGATE_SMS_TIMEOUT", default_value = "10s", value_parser = duration, help_heading = "Mail and SMS")]
    pub sms_timeout: Duration,

    /// Endpoints that receive signed events (comma-separated lower-case ids, e.g. `crm,audit`).
    /// Each id is configured by `AUTHGATE_WEBHOOK_<ID>_URL` (http(s)), `AUTHGATE_WEBHOOK_<ID>_SECRET`
    /// (`whsec_<base64 of 16+ bytes>`, as Standard Webhooks issues it; or
    /// `AUTHGATE_WEBHOOK_<ID>_SECRET_FILE`) and `AUTHGATE_WEBHOOK_<ID>_EVENTS` (comma-separated:
    /// user.created, user.updated, user.email_changed, user.deleted, user.disabled,
    /// session.created, session.revoked, password.changed, mfa.changed, role.changed; default
    /// all). Events are signed as Standard Webhooks says and delivered through the outbox: at
    /// least once, in order per user and endpoint. See docs/webhooks.md.
    #[arg(long, env = "AUTHGATE_WEBHOOKS", default_value = "", value_parser = webhooks::webhook_endpoints, help_heading = "Webhooks")]
    pub webhooks: std::vec::Vec<WebhookEndpoint>,

    /// How long one webhook delivery may take before it counts as failed and is retried.
    #[arg(long, env = "AUTHGATE_WEBHOOK_TIMEOUT", default_value = "10s", value_parser = duration, help_heading = "Webhooks")]
    pub webhook_timeout: Duration,

    /// Identity providers users may sign in with (comma-separated lower-case ids, e.g.
    /// `google,github`). Each id is configured by `AUTHGATE_PROVIDER_<ID>_CLIENT_ID`,
    /// `_CLIENT_SECRET` (or `_CLIENT_SECRET_FILE`), `_ISSUER` (OpenID Connect discovery) or
    /// `_AUTHORIZE_URL` + `_TOKEN_URL` + `_USERINFO_URL` (plain OAuth 2.0), `_SCOPES` (default
    /// `openid email profile`), `_PRESET` (google, microsoft, apple, github; default: the id when
    /// it names one, which fills in the endpoints and scopes), `_AUTO_LINK` (default false: a
    /// verified address matching an account signs in to it instead of asking the user to link),
    /// `_TRUST_MFA` (default false: an ID token whose `amr` has `mfa` counts as the second
    /// factor); Apple also `_TEAM_ID`, `_KEY_ID` and `_PRIVATE_KEY_FILE` (the .p8 key) in place of
    /// a secret. The callback to register at the provider is
    /// `<AUTHGATE_PUBLIC_URL>/api/v1/auth/oauth/<id>/callback/`. See docs/providers.md.
    #[arg(long, env = "AUTHGATE_PROVIDERS", default_value = "", value_parser = providers::providers, help_heading = "Identity providers")]
    pub providers: std::vec::Vec<ProviderConfig>,

    /// Where a browser may return after a provider sign-in (`return_to`): comma-separated
    /// absolute URLs, each matched exactly, or ending in `*` to match as a prefix on the same
    /// scheme, host and port (e.g. `https://app.example.com/auth/*`). The first is the default.
    #[arg(long, env = "AUTHGATE_REDIRECT_URLS", default_value = "", value_parser = redirects::redirect_rules, help_heading = "Identity providers")]
    pub redirect_urls: std::vec::Vec<RedirectRule>,

    /// How long one request to an identity provider (discovery, keys, code exchange, user) may
    /// take; past it the sign-in ends with `error=provider_unavailable`.
    #[arg(long, env = "AUTHGATE_PROVIDER_TIMEOUT", default_value = "10s", value_parser = duration, help_heading = "Identity providers")]
    pub provider_timeout: std::time::Duration,

    /// Signup requires an invitation code (`invite_code`), created with `authgate invites create`.
    #[arg(long, env = "AUTHGATE_INVITE_ONLY", default_value_t = false, action = ArgAction::Set, help_heading = "Accounts")]
    pub invite_only: bool,

    /// How often the outbox sender looks for due messages (it is also woken when mail is queued).
    #[arg(long, env = "AUTHGATE_OUTBOX_POLL_INTERVAL", default_value = "500ms", value_parser = duration, help_heading = "Mail and SMS")]
    pub outbox_poll_interval: Duration,

    /// Serve the example SPA under `/demo/` with a protected `GET /demo/api/hello` (development
    /// and demonstrations only; not part of the API).
    #[arg(long, env = "AUTHGATE_DEMO", default_value_t = false, action = ArgAction::Set, help_heading = "Server")]
    pub demo: bool,
    /// Sidecar proxy mode: the app to stand in front of, as `http://host:port`.
    /// Every request that is not authgate's own is checked like `verify/` and forwarded there.
    /// Off when unset.
    #[arg(long, env = "AUTHGATE_UPSTREAM", value_parser = upstream_url, help_heading = "Proxy mode")]
    pub upstream: Option<String>,

    /// Proxy mode: paths that pass without a token (comma-separated; exact, or a prefix with a
    /// trailing `*`, e.g. `/,/assets/*`). Incoming `X-Auth-*` headers are removed there too.
    #[arg(long, env = "AUTHGATE_PUBLIC_PATHS", default_value = "", value_parser = path_patterns, help_heading = "Proxy mode")]
    pub public_paths: std::vec::Vec<PathPattern>,

    /// Proxy mode: where a browser without a valid token is sent (302 with `return_to`); without
    /// it, HTML requests get the 401 too. An absolute http(s) URL or a path on this origin.
    #[arg(long, env = "AUTHGATE_LOGIN_URL", value_parser = login_url, help_heading = "Proxy mode")]
    pub login_url: Option<String>,

    /// Proxy mode: how long the upstream may take to answer (connect and response head) before
    /// the client gets 504 `upstream_timeout`.
    #[arg(long, env = "AUTHGATE_UPSTREAM_TIMEOUT", default_value = "30s", value_parser = duration, help_heading = "Proxy mode")]
    pub upstream_timeout: Duration,

    /// Proxy mode: pass the access token on to the upstream as `Authorization: Bearer`. Off, the
    /// upstream sees neither the Bearer header nor authgate's cookies.
    #[arg(long, env = "AUTHGATE_PROXY_PASS_TOKEN", default_value_t = false, action = ArgAction::Set, help_heading = "Proxy mode")]
    pub proxy_pass_token: bool,

    /// Proxy mode: paths (same syntax as AUTHGATE_PUBLIC_PATHS; `/*` for all) where the token
    /// must carry a verified email, else 403 `email_not_verified`.
    #[arg(long, env = "AUTHGATE_PROXY_REQUIRE_VERIFIED_EMAIL", default_value = "", value_parser = path_patterns, help_heading = "Proxy mode")]
    pub proxy_require_verified_email: std::vec::Vec<PathPattern>,

    /// Proxy mode: paths (same syntax; `/*` for all) where the token must be `aal2`
    /// (multi-factor sign-in), else 403 `mfa_required`.
    #[arg(long, env = "AUTHGATE_PROXY_REQUIRE_AAL2", default_value = "", value_parser = path_patterns, help_heading = "Proxy mode")]
    pub proxy_require_aal2: std::vec::Vec<PathPattern>,

    /// Proxy mode: `path:role` rules, comma-separated (`/admin/*:admin,/billing/*:billing`; the
    /// path syntax as AUTHGATE_PUBLIC_PATHS): a request to a matching path needs a token with
    /// that role, else 403 `forbidden`. Roles reach a token at sign-in and at each refresh.
    #[arg(long, env = "AUTHGATE_PROXY_REQUIRE_ROLE", default_value = "", value_parser = role_rules, help_heading = "Proxy mode")]
    pub proxy_require_role: std::vec::Vec<RoleRule>,

    /// Log format.
    #[arg(
        long,
        env = "AUTHGATE_LOG_FORMAT",
        value_enum,
        default_value = "auto",
        help_heading = "Server"
    )]
    pub log_format: LogFormat,

    /// Log filter in RUST_LOG syntax.
    #[arg(
        long,
        env = "AUTHGATE_LOG",
        default_value = "info",
        help_heading = "Server"
    )]
    pub log: String,

    /// How often dead rows are deleted (ended sessions, spent codes, old messages and audit
    /// events; one replica at a time, in small batches); `0` turns the clean-up off.
    #[arg(long, env = "AUTHGATE_RETENTION_INTERVAL", default_value = "10m", value_parser = duration, help_heading = "Retention")]
    pub retention_interval: Duration,

    /// How long a sent mail, SMS or webhook event is kept (a body may hold a code, sealed only
    /// with an encryption key); at least 1h, the window of the per-recipient hourly cap.
    #[arg(long, env = "AUTHGATE_OUTBOX_RETENTION", default_value = "24h", value_parser = duration, help_heading = "Retention")]
    pub outbox_retention: Duration,

    /// How long a message or webhook event that could not be delivered is kept, for
    /// investigating the failure.
    #[arg(long, env = "AUTHGATE_OUTBOX_FAILED_RETENTION", default_value = "7d", value_parser = duration, help_heading = "Retention")]
    pub outbox_failed_retention: Duration,

    /// How long audit events (sign-ins, changes, with IP and user agent) are kept. 180 days:
    /// long enough to investigate an incident found a season later, short enough that a copy
    /// of the database does not reveal years of where users signed in from.
    #[arg(long, env = "AUTHGATE_AUDIT_RETENTION", default_value = "180d", value_parser = duration, help_heading = "Retention")]
    pub audit_retention: Duration,
}

impl Settings {
    /// `AUTHGATE_NOTIFY_SECURITY_CHANGES` resolved: on by default only where mail really goes out.
    pub fn notifies_security_changes(&self) -> bool {
        self.notify_security_changes
            .unwrap_or(self.smtp_url.is_some())
    }

    /// Cross-field checks clap cannot express.
    pub fn check(&self) -> Result<(), String> {
        if self.jwt_algorithm == JwtAlgorithm::Hs256 {
            match &self.jwt_secret {
                Some(s) if s.expose().len() >= 32 => {}
                Some(_) => {
                    return Err("AUTHGATE_JWT_SECRET must be at least 32 bytes for HS256".into())
                }
                None => return Err("AUTHGATE_JWT_ALGORITHM=HS256 needs AUTHGATE_JWT_SECRET".into()),
            }
        }
        if self
            .key_rotation_interval
            .is_some_and(|i| i <= self.key_publish_delay + 2 * self.access_token_ttl)
        {
            return Err("AUTHGATE_KEY_ROTATION_INTERVAL must exceed the publish delay plus twice the access-token TTL".into());
        }
        if self.database_pool_size == 0 {
            return Err("AUTHGATE_DATABASE_POOL_SIZE must be at least 1".into());
        }
        if self.access_token_ttl.is_zero()
            || self.session_ttl.is_zero()
            || self.remember_me_ttl.is_zero()
        {
            return Err("token and session lifetimes must be positive".into());
        }
        if self.session_hint_cookie_name == self.access_cookie_name
            || self.session_hint_cookie_name == self.refresh_cookie_name
        {
            return Err(
                "AUTHGATE_SESSION_HINT_COOKIE_NAME must differ from the token cookies' names"
                    .into(),
            );
        }
        if self.cookie_samesite == SameSite::None && !self.cookie_secure {
            return Err("AUTHGATE_COOKIE_SAMESITE=none requires AUTHGATE_COOKIE_SECURE=true (browsers drop such cookies)".into());
        }
        if self.mail_from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(
                "AUTHGATE_MAIL_FROM must be an address such as `Example <auth@example.com>`".into(),
            );
        }
        if self.sms_webhook_url.is_some() && self.sms_webhook_secret.is_none() {
            return Err(
                "AUTHGATE_SMS_WEBHOOK_URL needs AUTHGATE_SMS_WEBHOOK_SECRET (requests are signed)"
                    .into(),
            );
        }
        if !self.webhooks.is_empty() && self.webhook_timeout.is_zero() {
            return Err("AUTHGATE_WEBHOOK_TIMEOUT must be positive".into());
        }
        if self.email_code_ttl.is_zero() || self.reset_code_ttl.is_zero() {
            return Err("code lifetimes must be positive".into());
        }
        if self.upstream.is_some() && self.upstream_timeout.is_zero() {
            return Err("AUTHGATE_UPSTREAM_TIMEOUT must be positive".into());
        }
        if self.outbox_retention < Duration::from_secs(3600)
            || self.outbox_failed_retention < Duration::from_secs(3600)
        {
            return Err("AUTHGATE_OUTBOX_RETENTION and AUTHGATE_OUTBOX_FAILED_RETENTION must be at least 1h (the per-recipient hourly cap counts those messages)".into());
        }
        if self.outbox_poll_interval.is_zero() {
            return Err("AUTHGATE_OUTBOX_POLL_INTERVAL must be positive".into());
        }
        if let Some(domain) = &self.cookie_domain {
            if domain.is_empty() || domain.contains(['/', ';', ' ', ',']) {
                return Err(
                    "AUTHGATE_COOKIE_DOMAIN must be a bare domain such as example.com".into(),
                );
            }
        }
        if self.password_breach_check && self.password_breach_timeout.is_zero() {
            return Err("AUTHGATE_PASSWORD_BREACH_TIMEOUT must be positive".into());
        }
        if let Some(login) = self.login_url_on_this_origin() {
            if self.upstream.is_some()
                && !crate::paths::is_own_path(login)
                && !crate::paths::rules::is_public(&self.public_paths, login)
            {
                return Err(format!(
                    "AUTHGATE_LOGIN_URL's path `{login}` is not in AUTHGATE_PUBLIC_PATHS: \
                     a signed-out browser would be sent to the login page, refused, and sent there again"
                ));
            }
        }
        if self.smtp_url.is_some() && self.frontend_url.is_none() && self.upstream.is_none() {
            return Err(
                "AUTHGATE_SMTP_URL is set but AUTHGATE_FRONTEND_URL is not: links in mails \
                 (/verify-email, /reset-password) would point at authgate itself, which serves no \
                 pages; set AUTHGATE_FRONTEND_URL to the origin of the front end that handles them"
                    .into(),
            );
        }
        if !self.providers.is_empty() && self.provider_timeout.is_zero() {
            return Err("AUTHGATE_PROVIDER_TIMEOUT must be positive".into());
        }
        if !self.providers.is_empty() && self.redirect_urls.is_empty() {
            return Err("AUTHGATE_PROVIDERS is set but AUTHGATE_REDIRECT_URLS is empty: a provider sign-in must end on a page of the front end".into());
        }
        self.check_webauthn()?;
        if self.captcha_provider != CaptchaProvider::None {
            if self
                .captcha_secret
                .as_ref()
                .is_none_or(|s| s.expose().trim().is_empty())
            {
                return Err(
                    "AUTHGATE_CAPTCHA_PROVIDER is set: AUTHGATE_CAPTCHA_SECRET is required".into(),
                );
            }
            if self.captcha_provider == CaptchaProvider::Hcaptcha && self.captcha_action.is_some() {
                return Err("AUTHGATE_CAPTCHA_ACTION cannot be checked with hCaptcha (its answers carry no action)".into());
            }
            if self.captcha_timeout.is_zero() {
                return Err("AUTHGATE_CAPTCHA_TIMEOUT must be positive".into());
            }
        }
        Ok(())
    }

    /// The relying party ID passkeys are bound to: the setting, else AUTHGATE_PUBLIC_URL's host.
    pub fn webauthn_rp_id(&self) -> String {
        self.webauthn_rp_id
            .clone()
            .unwrap_or_else(|| origin_host(&self.public_url).to_owned())
    }

    /// The origins allowed in a ceremony's client data: AUTHGATE_WEBAUTHN_ORIGINS; by default
    /// AUTHGATE_PUBLIC_URL's origin and those of AUTHGATE_ALLOWED_ORIGINS that are on the RP ID
    /// ([`Self::webauthn_origins_left_out`] names the others).
    pub fn webauthn_origins(&self) -> Vec<String> {
        if !self.webauthn_origins.is_empty() {
            return self.webauthn_origins.clone();
        }
        let rp_id = self.webauthn_rp_id();
        let mut origins = Vec::new();
        for o in std::iter::once(&self.public_url).chain(&self.allowed_origins) {
            if on_rp_id(o, &rp_id) && !origins.contains(o) {
                origins.push(o.clone());
            }
        }
        origins
    }

    /// Default origins that cannot use passkeys (not on the RP ID): logged at start-up, since
    /// nobody chose them for passkeys. Explicit settings that cannot work refuse to start.
    pub fn webauthn_origins_left_out(&self) -> Vec<String> {
        if !self.webauthn_origins.is_empty() {
            return Vec::new();
        }
        let rp_id = self.webauthn_rp_id();
        std::iter::once(&self.public_url)
            .chain(&self.allowed_origins)
            .filter(|o| !on_rp_id(o, &rp_id))
            .cloned()
            .collect()
    }

    /// The name browsers show for the relying party.
    pub fn webauthn_rp_name(&self) -> &str {
        self.webauthn_rp_name
            .as_deref()
            .unwrap_or(&self.product_name)
    }

    /// An origin chosen for passkeys whose host is neither the RP ID nor below it can never
    /// complete a ceremony (browsers refuse it): refused at start-up rather than failing every
    /// user later. So is an explicit RP ID that none of the default origins can use.
    fn check_webauthn(&self) -> Result<(), String> {
        let rp_id = self.webauthn_rp_id();
        for origin in &self.webauthn_origins {
            if !on_rp_id(origin, &rp_id) {
                return Err(format!(
                    "AUTHGATE_WEBAUTHN_ORIGINS: `{origin}` is not on the relying party ID `{rp_id}` \
                     or below it, so browsers would refuse every passkey there; set \
                     AUTHGATE_WEBAUTHN_RP_ID to a domain both share"
                ));
            }
        }
        if self.webauthn_rp_id.is_some() && self.webauthn_origins().is_empty() {
            return Err(format!(
                "AUTHGATE_WEBAUTHN_RP_ID `{rp_id}`: neither AUTHGATE_PUBLIC_URL nor any of \
                 AUTHGATE_ALLOWED_ORIGINS is on it or below it, so no page could use a passkey; \
                 set AUTHGATE_WEBAUTHN_ORIGINS to the front ends' origins"
            ));
        }
        Ok(())
    }

    /// The path of `AUTHGATE_LOGIN_URL` when the login page is served on this service's own
    /// origin (a bare path, or an absolute URL on `AUTHGATE_PUBLIC_URL`'s origin): in proxy mode
    /// that page is the upstream's, behind authgate's own checks.
    fn login_url_on_this_origin(&self) -> Option<&str> {
        let login = self.login_url.as_deref()?;
        let rest = if login.starts_with('/') {
            login
        } else {
            let origin = self.public_url.trim_end_matches('/');
            let rest = login.strip_prefix(origin)?;
            if !(rest.is_empty() || rest.starts_with(['/', '?'])) {
                return None;
            }
            rest
        };
        let path = rest.split('?').next().unwrap_or_default();
        Some(if path.is_empty() { "/" } else { path })
    }

    /// Settings with every default, for tests and tools: equivalent to no flags and no env.
    pub fn defaults() -> Self {
        Defaults::parse_from(["authgate"]).settings
    }

    /// Whether a request to `path` (canonical, as routed) is forwarded to the upstream rather
    /// than answered by authgate: proxy mode is on and the path is not one of authgate's own.
    pub fn is_proxied(&self, path: &str) -> bool {
        self.upstream.is_some() && !crate::paths::is_own_path(path)
    }
}

/// Whether a page on `origin` may use passkeys bound to `rp_id`: its host is the RP ID or a
/// subdomain of it.
fn on_rp_id(origin: &str, rp_id: &str) -> bool {
    let host = origin_host(origin).to_ascii_lowercase();
    host == rp_id || host.ends_with(&format!(".{rp_id}"))
}

/// The settings alone, as `Settings::defaults` parses them.
#[derive(Parser)]
struct Defaults {
    #[command(flatten)]
    settings: Settings,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hs256_needs_a_long_secret() {
        let mut s = Settings::defaults();
        s.jwt_algorithm = JwtAlgorithm::Hs256;
        assert!(s.check().is_err());
        s.jwt_secret = Some(Secret::new("short"));
        assert!(s.check().is_err());
        s.jwt_secret = Some(Secret::new("x".repeat(32)));
        assert!(s.check().is_ok());
    }

    #[test]
    fn passkey_origins_must_be_on_the_relying_party_id() {
        let mut s = Settings::defaults();
        assert_eq!(s.webauthn_rp_id(), "localhost");
        assert_eq!(
            s.webauthn_origins(),
            vec!["http://localhost:8080".to_owned()]
        );
        s.public_url = "https://auth.example.com".into();
        s.allowed_origins = vec!["https://app.example.com".into()];
        // By default the RP ID is the public host: the app's origin cannot use it, and is left
        // out (logged), not refused: nobody chose it for passkeys.
        assert!(s.check().is_ok());
        assert_eq!(
            s.webauthn_origins(),
            vec!["https://auth.example.com".to_owned()]
        );
        assert_eq!(
            s.webauthn_origins_left_out(),
            vec!["https://app.example.com".to_owned()]
        );
        // A shared parent domain serves both.
        s.webauthn_rp_id = Some("example.com".into());
        assert!(s.check().is_ok());
        assert_eq!(s.webauthn_origins().len(), 2);
        // Explicit origins that cannot work refuse to start, naming the setting.
        s.webauthn_origins = vec!["https://app.example.org".into()];
        assert!(s.check().is_err_and(
            |e| e.contains("AUTHGATE_WEBAUTHN_ORIGINS") && e.contains("app.example.org")
        ));
        // `badexample.com` is not below `example.com`.
        s.webauthn_origins = vec!["https://badexample.com".into()];
        assert!(s.check().is_err());
        s.webauthn_origins = vec!["https://login.app.example.com:8443".into()];
        assert!(s.check().is_ok());
        // An explicit RP ID no default origin is on.
        s.webauthn_origins = vec![];
        s.webauthn_rp_id = Some("other.example".into());
        assert!(s
            .check()
            .is_err_and(|e| e.contains("AUTHGATE_WEBAUTHN_RP_ID")));
    }

    #[test]
    fn a_relying_party_id_is_a_domain_name() {
        assert_eq!(rp_id("Example.COM.").unwrap(), "example.com");
        assert_eq!(rp_id("localhost").unwrap(), "localhost");
        for bad in [
            "",
            "https://example.com",
            "example.com:443",
            "example.com/x",
            "127.0.0.1",
            "-a.com",
            "a..com",
        ] {
            assert!(rp_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_login_page_behind_the_proxy_must_be_public() {
        let mut s = Settings::defaults();
        s.upstream = Some("http://127.0.0.1:3000".into());
        s.public_url = "https://app.example.com".into();
        for login in [
            "/login",
            "https://app.example.com/login?next=1",
            "https://app.example.com",
        ] {
            s.login_url = Some(login.into());
            s.public_paths = vec![];
            assert!(
                s.check().is_err_and(|e| e.contains("AUTHGATE_LOGIN_URL")),
                "{login}"
            );
        }
        s.login_url = Some("/login".into());
        s.public_paths = vec![PathPattern::parse("/login").unwrap()];
        assert!(s.check().is_ok());
        s.public_paths = vec![PathPattern::parse("/assets/*").unwrap()];
        assert!(s.check().is_err());
        // On another origin, or authgate's own page: nothing of the upstream's to check.
        for login in [
            "https://id.example.com/login",
            "https://app.example.com.evil/login",
            "/api/v1/auth/signin/",
        ] {
            s.login_url = Some(login.into());
            assert!(s.check().is_ok(), "{login}");
        }
        // Without proxy mode the login URL is not used.
        s.upstream = None;
        s.login_url = Some("/login".into());
        assert!(s.check().is_ok());
    }

    #[test]
    fn mail_links_need_a_front_end_unless_the_app_is_behind_the_proxy() {
        let mut s = Settings::defaults();
        assert!(
            s.check().is_ok(),
            "mails to the log only: links are for reading"
        );
        s.smtp_url = Some(SmtpUrl::parse("smtp://127.0.0.1:25").unwrap());
        assert!(s
            .check()
            .is_err_and(|e| e.contains("AUTHGATE_FRONTEND_URL")));
        s.frontend_url = Some("https://app.example.com".into());
        assert!(s.check().is_ok());
        s.frontend_url = None;
        s.upstream = Some("http://127.0.0.1:3000".into());
        assert!(
            s.check().is_ok(),
            "the public URL is the app's own origin in proxy mode"
        );
    }

    #[test]
    fn a_captcha_provider_needs_a_secret() {
        let mut s = Settings::defaults();
        assert_eq!(s.captcha_provider, CaptchaProvider::None);
        assert_eq!(s.captcha_timeout, Duration::from_secs(3));
        assert_eq!(s.captcha_min_score, 0.5);
        assert!(s.check().is_ok());
        s.captcha_provider = CaptchaProvider::Turnstile;
        assert!(s.check().is_err());
        s.captcha_secret = Some(Secret::new("0x4AAA"));
        assert!(s.check().is_ok());
        s.captcha_timeout = Duration::ZERO;
        assert!(s.check().is_err());
    }
}
