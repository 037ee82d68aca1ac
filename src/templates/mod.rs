//! Mail templates: plain text and HTML, built in, each part overridable by a file in
//! `AUTHGATE_MAIL_TEMPLATES_DIR` (`<name>.subject.txt`, `<name>.txt`, `<name>.html`).
//! Placeholders are `{{product}}`, `{{code}}`, `{{link}}`, `{{email}}`, `{{new_email}}`,
//! `{{expires_in}}`, and in security notices `{{change}}`, `{{when}}`, `{{ip}}`,
//! `{{user_agent}}`, `{{lock}}`; values are HTML-escaped in the HTML part.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Template {
    /// The code that proves an address after sign-up (or on resend).
    VerifyEmail,
    /// The password recovery code.
    PasswordReset,
    /// The code sent to a new address before an email change applies.
    EmailChange,
    /// The notice sent to the old address once an email change has applied.
    EmailChanged,
    /// The notice after any other change to how the account signs in (`{{change}}` says which).
    SecurityChange,
    /// The notice when the account's sign-in lockout reaches a new step.
    SigninLocked,
    /// The notice when wrong TOTP codes after a passed first factor lock the second factor.
    TotpLocked,
    /// The last mail: the account was deleted.
    AccountDeleted,
}

impl Template {
    pub const ALL: [Template; 8] = [
        Self::VerifyEmail,
        Self::PasswordReset,
        Self::EmailChange,
        Self::EmailChanged,
        Self::SecurityChange,
        Self::SigninLocked,
        Self::TotpLocked,
        Self::AccountDeleted,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::PasswordReset => "password_reset",
            Self::EmailChange => "email_change",
            Self::EmailChanged => "email_changed",
            Self::SecurityChange => "security_change",
            Self::SigninLocked => "signin_locked",
            Self::TotpLocked => "totp_locked",
            Self::AccountDeleted => "account_deleted",
        }
    }

    fn builtin(self) -> Parts {
        let (subject, text, html) = match self {
            Self::VerifyEmail => (
                "{{product}}: verify your email address",
                include_str!("verify_email.txt"),
                include_str!("verify_email.html"),
            ),
            Self::PasswordReset => (
                "{{product}}: reset your password",
                include_str!("password_reset.txt"),
                include_str!("password_reset.html"),
            ),
            Self::EmailChange => (
                "{{product}}: confirm your new email address",
                include_str!("email_change.txt"),
                include_str!("email_change.html"),
            ),
            Self::EmailChanged => (
                "{{product}}: your email address was changed",
                include_str!("email_changed.txt"),
                include_str!("email_changed.html"),
            ),
            Self::SecurityChange => (
                "{{product}}: {{change}}",
                include_str!("security_change.txt"),
                include_str!("security_change.html"),
            ),
            Self::SigninLocked => (
                "{{product}}: sign-in attempts on your account were blocked",
                include_str!("signin_locked.txt"),
                include_str!("signin_locked.html"),
            ),
            Self::TotpLocked => (
                "{{product}}: wrong two-factor codes after a correct password",
                include_str!("totp_locked.txt"),
                include_str!("totp_locked.html"),
            ),
            Self::AccountDeleted => (
                "{{product}}: your account was deleted",
                include_str!("account_deleted.txt"),
                include_str!("account_deleted.html"),
            ),
        };
        Parts {
            subject: subject.to_owned(),
            text: text.to_owned(),
            html: html.to_owned(),
        }
    }
}

#[derive(Debug, Clone)]
struct Parts {
    subject: String,
    text: String,
    html: String,
}

/// A rendered mail.
#[derive(Clone)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl std::fmt::Debug for Rendered {
    /// Bodies hold codes: only the subject is shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rendered")
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
pub struct Templates {
    parts: HashMap<Template, Parts>,
}

impl Templates {
    /// The built-in templates, with any file found in `dir` replacing its part.
    pub fn load(dir: Option<&Path>) -> anyhow::Result<Self> {
        let mut parts = HashMap::new();
        for t in Template::ALL {
            let mut p = t.builtin();
            if let Some(dir) = dir {
                for (suffix, slot) in [
                    ("subject.txt", &mut p.subject),
                    ("txt", &mut p.text),
                    ("html", &mut p.html),
                ] {
                    let path = dir.join(format!("{}.{suffix}", t.name()));
                    if path.exists() {
                        *slot = std::fs::read_to_string(&path)
                            .with_context(|| format!("reading mail template {}", path.display()))?;
                    }
                }
            }
            p.subject = p.subject.trim().replace(['\r', '\n'], " ");
            parts.insert(t, p);
        }
        Ok(Self { parts })
    }

    pub fn render(&self, t: Template, vars: &[(&str, &str)]) -> Rendered {
        let builtin;
        let p = match self.parts.get(&t) {
            Some(p) => p,
            None => {
                builtin = t.builtin();
                &builtin
            }
        };
        Rendered {
            subject: fill(&p.subject, vars, |s| s.replace(['\r', '\n'], " ")),
            text: fill(&p.text, vars, str::to_owned),
            html: fill(&p.html, vars, html_escape),
        }
    }
}

fn fill(template: &str, vars: &[(&str, &str)], escape: impl Fn(&str) -> String) -> String {
    let mut out = template.to_owned();
    for (name, value) in vars {
        out = out.replace(&format!("{{{{{name}}}}}"), &escape(value));
    }
    out
}

pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a query value (RFC 3986 unreserved characters pass).
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `30m` → "30 minutes", `24h` → "24 hours".
pub fn human_duration(d: std::time::Duration) -> String {
    let secs = d.as_secs();
    let plural = |n: u64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    if secs >= 86_400 && secs.is_multiple_of(86_400) && secs > 86_400 {
        plural(secs / 86_400, "day")
    } else if secs >= 3_600 && secs.is_multiple_of(3_600) {
        plural(secs / 3_600, "hour")
    } else if secs >= 60 {
        plural(secs / 60, "minute")
    } else {
        plural(secs, "second")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_fill_and_html_is_escaped() {
        let t = Templates::load(None).unwrap();
        let r = t.render(
            Template::VerifyEmail,
            &[
                ("product", "A<b>"),
                ("code", "012345"),
                ("link", "https://x.example/v?code=012345"),
                ("email", "a@example.com"),
                ("expires_in", "24 hours"),
            ],
        );
        assert!(r.subject.starts_with("A<b>"));
        assert!(r.text.contains("Your code: 012345"));
        assert!(r.html.contains("012345") && r.html.contains("A&lt;b&gt;"));
        assert!(!r.text.contains("{{") && !r.html.contains("{{"));
        assert!(r.text.is_ascii() && r.html.is_ascii());
    }

    #[test]
    fn a_directory_overrides_single_parts() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("password_reset.txt"),
            "Custom {{product}} {{code}}",
        )
        .unwrap();
        let t = Templates::load(Some(dir.path())).unwrap();
        let r = t.render(Template::PasswordReset, &[("product", "P"), ("code", "1")]);
        assert_eq!(r.text, "Custom P 1");
        assert!(
            r.subject.contains("reset your password"),
            "the subject stays built in"
        );
    }

    #[test]
    fn durations_read_naturally() {
        use std::time::Duration;
        assert_eq!(human_duration(Duration::from_secs(1800)), "30 minutes");
        assert_eq!(human_duration(Duration::from_secs(86_400)), "24 hours");
        assert_eq!(human_duration(Duration::from_secs(3600)), "1 hour");
        assert_eq!(human_duration(Duration::from_secs(7 * 86_400)), "7 days");
        assert_eq!(url_encode("a+b@c.d"), "a%2Bb%40c.d");
    }
}
