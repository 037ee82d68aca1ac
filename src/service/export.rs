//! The data export (GDPR Art. 20): everything authgate holds about a user, as one JSON document.
//! Secrets are never part of it (password hash, TOTP secret, session secrets, codes, message
//! bodies); that they exist is.

use serde::Serialize;

use crate::db::{self, DbConnection};
use crate::domain::ClientInfo;
use crate::error::ApiError;
use crate::service::audit::{self, Event};
use crate::service::codes::Purpose;
use crate::service::mfa::{self, Reauth};
use crate::service::users::{self, rfc3339, UserView};
use crate::state::AppState;

#[derive(Serialize)]
pub struct Export {
    pub exported_at: String,
    /// The profile, as `GET user/` shows it.
    pub user: UserView,
    pub factors: Factors,
    /// Every session, ended ones included.
    pub sessions: Vec<SessionEntry>,
    /// Every audit event about the account: sign-ins (failed ones too), changes, verifications.
    pub events: Vec<EventEntry>,
    pub pending: Pending,
    /// Mail and SMS queued or sent to the account's address and number (bodies held back: they
    /// carry codes).
    pub messages: Vec<MessageEntry>,
    /// Events about the account queued for or sent to the operator's webhook endpoints.
    pub webhooks: Vec<WebhookEntry>,
}

#[derive(Serialize)]
pub struct WebhookEntry {
    /// The `webhook-id` the endpoint received.
    pub event_id: String,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The endpoint's id in the settings (never its URL).
    pub endpoint: String,
    pub status: String,
    pub created_at: String,
    pub sent_at: Option<String>,
}

#[derive(Serialize)]
pub struct Factors {
    pub password: bool,
    pub totp: bool,
    /// Without their keys.
    pub passkeys: Vec<crate::service::passkeys::PasskeyView>,
    pub recovery_codes_left: i64,
    pub phone: Option<String>,
}

impl Factors {
    pub fn of(conn: &mut DbConnection, user: &db::users::UserRow) -> Result<Self, ApiError> {
        Ok(Self {
            password: user.has_password,
            totp: user.totp_secret.is_some(),
            // Not `passkeys::list`: that is the owner's, refused for a disabled account.
            passkeys: db::passkeys::for_user(conn, &user.id)?
                .into_iter()
                .map(Into::into)
                .collect(),
            recovery_codes_left: db::recovery_codes::remaining(conn, &user.id)?,
            phone: user.phone.clone(),
        })
    }
}

#[derive(Serialize)]
pub struct SessionEntry {
    pub id: String,
    pub created_at: String,
    pub last_used_at: String,
    pub expires_at: String,
    pub remember_me: bool,
    pub amr: Vec<String>,
    pub aal: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub revoked_at: Option<String>,
    pub revoked_reason: Option<String>,
}

impl From<db::sessions::SessionRow> for SessionEntry {
    fn from(s: db::sessions::SessionRow) -> Self {
        Self {
            id: s.id,
            created_at: rfc3339(s.created_at),
            last_used_at: rfc3339(s.last_used_at),
            expires_at: rfc3339(s.expires_at),
            remember_me: s.remember_me,
            amr: s
                .amr
                .split(',')
                .filter(|m| !m.is_empty())
                .map(str::to_owned)
                .collect(),
            aal: s.aal,
            ip: s.ip,
            user_agent: s.user_agent,
            revoked_at: s.revoked_at.map(rfc3339),
            revoked_reason: s.revoked_reason,
        }
    }
}

#[derive(Serialize)]
pub struct EventEntry {
    pub at: String,
    pub kind: String,
    pub outcome: String,
    pub method: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub session_id: Option<String>,
}

impl From<db::events::EventRow> for EventEntry {
    fn from(e: db::events::EventRow) -> Self {
        Self {
            at: rfc3339(e.created_at),
            kind: e.kind,
            outcome: e.outcome,
            method: e.method,
            ip: e.ip,
            user_agent: e.user_agent,
            session_id: e.session_id,
        }
    }
}

#[derive(Serialize)]
pub struct Pending {
    /// The address an unconfirmed email change would move to.
    pub email_change: Option<String>,
    /// The number an unconfirmed phone binding would add.
    pub phone_binding: Option<String>,
    /// A TOTP enrollment started and not confirmed.
    pub totp_enrollment: bool,
}

#[derive(Serialize)]
pub struct MessageEntry {
    pub kind: String,
    pub to: String,
    pub subject: String,
    pub status: String,
    pub created_at: String,
    pub sent_at: Option<String>,
}

/// The export of the signed-in user, after full re-authentication; audited.
pub fn export_own_data(
    state: &AppState,
    conn: &mut DbConnection,
    client: &ClientInfo,
    user_id: &str,
    proof: &Reauth,
) -> Result<Export, ApiError> {
    let user = mfa::reauthenticate(state, conn, client, user_id, proof)?;
    let now = db::now();
    let live_target = |conn: &mut DbConnection, purpose: Purpose| -> Result<_, ApiError> {
        Ok(db::codes::live(conn, &user.id, &[purpose.as_str()], now)?
            .into_iter()
            .find_map(|c| c.target))
    };
    let pending = Pending {
        email_change: live_target(conn, Purpose::EmailChange)?,
        phone_binding: live_target(conn, Purpose::PhoneBinding)?,
        totp_enrollment: user.totp_pending.is_some(),
    };
    let factors = Factors::of(conn, &user)?;
    let sessions = db::sessions::all_for_user(conn, &user.id)?
        .into_iter()
        .map(SessionEntry::from)
        .collect();
    let mut recipients = vec![user.email.clone()];
    recipients.extend(user.phone.clone());
    recipients.extend(pending.email_change.clone());
    recipients.extend(pending.phone_binding.clone());
    let messages = db::outbox::to_recipients(conn, &recipients)?
        .into_iter()
        .map(|m| MessageEntry {
            kind: m.kind,
            to: m.recipient,
            subject: m.subject,
            status: m.status,
            created_at: rfc3339(m.created_at),
            sent_at: m.sent_at.map(rfc3339),
        })
        .collect();
    let webhooks =
        db::outbox::webhooks_of(conn, &crate::notify::webhooks::user_key(state, &user.id))?
            .into_iter()
            .map(|m| WebhookEntry {
                endpoint: crate::notify::webhooks::endpoint_of(&m.recipient).to_owned(),
                event_id: m.subject,
                kind: m.purpose,
                status: m.status,
                created_at: rfc3339(m.created_at),
                sent_at: m.sent_at.map(rfc3339),
            })
            .collect();
    audit::record(
        conn,
        client,
        Event {
            kind: "data_export",
            outcome: "success",
            user_id: Some(&user.id),
            session_id: None,
            method: None,
        },
    );
    let events = db::events::all_for_user(conn, &user.id)?
        .into_iter()
        .map(EventEntry::from)
        .collect();
    Ok(Export {
        exported_at: rfc3339(now),
        user: users::view(state, conn, user)?,
        factors,
        sessions,
        events,
        pending,
        messages,
        webhooks,
    })
}
