//! One signed webhook POST, as the Standard Webhooks specification says: headers `webhook-id`,
//! `webhook-timestamp` (the attempt's Unix time) and `webhook-signature: v1,<base64
//! HMAC-SHA256 of "id.timestamp.body">`. The SMS webhook and the event webhooks both send
//! through here, so there is one signing scheme.

use std::time::Duration;

use base64::Engine as _;

use super::smtp::SendError;
use crate::settings::Secret;

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

/// A message to post: its id (the same on every attempt, for the receiver to deduplicate by)
/// and its JSON body.
pub struct Signed<'a> {
    pub url: &'a str,
    pub secret: &'a Secret,
    pub id: &'a str,
    pub body: &'a [u8],
    pub timeout: Duration,
}

/// Posts `message`, signed now. 2xx is success; any other answer, or none within the timeout,
/// is a failure to retry. The error never names the URL (it may carry a token in its query).
pub async fn post(http: &reqwest::Client, message: Signed<'_>) -> Result<(), SendError> {
    let timestamp = chrono::Utc::now().timestamp();
    let signature = signature(
        &signing_key(message.secret),
        message.id,
        timestamp,
        message.body,
    );
    let response = http
        .post(message.url)
        .timeout(message.timeout)
        .header("content-type", "application/json")
        .header("webhook-id", message.id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(message.body.to_vec())
        .send()
        .await
        .map_err(|e| SendError {
            message: format!("unreachable: {}", e.without_url()),
            permanent: false,
        })?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(SendError {
            message: format!("answered {}", response.status()),
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
