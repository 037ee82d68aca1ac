//! Settings that hold secrets, or URLs that may: `Debug` prints them redacted, so the effective
//! configuration can be logged.

use std::fmt;

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

/// A secret given either in `var` or in the file `file_var` names (one trailing newline dropped,
/// as `echo` and editors leave it); `None` when neither is set, an error when both are.
pub fn value_or_file(
    env: &impl Fn(&str) -> Option<String>,
    var: &str,
    file_var: &str,
) -> Result<Option<String>, String> {
    match (env(var), env(file_var)) {
        (Some(_), Some(_)) => Err(format!("{var} and {file_var} are both set; set only one")),
        (Some(s), None) => Ok(Some(s)),
        (None, Some(path)) => {
            let contents = std::fs::read_to_string(&path)
                .map_err(|e| format!("{file_var}={path}: cannot be read ({e})"))?;
            Ok(Some(
                contents
                    .strip_suffix("\r\n")
                    .or_else(|| contents.strip_suffix('\n'))
                    .unwrap_or(&contents)
                    .to_owned(),
            ))
        }
        (None, None) => Ok(None),
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

/// A 32-byte key for sealing secrets at rest.
#[derive(Clone, PartialEq, Eq)]
pub struct EncryptionKey(pub [u8; 32]);

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EncryptionKey([redacted])")
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
    fn secrets_never_print() {
        let s = Secret::new("pepper-pepper-pepper");
        assert!(!format!("{s:?}").contains("pepper"));
        let k = EncryptionKey([7; 32]);
        assert_eq!(format!("{k:?}"), "EncryptionKey([redacted])");
    }
}
