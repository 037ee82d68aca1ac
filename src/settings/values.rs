//! The value types of settings and their parsers: each turns one flag or `AUTHGATE_*` variable
//! into a type that can only hold a usable value, so a bad setting stops start-up with one line.

use std::time::Duration;

use base64::Engine as _;
use clap::ValueEnum;
use ipnet::IpNet;

pub use crate::paths::PathPattern;

use super::secrets::{EncryptionKey, Secret};

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

/// The CPU priority of the password hashing threads (`crate::runtime::hashing`).
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

pub fn duration(raw: &str) -> Result<Duration, String> {
    humantime::parse_duration(raw).map_err(|e| format!("{e} (write durations like 15m, 24h, 30d)"))
}

pub fn public_url(raw: &str) -> Result<String, String> {
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

/// The host of an origin that [`public_url`] accepted (no userinfo, port or path).
pub fn origin_host(origin: &str) -> &str {
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .unwrap_or(origin);
    match rest.strip_prefix('[') {
        // An IPv6 literal keeps its brackets off: `[::1]:8080` is `::1`.
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => rest.split(':').next().unwrap_or(rest),
    }
}

/// A WebAuthn relying party ID: a lower-case domain name (a registrable domain or a host under
/// one, or `localhost`), without scheme, port or path.
pub fn rp_id(raw: &str) -> Result<String, String> {
    let id = raw.trim().trim_end_matches('.').to_ascii_lowercase();
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if id.is_empty() || id.len() > 253 || !id.split('.').all(label_ok) {
        return Err(
            "must be a domain such as example.com (no scheme, port or path; IP addresses cannot be relying party IDs)"
                .into(),
        );
    }
    if id.split('.').all(|l| l.bytes().all(|b| b.is_ascii_digit())) {
        return Err("must be a domain name: IP addresses cannot be relying party IDs".into());
    }
    Ok(id)
}

pub fn origin_list(raw: &str) -> Result<Vec<String>, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(public_url)
        .collect()
}

/// `http://host:port[/base]`: plain http, the sidecar's app on localhost (no TLS to the upstream).
pub fn upstream_url(raw: &str) -> Result<String, String> {
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

pub fn path_patterns(raw: &str) -> Result<Vec<PathPattern>, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(PathPattern::parse)
        .collect()
}

/// An absolute http(s) URL without a fragment, or an absolute path (not `//host`).
pub fn login_url(raw: &str) -> Result<String, String> {
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

pub fn proxy_list(raw: &str) -> Result<Vec<IpNet>, String> {
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

pub fn http_url(raw: &str) -> Result<String, String> {
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

pub fn score(raw: &str) -> Result<f64, String> {
    let v: f64 = raw.parse().map_err(|_| "must be a number")?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err("must be between 0.0 and 1.0".into())
    }
}

pub fn name_list(raw: &str) -> Result<Vec<String>, String> {
    Ok(raw
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect())
}

pub fn bcrypt_cost(raw: &str) -> Result<u32, String> {
    let cost: u32 = raw.parse().map_err(|_| "must be a number")?;
    if (4..=31).contains(&cost) {
        Ok(cost)
    } else {
        Err("must be between 4 and 31".into())
    }
}

/// A comma-separated list of ids (`AUTHGATE_WEBHOOKS`, `AUTHGATE_PROVIDERS`): each lower-case
/// `[a-z0-9]+`, as it becomes part of variable names, and listed once.
pub fn listed_ids<'a>(raw: &'a str, what: &str) -> Result<Vec<&'a str>, String> {
    let mut ids: Vec<&str> = Vec::new();
    for id in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if !id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        {
            return Err(format!(
                "`{id}` is not a valid {what} id (lower-case letters and digits only)"
            ));
        }
        if ids.contains(&id) {
            return Err(format!("{what} `{id}` is listed twice"));
        }
        ids.push(id);
    }
    Ok(ids)
}

/// An environment of `(name, value)` pairs, for the per-id settings' tests.
#[cfg(test)]
pub fn test_env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
    move |name| {
        vars.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| (*v).to_owned())
    }
}

pub fn webhook_url(raw: &str) -> Result<String, String> {
    if raw.starts_with("https://") || raw.starts_with("http://") {
        Ok(raw.to_owned())
    } else {
        Err("must be an http(s) URL".into())
    }
}

pub fn pepper(raw: &str) -> Result<Secret, String> {
    if raw.len() < 16 {
        return Err("must be at least 16 characters".into());
    }
    Ok(Secret::new(raw))
}

pub fn encryption_key(raw: &str) -> Result<EncryptionKey, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(raw.trim())
        .map_err(|_| "must be base64 (e.g. `openssl rand -base64 32`)")?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map(EncryptionKey)
        .map_err(|_| "must decode to exactly 32 bytes".into())
}

pub fn cookie_name(raw: &str) -> Result<String, String> {
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

/// Whether `raw` is a role name: a letter, then lower-case letters, digits, `_` or `-`, 64 at
/// most, so it travels unchanged in a token, a comma-separated header and a path rule. The
/// one rule for the settings and `crate::domain::Role`.
pub fn is_role_name(raw: &str) -> bool {
    raw.len() <= 64
        && raw.starts_with(|c: char| c.is_ascii_lowercase())
        && raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// Comma-separated role names (`AUTHGATE_DEFAULT_ROLES`).
pub fn role_list(raw: &str) -> Result<Vec<String>, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|r| {
            if is_role_name(r) {
                Ok(r.to_owned())
            } else {
                Err(format!("`{r}` is not a role name (a lower-case letter, then letters, digits, `_` or `-`)"))
            }
        })
        .collect()
}

/// One rule of `AUTHGATE_PROXY_REQUIRE_ROLE`: a path pattern and the role it requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleRule {
    pub pattern: PathPattern,
    pub role: String,
}

/// `pattern:role` pairs, comma-separated (`/admin/*:admin,/billing/*:billing`).
pub fn role_rules(raw: &str) -> Result<Vec<RoleRule>, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|rule| {
            let (path, role) = rule.rsplit_once(':').ok_or_else(|| {
                format!("`{rule}` must be written path:role, e.g. /admin/*:admin")
            })?;
            if !is_role_name(role) {
                return Err(format!("`{rule}`: `{role}` is not a role name"));
            }
            Ok(RoleRule {
                pattern: PathPattern::parse(path)?,
                role: role.to_owned(),
            })
        })
        .collect()
}

/// The session hint's name: as [`cookie_name`], or empty to leave the hint out.
pub fn hint_cookie_name(raw: &str) -> Result<String, String> {
    if raw.is_empty() {
        return Ok(String::new());
    }
    cookie_name(raw)
}

/// `N/period` (e.g. `30/5m`): N requests per period, any N of them at once (the burst); `0`
/// turns the limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub period: Duration,
}

impl Rate {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if raw == "0" || raw.is_empty() {
            return Ok(Self {
                count: 0,
                period: Duration::from_secs(1),
            });
        }
        let (n, period) = raw
            .split_once('/')
            .ok_or("write a rate as N/period, e.g. 30/5m (0 turns it off)")?;
        let count = n
            .trim()
            .parse::<u32>()
            .map_err(|_| "the count of a rate must be a whole number")?;
        let period = humantime::parse_duration(period.trim())
            .map_err(|e| format!("{e} (write a rate as N/period, e.g. 30/5m)"))?;
        if period.is_zero() {
            return Err("the period of a rate must be positive".into());
        }
        Ok(Self { count, period })
    }

    pub fn is_off(&self) -> bool {
        self.count == 0
    }
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_off() {
            return f.write_str("0");
        }
        write!(
            f,
            "{}/{}",
            self.count,
            humantime::format_duration(self.period)
        )
    }
}

/// `AUTHGATE_LOCKOUT_LADDER`: `(failures, lock)` steps, sorted by failures.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ladder(Vec<(i32, Duration)>);

impl Ladder {
    /// `5:30s,10:5m,20:1h`; empty for no lockout.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut steps = Vec::new();
        for step in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (n, d) = step
                .split_once(':')
                .ok_or("write steps as failures:lock, e.g. 5:30s,10:5m,20:1h")?;
            let n = n
                .trim()
                .parse::<i32>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or("the failures of a step must be a positive whole number")?;
            let d = humantime::parse_duration(d.trim()).map_err(|e| format!("{e}"))?;
            steps.push((n, d));
        }
        steps.sort_by_key(|(n, _)| *n);
        Ok(Self(steps))
    }

    /// The lock imposed when a failure brings the count to `failures`.
    pub fn lock_for(&self, failures: i32) -> Option<Duration> {
        self.0
            .iter()
            .rev()
            .find(|(n, _)| failures >= *n)
            .map(|(_, d)| *d)
            .filter(|d| !d.is_zero())
    }

    /// The lock when `failures` is exactly a step's count: the failure that moves the login onto
    /// a new step of the ladder (the moment its owner is told, once per step).
    pub fn step_reached(&self, failures: i32) -> Option<Duration> {
        self.0
            .iter()
            .any(|(n, _)| *n == failures)
            .then(|| self.lock_for(failures))
            .flatten()
    }

    pub fn is_off(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn rates_parse_and_zero_is_off() {
        let r = Rate::parse("30/5m").unwrap();
        assert_eq!((r.count, r.period), (30, Duration::from_secs(300)));
        assert!(Rate::parse("0").unwrap().is_off());
        assert!(Rate::parse("30").is_err());
        assert!(Rate::parse("x/5m").is_err());
        assert!(Rate::parse("3/0s").is_err());
        assert_eq!(Rate::parse("150/5m").unwrap().to_string(), "150/5m");
    }
}
