//! `AUTHGATE_WEBHOOKS`: the endpoints that receive signed events, each configured by variables
//! named after its id (`AUTHGATE_WEBHOOK_<ID>_URL`, `_SECRET` or `_SECRET_FILE`, `_EVENTS`),
//! read when the list is parsed so that a bad endpoint stops startup with one line.

use std::fmt;

use base64::Engine as _;

use super::secrets::{redact_url_password, value_or_file, Secret};
use super::values::{listed_ids, webhook_url};

/// The events a webhook endpoint can receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WebhookEventType {
    UserCreated,
    UserUpdated,
    UserEmailChanged,
    UserDeleted,
    UserDisabled,
    SessionCreated,
    SessionRevoked,
    PasswordChanged,
    MfaChanged,
    RoleChanged,
}

impl WebhookEventType {
    pub const ALL: [Self; 10] = [
        Self::UserCreated,
        Self::UserUpdated,
        Self::UserEmailChanged,
        Self::UserDeleted,
        Self::UserDisabled,
        Self::SessionCreated,
        Self::SessionRevoked,
        Self::PasswordChanged,
        Self::MfaChanged,
        Self::RoleChanged,
    ];

    /// The `type` of the event's body, as `_EVENTS` names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UserCreated => "user.created",
            Self::UserUpdated => "user.updated",
            Self::UserEmailChanged => "user.email_changed",
            Self::UserDeleted => "user.deleted",
            Self::UserDisabled => "user.disabled",
            Self::SessionCreated => "session.created",
            Self::SessionRevoked => "session.revoked",
            Self::PasswordChanged => "password.changed",
            Self::MfaChanged => "mfa.changed",
            Self::RoleChanged => "role.changed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == raw)
    }
}

/// One endpoint: where events go, the key they are signed with, and which events it wants.
#[derive(Clone)]
pub struct WebhookEndpoint {
    /// Lower-case `[a-z0-9]+`; names the endpoint in metrics and logs (never the URL).
    pub id: String,
    pub url: String,
    /// `whsec_<base64>`, as Standard Webhooks libraries expect it.
    pub secret: Secret,
    /// Every event when empty.
    pub events: Vec<WebhookEventType>,
}

impl WebhookEndpoint {
    pub fn wants(&self, event: WebhookEventType) -> bool {
        self.events.is_empty() || self.events.contains(&event)
    }
}

impl fmt::Debug for WebhookEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookEndpoint")
            .field("id", &self.id)
            .field("url", &redacted_url(&self.url))
            .field("secret", &self.secret)
            .field(
                "events",
                &self.events.iter().map(|e| e.as_str()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// The URL as logs may show it: no password, and no query (receivers often take a token there).
fn redacted_url(url: &str) -> String {
    match url.split_once('?') {
        Some((base, _)) => format!("{}?[redacted]", redact_url_password(base)),
        None => redact_url_password(url),
    }
}

/// A webhook secret: `whsec_` and the base64 of at least 16 random bytes (what Standard
/// Webhooks libraries issue and accept, e.g. `whsec_$(openssl rand -base64 32)`).
pub fn webhook_secret(raw: &str) -> Result<Secret, String> {
    let key = raw
        .strip_prefix("whsec_")
        .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
        .ok_or("must be `whsec_` followed by base64 (e.g. `whsec_$(openssl rand -base64 32)`)")?;
    if key.len() < 16 {
        return Err("must hold at least 16 bytes after `whsec_`".into());
    }
    Ok(Secret::new(raw))
}

/// `_EVENTS`: comma-separated event types; empty means all.
pub fn webhook_events(raw: &str) -> Result<Vec<WebhookEventType>, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|e| {
            WebhookEventType::parse(e).ok_or_else(|| {
                let known: Vec<&str> = WebhookEventType::ALL.iter().map(|t| t.as_str()).collect();
                format!("unknown event type `{e}` (known: {})", known.join(", "))
            })
        })
        .collect()
}

/// `AUTHGATE_WEBHOOKS` with each endpoint's variables read from the process environment.
pub fn webhook_endpoints(raw: &str) -> Result<Vec<WebhookEndpoint>, String> {
    endpoints_from(raw, |name| std::env::var(name).ok())
}

/// [`webhook_endpoints`] over any environment (`env` answers a variable's value).
pub fn endpoints_from(
    raw: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Vec<WebhookEndpoint>, String> {
    let mut endpoints: Vec<WebhookEndpoint> = Vec::new();
    for id in listed_ids(raw, "endpoint")? {
        let var = |suffix: &str| format!("AUTHGATE_WEBHOOK_{}_{suffix}", id.to_ascii_uppercase());
        let url_var = var("URL");
        let url = env(&url_var)
            .ok_or_else(|| format!("{url_var} is not set"))
            .and_then(|u| webhook_url(&u).map_err(|e| format!("{url_var} {e}")))?;
        let (secret_var, file_var) = (var("SECRET"), var("SECRET_FILE"));
        let secret = value_or_file(&env, &secret_var, &file_var)?
            .ok_or_else(|| format!("{secret_var} (or {file_var}) is not set"))?;
        let secret = webhook_secret(&secret).map_err(|e| format!("{secret_var} {e}"))?;
        let events_var = var("EVENTS");
        let events = webhook_events(&env(&events_var).unwrap_or_default())
            .map_err(|e| format!("{events_var}: {e}"))?;
        endpoints.push(WebhookEndpoint {
            id: id.to_owned(),
            url,
            secret,
            events,
        });
    }
    Ok(endpoints)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    use crate::settings::values::test_env as env;

    #[test]
    fn endpoints_read_their_variables() {
        let vars = [
            ("AUTHGATE_WEBHOOK_CRM_URL", "https://crm.example.com/hook"),
            ("AUTHGATE_WEBHOOK_CRM_SECRET", SECRET),
            ("AUTHGATE_WEBHOOK_CRM_EVENTS", "user.created, role.changed"),
            ("AUTHGATE_WEBHOOK_BI_URL", "http://bi:9000/"),
            ("AUTHGATE_WEBHOOK_BI_SECRET", SECRET),
        ];
        let e = endpoints_from("crm,bi", env(&vars)).unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(
            e[0].events,
            [WebhookEventType::UserCreated, WebhookEventType::RoleChanged]
        );
        assert!(!e[0].wants(WebhookEventType::SessionCreated));
        assert!(e[1].events.is_empty() && e[1].wants(WebhookEventType::SessionCreated));
        assert!(
            !format!("{e:?}").contains("MfKQ9r8"),
            "the secret is redacted"
        );
        let with_token = WebhookEndpoint {
            url: "https://u:pw@crm.example.com/hook?token=abc".into(),
            ..e[0].clone()
        };
        let shown = format!("{with_token:?}");
        assert!(!shown.contains("abc") && !shown.contains(":pw@"), "{shown}");
        assert!(endpoints_from("", env(&[])).unwrap().is_empty());
    }

    #[test]
    fn a_bad_endpoint_is_one_clear_line() {
        let vars = [
            ("AUTHGATE_WEBHOOK_CRM_URL", "https://crm.example.com/hook"),
            ("AUTHGATE_WEBHOOK_CRM_SECRET", SECRET),
            ("AUTHGATE_WEBHOOK_CRM_EVENTS", "user.created,user.signed_up"),
        ];
        let err = endpoints_from("crm", env(&vars)).unwrap_err();
        assert!(
            err.starts_with("AUTHGATE_WEBHOOK_CRM_EVENTS: unknown event type `user.signed_up`"),
            "{err}"
        );
        assert!(endpoints_from("crm", env(&vars[..1]))
            .unwrap_err()
            .contains("AUTHGATE_WEBHOOK_CRM_SECRET"));
        assert!(endpoints_from("Crm", env(&vars)).is_err());
        assert!(endpoints_from("crm,crm", env(&vars[..2])).is_err());
        assert!(endpoints_from("other", env(&vars))
            .unwrap_err()
            .contains("AUTHGATE_WEBHOOK_OTHER_URL is not set"));
        let weak = [
            vars[0],
            ("AUTHGATE_WEBHOOK_CRM_SECRET", "not-a-whsec-secret"),
        ];
        assert!(endpoints_from("crm", env(&weak)).is_err());
    }
}
