//! Audit events: a row in `auth_events` and a structured log line, never a secret.

use crate::db::{self, events::NewEvent, DbConnection};
use crate::domain::ClientInfo;

pub struct Event<'a> {
    pub kind: &'a str,
    pub outcome: &'a str,
    pub user_id: Option<&'a str>,
    pub session_id: Option<&'a str>,
    pub method: Option<&'a str>,
}

/// Records an event. A failure to record is logged, not raised: the audit trail must not turn a
/// sign-in into an error.
pub fn record(conn: &mut DbConnection, client: &ClientInfo, e: Event<'_>) {
    let ip = client.ip_string();
    tracing::info!(
        target: "authgate::audit",
        kind = e.kind,
        outcome = e.outcome,
        user_id = e.user_id,
        session_id = e.session_id,
        method = e.method,
        ip = ip.as_deref(),
        actor = client.actor.as_deref(),
        "auth event"
    );
    let row = NewEvent {
        id: uuid::Uuid::now_v7().to_string(),
        user_id: e.user_id,
        kind: e.kind,
        outcome: e.outcome,
        method: e.method,
        ip: ip.as_deref(),
        user_agent: client.user_agent.as_deref(),
        session_id: e.session_id,
        created_at: db::now(),
        actor: client.actor.as_deref(),
    };
    if let Err(err) = db::events::insert(conn, &row) {
        tracing::warn!(error = %err, kind = e.kind, "audit event not recorded");
    }
}
