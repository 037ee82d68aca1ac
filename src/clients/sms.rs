//! Delivery of one SMS: a webhook POST of `{"to", "message"}` signed as the Standard Webhooks
//! specification says (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64
//! HMAC-SHA256 of "id.timestamp.body">`), or the log when no webhook is configured
//! (development only).

use base64::Engine as _;

use super::smtp::SendError;
use crate::settings::Secret;
use crate::settings::Settings;

/// The HMAC key a secret stands for: the base64 after `whsec_` (as Standard Webhooks issues
/// secrets), else the string's bytes.
pub fn signing_key(secret: &Secret) -> Vec<u8> {
    let raw = secret.expose();
    raw.strip_prefix("whsec_")
        .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
        .unwrap_or_else(|| raw.as_bytes().to_vec())
}

/// `v1,<base64 HMAC-SHA256(key, "id.timestamp.body")>`.
pub fn signature(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key);
    let mut ctx = aws_lc_rs::hmac::Context::with_key(&key);
    ctx.update(id.as_bytes());
    ctx.update(b".");
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    let tag = ctx.sign();
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(tag.as_ref())
    )
}

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
    let timestamp = chrono::Utc::now().timestamp();
    let signature = signature(&signing_key(secret), &id, timestamp, &body);
    let response = http
        .post(url)
        .timeout(settings.sms_timeout)
        .header("content-type", "application/json")
        .header("webhook-id", &id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await
        .map_err(|e| SendError {
            // reqwest errors name the URL, which holds no secret here.
            message: format!("SMS webhook unreachable: {e}"),
            permanent: false,
        })?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(SendError {
            message: format!("SMS webhook answered {}", response.status()),
            permanent: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_follows_standard_webhooks() {
        // The example of the Standard Webhooks reference libraries.
        let key = signing_key(&Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            signature(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert_eq!(signing_key(&Secret::new("plain-secret")), b"plain-secret");
    }
}
