//! Delivery of one SMS: a webhook POST of `{"to", "message"}` signed as the Standard Webhooks
//! specification says (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64
//! HMAC-SHA256 of "id.timestamp.body">`), or the log when no webhook is configured
//! (development only).

use super::smtp::SendError;
use super::webhook::{self, Signed};
use crate::settings::Settings;

/// Sends one SMS. 2xx is success; anything else (or no answer within `AUTHGATE_SMS_TIMEOUT`)
/// is retried with the outbox backoff.
pub async fn send(
    settings: &Settings,
    http: &reqwest::Client,
    to: &str,
    message: &str,
) -> Result<(), SendError> {
    let (Some(url), Some(secret)) = (&settings.sms_webhook_url, &settings.sms_webhook_secret)
    else {
        tracing::warn!(
            to,
            message,
            "SMS not sent: AUTHGATE_SMS_WEBHOOK_URL is not set; written to the log instead (development only)"
        );
        return Ok(());
    };
    let body =
        serde_json::to_vec(&serde_json::json!({ "to": to, "message": message })).map_err(|e| {
            SendError {
                message: format!("SMS body cannot be built: {e}"),
                permanent: true,
            }
        })?;
    let id = format!("msg_{}", uuid::Uuid::new_v4().simple());
    webhook::post(
        http,
        Signed {
            url,
            secret,
            id: &id,
            body: &body,
            timeout: settings.sms_timeout,
        },
    )
    .await
    .map_err(|e| SendError {
        message: format!("SMS webhook {}", e.message),
        permanent: e.permanent,
    })
}
