//! Access tokens: short-lived JWTs (RFC 9068 `at+jwt`), verified strictly (RFC 8725): the
//! algorithm is pinned by the key the `kid` names, `iss`/`aud`/`sub`/`exp`/`nbf` are required,
//! `iat` may not lie in the future, and `jku`/`jwk`/`x5u` headers are never looked at.

use jsonwebtoken::{decode, decode_header, encode, Header, Validation};
use serde::{Deserialize, Serialize};

use super::keys::KeyStore;

/// Claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
    pub sid: String,
    pub email: String,
    pub email_verified: bool,
    pub amr: Vec<String>,
    pub aal: String,
    /// The user's roles when the token was issued (sign-in or refresh). Absent from tokens of
    /// versions before roles: read as none.
    #[serde(default)]
    pub roles: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("token is malformed")]
    Malformed,
    #[error("token type is not at+jwt")]
    WrongType,
    #[error("token key is unknown")]
    UnknownKey,
    #[error("token is invalid: {0}")]
    Invalid(#[from] jsonwebtoken::errors::Error),
    #[error("no signing key is loaded")]
    NoKey,
    #[error("token was issued in the future")]
    IssuedInFuture,
}

const TYP: &str = "at+jwt";
/// Tokens are a few hundred bytes; anything far larger is not ours and not worth parsing.
const MAX_TOKEN_LEN: usize = 4096;
pub const LEEWAY_SECS: u64 = 30;

/// What a token needs to be issued.
pub struct Issue<'a> {
    pub user_id: &'a str,
    pub session_id: &'a str,
    pub email: &'a str,
    pub email_verified: bool,
    pub amr: Vec<String>,
    pub aal: &'a str,
    pub roles: Vec<String>,
}

pub struct TokenIssuer {
    pub issuer: String,
    pub audience: String,
    pub ttl: std::time::Duration,
    cache: super::cache::VerifiedCache,
}

/// `jsonwebtoken::encode` with a key pair parsed once (Ed25519 signatures are deterministic,
/// so the token is byte for byte the one `encode` makes: see the test).
fn encode_ed25519(
    header: &Header,
    claims: &AccessClaims,
    pair: &aws_lc_rs::signature::Ed25519KeyPair,
) -> Result<String, TokenError> {
    use crate::crypto::b64url;
    let json = |e: serde_json::Error| TokenError::Invalid(e.into());
    let mut token = b64url(&serde_json::to_vec(header).map_err(json)?);
    token.push('.');
    token.push_str(&b64url(&serde_json::to_vec(claims).map_err(json)?));
    let signature = pair.sign(token.as_bytes());
    token.push('.');
    token.push_str(&b64url(signature.as_ref()));
    Ok(token)
}

impl TokenIssuer {
    /// `cache_size`: how many verified tokens to remember (0: none).
    pub fn new(
        issuer: String,
        audience: String,
        ttl: std::time::Duration,
        cache_size: usize,
    ) -> Self {
        Self {
            issuer,
            audience,
            ttl,
            cache: super::cache::VerifiedCache::new(cache_size),
        }
    }

    /// Signs a token with the current key; returns the token and its claims.
    pub fn sign(
        &self,
        keys: &KeyStore,
        what: Issue<'_>,
    ) -> Result<(String, AccessClaims), TokenError> {
        let set = keys.snapshot();
        let key = set.signing_key(crate::db::now()).ok_or(TokenError::NoKey)?;
        let encoding = key.encoding.as_ref().ok_or(TokenError::NoKey)?;
        let now = chrono::Utc::now().timestamp();
        let ttl = i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX / 2);
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: what.user_id.to_owned(),
            iat: now,
            nbf: now,
            exp: now.saturating_add(ttl),
            jti: uuid::Uuid::new_v4().to_string(),
            sid: what.session_id.to_owned(),
            email: what.email.to_owned(),
            email_verified: what.email_verified,
            amr: what.amr,
            aal: what.aal.to_owned(),
            roles: what.roles,
        };
        let mut header = Header::new(key.algorithm);
        header.kid = Some(key.kid.clone());
        header.typ = Some(TYP.to_owned());
        let token = match &key.ed25519 {
            Some(pair) => encode_ed25519(&header, &claims, pair)?,
            None => encode(&header, &claims, encoding)?,
        };
        Ok((token, claims))
    }

    /// Verifies a presented token. CPU only: no database, no network.
    /// The claims are shared with the verified-token cache.
    pub fn verify(
        &self,
        keys: &KeyStore,
        token: &str,
    ) -> Result<std::sync::Arc<AccessClaims>, TokenError> {
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed);
        }
        let generation = keys.generation();
        let now = chrono::Utc::now().timestamp();
        let leeway = i64::try_from(LEEWAY_SECS).unwrap_or(0);
        let cache_key = self.cache.key(token);
        if let Some(claims) = cache_key.and_then(|k| self.cache.get(&k, generation, now, leeway)) {
            return Ok(claims);
        }
        // Fails for any `alg` jsonwebtoken does not implement, `none` in every spelling included.
        let header = decode_header(token)?;
        let typ_ok = header.typ.as_deref().is_some_and(|t| {
            let t = t.strip_prefix("application/").unwrap_or(t);
            t.eq_ignore_ascii_case(TYP)
        });
        if !typ_ok {
            return Err(TokenError::WrongType);
        }
        let kid = header.kid.as_deref().ok_or(TokenError::UnknownKey)?;
        let set = keys.snapshot();
        let Some(key) = set.by_kid.get(kid) else {
            keys.request_reload();
            return Err(TokenError::UnknownKey);
        };
        // The key decides the algorithm; a header claiming another one is refused by decode.
        let mut validation = Validation::new(key.algorithm);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECS;
        let data = decode::<AccessClaims>(token, &key.decoding, &validation)?;
        // jsonwebtoken does not look at `iat`; a token from the future (beyond the clock-skew
        // leeway) was not issued by a replica of ours.
        if data.claims.iat > now.saturating_add(leeway) {
            return Err(TokenError::IssuedInFuture);
        }
        let claims = std::sync::Arc::new(data.claims);
        if let Some(cache_key) = cache_key {
            self.cache.insert(cache_key, &claims, generation, now);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};

    #[test]
    fn ed25519_fast_path_makes_the_token_jsonwebtoken_makes() {
        use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let doc = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(doc.as_ref()).unwrap();
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some("k1".into());
        header.typ = Some(TYP.into());
        let claims = AccessClaims {
            iss: "https://issuer".into(),
            aud: "aud".into(),
            sub: "user".into(),
            iat: 1,
            nbf: 1,
            exp: 4_000_000_000,
            jti: "jti".into(),
            sid: "sid".into(),
            email: "ü@example.com".into(),
            email_verified: true,
            amr: vec!["pwd".into(), "otp".into()],
            aal: "aal2".into(),
            roles: vec![],
        };
        let fast = encode_ed25519(&header, &claims, &pair).unwrap();
        let reference = encode(&header, &claims, &EncodingKey::from_ed_der(doc.as_ref())).unwrap();
        assert_eq!(fast, reference);
        let public = crate::crypto::b64url(pair.public_key().as_ref());
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_audience(&["aud"]);
        let decoded = decode::<AccessClaims>(
            &fast,
            &DecodingKey::from_ed_components(&public).unwrap(),
            &validation,
        )
        .unwrap();
        assert_eq!(decoded.claims, claims);
    }

    fn key_store() -> (KeyStore, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = crate::settings::DatabaseUrl::parse(&format!(
            "sqlite://{}",
            dir.path().join("keys.db").display()
        ))
        .unwrap();
        let pool = crate::db::build_pool(&url, 1, std::time::Duration::from_secs(5));
        let mut conn = pool.get().unwrap();
        crate::db::run_migrations(&mut conn).unwrap();
        let sealer = crate::crypto::sealing::Sealer::new(None).unwrap();
        let keys = KeyStore::new(crate::settings::JwtAlgorithm::EdDsa, None, sealer);
        keys.load(&mut conn).unwrap();
        (keys, dir)
    }

    fn issuer(ttl: std::time::Duration) -> TokenIssuer {
        TokenIssuer::new("https://issuer".into(), "aud".into(), ttl, 16)
    }

    #[test]
    fn tokens_too_long_to_be_ours_are_refused_before_parsing() {
        let (keys, _dir) = key_store();
        let issuer = issuer(std::time::Duration::from_secs(60));
        assert!(matches!(
            issuer.verify(&keys, ""),
            Err(TokenError::Malformed)
        ));
        let long = "a".repeat(MAX_TOKEN_LEN + 1);
        assert!(matches!(
            issuer.verify(&keys, &long),
            Err(TokenError::Malformed)
        ));
        let longest = "a".repeat(MAX_TOKEN_LEN);
        assert!(
            matches!(issuer.verify(&keys, &longest), Err(TokenError::Invalid(_))),
            "a token of the longest length is parsed (and refused as junk)"
        );
    }

    #[test]
    fn an_absurd_lifetime_saturates_instead_of_expiring_at_once() {
        let (keys, _dir) = key_store();
        let issuer = issuer(std::time::Duration::MAX);
        let issue = || Issue {
            user_id: "user",
            session_id: "sid",
            email: "a@example.com",
            email_verified: false,
            amr: vec!["pwd".into()],
            aal: "aal1",
            roles: vec![],
        };
        let (_, claims) = issuer.sign(&keys, issue()).unwrap();
        assert!(
            claims.exp > claims.iat + 100 * 365 * 24 * 3600,
            "exp {} iat {}",
            claims.exp,
            claims.iat
        );
    }
}
