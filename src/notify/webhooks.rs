//! Webhook events (`AUTHGATE_WEBHOOKS`): queued in the outbox in the transaction of the change
//! they report, so an event goes out if and only if the change commits; delivered by the
//! background sender, signed as Standard Webhooks says, at least once, in order per user and
//! endpoint, never holding up the request.
//!
//! One outbox row per endpoint and event ([`crate::db::outbox::KIND_WEBHOOK`]): `recipient` is
//! `<endpoint id>:<user key>` (a keyed hash of the user id, so the queue key names nobody),
//! `subject` the event id (UUID v7, the `webhook-id` on every attempt and every endpoint),
//! `purpose` the event type, and `body_text` the JSON body, sealed with the row id like a
//! mail's. A body holds ids and plain facts, never a secret, code, token or password hash:
//! [`Event`] has no field that could carry one.

use chrono::SecondsFormat;
use serde_json::{json, Value};

use crate::db::{self, outbox::NewOutbox, users::UserRow, DbConnection};
use crate::notify::security::Change;
use crate::settings::WebhookEventType as Type;
use crate::state::AppState;

use super::body_context;

pub use crate::db::outbox::KIND_WEBHOOK;

/// What happened, with the facts its body carries.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// `method`: how the account was made (`password`, `passkey`, `operator`, ...).
    UserCreated {
        user_id: &'a str,
        email: &'a str,
        email_verified: bool,
        name: &'a str,
        method: &'a str,
    },
    /// `changed`: the names of the fields that changed (`name`, `avatar`, `email_verified`).
    UserUpdated {
        user_id: &'a str,
        changed: &'a [&'a str],
    },
    /// `reverted`: the previous address undid a change (`email` is then the restored one).
    UserEmailChanged {
        user_id: &'a str,
        email: &'a str,
        previous_email: &'a str,
        reverted: bool,
    },
    /// Carries the user id only.
    UserDeleted { user_id: &'a str },
    /// Disabled (`true`) or enabled again (`false`).
    UserDisabled { user_id: &'a str, disabled: bool },
    SessionCreated {
        user_id: &'a str,
        session_id: &'a str,
        aal: &'a str,
        amr: &'a [&'a str],
    },
    /// `reason`: why it ended (`logout`, `user_revoked`, `password_change`, ...).
    SessionRevoked {
        user_id: &'a str,
        session_id: &'a str,
        reason: &'a str,
    },
    /// `how`: `changed` (by the user, knowing the old one), `reset` (with a mailed code),
    /// `operator` (set by an operator).
    PasswordChanged { user_id: &'a str, how: &'a str },
    /// `factor`: `totp`, `passkey`, `phone`, `recovery_codes`, or `all` (an operator's reset);
    /// `change`: `added`, `removed`, `replaced` or `reset`.
    MfaChanged {
        user_id: &'a str,
        factor: &'a str,
        change: &'a str,
    },
    RoleChanged {
        user_id: &'a str,
        role: &'a str,
        granted: bool,
    },
}

impl Event<'_> {
    pub fn kind(&self) -> Type {
        match self {
            Self::UserCreated { .. } => Type::UserCreated,
            Self::UserUpdated { .. } => Type::UserUpdated,
            Self::UserEmailChanged { .. } => Type::UserEmailChanged,
            Self::UserDeleted { .. } => Type::UserDeleted,
            Self::UserDisabled { .. } => Type::UserDisabled,
            Self::SessionCreated { .. } => Type::SessionCreated,
            Self::SessionRevoked { .. } => Type::SessionRevoked,
            Self::PasswordChanged { .. } => Type::PasswordChanged,
            Self::MfaChanged { .. } => Type::MfaChanged,
            Self::RoleChanged { .. } => Type::RoleChanged,
        }
    }

    /// The user the event is about: its queue.
    pub fn user_id(&self) -> &str {
        match self {
            Self::UserCreated { user_id, .. }
            | Self::UserUpdated { user_id, .. }
            | Self::UserEmailChanged { user_id, .. }
            | Self::UserDeleted { user_id }
            | Self::UserDisabled { user_id, .. }
            | Self::SessionCreated { user_id, .. }
            | Self::SessionRevoked { user_id, .. }
            | Self::PasswordChanged { user_id, .. }
            | Self::MfaChanged { user_id, .. }
            | Self::RoleChanged { user_id, .. } => user_id,
        }
    }

    /// The body's `data`.
    pub fn data(&self) -> Value {
        match *self {
            Self::UserCreated {
                user_id,
                email,
                email_verified,
                name,
                method,
            } => json!({
                "user_id": user_id,
                "email": email,
                "email_verified": email_verified,
                "name": name,
                "method": method,
            }),
            Self::UserUpdated { user_id, changed } => json!({
                "user_id": user_id,
                "changed": changed,
            }),
            Self::UserEmailChanged {
                user_id,
                email,
                previous_email,
                reverted,
            } => json!({
                "user_id": user_id,
                "email": email,
                "previous_email": previous_email,
                "reverted": reverted,
            }),
            Self::UserDeleted { user_id } => json!({ "user_id": user_id }),
            Self::UserDisabled { user_id, disabled } => json!({
                "user_id": user_id,
                "disabled": disabled,
            }),
            Self::SessionCreated {
                user_id,
                session_id,
                aal,
                amr,
            } => json!({
                "user_id": user_id,
                "session_id": session_id,
                "aal": aal,
                "amr": amr,
            }),
            Self::SessionRevoked {
                user_id,
                session_id,
                reason,
            } => json!({
                "user_id": user_id,
                "session_id": session_id,
                "reason": reason,
            }),
            Self::PasswordChanged { user_id, how } => json!({
                "user_id": user_id,
                "how": how,
            }),
            Self::MfaChanged {
                user_id,
                factor,
                change,
            } => json!({
                "user_id": user_id,
                "factor": factor,
                "change": change,
            }),
            Self::RoleChanged {
                user_id,
                role,
                granted,
            } => json!({
                "user_id": user_id,
                "role": role,
                "granted": granted,
            }),
        }
    }
}

/// `user.created` for a row just written.
pub fn user_created<'a>(user: &'a UserRow, method: &'a str) -> Event<'a> {
    Event::UserCreated {
        user_id: &user.id,
        email: &user.email,
        email_verified: user.email_verified,
        name: &user.name,
        method,
    }
}

/// The event a security notice's change is, if any (a notice and an event report the same
/// change; `user` is the row before it).
pub fn of_change<'a>(user: &'a UserRow, change: Change<'a>) -> Option<Event<'a>> {
    let user_id = user.id.as_str();
    let mfa = |factor, change| {
        Some(Event::MfaChanged {
            user_id,
            factor,
            change,
        })
    };
    let password = |how| Some(Event::PasswordChanged { user_id, how });
    match change {
        Change::PasswordChanged => password("changed"),
        Change::PasswordReset => password("reset"),
        Change::PasswordSetByOperator => password("operator"),
        Change::EmailChanged { new_email, .. } => Some(Event::UserEmailChanged {
            user_id,
            email: new_email,
            previous_email: &user.email,
            reverted: false,
        }),
        Change::EmailChangeReverted { restored_email } => Some(Event::UserEmailChanged {
            user_id,
            email: restored_email,
            previous_email: &user.email,
            reverted: true,
        }),
        Change::TotpEnabled => mfa("totp", "added"),
        Change::TotpRemoved => mfa("totp", "removed"),
        Change::RecoveryCodesReplaced => mfa("recovery_codes", "replaced"),
        Change::SecondFactorReset => mfa("all", "reset"),
        Change::PhoneBound => mfa("phone", "added"),
        Change::PhoneRemoved => mfa("phone", "removed"),
        Change::PasskeyAdded => mfa("passkey", "added"),
        Change::PasskeyRemoved => mfa("passkey", "removed"),
        Change::AccountDeleted => Some(Event::UserDeleted { user_id }),
        // A sign-in step or a label, not a change of the factors.
        Change::RecoveryCodeUsed | Change::PasskeyRenamed | Change::PasskeyCloned => None,
    }
}

/// The queue key of a user: a keyed hash of the id, so outbox rows name nobody in the clear.
pub fn user_key(state: &AppState, user_id: &str) -> String {
    state
        .code_key
        .mac_hex(format!("webhook queue of {user_id}").as_bytes())
}

/// Queues `event` for every endpoint that wants it, in the caller's transaction. Nothing is
/// written when no endpoint does.
pub fn queue(
    state: &AppState,
    conn: &mut DbConnection,
    event: Event<'_>,
) -> diesel::QueryResult<()> {
    let kind = event.kind();
    let mut endpoints = state
        .settings
        .webhooks
        .iter()
        .filter(|e| e.wants(kind))
        .peekable();
    if endpoints.peek().is_none() {
        return Ok(());
    }
    let now = db::now();
    let event_id = uuid::Uuid::now_v7().to_string();
    let body = json!({
        "type": kind.as_str(),
        "timestamp": now.and_utc().to_rfc3339_opts(SecondsFormat::Millis, true),
        "data": event.data(),
    })
    .to_string();
    let key = user_key(state, event.user_id());
    for endpoint in endpoints {
        let id = uuid::Uuid::now_v7().to_string();
        let sealed = state
            .sealer
            .seal(body.as_bytes(), &body_context(&id, "text"));
        db::outbox::insert(
            conn,
            &NewOutbox {
                id: &id,
                kind: KIND_WEBHOOK,
                recipient: &format!("{}:{key}", endpoint.id),
                subject: &event_id,
                body_text: &sealed,
                body_html: None,
                status: db::outbox::PENDING,
                attempts: 0,
                next_attempt_at: now,
                created_at: now,
                purpose: Some(kind.as_str()),
            },
        )?;
    }
    // Before the commit the sender may find nothing yet; it looks again at its next poll.
    super::wake(state);
    Ok(())
}

/// Deletes every queued, sent or failed event about the user, on every endpoint (their bodies
/// describe the person); the erasure queues `user.deleted` afterwards.
pub fn erase_user(
    state: &AppState,
    conn: &mut DbConnection,
    user_id: &str,
) -> diesel::QueryResult<usize> {
    db::outbox::delete_webhooks_of(conn, &user_key(state, user_id))
}

/// The endpoint id of a webhook row's recipient.
pub fn endpoint_of(recipient: &str) -> &str {
    recipient.split_once(':').map_or(recipient, |(e, _)| e)
}
