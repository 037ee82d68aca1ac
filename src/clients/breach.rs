//! Breached-password check (ASVS 5.0 6.2.12) against the Have I Been Pwned "Pwned Passwords"
//! range API, by k-anonymity: `GET {AUTHGATE_PASSWORD_BREACH_API_URL}/range/{first 5 hex digits
//! of the upper-case SHA-1}` with `Add-Padding: true`. The answer lists `SUFFIX:COUNT` lines (the
//! other 35 hex digits); padded lines carry a count of 0 and are not breaches. Only the 5-digit
//! prefix ever leaves the service. Source: <https://haveibeenpwned.com/API/v3#PwnedPasswords>.
//!
//! A provider that fails or is slow fails open by default (as Ory Kratos' `ignore_network_errors`),
//! logged at WARN and counted; `AUTHGATE_PASSWORD_BREACH_FAIL_CLOSED=true` turns that into 503.

use std::time::Duration;

use crate::domain::{Password, Weakness};
use crate::error::ApiError;
use crate::settings::Settings;

#[derive(Debug, Clone)]
pub struct BreachChecker {
    base_url: String,
    timeout: Duration,
    fail_closed: bool,
}

/// What the provider said.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Clean,
    Breached,
}

impl BreachChecker {
    /// `None` unless `AUTHGATE_PASSWORD_BREACH_CHECK=true`.
    pub fn from_settings(s: &Settings) -> Option<Self> {
        s.password_breach_check.then(|| Self {
            base_url: s.password_breach_api_url.trim_end_matches('/').to_owned(),
            timeout: s.password_breach_timeout,
            fail_closed: s.password_breach_fail_closed,
        })
    }

    /// Refuses a breached password with `weak_password`; on a provider failure, accepts it (fail
    /// open) or answers 503, as configured. `metrics` counts every outcome.
    pub async fn check(
        &self,
        http: &reqwest::Client,
        metrics: &crate::metrics::Metrics,
        password: &Password,
    ) -> Result<(), ApiError> {
        let (prefix, suffix) = sha1_hex_split(password.expose());
        let outcome = tokio::time::timeout(self.timeout, self.ask(http, &prefix, &suffix))
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {:?}", self.timeout)));
        match outcome {
            Ok(Verdict::Clean) => {
                metrics.breach_checks.with_label_values(&["clean"]).inc();
                Ok(())
            }
            Ok(Verdict::Breached) => {
                metrics.breach_checks.with_label_values(&["breached"]).inc();
                Err(crate::domain::Invalid::from(Weakness::Breached).into())
            }
            Err(reason) => {
                metrics
                    .breach_checks
                    .with_label_values(&["unavailable"])
                    .inc();
                tracing::warn!(
                    reason = %reason,
                    fail_closed = self.fail_closed,
                    "password breach check unavailable"
                );
                if self.fail_closed {
                    Err(ApiError::Unavailable("password breach check"))
                } else {
                    Ok(())
                }
            }
        }
    }

    async fn ask(
        &self,
        http: &reqwest::Client,
        prefix: &str,
        suffix: &str,
    ) -> Result<Verdict, String> {
        let resp = http
            .get(format!("{}/range/{prefix}", self.base_url))
            .timeout(self.timeout)
            .header("Add-Padding", "true")
            .send()
            .await
            .map_err(|e| format!("request failed: {}", e.without_url()))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(format!("provider answered {status}"));
        }
        let body = resp
            .text()
            .await
            .map_err(|e| format!("reading the answer failed: {}", e.without_url()))?;
        range_lists(&body, suffix).map(|found| {
            if found {
                Verdict::Breached
            } else {
                Verdict::Clean
            }
        })
    }
}

/// The upper-case SHA-1 of the password as hex, split into the 5-digit prefix that is sent and
/// the 35-digit suffix that is compared locally.
fn sha1_hex_split(password: &str) -> (String, String) {
    use std::fmt::Write as _;
    let digest = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
        password.as_bytes(),
    );
    let mut hex = String::with_capacity(40);
    for b in digest.as_ref() {
        let _ = write!(hex, "{b:02X}");
    }
    let suffix = hex.split_off(5);
    (hex, suffix)
}

/// Whether a range answer lists `suffix` with a count above 0. A bare suffix counts once (the API
/// has been seen to omit the count; Ory Kratos reads it the same way, ory/kratos#2145). Any other
/// line makes the whole answer unusable (a proxy's error page, a truncated body).
fn range_lists(body: &str, suffix: &str) -> Result<bool, String> {
    let mut found = false;
    for line in body.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (hex, count) = line.split_once(':').unwrap_or((line, "1"));
        let count: u64 = count
            .trim()
            .parse()
            .map_err(|_| "the answer has a count that is not a number".to_owned())?;
        if hex.len() != 35 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err("the answer has a suffix that is not 35 hex digits".into());
        }
        if count > 0 && hex.eq_ignore_ascii_case(suffix) {
            found = true;
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sha1_is_split_into_a_five_digit_prefix_and_the_rest() {
        // SHA-1("password") = 5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8
        let (prefix, suffix) = sha1_hex_split("password");
        assert_eq!(prefix, "5BAA6");
        assert_eq!(suffix, "1E4C9B93F3F0682250B6CF8331B7EE68FD8");
    }

    #[test]
    fn a_listed_suffix_is_a_breach_but_a_padded_one_is_not() {
        let suffix = "1E4C9B93F3F0682250B6CF8331B7EE68FD8";
        let body = "003D68EB55068C33ACE09247EE4C639306B:3\r\n1E4C9B93F3F0682250B6CF8331B7EE68FD8:10434004\r\n";
        assert_eq!(range_lists(body, suffix), Ok(true));
        let padded =
            "1E4C9B93F3F0682250B6CF8331B7EE68FD8:0\r\n003D68EB55068C33ACE09247EE4C639306B:3";
        assert_eq!(range_lists(padded, suffix), Ok(false));
        assert_eq!(
            range_lists(&body.to_lowercase(), suffix),
            Ok(true),
            "hex compares in any case"
        );
        assert_eq!(range_lists("", suffix), Ok(false));
        assert_eq!(
            range_lists(suffix, suffix),
            Ok(true),
            "a bare suffix counts once"
        );
    }

    #[test]
    fn an_answer_that_is_not_a_range_list_is_an_error() {
        let suffix = "1E4C9B93F3F0682250B6CF8331B7EE68FD8";
        assert!(range_lists("<html>gateway error</html>", suffix).is_err());
        assert!(range_lists("1E4C9B93F3F0682250B6CF8331B7EE68FD8:many", suffix).is_err());
        assert!(range_lists("XYZ:3", suffix).is_err());
    }
}
