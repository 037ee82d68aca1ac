//! The one typed configuration: every field is a flag and an `AUTHGATE_*` variable, and
//! `authgate --help` prints the doc comments below. Values are parsed into domain types here so
//! that a bad setting stops startup with one clear line instead of failing on first use.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine as _;
use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};
use ipnet::IpNet;

/// A value that must never reach a log: `Debug` and `Display` print a placeholder.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(\"[redacted]\")")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

/// Where the data lives; the scheme picks the backend.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// A file path (`sqlite://authgate.db` is `authgate.db` in the working directory).
    Sqlite(String),
    Postgres(String),
}

impl DatabaseUrl {
    pub fn parse(raw: &str) -> Result<Self, String> {
        if let Some(path) = raw
            .strip_prefix("sqlite://")
            .or_else(|| raw.strip_prefix("sqlite:"))
        {
            if path.is_empty() {
                return Err("sqlite URL needs a file path, e.g. sqlite://authgate.db".into());
            }
            if path.contains(":memory:") {
                return Err("in-memory SQLite is not supported: every pooled connection would see its own database".into());
            }
            Ok(Self::Sqlite(path.to_owned()))
        } else if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            Ok(Self::Postgres(raw.to_owned()))
        } else {
            Err("expected sqlite://PATH or postgres://USER@HOST/DB".into())
        }
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgresql",
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    /// The password of a PostgreSQL URL is replaced, so the effective configuration can be logged.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "sqlite://{path}"),
            Self::Postgres(url) => f.write_str(&redact_url_password(url)),
        }
    }
}

/// `scheme://user:password@host` → `scheme://user:[redacted]@host`.
pub fn redact_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:[redacted]@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// Where mail goes. `Debug` shows the URL with its password replaced.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpUrl(String);

impl SmtpUrl {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if !(raw.starts_with("smtp://") || raw.starts_with("smtps://")) {
            return Err("expected smtp://[user:password@]host[:port] or smtps://...".into());
        }
        Ok(Self(raw.to_owned()))
    }

    /// The full URL, password included: for the SMTP client only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `(userinfo, everything after the '@')`, if the URL carries credentials. The last `@`
    /// before the query counts, so an unencoded `@` or `/` in the password cannot hide it.
    fn split_userinfo(&self) -> Option<(&str, &str, &str)> {
        let (scheme, rest) = self.0.split_once("://")?;
        let before_query = &rest[..rest.find('?').unwrap_or(rest.len())];
        let at = before_query.rfind('@')?;
        Some((scheme, &rest[..at], &rest[at + 1..]))
    }

    /// The password in the URL, percent-decoded, if any: used to scrub it from error texts.
    pub fn password(&self) -> Option<String> {
        let (_, userinfo, _) = self.split_userinfo()?;
        let (_, password) = userinfo.split_once(':')?;
        Some(percent_decode(password))
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Some(b) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl fmt::Debug for SmtpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.split_userinfo() {
            Some((scheme, userinfo, host)) => {
                let user = userinfo.split(':').next().unwrap_or_default();
                write!(f, "{scheme}://{user}:[redacted]@{host}")
            }
            None => f.write_str(&self.0),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum JwtAlgorithm {
    #[value(name = "EdDSA")]
    EdDsa,
    #[value(name = "ES256")]
    Es256,
    #[value(name = "RS256")]
    Rs256,
    #[value(name = "HS256")]
    Hs256,
}

impl JwtAlgorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EdDsa => "EdDSA",
            Self::Es256 => "ES256",
            Self::Rs256 => "RS256",
            Self::Hs256 => "HS256",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Self::EdDsa, Self::Es256, Self::Rs256, Self::Hs256]
            .into_iter()
            .find(|a| a.as_str() == s)
    }
}

/// The CPU priority of the password hashing threads (`hashing_pool`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum HashPriority {
    /// Only CPU time no other thread wants (`SCHED_IDLE`).
    Idle,
    /// nice +10: a tenth of a busy core's share.
    Low,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SameSite {
    Strict,
    Lax,
    None,
}

/// Which captcha service verifies the tokens of public endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CaptchaProvider {
    /// No captcha: tokens are ignored.
    None,
    /// Google reCAPTCHA v2 or v3 (v3 answers carry a score).
    Recaptcha,
    Hcaptcha,
    /// Cloudflare Turnstile.
    Turnstile,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// `pretty` on a terminal, `json` otherwise.
    Auto,
    Pretty,
    Json,
}

fn duration(raw: &str) -> Result<Duration, String> {
    humantime::parse_duration(raw).map_err(|e| format!("{e} (write durations like 15m, 24h, 30d)"))
}

fn public_url(raw: &str) -> Result<String, String> {
    let trimmed = raw.trim().trim_end_matches('/');
    let rest = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"))
        .ok_or("must start with http:// or https://")?;
    if rest.is_empty() || rest.contains(['/', '?', '#', ' ']) {
        return Err("must be an origin such as https://auth.example.com (no path)".into());
    }
    Ok(trimmed.to_owned())
}

fn origin_list(raw: &str) -> Result<Vec<String>, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(public_url)
        .collect()
}

/// `http://host:port[/base]`: plain http, the sidecar's app on localhost (no TLS to the upstream).
fn upstream_url(raw: &str) -> Result<String, String> {
    let trimmed = raw.trim().trim_end_matches('/');
    let rest = trimmed
        .strip_prefix("http://")
        .ok_or("must start with http:// (the upstream is the app next to authgate; TLS to it is not supported)")?;
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() || rest.contains(['?', '#', ' ', '@']) {
        return Err("must be http://host:port with an optional base path and no query".into());
    }
    Ok(trimmed.to_owned())
}

fn path_patterns(raw: &str) -> Result<Vec<crate::proxy::rules::PathPattern>, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(crate::proxy::rules::PathPattern::parse)
        .collect()
}

/// An absolute http(s) URL without a fragment, or an absolute path (not `//host`).
fn login_url(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    let ok = if let Some(path) = raw.strip_prefix('/') {
        !path.starts_with(['/', '\\'])
    } else {
        raw.strip_prefix("https://")
            .or_else(|| raw.strip_prefix("http://"))
            .is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/'))
    };
    if !ok || raw.contains(['#', ' ']) {
        return Err("must be an absolute http(s) URL or a path starting with /".into());
    }
    Ok(raw.to_owned())
}

fn proxy_list(raw: &str) -> Result<Vec<IpNet>, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| format!("`{s}` is not an IP address or CIDR range"))
        })
        .collect()
}

fn http_url(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    let rest = raw
        .strip_prefix("https://")
        .or_else(|| raw.strip_prefix("http://"))
        .ok_or("must start with http:// or https://")?;
    if rest.is_empty() || rest.starts_with('/') || rest.contains(' ') {
        return Err("must be an absolute URL such as https://example.com/siteverify".into());
    }
    Ok(raw.to_owned())
}

fn score(raw: &str) -> Result<f64, String> {
    let v: f64 = raw.parse().map_err(|_| "must be a number")?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err("must be between 0.0 and 1.0".into())
    }
}

fn name_list(raw: &str) -> Result<Vec<String>, String> {
    Ok(raw
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect())
}

fn bcrypt_cost(raw: &str) -> Result<u32, String> {
    let cost: u32 = raw.parse().map_err(|_| "must be a number")?;
    if (4..=31).contains(&cost) {
        Ok(cost)
    } else {
        Err("must be between 4 and 31".into())
    }
}

fn webhook_url(raw: &str) -> Result<String, String> {
    if raw.starts_with("https://") || raw.starts_with("http://") {
        Ok(raw.to_owned())
    } else {
        Err("must be an http(s) URL".into())
    }
}

fn pepper(raw: &str) -> Result<Secret, String> {
    if raw.len() < 16 {
        return Err("must be at least 16 characters".into());
    }
    Ok(Secret::new(raw))
}

fn encryption_key(raw: &str) -> Result<EncryptionKey, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(raw.trim())
        .map_err(|_| "must be base64 (e.g. `openssl rand -base64 32`)")?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map(EncryptionKey)
        .map_err(|_| "must decode to exactly 32 bytes".into())
}

fn cookie_name(raw: &str) -> Result<String, String> {
    let ok = !raw.is_empty()
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if !ok {
        return Err("may hold only letters, digits, `-`, `_` and `.`".into());
    }
    if raw.starts_with("__Host-") {
        return Err("`__Host-` cannot be used: the refresh cookie is scoped to a path".into());
    }
    Ok(raw.to_owned())
}

/// A 32-byte key for sealing secrets at rest.
#[derive(Clone, PartialEq, Eq)]
pub struct EncryptionKey(pub [u8; 32]);

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EncryptionKey([redacted])")
    }
}

#[derive(Debug, Parser)]
#[command(name = "authgate", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub settings: Settings,
}

#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Run the HTTP service (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Exit 0 when the local /readyz answers 200 (for Docker HEALTHCHECK without curl).
    Healthcheck,
    /// Signing keys: list them, or schedule a rotation.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Accounts: create (password read from stdin), list, disable (ends every session), enable.
    Users {
        #[command(subcommand)]
        action: UsersAction,
    },
    /// Invitation codes for AUTHGATE_INVITE_ONLY=true: create (prints the code) and list.
    Invites {
        #[command(subcommand)]
        action: InvitesAction,
    },
}

#[derive(Debug, Clone, Subcommand)]
pub enum UsersAction {
    /// Create an account; the password is read from standard input (first line).
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: Option<String>,
        /// Mark the address as verified.
        #[arg(long)]
        verified: bool,
    },
    /// Every account with its state.
    List,
    /// Disable an account and end every session of it at once.
    Disable {
        #[arg(long)]
        email: String,
    },
    /// Enable a disabled account.
    Enable {
        #[arg(long)]
        email: String,
    },
}

#[derive(Debug, Clone, Subcommand)]
pub enum InvitesAction {
    /// Create a code and print it (only its hash is stored).
    Create {
        /// How many signups the code allows.
        #[arg(long, default_value_t = 1)]
        uses: u32,
        /// Lifetime, e.g. `7d` (default: no expiry).
        #[arg(long, value_parser = duration)]
        expires: Option<Duration>,
    },
    /// Every code (hash prefix, uses, expiry).
    List,
}

#[derive(Debug, Clone, Subcommand)]
pub enum KeysAction {
    /// Every stored key with its state (pending, active, retired, expired).
    List,
    /// Publish a new key now; it signs after AUTHGATE_KEY_PUBLISH_DELAY and the current one
    /// retires then, staying published for twice the access-token lifetime.
    Rotate,
}

/// Every setting of the service. Flags may come before or after the subcommand.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Address to listen on.
    #[arg(
        long,
        env = "AUTHGATE_LISTEN",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub listen: SocketAddr,

    /// Database: sqlite://FILE (created on first start) or postgres://USER@HOST/DB.
    #[arg(long, env = "AUTHGATE_DATABASE_URL", default_value = "sqlite://authgate.db",
          value_parser = DatabaseUrl::parse, global = true)]
    pub database_url: DatabaseUrl,

    /// Connections in the database pool.
    #[arg(
        long,
        env = "AUTHGATE_DATABASE_POOL_SIZE",
        default_value_t = 8,
        global = true
    )]
    pub database_pool_size: u32,

    /// How long a request waits for a database connection before it gets 503.
    #[arg(long, env = "AUTHGATE_DATABASE_TIMEOUT", default_value = "3s", value_parser = duration, global = true)]
    pub database_timeout: Duration,

    /// Apply pending migrations when `serve` starts.
    #[arg(long, env = "AUTHGATE_AUTO_MIGRATE", default_value_t = true, action = ArgAction::Set, global = true)]
    pub auto_migrate: bool,

    /// The service's own origin: the `iss` claim and links derive from it.
    #[arg(long, env = "AUTHGATE_PUBLIC_URL", default_value = "http://localhost:8080",
          value_parser = public_url, global = true)]
    pub public_url: String,

    /// The `aud` claim of access tokens.
    #[arg(
        long,
        env = "AUTHGATE_AUDIENCE",
        default_value = "authgate",
        global = true
    )]
    pub audience: String,

    /// Lifetime of an access token.
    #[arg(long, env = "AUTHGATE_ACCESS_TOKEN_TTL", default_value = "15m", value_parser = duration, global = true)]
    pub access_token_ttl: Duration,

    /// Absolute lifetime of a session signed in without remember-me.
    #[arg(long, env = "AUTHGATE_SESSION_TTL", default_value = "24h", value_parser = duration, global = true)]
    pub session_ttl: Duration,

    /// Absolute lifetime of a remember-me session (its refresh cookie is persistent).
    #[arg(long, env = "AUTHGATE_REMEMBER_ME_TTL", default_value = "30d", value_parser = duration, global = true)]
    pub remember_me_ttl: Duration,

    /// A session not refreshed for this long ends.
    #[arg(long, env = "AUTHGATE_SESSION_IDLE_TIMEOUT", default_value = "7d", value_parser = duration, global = true)]
    pub session_idle_timeout: Duration,

    /// How long the previous refresh token still answers (concurrent tabs, lost responses).
    #[arg(long, env = "AUTHGATE_REFRESH_REUSE_GRACE", default_value = "10s", value_parser = duration, global = true)]
    pub refresh_reuse_grace: Duration,

    /// Signing algorithm of access tokens.
    #[arg(
        long,
        env = "AUTHGATE_JWT_ALGORITHM",
        value_enum,
        default_value = "EdDSA",
        global = true
    )]
    pub jwt_algorithm: JwtAlgorithm,

    /// Shared secret for HS256 (raw bytes, 32 at least); unused by the other algorithms.
    #[arg(
        long,
        env = "AUTHGATE_JWT_SECRET",
        hide_env_values = true,
        global = true
    )]
    pub jwt_secret: Option<Secret>,

    /// Set `Secure` on cookies; turn off only for plain-http local development.
    #[arg(long, env = "AUTHGATE_COOKIE_SECURE", default_value_t = true, action = ArgAction::Set, global = true)]
    pub cookie_secure: bool,

    /// `SameSite` attribute of both cookies.
    #[arg(
        long,
        env = "AUTHGATE_COOKIE_SAMESITE",
        value_enum,
        default_value = "lax",
        global = true
    )]
    pub cookie_samesite: SameSite,

    /// `Domain` attribute of both cookies (share them with sibling subdomains); none by default.
    #[arg(long, env = "AUTHGATE_COOKIE_DOMAIN", global = true)]
    pub cookie_domain: Option<String>,

    /// Name of the access-token cookie (`__Secure-access_token` adds the browser-enforced prefix).
    #[arg(long, env = "AUTHGATE_ACCESS_COOKIE_NAME", default_value = "access_token", value_parser = cookie_name, global = true)]
    pub access_cookie_name: String,

    /// Name of the refresh-token cookie.
    #[arg(long, env = "AUTHGATE_REFRESH_COOKIE_NAME", default_value = "refresh_token", value_parser = cookie_name, global = true)]
    pub refresh_cookie_name: String,

    /// Browser origins allowed to call with credentials (comma-separated, exact match).
    #[arg(long, env = "AUTHGATE_ALLOWED_ORIGINS", default_value = "", value_parser = origin_list, global = true)]
    pub allowed_origins: std::vec::Vec<String>,

    /// Proxies whose X-Forwarded-For is believed (comma-separated IPs or CIDR ranges).
    #[arg(long, env = "AUTHGATE_TRUSTED_PROXIES", default_value = "", value_parser = proxy_list, global = true)]
    pub trusted_proxies: std::vec::Vec<IpNet>,

    /// bcrypt cost for new password hashes.
    #[arg(long, env = "AUTHGATE_BCRYPT_COST", default_value = "10", value_parser = bcrypt_cost, global = true)]
    pub bcrypt_cost: u32,

    /// Key of the HMAC pre-hash of passwords (16+ characters). Changing it invalidates every password.
    #[arg(long, env = "AUTHGATE_PASSWORD_PEPPER", value_parser = pepper, hide_env_values = true, global = true)]
    pub password_pepper: Option<Secret>,

    /// Extra context words refused in new passwords (comma-separated, e.g. company and product
    /// names). Always refused too: "authgate", AUTHGATE_PRODUCT_NAME, the account's email address,
    /// its local part and domain labels. A word (4+ characters) is refused when it makes up most of
    /// the password (fewer than 8 other characters left), and so is a password too close to the
    /// email address. Sign-in never applies these rules.
    #[arg(long, env = "AUTHGATE_PASSWORD_CONTEXT_WORDS", default_value = "", value_parser = name_list, global = true)]
    pub password_context_words: std::vec::Vec<String>,

    /// Check new passwords against Have I Been Pwned's range API (k-anonymity: only the first 5
    /// hex digits of the SHA-1 leave the service). Off by default: it needs outbound HTTPS.
    #[arg(long, env = "AUTHGATE_PASSWORD_BREACH_CHECK", default_value_t = false, action = ArgAction::Set, global = true)]
    pub password_breach_check: bool,

    /// Base URL of the Pwned Passwords range API (`GET {url}/range/{prefix}`).
    #[arg(long, env = "AUTHGATE_PASSWORD_BREACH_API_URL", default_value = "https://api.pwnedpasswords.com", value_parser = http_url, global = true)]
    pub password_breach_api_url: String,

    /// How long the breach check may take, connection included.
    #[arg(long, env = "AUTHGATE_PASSWORD_BREACH_TIMEOUT", default_value = "2s", value_parser = duration, global = true)]
    pub password_breach_timeout: Duration,

    /// When the breach API fails or is slow: false accepts the password (logged at WARN and
    /// counted in `authgate_password_breach_checks_total{outcome="unavailable"}`); true refuses
    /// the request with 503 `service_unavailable`.
    #[arg(long, env = "AUTHGATE_PASSWORD_BREACH_FAIL_CLOSED", default_value_t = false, action = ArgAction::Set, global = true)]
    pub password_breach_fail_closed: bool,

    /// 32 bytes, base64: seals session secrets and private signing keys at rest.
    #[arg(long, env = "AUTHGATE_ENCRYPTION_KEY", value_parser = encryption_key, hide_env_values = true, global = true)]
    pub encryption_key: Option<EncryptionKey>,

    /// A rotated-in key is published this long before it signs (longer than the JWKS cache time,
    /// 10 minutes, so every verifier has it first).
    #[arg(long, env = "AUTHGATE_KEY_PUBLISH_DELAY", default_value = "11m", value_parser = duration, global = true)]
    pub key_publish_delay: Duration,

    /// Rotate the signing key automatically at this age (off when unset), e.g. `30d`.
    #[arg(long, env = "AUTHGATE_KEY_ROTATION_INTERVAL", value_parser = duration, global = true)]
    pub key_rotation_interval: Option<Duration>,
    /// Captcha required on the public endpoints (signup, signin, token password grant,
    /// password/forgot, verify-email/resend, sms/code): none, recaptcha, hcaptcha or turnstile.
    #[arg(
        long,
        env = "AUTHGATE_CAPTCHA_PROVIDER",
        value_enum,
        default_value = "none",
        global = true
    )]
    pub captcha_provider: CaptchaProvider,

    /// The provider's secret key (required when a provider is set).
    #[arg(
        long,
        env = "AUTHGATE_CAPTCHA_SECRET",
        hide_env_values = true,
        global = true
    )]
    pub captcha_secret: Option<Secret>,

    /// Verification endpoint; defaults to the provider's documented siteverify URL.
    #[arg(long, env = "AUTHGATE_CAPTCHA_VERIFY_URL", value_parser = http_url, global = true)]
    pub captcha_verify_url: Option<String>,

    /// How long a verification may take before the request gets 503 `captcha_unavailable`.
    #[arg(long, env = "AUTHGATE_CAPTCHA_TIMEOUT", default_value = "3s", value_parser = duration, global = true)]
    pub captcha_timeout: Duration,

    /// Lowest reCAPTCHA v3 score accepted (0.0 bot … 1.0 human); v2 answers carry no score.
    #[arg(long, env = "AUTHGATE_CAPTCHA_MIN_SCORE", default_value = "0.5", value_parser = score, global = true)]
    pub captcha_min_score: f64,

    /// Hostnames a solved challenge must come from (comma-separated, exact); any when empty.
    #[arg(long, env = "AUTHGATE_CAPTCHA_HOSTNAMES", default_value = "", value_parser = name_list, global = true)]
    pub captcha_hostnames: std::vec::Vec<String>,

    /// Action the challenge must carry (reCAPTCHA v3, Turnstile); not checked when unset.
    #[arg(long, env = "AUTHGATE_CAPTCHA_ACTION", global = true)]
    pub captcha_action: Option<String>,

    /// hCaptcha only: the site key sent as `sitekey`, so a token from another site is refused.
    #[arg(long, env = "AUTHGATE_CAPTCHA_SITEKEY", global = true)]
    pub captcha_sitekey: Option<String>,

    /// How often each replica reloads signing keys from the database.
    #[arg(long, env = "AUTHGATE_KEY_RELOAD_INTERVAL", default_value = "60s", value_parser = duration, global = true)]
    pub key_reload_interval: Duration,

    /// How often `verify/` and the proxy reload the sessions revoked on other replicas (those
    /// this one ends are refused at once); `0` turns the list off: they then accept a revoked
    /// session's access token until its `exp`.
    #[arg(long, env = "AUTHGATE_REVOCATION_LIST_INTERVAL", default_value = "5s", value_parser = duration, global = true)]
    pub revocation_list_interval: Duration,

    /// Serve `/metrics` only on this address (e.g. 127.0.0.1:9090), not on the public listener.
    #[arg(long, env = "AUTHGATE_METRICS_LISTEN", global = true)]
    pub metrics_listen: Option<SocketAddr>,

    /// On SIGTERM/SIGINT, how long in-flight requests may take to finish before they are cut.
    #[arg(long, env = "AUTHGATE_SHUTDOWN_TIMEOUT", default_value = "25s", value_parser = duration, global = true)]
    pub shutdown_timeout: Duration,

    /// On SIGTERM/SIGINT, how long to keep serving with `/readyz` at 503 before stopping, so load
    /// balancers stop routing here first (Kubernetes: a few seconds).
    #[arg(long, env = "AUTHGATE_SHUTDOWN_DELAY", default_value = "0s", value_parser = duration, global = true)]
    pub shutdown_delay: Duration,

    /// Verified access tokens remembered (by the SHA-256 of the exact string, until `exp`) so a
    /// token presented again skips the signature check; 0 turns the cache off. An entry (digest
    /// and claims) takes under 1 KB: 4,096 full entries measured 3.4 MB.
    #[arg(
        long,
        env = "AUTHGATE_TOKEN_CACHE_SIZE",
        default_value_t = 4_096,
        global = true
    )]
    pub token_cache_size: usize,

    /// Password hashing threads (bcrypt), run at a lower CPU priority than the request workers so
    /// a sign-in storm uses idle cores without slowing token checks; 0 means one per core.
    #[arg(
        long,
        env = "AUTHGATE_PASSWORD_HASH_CONCURRENCY",
        default_value_t = 0,
        global = true
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
        global = true
    )]
    pub password_hash_priority: HashPriority,

    /// HTTP worker threads (0: one per core).
    #[arg(long, env = "AUTHGATE_WORKERS", default_value_t = 0, global = true)]
    pub workers: usize,

    /// SMTP server for outgoing mail: `smtp://[user:password@]host[:port]` (add `?tls=required`
    /// for STARTTLS) or `smtps://...` (TLS from the first byte). Unset: mail is written to the log
    /// (development only).
    #[arg(long, env = "AUTHGATE_SMTP_URL", value_parser = SmtpUrl::parse, hide_env_values = true, global = true)]
    pub smtp_url: Option<SmtpUrl>,

    /// Sender of every mail (`Name <address>` or a bare address).
    #[arg(
        long,
        env = "AUTHGATE_MAIL_FROM",
        default_value = "authgate@localhost",
        global = true
    )]
    pub mail_from: String,

    /// How long one SMTP delivery may take before it counts as failed and is retried.
    #[arg(long, env = "AUTHGATE_SMTP_TIMEOUT", default_value = "10s", value_parser = duration, global = true)]
    pub smtp_timeout: Duration,

    /// Product name used in mail subjects and bodies.
    #[arg(
        long,
        env = "AUTHGATE_PRODUCT_NAME",
        default_value = "authgate",
        global = true
    )]
    pub product_name: String,

    /// Origin of the front-end that links in mails point to (default: AUTHGATE_PUBLIC_URL).
    #[arg(long, env = "AUTHGATE_FRONTEND_URL", value_parser = public_url, global = true)]
    pub frontend_url: Option<String>,

    /// Directory whose files override the built-in mail templates (`<template>.subject.txt`,
    /// `<template>.txt`, `<template>.html`; see the README).
    #[arg(long, env = "AUTHGATE_MAIL_TEMPLATES_DIR", global = true)]
    pub mail_templates_dir: Option<std::path::PathBuf>,

    /// Lifetime of an email verification (or email change) code.
    #[arg(long, env = "AUTHGATE_EMAIL_CODE_TTL", default_value = "24h", value_parser = duration, global = true)]
    pub email_code_ttl: Duration,

    /// Lifetime of a password reset code.
    #[arg(long, env = "AUTHGATE_RESET_CODE_TTL", default_value = "30m", value_parser = duration, global = true)]
    pub reset_code_ttl: Duration,

    /// At most one code mail per address within this time.
    #[arg(long, env = "AUTHGATE_MAIL_COOLDOWN", default_value = "60s", value_parser = duration, global = true)]
    pub mail_cooldown: Duration,

    /// Mail the account's verified address after a change to how it signs in (password changed
    /// or reset, email changed, TOTP or phone added or removed), when its sign-in lockout
    /// reaches a new step, and when wrong TOTP codes after a right password lock the second
    /// factor. Unset: on when `AUTHGATE_SMTP_URL` is set, off otherwise.
    #[arg(long, env = "AUTHGATE_NOTIFY_SECURITY_CHANGES", action = ArgAction::Set, global = true)]
    pub notify_security_changes: Option<bool>,

    /// Requests per client IP per hour to the endpoints that send mail (0: no limit).
    #[arg(
        long,
        env = "AUTHGATE_MAIL_PER_IP_PER_HOUR",
        default_value_t = 30,
        global = true
    )]
    pub mail_per_ip_per_hour: u32,

    // --- Rate limits and lockout ---
    /// Sign-in failure lockout per account, known or unknown alike, kept in the database so
    /// replicas share it: `failures:lock` steps, e.g. `5:30s,10:5m,20:1h` (from 5 consecutive
    /// failures each further failure locks the login for 30 s, from 10 for 5 min, from 20 for
    /// 1 h; while locked even the right password gets 429). Empty: no lockout.
    #[arg(long, env = "AUTHGATE_LOCKOUT_LADDER", default_value = "5:30s,10:5m,20:1h",
          value_parser = crate::service::lockout::Ladder::parse, global = true)]
    pub lockout_ladder: crate::service::lockout::Ladder,

    /// Per-IP rate of each credential, code and mail endpoint (signup, signin, token password
    /// grant, verify-email, resend, password forgot/reset/change, sms, phone, TOTP): `N/period`,
    /// N at once at most; `0` turns it off.
    #[arg(long, env = "AUTHGATE_RATE_LIMIT_AUTH", default_value = "30/5m",
          value_parser = crate::rate_limit::Rate::parse, global = true)]
    pub rate_limit_auth: crate::rate_limit::Rate,

    /// Per-IP rate of refreshes (`custom-refresh/` and the `refresh_token` grant together).
    #[arg(long, env = "AUTHGATE_RATE_LIMIT_REFRESH", default_value = "150/5m",
          value_parser = crate::rate_limit::Rate::parse, global = true)]
    pub rate_limit_refresh: crate::rate_limit::Rate,

    /// Per-IP rate of every other endpoint under /api/v1/auth/ (the forward-auth `verify/` is
    /// never limited).
    #[arg(long, env = "AUTHGATE_RATE_LIMIT_API", default_value = "300/1m",
          value_parser = crate::rate_limit::Rate::parse, global = true)]
    pub rate_limit_api: crate::rate_limit::Rate,

    /// Failed sign-ins (signin, token password grant, sms/signin) allowed per IP; over it
    /// every sign-in from that IP gets 429 until the budget refills.
    #[arg(long, env = "AUTHGATE_RATE_LIMIT_SIGNIN_FAILURES", default_value = "100/15m",
          value_parser = crate::rate_limit::Rate::parse, global = true)]
    pub rate_limit_signin_failures: crate::rate_limit::Rate,

    /// Code mails and SMS per recipient per hour (on top of AUTHGATE_MAIL_COOLDOWN); requests
    /// over it answer as usual (202) and send nothing. 0: no cap.
    #[arg(
        long,
        env = "AUTHGATE_MESSAGES_PER_RECIPIENT_PER_HOUR",
        default_value_t = 10,
        global = true
    )]
    pub messages_per_recipient_per_hour: u32,
    // --- end of rate limits and lockout ---
    /// Refuse sign-in (403 email_not_verified) until the address is verified.
    #[arg(long, env = "AUTHGATE_REQUIRE_EMAIL_VERIFICATION", default_value_t = false, action = ArgAction::Set, global = true)]
    pub require_email_verification: bool,

    /// Webhook that delivers SMS: receives `POST {"to", "message"}` signed per the Standard
    /// Webhooks specification. Unset: SMS (with its codes) is written to the log; development only.
    #[arg(long, env = "AUTHGATE_SMS_WEBHOOK_URL", value_parser = webhook_url, global = true)]
    pub sms_webhook_url: Option<String>,

    /// Signing secret of the SMS webhook (`whsec_<base64>` as Standard Webhooks issues it, or
    /// any string of 16+ characters, used as raw bytes).
    #[arg(long, env = "AUTHGATE_SMS_WEBHOOK_SECRET", value_parser = pepper, hide_env_values = true, global = true)]
    pub sms_webhook_secret: Option<Secret>,

    /// How long one SMS webhook call may take before it counts as failed and is retried.
    #[arg(long, env = "AUTHGATE_SMS_TIMEOUT", default_value = "10s", value_parser = duration, global = true)]
    pub sms_timeout: Duration,

    /// Signup requires an invitation code (`invite_code`), created with `authgate invites create`.
    #[arg(long, env = "AUTHGATE_INVITE_ONLY", default_value_t = false, action = ArgAction::Set, global = true)]
    pub invite_only: bool,

    /// How often the outbox sender looks for due messages (it is also woken when mail is queued).
    #[arg(long, env = "AUTHGATE_OUTBOX_POLL_INTERVAL", default_value = "500ms", value_parser = duration, global = true)]
    pub outbox_poll_interval: Duration,

    /// Serve the example SPA under `/demo/` with a protected `GET /demo/api/hello` (development
    /// and demonstrations only; not part of the API).
    #[arg(long, env = "AUTHGATE_DEMO", default_value_t = false, action = ArgAction::Set, global = true)]
    pub demo: bool,
    /// Sidecar proxy mode: the app to stand in front of, as `http://host:port`.
    /// Every request that is not authgate's own is checked like `verify/` and forwarded there.
    /// Off when unset.
    #[arg(long, env = "AUTHGATE_UPSTREAM", value_parser = upstream_url, global = true)]
    pub upstream: Option<String>,

    /// Proxy mode: paths that pass without a token (comma-separated; exact, or a prefix with a
    /// trailing `*`, e.g. `/,/assets/*`). Incoming `X-Auth-*` headers are removed there too.
    #[arg(long, env = "AUTHGATE_PUBLIC_PATHS", default_value = "", value_parser = path_patterns, global = true)]
    pub public_paths: std::vec::Vec<crate::proxy::rules::PathPattern>,

    /// Proxy mode: where a browser without a valid token is sent (302 with `return_to`); without
    /// it, HTML requests get the 401 too. An absolute http(s) URL or a path on this origin.
    #[arg(long, env = "AUTHGATE_LOGIN_URL", value_parser = login_url, global = true)]
    pub login_url: Option<String>,

    /// Proxy mode: how long the upstream may take to answer (connect and response head) before
    /// the client gets 504 `upstream_timeout`.
    #[arg(long, env = "AUTHGATE_UPSTREAM_TIMEOUT", default_value = "30s", value_parser = duration, global = true)]
    pub upstream_timeout: Duration,

    /// Proxy mode: pass the access token on to the upstream as `Authorization: Bearer`. Off, the
    /// upstream sees neither the Bearer header nor authgate's cookies.
    #[arg(long, env = "AUTHGATE_PROXY_PASS_TOKEN", default_value_t = false, action = ArgAction::Set, global = true)]
    pub proxy_pass_token: bool,

    /// Proxy mode: paths (same syntax as AUTHGATE_PUBLIC_PATHS; `/*` for all) where the token
    /// must carry a verified email, else 403 `email_not_verified`.
    #[arg(long, env = "AUTHGATE_PROXY_REQUIRE_VERIFIED_EMAIL", default_value = "", value_parser = path_patterns, global = true)]
    pub proxy_require_verified_email: std::vec::Vec<crate::proxy::rules::PathPattern>,

    /// Proxy mode: paths (same syntax; `/*` for all) where the token must be `aal2`
    /// (multi-factor sign-in), else 403 `mfa_required`.
    #[arg(long, env = "AUTHGATE_PROXY_REQUIRE_AAL2", default_value = "", value_parser = path_patterns, global = true)]
    pub proxy_require_aal2: std::vec::Vec<crate::proxy::rules::PathPattern>,

    /// Log format.
    #[arg(
        long,
        env = "AUTHGATE_LOG_FORMAT",
        value_enum,
        default_value = "auto",
        global = true
    )]
    pub log_format: LogFormat,

    /// Log filter in RUST_LOG syntax.
    #[arg(long, env = "AUTHGATE_LOG", default_value = "info", global = true)]
    pub log: String,
}

/// Settings parsed from the command line and environment.
pub fn parse() -> Cli {
    Cli::parse()
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
        if self.email_code_ttl.is_zero() || self.reset_code_ttl.is_zero() {
            return Err("code lifetimes must be positive".into());
        }
        if self.upstream.is_some() && self.upstream_timeout.is_zero() {
            return Err("AUTHGATE_UPSTREAM_TIMEOUT must be positive".into());
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

    /// Settings with every default, for tests and tools: equivalent to no flags and no env.
    pub fn defaults() -> Self {
        let cli = Cli::parse_from(["authgate"]);
        cli.settings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_password_is_redacted() {
        let url = DatabaseUrl::parse("postgres://app:hunter2@db:5432/auth").unwrap();
        let shown = format!("{url:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("app:[redacted]@db:5432/auth"), "{shown}");
    }

    #[test]
    fn smtp_password_is_redacted_and_recoverable_for_scrubbing() {
        let url = SmtpUrl::parse("smtp://mailer:p%40ss%3Aword@mail.example.com:587?tls=required")
            .unwrap();
        let shown = format!("{url:?}");
        assert!(!shown.contains("p%40ss"), "{shown}");
        assert_eq!(
            shown,
            "smtp://mailer:[redacted]@mail.example.com:587?tls=required"
        );
        assert_eq!(url.password().as_deref(), Some("p@ss:word"));
        assert_eq!(
            SmtpUrl::parse("smtps://mail.example.com")
                .unwrap()
                .password(),
            None
        );
        let odd = SmtpUrl::parse("smtps://u:a/b@c@mail.example.com").unwrap();
        assert_eq!(format!("{odd:?}"), "smtps://u:[redacted]@mail.example.com");
        assert_eq!(odd.password().as_deref(), Some("a/b@c"));
        assert!(SmtpUrl::parse("http://mail.example.com").is_err());
    }

    #[test]
    fn sqlite_url_is_a_path() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://authgate.db").unwrap(),
            DatabaseUrl::Sqlite("authgate.db".into())
        );
        assert!(DatabaseUrl::parse("mysql://x").is_err());
        assert!(DatabaseUrl::parse("sqlite://:memory:").is_err());
    }

    #[test]
    fn public_url_drops_trailing_slash_and_refuses_paths() {
        assert_eq!(
            public_url("https://auth.example.com/").unwrap(),
            "https://auth.example.com"
        );
        assert!(public_url("https://auth.example.com/app").is_err());
        assert!(public_url("auth.example.com").is_err());
    }

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("pepper-pepper-pepper");
        assert!(!format!("{s:?}").contains("pepper"));
        let k = EncryptionKey([7; 32]);
        assert_eq!(format!("{k:?}"), "EncryptionKey([redacted])");
    }

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

    #[test]
    fn captcha_values_are_parsed() {
        assert_eq!(
            name_list(" a.example , ,b.example").unwrap(),
            vec!["a.example".to_owned(), "b.example".to_owned()]
        );
        assert!(score("1.5").is_err());
        assert!(score("x").is_err());
        assert_eq!(score("0.7").unwrap(), 0.7);
        assert!(http_url("ftp://x").is_err());
        assert!(http_url("https://").is_err());
        assert!(http_url("http://127.0.0.1:9/siteverify").is_ok());
    }

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
