//! Captcha verification against the provider's `siteverify` endpoint. Which routes require it is
//! decided in one place, the route table (`crate::startup::route_table`); the token is read by
//! `crate::http::captcha`. This module only talks to the provider and judges its answer.
//!
//! # The request (identical for the three providers)
//! `POST <verify URL>` with `Content-Type: application/x-www-form-urlencoded` and the fields
//! `secret` (our secret key), `response` (the client's token) and `remoteip` (the client's address,
//! optional, sent whenever known), plus:
//! - hCaptcha: `sitekey` when `AUTHGATE_CAPTCHA_SITEKEY` is set (hCaptcha then refuses a token
//!   solved for another site);
//! - Turnstile: `idempotency_key`, a fresh UUID per verification, so that the one retry made after
//!   a connection failure is answered like the first attempt instead of `timeout-or-duplicate`.
//!
//! Sources: reCAPTCHA <https://developers.google.com/recaptcha/docs/verify> (legacy SiteVerify,
//! also <https://docs.cloud.google.com/recaptcha/docs/verify>); hCaptcha
//! <https://docs.hcaptcha.com/#verify-the-user-response-server-side>; Turnstile
//! <https://developers.cloudflare.com/turnstile/get-started/server-side-validation/>.
//!
//! # The answer: fields relied on
//! A JSON object. We read:
//! - `success` (all three): whether the token is valid for our secret. Checked first.
//! - `error-codes` (all three, optional on success): why not. Codes that blame the *token*
//!   (`missing-input-response`, `invalid-input-response`, `timeout-or-duplicate`,
//!   `expired-input-response`, `already-seen-response`, …) are `captcha_invalid`; codes that blame
//!   *our* request (`missing-input-secret`, `invalid-input-secret`, `sitekey-secret-mismatch`,
//!   `bad-request`) or the provider (`internal-error`, Turnstile) are `captcha_unavailable`: the
//!   client can do nothing about them, and the operator must see them (logged at error level).
//! - `hostname` (all three): the site the challenge was solved on; compared with
//!   `AUTHGATE_CAPTCHA_HOSTNAMES` (exact, case-insensitive) when that list is set.
//! - `action` (reCAPTCHA v3 and Turnstile): compared with `AUTHGATE_CAPTCHA_ACTION` when set.
//! - `score` (reCAPTCHA v3 only: 1.0 very likely a human, 0.0 very likely a bot): must be at least
//!   `AUTHGATE_CAPTCHA_MIN_SCORE`. A reCAPTCHA v2 answer has no score and passes this check.
//!   hCaptcha Enterprise's `score` is a *risk* score (higher is riskier) with `score_reason`; it is
//!   not used.
//!
//! Not relied on: `challenge_ts` (the providers already refuse stale tokens), hCaptcha's `credit`,
//! Turnstile's `cdata` and `metadata`.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::settings::{CaptchaProvider, Secret, Settings};

/// The longest token accepted (Turnstile documents 2048 characters; reCAPTCHA and hCaptcha tokens
/// are of the same order). Longer ones are refused without asking the provider.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// Error codes that say our request, not the client's token, is at fault.
const OPERATOR_ERRORS: &[&str] = &[
    "missing-input-secret",
    "invalid-input-secret",
    "sitekey-secret-mismatch",
    "bad-request",
    "internal-error",
];

impl CaptchaProvider {
    /// The provider's documented siteverify endpoint.
    pub fn default_verify_url(self) -> Option<&'static str> {
        match self {
            Self::None => None,
            Self::Recaptcha => Some("https://www.google.com/recaptcha/api/siteverify"),
            Self::Hcaptcha => Some("https://api.hcaptcha.com/siteverify"),
            Self::Turnstile => Some("https://challenges.cloudflare.com/turnstile/v0/siteverify"),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Recaptcha => "recaptcha",
            Self::Hcaptcha => "hcaptcha",
            Self::Turnstile => "turnstile",
        }
    }
}

/// Why a verification did not pass. The text is for the log only; the client sees the code.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// The token is missing, malformed or refused: 400 `captcha_invalid`.
    Rejected(String),
    /// No usable answer (unreachable, too slow, 5xx, not JSON, our own request refused):
    /// 503 `captcha_unavailable`.
    Unavailable(String),
}

/// The fields of a siteverify answer that are read (see the module documentation).
#[derive(Debug, Deserialize)]
pub struct Answer {
    pub success: bool,
    #[serde(default, rename = "error-codes")]
    pub error_codes: Option<Vec<String>>,
    #[serde(default)]
    pub hostname: Option<String>,
    #[serde(default)]
    pub action: Option<String>,
    #[serde(default)]
    pub score: Option<f64>,
}

/// A configured provider: everything needed to verify a token.
#[derive(Debug, Clone)]
pub struct Verifier {
    provider: CaptchaProvider,
    secret: Secret,
    url: String,
    timeout: Duration,
    min_score: f64,
    hostnames: Vec<String>,
    action: Option<String>,
    sitekey: Option<String>,
}

impl Verifier {
    /// `None` when no provider is configured (`AUTHGATE_CAPTCHA_PROVIDER=none`).
    /// `Settings::check` has already made sure a configured provider has a secret.
    pub fn from_settings(s: &Settings) -> Option<Self> {
        let default_url = s.captcha_provider.default_verify_url()?;
        Some(Self {
            provider: s.captcha_provider,
            secret: s.captcha_secret.clone()?,
            url: s
                .captcha_verify_url
                .clone()
                .unwrap_or_else(|| default_url.to_owned()),
            timeout: s.captcha_timeout,
            min_score: s.captcha_min_score,
            hostnames: s.captcha_hostnames.clone(),
            action: s.captcha_action.clone(),
            sitekey: s.captcha_sitekey.clone(),
        })
    }

    pub fn provider(&self) -> CaptchaProvider {
        self.provider
    }

    /// Asks the provider about `token`, answering within the configured timeout whatever the
    /// provider does.
    pub async fn verify(
        &self,
        http: &reqwest::Client,
        token: &str,
        remote_ip: Option<IpAddr>,
    ) -> Result<(), Failure> {
        if token.is_empty() {
            return Err(Failure::Rejected("no captcha token".into()));
        }
        if token.len() > MAX_TOKEN_LEN {
            return Err(Failure::Rejected(format!(
                "token of {} bytes is longer than {MAX_TOKEN_LEN}",
                token.len()
            )));
        }
        let remote_ip = remote_ip.map(|ip| ip.to_string());
        let idempotency_key = uuid::Uuid::new_v4().to_string();
        let mut form: Vec<(&str, &str)> =
            vec![("secret", self.secret.expose()), ("response", token)];
        if let Some(ip) = &remote_ip {
            form.push(("remoteip", ip));
        }
        match self.provider {
            CaptchaProvider::Hcaptcha => {
                if let Some(sitekey) = &self.sitekey {
                    form.push(("sitekey", sitekey));
                }
            }
            CaptchaProvider::Turnstile => form.push(("idempotency_key", &idempotency_key)),
            CaptchaProvider::Recaptcha | CaptchaProvider::None => {}
        }

        let deadline = Instant::now() + self.timeout;
        let mut attempt = 0;
        let answer = loop {
            attempt += 1;
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(Failure::Unavailable(format!(
                    "no answer within {:?}",
                    self.timeout
                )));
            }
            let call = self.call(http, &form, remaining);
            match tokio::time::timeout(remaining, call).await {
                Err(_) => {
                    return Err(Failure::Unavailable(format!(
                        "no answer within {:?}",
                        self.timeout
                    )))
                }
                // Only Turnstile makes a retry safe (the idempotency key); only a failure to
                // connect is retried, once, within the same deadline.
                Ok(Err(Attempt::Connect(e)))
                    if self.provider == CaptchaProvider::Turnstile && attempt == 1 =>
                {
                    tracing::debug!(error = %e, "captcha provider connection failed; retrying once");
                    tokio::time::sleep(Duration::from_millis(50).min(remaining / 4)).await;
                }
                Ok(Err(Attempt::Connect(e))) => {
                    return Err(Failure::Unavailable(format!(
                        "cannot reach the provider: {e}"
                    )))
                }
                Ok(Err(Attempt::Failed(f))) => return Err(f),
                Ok(Ok(answer)) => break answer,
            }
        };
        self.judge(&answer)
    }

    async fn call(
        &self,
        http: &reqwest::Client,
        form: &[(&str, &str)],
        timeout: Duration,
    ) -> Result<Answer, Attempt> {
        let resp = http
            .post(&self.url)
            .timeout(timeout)
            .header(reqwest::header::ACCEPT, "application/json")
            .form(form)
            .send()
            .await
            .map_err(|e| {
                let e = e.without_url();
                if e.is_connect() {
                    Attempt::Connect(e.to_string())
                } else if e.is_timeout() {
                    Attempt::Failed(Failure::Unavailable(format!(
                        "no answer within {:?}",
                        self.timeout
                    )))
                } else {
                    Attempt::Failed(Failure::Unavailable(format!("request failed: {e}")))
                }
            })?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| {
            Attempt::Failed(Failure::Unavailable(format!(
                "reading the answer failed: {}",
                e.without_url()
            )))
        })?;
        if status.is_server_error() {
            return Err(Attempt::Failed(Failure::Unavailable(format!(
                "provider answered {status}"
            ))));
        }
        let answer: Answer = serde_json::from_slice(&body).map_err(|e| {
            Attempt::Failed(Failure::Unavailable(format!(
                "provider answered {status} with a body that is not siteverify JSON ({e})"
            )))
        })?;
        if !status.is_success() && answer.success {
            return Err(Attempt::Failed(Failure::Unavailable(format!(
                "provider answered {status} with success=true"
            ))));
        }
        Ok(answer)
    }

    /// The documented checks, in order: `success` (with its error codes), then hostname and
    /// action when configured, then the reCAPTCHA v3 score.
    pub fn judge(&self, answer: &Answer) -> Result<(), Failure> {
        if !answer.success {
            let codes = answer.error_codes.as_deref().unwrap_or_default();
            let listed = if codes.is_empty() {
                "no error codes".to_owned()
            } else {
                codes.join(", ")
            };
            if codes.iter().any(|c| OPERATOR_ERRORS.contains(&c.as_str())) {
                return Err(Failure::Unavailable(format!(
                    "provider refused our verification request ({listed}): check AUTHGATE_CAPTCHA_SECRET and AUTHGATE_CAPTCHA_SITEKEY"
                )));
            }
            return Err(Failure::Rejected(format!(
                "provider refused the token ({listed})"
            )));
        }
        if !self.hostnames.is_empty() {
            let ok = answer
                .hostname
                .as_deref()
                .is_some_and(|h| self.hostnames.iter().any(|x| x.eq_ignore_ascii_case(h)));
            if !ok {
                return Err(Failure::Rejected(format!(
                    "challenge solved on hostname {:?}, expected one of {:?}",
                    answer.hostname, self.hostnames
                )));
            }
        }
        if let Some(expected) = &self.action {
            if answer.action.as_deref() != Some(expected.as_str()) {
                return Err(Failure::Rejected(format!(
                    "challenge action {:?}, expected {expected:?}",
                    answer.action
                )));
            }
        }
        if self.provider == CaptchaProvider::Recaptcha {
            if let Some(score) = answer.score {
                if score.is_nan() || score < self.min_score {
                    return Err(Failure::Rejected(format!(
                        "reCAPTCHA score {score} is below {}",
                        self.min_score
                    )));
                }
            }
        }
        Ok(())
    }
}

/// The outcome of one HTTP attempt: only a connection failure may be retried.
enum Attempt {
    Connect(String),
    Failed(Failure),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verifier(provider: CaptchaProvider) -> Verifier {
        let mut s = Settings::defaults();
        s.captcha_provider = provider;
        s.captcha_secret = Some(Secret::new("s3cr3t"));
        Verifier::from_settings(&s).unwrap()
    }

    fn answer(json: serde_json::Value) -> Answer {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn none_means_no_verifier_and_providers_have_their_documented_url() {
        assert!(Verifier::from_settings(&Settings::defaults()).is_none());
        assert_eq!(
            verifier(CaptchaProvider::Recaptcha).url,
            "https://www.google.com/recaptcha/api/siteverify"
        );
        assert_eq!(
            verifier(CaptchaProvider::Hcaptcha).url,
            "https://api.hcaptcha.com/siteverify"
        );
        assert_eq!(
            verifier(CaptchaProvider::Turnstile).url,
            "https://challenges.cloudflare.com/turnstile/v0/siteverify"
        );
    }

    #[test]
    fn token_errors_reject_and_secret_errors_are_unavailable() {
        let v = verifier(CaptchaProvider::Turnstile);
        let bad = answer(
            serde_json::json!({"success": false, "error-codes": ["invalid-input-response"]}),
        );
        assert!(matches!(v.judge(&bad), Err(Failure::Rejected(_))));
        let dup =
            answer(serde_json::json!({"success": false, "error-codes": ["timeout-or-duplicate"]}));
        assert!(matches!(v.judge(&dup), Err(Failure::Rejected(_))));
        let secret =
            answer(serde_json::json!({"success": false, "error-codes": ["invalid-input-secret"]}));
        assert!(matches!(v.judge(&secret), Err(Failure::Unavailable(_))));
        let bare = answer(serde_json::json!({"success": false}));
        assert!(matches!(v.judge(&bare), Err(Failure::Rejected(_))));
        let ok = answer(serde_json::json!({"success": true, "error-codes": [], "hostname": "x"}));
        assert_eq!(v.judge(&ok), Ok(()));
    }

    #[test]
    fn hostname_and_action_are_checked_only_when_configured() {
        let mut v = verifier(CaptchaProvider::Turnstile);
        let a = answer(
            serde_json::json!({"success": true, "hostname": "App.Example.com", "action": "login"}),
        );
        assert_eq!(v.judge(&a), Ok(()));
        v.hostnames = vec!["app.example.com".into()];
        assert_eq!(v.judge(&a), Ok(()), "hostnames compare case-insensitively");
        v.hostnames = vec!["other.example.com".into()];
        assert!(matches!(v.judge(&a), Err(Failure::Rejected(_))));
        v.hostnames.clear();
        v.action = Some("signup".into());
        assert!(matches!(v.judge(&a), Err(Failure::Rejected(_))));
        v.action = Some("login".into());
        assert_eq!(v.judge(&a), Ok(()));
        let no_action = answer(serde_json::json!({"success": true}));
        assert!(matches!(v.judge(&no_action), Err(Failure::Rejected(_))));
    }

    #[test]
    fn recaptcha_v3_score_must_reach_the_minimum_and_v2_has_none() {
        let v = verifier(CaptchaProvider::Recaptcha);
        let low = answer(serde_json::json!({"success": true, "score": 0.3}));
        assert!(matches!(v.judge(&low), Err(Failure::Rejected(_))));
        let edge = answer(serde_json::json!({"success": true, "score": 0.5}));
        assert_eq!(v.judge(&edge), Ok(()));
        let v2 = answer(serde_json::json!({"success": true, "hostname": "x"}));
        assert_eq!(v.judge(&v2), Ok(()));
        // hCaptcha's score is a risk score, not compared with the reCAPTCHA minimum.
        let h = verifier(CaptchaProvider::Hcaptcha);
        let risky = answer(serde_json::json!({"success": true, "score": 0.1}));
        assert_eq!(h.judge(&risky), Ok(()));
    }
}
