//! The background sender: claims due outbox rows, delivers them, records the outcome.
//!
//! It wakes every `AUTHGATE_OUTBOX_POLL_INTERVAL` and whenever a request queues mail. Database
//! work runs on the blocking pool. A row is marked `sent` right after the SMTP server accepted
//! it; a failure schedules a retry ([`super::retry_delay`]). Claims are leased: a sender that
//! dies mid-send leaves `sending` rows that any sender claims again once the lease has run out.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::db::{self, outbox::OutboxRow};
use crate::state::AppState;

use super::webhooks::{self, KIND_WEBHOOK};
use super::{body_context, retry_delay, KIND_FAREWELL, KIND_MAIL, KIND_NOTICE, KIND_SMS};

const BATCH: i64 = 16;

/// Runs until `stop` turns true, finishing the batch in hand first.
pub async fn run(state: Arc<AppState>, mut stop: watch::Receiver<bool>) {
    loop {
        loop {
            if *stop.borrow() {
                return;
            }
            let batch = match claim(&state).await {
                Ok(batch) => batch,
                Err(e) => {
                    tracing::warn!(error = %e, "outbox: claiming due mail failed; retrying later");
                    break;
                }
            };
            if batch.is_empty() {
                break;
            }
            // Recipients in parallel; each recipient's messages in the order they were queued
            // (a sign-up's verification code before the reset code asked for just after it).
            let sends = by_recipient(batch).into_iter().map(|rows| {
                let state = &state;
                async move {
                    for row in rows {
                        deliver(state, row).await;
                    }
                }
            });
            futures_util::future::join_all(sends).await;
        }
        tokio::select! {
            _ = state.outbox_wake.notified() => {}
            _ = tokio::time::sleep(state.settings.outbox_poll_interval) => {}
            changed = stop.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}

/// A claimed batch (oldest first) grouped by recipient, each group keeping that order.
fn by_recipient(batch: Vec<OutboxRow>) -> Vec<Vec<OutboxRow>> {
    let mut groups: Vec<Vec<OutboxRow>> = Vec::new();
    for row in batch {
        match groups
            .iter_mut()
            .find(|g| g.first().is_some_and(|f| f.recipient == row.recipient))
        {
            Some(group) => group.push(row),
            None => groups.push(vec![row]),
        }
    }
    groups
}

fn lease(state: &AppState) -> Duration {
    state
        .settings
        .smtp_timeout
        .max(state.settings.sms_timeout)
        .max(state.settings.webhook_timeout)
        + Duration::from_secs(60)
}

async fn claim(state: &Arc<AppState>) -> anyhow::Result<Vec<OutboxRow>> {
    let s = state.clone();
    crate::runtime::blocking::in_span(move || -> anyhow::Result<Vec<OutboxRow>> {
        let mut conn = s.pool.get()?;
        let now = db::now();
        let lease = chrono::Duration::from_std(lease(&s)).unwrap_or(chrono::Duration::MAX);
        let until = now.checked_add_signed(lease).unwrap_or(now);
        let mut rows = db::outbox::claim_due(&mut conn, KIND_MAIL, now, until, BATCH)?;
        for kind in [KIND_NOTICE, KIND_FAREWELL, KIND_SMS] {
            rows.extend(db::outbox::claim_due(&mut conn, kind, now, until, BATCH)?);
        }
        // Webhook events one at a time per endpoint and user, so they arrive in order.
        rows.extend(db::outbox::claim_due_in_order(
            &mut conn,
            KIND_WEBHOOK,
            now,
            until,
            BATCH,
        )?);
        Ok(rows)
    })
    .await?
}

async fn deliver(state: &Arc<AppState>, row: OutboxRow) {
    if row.kind == KIND_WEBHOOK {
        return deliver_webhook(state, row).await;
    }
    let opened = state
        .sealer
        .open(&row.body_text, &body_context(&row.id, "text"))
        .and_then(|text| {
            let html = row
                .body_html
                .as_deref()
                .map(|h| state.sealer.open(h, &body_context(&row.id, "html")))
                .transpose()?;
            Ok((text, html))
        });
    let outcome = match opened {
        Ok((text, _)) if row.kind == KIND_SMS => {
            crate::clients::sms::send(
                &state.settings,
                &state.http_client,
                &row.recipient,
                &String::from_utf8_lossy(&text),
            )
            .await
        }
        Ok((text, html)) => {
            let text = String::from_utf8_lossy(&text).into_owned();
            let html = html.map(|h| String::from_utf8_lossy(&h).into_owned());
            state
                .mailer
                .send(&row.recipient, &row.subject, text, html)
                .await
        }
        Err(e) => Err(crate::clients::smtp::SendError {
            message: format!("stored body cannot be opened: {e}"),
            permanent: true,
        }),
    };
    let s = state.clone();
    let id = row.id.clone();
    let attempts = row.attempts;
    let kind = row.kind.clone();
    let age = (db::now() - row.created_at).to_std().unwrap_or_default();
    // With no SMTP server or SMS webhook configured a message is only written to the log: it
    // leaves the outbox like a sent one, but is counted as what it is.
    let delivered = if kind == KIND_SMS {
        if state.settings.sms_webhook_url.is_some() {
            "sent"
        } else {
            "logged"
        }
    } else if state.mailer.is_smtp() {
        "sent"
    } else {
        "logged"
    };
    let recorded = crate::runtime::blocking::in_span(move || -> anyhow::Result<()> {
        let mut conn = s.pool.get()?;
        match outcome {
            Ok(()) if kind == KIND_FAREWELL => {
                db::outbox::delete(&mut conn, &id)?;
                s.metrics
                    .outbox_deliveries
                    .with_label_values(&[kind.as_str(), delivered])
                    .inc();
                tracing::info!(outbox_id = %id, attempts, "mail sent and erased");
            }
            Ok(()) => {
                db::outbox::mark_sent(&mut conn, &id, db::now())?;
                s.metrics
                    .outbox_deliveries
                    .with_label_values(&[kind.as_str(), delivered])
                    .inc();
                if kind == KIND_SMS {
                    tracing::info!(outbox_id = %id, attempts, "sms sent");
                } else {
                    tracing::info!(outbox_id = %id, attempts, "mail sent");
                }
            }
            Err(e) => {
                let retry = (!e.permanent).then(|| retry_delay(attempts, age)).flatten();
                let retry_at = retry.map(|d| {
                    let d = chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
                    db::now().checked_add_signed(d).unwrap_or_else(db::now)
                });
                if kind == KIND_FAREWELL && retry_at.is_none() {
                    db::outbox::delete(&mut conn, &id)?;
                } else {
                    db::outbox::mark_failed_attempt(&mut conn, &id, &e.message, retry_at)?;
                }
                let outcome = if retry.is_some() { "retry" } else { "failed" };
                s.metrics
                    .outbox_deliveries
                    .with_label_values(&[kind.as_str(), outcome])
                    .inc();
                match retry {
                    Some(after) => tracing::warn!(outbox_id = %id, attempts, error = %e.message,
                        retry_in_ms = after.as_millis() as u64, "message not sent; will retry"),
                    None => tracing::error!(outbox_id = %id, attempts, error = %e.message,
                        "message not sent; giving up"),
                }
            }
        }
        Ok(())
    })
    .await;
    match recorded {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(outbox_id = %row.id, error = %e,
            "outbox: recording the outcome failed; the lease will expire and the mail be retried"),
        Err(e) => tracing::warn!(outbox_id = %row.id, error = %e, "outbox: recording task failed"),
    }
}

/// Posts one webhook event to its endpoint and records the outcome: `sent` on a 2xx, else a
/// retry with the outbox backoff, `failed` once the retry budget is spent. A `user.deleted`
/// event is erased from the outbox once delivered or given up, like the farewell mail.
async fn deliver_webhook(state: &Arc<AppState>, row: OutboxRow) {
    let endpoint_id = webhooks::endpoint_of(&row.recipient).to_owned();
    let endpoint = state.settings.webhooks.iter().find(|e| e.id == endpoint_id);
    let body = state
        .sealer
        .open(&row.body_text, &body_context(&row.id, "text"));
    let outcome = match (endpoint, body) {
        (None, _) => Err(crate::clients::smtp::SendError {
            message: "the endpoint is no longer configured".into(),
            permanent: true,
        }),
        (_, Err(e)) => Err(crate::clients::smtp::SendError {
            message: format!("stored body cannot be opened: {e}"),
            permanent: true,
        }),
        (Some(endpoint), Ok(body)) => {
            crate::clients::webhook::post(
                &state.http_client,
                crate::clients::webhook::Signed {
                    url: &endpoint.url,
                    secret: &endpoint.secret,
                    id: &row.subject,
                    body: &body,
                    timeout: state.settings.webhook_timeout,
                },
            )
            .await
        }
    };
    let s = state.clone();
    let erase_when_done =
        row.purpose.as_deref() == Some(crate::settings::WebhookEventType::UserDeleted.as_str());
    let age = (db::now() - row.created_at).to_std().unwrap_or_default();
    let (id, event_id, attempts) = (row.id.clone(), row.subject.clone(), row.attempts);
    let event = row.purpose.clone().unwrap_or_default();
    let recorded = crate::runtime::blocking::in_span(move || -> anyhow::Result<()> {
        let mut conn = s.pool.get()?;
        let (outcome, delivery) = match outcome {
            Ok(()) => {
                if erase_when_done {
                    db::outbox::delete(&mut conn, &id)?;
                } else {
                    db::outbox::mark_sent(&mut conn, &id, db::now())?;
                }
                tracing::info!(outbox_id = %id, webhook_id = %event_id, endpoint = %endpoint_id,
                    event = %event, attempts, "webhook event delivered");
                ("delivered", "sent")
            }
            Err(e) => {
                let retry = (!e.permanent).then(|| retry_delay(attempts, age)).flatten();
                let retry_at = retry.map(|d| {
                    let d = chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
                    db::now().checked_add_signed(d).unwrap_or_else(db::now)
                });
                if erase_when_done && retry_at.is_none() {
                    db::outbox::delete(&mut conn, &id)?;
                } else {
                    db::outbox::mark_failed_attempt(&mut conn, &id, &e.message, retry_at)?;
                }
                match retry {
                    Some(after) => {
                        tracing::warn!(outbox_id = %id, webhook_id = %event_id,
                            endpoint = %endpoint_id, event = %event, attempts, error = %e.message,
                            retry_in_ms = after.as_millis() as u64, "webhook event not delivered; will retry");
                        ("retried", "retry")
                    }
                    None => {
                        tracing::error!(outbox_id = %id, webhook_id = %event_id,
                            endpoint = %endpoint_id, event = %event, attempts, error = %e.message,
                            "webhook event not delivered; giving up");
                        ("failed", "failed")
                    }
                }
            }
        };
        s.metrics
            .webhook_deliveries
            .with_label_values(&[endpoint_id.as_str(), outcome])
            .inc();
        s.metrics
            .outbox_deliveries
            .with_label_values(&[KIND_WEBHOOK, delivery])
            .inc();
        Ok(())
    })
    .await;
    match recorded {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(outbox_id = %row.id, error = %e,
            "outbox: recording the outcome failed; the lease will expire and the event be retried"),
        Err(e) => tracing::warn!(outbox_id = %row.id, error = %e, "outbox: recording task failed"),
    }
}
