//! The WebAuthn relying party: kanidm's `webauthn-rs-core` (attestation, COSE keys, signatures,
//! client data, counters) configured from the settings. The ceremony policy and state are
//! `crate::service::passkeys`'.

use webauthn_rs_core::WebauthnCore;

use crate::error::ApiError;

/// How long a ceremony's challenge can be answered.
pub const CHALLENGE_TTL: std::time::Duration = std::time::Duration::from_secs(300);

/// The relying party: `webauthn-rs-core` configured from the settings. `None` when the RP ID
/// (by default the public URL's host) is an IP address, which WebAuthn cannot bind passkeys to:
/// the passkey endpoints then answer 404 `passkeys_disabled`.
pub struct RelyingParty {
    core: Option<WebauthnCore>,
}

impl RelyingParty {
    pub fn core(&self) -> Result<&WebauthnCore, ApiError> {
        self.core.as_ref().ok_or(ApiError::PasskeysDisabled)
    }

    pub fn from_settings(settings: &crate::settings::Settings) -> anyhow::Result<Self> {
        let rp_id = settings.webauthn_rp_id();
        if crate::settings::rp_id(&rp_id).is_err() {
            tracing::warn!(
                rp_id,
                "passkeys are off: their relying party ID must be a domain name; set AUTHGATE_WEBAUTHN_RP_ID (or AUTHGATE_PUBLIC_URL) to one"
            );
            return Ok(Self { core: None });
        }
        let origins = settings
            .webauthn_origins()
            .iter()
            .map(|o| reqwest::Url::parse(o))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            core: Some(WebauthnCore::new_unsafe_experts_only(
                settings.webauthn_rp_name(),
                &settings.webauthn_rp_id(),
                origins,
                CHALLENGE_TTL,
                Some(false),
                Some(false),
            )),
        })
    }
}
