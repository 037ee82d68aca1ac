//! Sessions and their refresh tokens.

use std::time::Duration;

use chrono::NaiveDateTime;

use crate::db::{self, sessions::NewSession, DbConnection};
use crate::domain::ClientInfo;
use crate::error::ApiError;
use crate::notify::webhooks;
use crate::service::audit::{self, Event};
use crate::state::AppState;
use crate::tokens::access::Issue;
use crate::tokens::refresh::{self, Decision};

/// What the client receives after a sign-in or refresh.
#[derive(Debug)]
pub struct Issued {
    pub access_token: String,
    pub access_expires_in: Duration,
    /// The access token's `exp` (Unix seconds): the session hint's value.
    pub access_expires_at: i64,
    pub refresh_token: String,
    /// For the cookie: the remaining lifetime of a remember-me session, else `None`.
    pub persist_for: Option<Duration>,
    pub session_id: String,
    pub user_id: String,
    /// Unused recovery codes, when a sign-in should tell the user (see
    /// `accounts::second_factor`); `None` otherwise.
    pub recovery_codes_left: Option<i64>,
}

pub struct NewSessionFor<'a> {
    pub user: &'a db::users::UserRow,
    pub remember_me: bool,
    pub amr: &'a [&'a str],
    pub aal: &'a str,
}

fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

fn remaining(until: NaiveDateTime, now: NaiveDateTime) -> Duration {
    (until - now).to_std().unwrap_or_default()
}

/// Opens a session (counter 0) and issues its first tokens.
pub fn create(
    state: &AppState,
    conn: &mut DbConnection,
    client: &ClientInfo,
    s: NewSessionFor<'_>,
) -> Result<Issued, ApiError> {
    let now = db::now();
    let id = uuid::Uuid::new_v4();
    let sid = id.to_string();
    let secret = crate::crypto::random_bytes::<32>();
    let lifetime = if s.remember_me {
        state.settings.remember_me_ttl
    } else {
        state.settings.session_ttl
    };
    let expires_at = now
        .checked_add_signed(chrono_duration(lifetime))
        .unwrap_or(NaiveDateTime::MAX);
    let amr = s.amr.join(",");
    let ip = client.ip_string();
    db::sessions::insert(
        conn,
        &NewSession {
            id: &sid,
            user_id: &s.user.id,
            secret: &state.sealer.seal(&secret, sid.as_bytes()),
            counter: 0,
            rotated_at: now,
            created_at: now,
            last_used_at: now,
            expires_at,
            remember_me: s.remember_me,
            amr: &amr,
            aal: s.aal,
            ip: ip.as_deref(),
            user_agent: client.user_agent.as_deref(),
        },
    )?;
    webhooks::queue(
        state,
        conn,
        webhooks::Event::SessionCreated {
            user_id: &s.user.id,
            session_id: &sid,
            aal: s.aal,
            amr: s.amr,
        },
    )?;
    let roles = db::roles::for_user(conn, &s.user.id)?;
    let (access_token, claims) = state
        .tokens
        .sign(
            &state.keys,
            Issue {
                user_id: &s.user.id,
                session_id: &sid,
                email: &s.user.email,
                email_verified: s.user.email_verified,
                amr: s.amr.iter().map(|a| (*a).to_owned()).collect(),
                aal: s.aal,
                roles,
            },
        )
        .map_err(|e| ApiError::Internal(e.into()))?;
    state
        .metrics
        .sessions_created
        .with_label_values(&[s.amr.last().copied().unwrap_or("pwd")])
        .inc();
    Ok(Issued {
        access_token,
        access_expires_in: state.settings.access_token_ttl,
        access_expires_at: claims.exp,
        refresh_token: refresh::encode(&id, 0, &secret),
        persist_for: s.remember_me.then(|| remaining(expires_at, now)),
        session_id: sid,
        user_id: s.user.id.clone(),
        recovery_codes_left: None,
    })
}

enum Step {
    /// Issue the next tokens: the session (as read) with its user, the counter the new refresh
    /// token carries, and whether the step rotated or repeated (grace).
    Issue {
        row: Box<db::sessions::SessionRow>,
        user: db::sessions::SessionUser,
        secret: Vec<u8>,
        next: u64,
        outcome: &'static str,
    },
    Reused(&'static str),
    Invalid,
}

/// A refresh decided and written, its tokens not yet signed: signing needs no connection, so
/// [`refresh`]'s caller gives the connection back before [`Refreshed::sign`].
pub struct Refreshed {
    presented: refresh::Presented,
    row: Box<db::sessions::SessionRow>,
    user: db::sessions::SessionUser,
    roles: Vec<String>,
    secret: Vec<u8>,
    next: u64,
}

impl Refreshed {
    /// The session's user.
    pub fn user_id(&self) -> &str {
        &self.row.user_id
    }

    /// Signs the access token and builds the next refresh token.
    pub fn sign(self, state: &AppState) -> Result<Issued, ApiError> {
        issue(
            state,
            &self.presented,
            *self.row,
            self.user,
            self.roles,
            &self.secret,
            self.next,
        )
    }
}

/// Exchanges a refresh token for the next one: the current token rotates; the
/// previous one inside the grace window gets the current token again; anything older revokes the
/// session. Concurrent refreshes of one session serialise on the counter.
///
/// The common cases take no lock while reading: one unlocked read of the session and its user,
/// then (for a rotation) one conditional `UPDATE … WHERE counter = <read>` that only one of
/// several concurrent refreshes can win. Everything else (the loser of such a race, reuse,
/// expiry, a disabled user) runs the full step with the row locked, which re-reads and decides
/// again, so the outcome is the one a fully locked step would give.
pub fn refresh(
    state: &AppState,
    conn: &mut DbConnection,
    client: &ClientInfo,
    token: &str,
) -> Result<Refreshed, ApiError> {
    let Some(presented) = refresh::parse(token) else {
        state
            .metrics
            .refreshes
            .with_label_values(&["invalid"])
            .inc();
        return Err(ApiError::InvalidRefreshToken);
    };
    let sid = presented.session_id.to_string();
    let step = match optimistic_step(state, conn, &presented, &sid)? {
        Some(step) => step,
        None => db::write_transaction(conn, |conn| {
            locked_step(state, conn, client, &presented, &sid)
        })?,
    };
    let (result, outcome) = match step {
        Step::Issue {
            row,
            user,
            secret,
            next,
            outcome,
        } => {
            // Read at every refresh: a role granted or revoked takes effect at the next one.
            let refreshed = db::roles::for_user(conn, &row.user_id)
                .map_err(ApiError::from)
                .map(|roles| Refreshed {
                    presented,
                    row,
                    user,
                    roles,
                    secret,
                    next,
                });
            (refreshed, outcome)
        }
        Step::Reused(cause) => {
            tracing::warn!(session_id = %sid, cause, "refresh token reuse: session revoked");
            (Err(ApiError::RefreshTokenReused(cause)), "reused")
        }
        Step::Invalid => (Err(ApiError::InvalidRefreshToken), "invalid"),
    };
    state.metrics.refreshes.with_label_values(&[outcome]).inc();
    result
}

fn windows(state: &AppState) -> refresh::Windows {
    refresh::Windows {
        idle: chrono_duration(state.settings.session_idle_timeout),
        grace: chrono_duration(state.settings.refresh_reuse_grace),
    }
}

fn facts(row: &db::sessions::SessionRow, user_disabled: bool) -> refresh::SessionFacts {
    refresh::SessionFacts {
        counter: u64::try_from(row.counter).unwrap_or(0),
        revoked: row.revoked_at.is_some(),
        expires_at: row.expires_at,
        last_used_at: row.last_used_at,
        rotated_at: row.rotated_at,
        user_disabled,
    }
}

/// The refresh step without a lock, or `None` when it needs the locked one: a decision that
/// writes more than the counter (ending or revoking the session), or a rotation another
/// refresh won first.
fn optimistic_step(
    state: &AppState,
    conn: &mut DbConnection,
    presented: &refresh::Presented,
    sid: &str,
) -> Result<Option<Step>, ApiError> {
    let Some((row, user)) = db::sessions::find_with_user(conn, sid)? else {
        // No session (or no user, which cascades to no session): nothing to write either way.
        return Ok(Some(Step::Invalid));
    };
    let secret = state
        .sealer
        .open(&row.secret, sid.as_bytes())
        .map_err(|e| ApiError::Internal(e.into()))?;
    let now = db::now();
    let facts = facts(&row, user.disabled);
    let (next, outcome) = match refresh::decide(
        presented.counter,
        presented.mac_valid(&secret),
        &facts,
        windows(state),
        now,
    ) {
        Decision::Invalid => return Ok(Some(Step::Invalid)),
        Decision::End(_) | Decision::Reused(_) => return Ok(None),
        Decision::Rotate { next } => {
            let rotated = db::write_statement(conn, |conn| {
                db::sessions::rotate_from(conn, sid, row.counter, now)
            })?;
            if !rotated {
                return Ok(None); // another refresh moved the counter (or ended the session) first
            }
            (next, "rotated")
        }
        // The previous token inside the grace window: the current token again, no write.
        Decision::Grace { current } => (current, "grace"),
    };
    Ok(Some(Step::Issue {
        row: Box::new(row),
        user,
        secret,
        next,
        outcome,
    }))
}

/// The refresh step with the session row locked for the transaction.
fn locked_step(
    state: &AppState,
    conn: &mut DbConnection,
    client: &ClientInfo,
    presented: &refresh::Presented,
    sid: &str,
) -> Result<Step, ApiError> {
    let Some(row) = db::sessions::find_for_update(conn, sid)? else {
        return Ok(Step::Invalid);
    };
    let secret = state
        .sealer
        .open(&row.secret, sid.as_bytes())
        .map_err(|e| ApiError::Internal(e.into()))?;
    let now = db::now();
    let user = db::users::find_by_id(conn, &row.user_id)?.map(|u| db::sessions::SessionUser {
        email: u.email,
        email_verified: u.email_verified,
        disabled: u.disabled,
    });
    let facts = facts(&row, user.as_ref().is_none_or(|u| u.disabled));
    let decision = refresh::decide(
        presented.counter,
        presented.mac_valid(&secret),
        &facts,
        windows(state),
        now,
    );
    let (next, outcome) = match decision {
        Decision::Invalid => return Ok(Step::Invalid),
        Decision::End(reason) => {
            revoke(state, conn, &row.user_id, sid, reason, now)?;
            return Ok(Step::Invalid);
        }
        Decision::Rotate { next } => {
            db::sessions::rotate(conn, sid, i64::try_from(next).unwrap_or(i64::MAX), now)?;
            (next, "rotated")
        }
        Decision::Grace { current } => (current, "grace"),
        Decision::Reused(cause) => {
            revoke(state, conn, &row.user_id, sid, "refresh_token_reused", now)?;
            audit::record(
                conn,
                client,
                Event {
                    kind: "refresh_reuse",
                    outcome: "session_revoked",
                    user_id: Some(&row.user_id),
                    session_id: Some(sid),
                    method: None,
                },
            );
            return Ok(Step::Reused(cause));
        }
    };
    let Some(user) = user else {
        return Ok(Step::Invalid); // unreachable: a missing user decides `End`
    };
    Ok(Step::Issue {
        row: Box::new(row),
        user,
        secret,
        next,
        outcome,
    })
}

/// Signs the access token and builds the refresh token for a decided step (no connection held).
fn issue(
    state: &AppState,
    presented: &refresh::Presented,
    row: db::sessions::SessionRow,
    user: db::sessions::SessionUser,
    roles: Vec<String>,
    secret: &[u8],
    next: u64,
) -> Result<Issued, ApiError> {
    let amr: Vec<String> = row
        .amr
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let (access_token, claims) = state
        .tokens
        .sign(
            &state.keys,
            Issue {
                user_id: &row.user_id,
                session_id: &row.id,
                email: &user.email,
                email_verified: user.email_verified,
                amr,
                aal: &row.aal,
                roles,
            },
        )
        .map_err(|e| ApiError::Internal(e.into()))?;
    let now = db::now();
    Ok(Issued {
        access_token,
        access_expires_in: state.settings.access_token_ttl,
        access_expires_at: claims.exp,
        refresh_token: refresh::encode(&presented.session_id, next, secret),
        persist_for: row.remember_me.then(|| remaining(row.expires_at, now)),
        session_id: row.id,
        user_id: row.user_id,
        recovery_codes_left: None,
    })
}

/// Ends the session a refresh token (or, failing that, an access token's `sid`) names.
/// Idempotent: unknown, forged or already-ended sessions are not an error.
pub fn logout(
    conn: &mut DbConnection,
    state: &AppState,
    client: &ClientInfo,
    refresh_token: Option<&str>,
    access_sid: Option<&str>,
) -> Result<(), ApiError> {
    let mut target: Option<(String, String)> = None;
    if let Some(presented) = refresh_token.and_then(refresh::parse) {
        let sid = presented.session_id.to_string();
        if let Some(row) = db::sessions::find(conn, &sid)? {
            let secret = state
                .sealer
                .open(&row.secret, sid.as_bytes())
                .map_err(|e| ApiError::Internal(e.into()))?;
            if presented.mac_valid(&secret) {
                target = Some((sid, row.user_id));
            }
        }
    }
    if target.is_none() {
        if let Some(sid) = access_sid {
            if let Some(row) = db::sessions::find(conn, sid)? {
                target = Some((row.id, row.user_id));
            }
        }
    }
    if let Some((sid, user_id)) = target {
        db::write_transaction(conn, |conn| -> Result<(), ApiError> {
            if revoke(state, conn, &user_id, &sid, "logout", db::now())? {
                audit::record(
                    conn,
                    client,
                    Event {
                        kind: "logout",
                        outcome: "session_revoked",
                        user_id: Some(&user_id),
                        session_id: Some(&sid),
                        method: None,
                    },
                );
            }
            Ok(())
        })?;
    }
    Ok(())
}

/// Ends a session of `user_id` (if still live) and counts it; true when this call ended it.
pub fn revoke(
    state: &AppState,
    conn: &mut DbConnection,
    user_id: &str,
    session_id: &str,
    reason: &'static str,
    at: NaiveDateTime,
) -> Result<bool, ApiError> {
    let ended = db::sessions::revoke(conn, session_id, reason, at)? > 0;
    if ended {
        announce_ended(state, conn, user_id, &[session_id], reason)?;
        state.revocations.add([session_id], at);
        state
            .metrics
            .sessions_revoked
            .with_label_values(&[reason])
            .inc();
    }
    Ok(ended)
}

/// One entry of `GET sessions/`.
#[derive(Debug, serde::Serialize)]
pub struct SessionView {
    pub id: String,
    pub created_at: String,
    pub last_used_at: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub remember_me: bool,
    pub current: bool,
}

/// The caller's live sessions; `current` marks the one its access token belongs to.
pub fn list(
    state: &AppState,
    conn: &mut DbConnection,
    user_id: &str,
    current_sid: &str,
) -> Result<Vec<SessionView>, ApiError> {
    let now = db::now();
    let idle = chrono_duration(state.settings.session_idle_timeout);
    let idle_since = now.checked_sub_signed(idle).unwrap_or(NaiveDateTime::MIN);
    Ok(db::sessions::live_for_user(conn, user_id, now, idle_since)?
        .into_iter()
        .map(|s| SessionView {
            current: s.id == current_sid,
            created_at: crate::service::users::rfc3339(s.created_at),
            last_used_at: crate::service::users::rfc3339(s.last_used_at),
            id: s.id,
            ip: s.ip,
            user_agent: s.user_agent,
            remember_me: s.remember_me,
        })
        .collect())
}

/// Ends one of the caller's sessions. 404 for an unknown id or another user's session (the
/// same answer, so ids of others cannot be probed).
pub fn revoke_own(
    state: &AppState,
    conn: &mut DbConnection,
    client: &ClientInfo,
    user_id: &str,
    session_id: &str,
) -> Result<(), ApiError> {
    db::write_transaction(conn, |conn| {
        let row = db::sessions::find(conn, session_id)?;
        match row {
            Some(row) if row.user_id == user_id && row.revoked_at.is_none() => {
                if revoke(state, conn, user_id, session_id, "user_revoked", db::now())? {
                    audit::record(
                        conn,
                        client,
                        Event {
                            kind: "session_revoke",
                            outcome: "session_revoked",
                            user_id: Some(user_id),
                            session_id: Some(session_id),
                            method: None,
                        },
                    );
                }
                Ok(())
            }
            _ => Err(ApiError::NotFound),
        }
    })
}

/// `sessions/revoke-others/`: ends every session of the user but `keep`, in one transaction.
pub fn revoke_others(
    state: &AppState,
    conn: &mut DbConnection,
    user_id: &str,
    keep: &str,
) -> Result<usize, ApiError> {
    db::write_transaction(conn, |conn| {
        revoke_all_but(state, conn, user_id, Some(keep), "revoke_others")
    })
}

/// Ends every session of the user but `keep` (the caller's), counting each.
pub fn revoke_all_but(
    state: &AppState,
    conn: &mut DbConnection,
    user_id: &str,
    keep: Option<&str>,
    reason: &'static str,
) -> Result<usize, ApiError> {
    let now = db::now();
    let ended = db::sessions::revoke_all_for_user(conn, user_id, keep, reason, now)?;
    announce_ended(state, conn, user_id, &ended, reason)?;
    state.revocations.add(ended.iter().map(String::as_str), now);
    state
        .metrics
        .sessions_revoked
        .with_label_values(&[reason])
        .inc_by(u64::try_from(ended.len()).unwrap_or(0));
    Ok(ended.len())
}

/// Queues `session.revoked` for sessions of `user_id` just ended for `reason`, in the
/// caller's transaction: every path that ends sessions goes through here.
pub fn announce_ended(
    state: &AppState,
    conn: &mut DbConnection,
    user_id: &str,
    session_ids: &[impl AsRef<str>],
    reason: &str,
) -> diesel::QueryResult<()> {
    for session_id in session_ids {
        webhooks::queue(
            state,
            conn,
            webhooks::Event::SessionRevoked {
                user_id,
                session_id: session_id.as_ref(),
                reason,
            },
        )?;
    }
    Ok(())
}

/// Refuses an access token whose session has ended: revoked, expired (absolute or idle), gone,
/// or not the token's user. The token itself verified already; this is the database's word,
/// for every endpoint that reads the database anyway.
pub fn ensure_live(
    state: &AppState,
    conn: &mut DbConnection,
    user_id: &str,
    session_id: &str,
) -> Result<(), ApiError> {
    let Some(row) = db::sessions::liveness(conn, session_id)? else {
        return Err(ApiError::SessionNotFound);
    };
    let now = db::now();
    let idle = chrono_duration(state.settings.session_idle_timeout);
    let live = row.user_id == user_id
        && row.revoked_at.is_none()
        && now < row.expires_at
        && now - row.last_used_at <= idle;
    if live {
        Ok(())
    } else {
        Err(ApiError::SessionNotFound)
    }
}
