//! Signing keys: generated on first start, stored in `signing_keys` (private half sealed), and
//! shared by every replica on the database. The in-memory [`KeySet`] is swapped whole on reload,
//! so verification never waits on a lock held across I/O.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context as _;
use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::signature::{self, KeyPair as _};
use chrono::NaiveDateTime;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use serde_json::{json, Value};

use crate::crypto::sealing::Sealer;
use crate::crypto::{b64url, random_bytes};
use crate::db::{self, keys::KeyRow, DbConnection};
use crate::settings::{JwtAlgorithm, Secret};

/// One key, ready to use.
pub struct LoadedKey {
    pub kid: String,
    pub algorithm: Algorithm,
    pub encoding: Option<EncodingKey>,
    /// The Ed25519 key pair parsed once: jsonwebtoken's `encode` parses the PKCS#8 document
    /// (and derives the public key) on every signature, about 3/4 of the cost of signing.
    pub ed25519: Option<Arc<aws_lc_rs::signature::Ed25519KeyPair>>,
    pub decoding: DecodingKey,
    /// The public JWK, `None` for HS256 (a shared secret is never published).
    pub jwk: Option<Value>,
    /// Signs from this time on (a rotated-in key is published first).
    pub activates_at: NaiveDateTime,
    /// Signs no more from this time on; still verifies until it leaves the JWKS.
    pub retired_at: Option<NaiveDateTime>,
}

impl LoadedKey {
    fn signs_at(&self, now: NaiveDateTime) -> bool {
        self.activates_at <= now && self.retired_at.is_none_or(|r| r > now)
    }
}

/// An immutable snapshot of the keys in force.
#[derive(Default)]
pub struct KeySet {
    /// Keys of the configured algorithm that sign now or will, oldest activation first.
    pub candidates: Vec<Arc<LoadedKey>>,
    pub by_kid: HashMap<String, Arc<LoadedKey>>,
    /// The JWKS document, serialised once per reload.
    pub jwks: String,
}

impl KeySet {
    /// The key that signs at `now`: the newest activated, unretired one. Chosen at signing time
    /// so a scheduled activation takes effect on the second, whatever the reload cadence.
    pub fn signing_key(&self, now: NaiveDateTime) -> Option<&Arc<LoadedKey>> {
        self.candidates
            .iter()
            .rev()
            .find(|k| k.signs_at(now))
            .or_else(|| self.candidates.iter().rev().find(|k| k.activates_at <= now))
            .or_else(|| self.candidates.first())
    }
}

pub struct KeyStore {
    algorithm: JwtAlgorithm,
    hs256_secret: Option<Secret>,
    sealer: Sealer,
    current: RwLock<Arc<KeySet>>,
    /// Wakes the reload task early (a token with an unknown `kid` may come from a key another
    /// replica just made).
    reload: tokio::sync::Notify,
    last_reload_request: AtomicI64,
    /// Changes whenever the set of keys (or their schedule) changes: caches keyed on it.
    generation: std::sync::atomic::AtomicU64,
}

/// Unknown-`kid` reloads happen at most this often, so random `kid`s cannot hammer the database.
const MIN_RELOAD_GAP_SECS: i64 = 5;

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyStore")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl KeyStore {
    pub fn new(algorithm: JwtAlgorithm, hs256_secret: Option<Secret>, sealer: Sealer) -> Self {
        Self {
            algorithm,
            hs256_secret,
            sealer,
            current: RwLock::new(Arc::new(KeySet::default())),
            reload: tokio::sync::Notify::new(),
            last_reload_request: AtomicI64::new(0),
            generation: std::sync::atomic::AtomicU64::new(0),
        }
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn algorithm(&self) -> JwtAlgorithm {
        self.algorithm
    }

    /// Asks the reload task for an early reload, at most every few seconds.
    pub fn request_reload(&self) {
        let now = chrono::Utc::now().timestamp();
        let last = self.last_reload_request.load(Ordering::Relaxed);
        if now - last >= MIN_RELOAD_GAP_SECS
            && self
                .last_reload_request
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.reload.notify_one();
        }
    }

    /// Resolves when an early reload was requested.
    pub async fn reload_requested(&self) {
        self.reload.notified().await;
    }

    pub fn snapshot(&self) -> Arc<KeySet> {
        match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn is_loaded(&self) -> bool {
        !self.snapshot().candidates.is_empty()
    }

    /// Reads the published keys, creating a signing key for the configured algorithm when there
    /// is none, and swaps the in-memory set. Blocking: call from the blocking pool.
    pub fn load(&self, conn: &mut DbConnection) -> anyhow::Result<()> {
        let set = match self.algorithm {
            JwtAlgorithm::Hs256 => self.hs256_set()?,
            alg => self.asymmetric_set(conn, alg)?,
        };
        let mut guard = match self.current.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        if fingerprint(&guard) != fingerprint(&set) {
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
        *guard = Arc::new(set);
        Ok(())
    }

    fn hs256_set(&self) -> anyhow::Result<KeySet> {
        let secret = self
            .hs256_secret
            .as_ref()
            .context("HS256 needs AUTHGATE_JWT_SECRET")?;
        let digest = aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            &[
                b"authgate hs256 kid\0".as_slice(),
                secret.expose().as_bytes(),
            ]
            .concat(),
        );
        let kid = format!("hs-{}", &b64url(digest.as_ref())[..16]);
        let key = Arc::new(LoadedKey {
            kid: kid.clone(),
            algorithm: Algorithm::HS256,
            encoding: Some(EncodingKey::from_secret(secret.expose().as_bytes())),
            ed25519: None,
            decoding: DecodingKey::from_secret(secret.expose().as_bytes()),
            jwk: None,
            activates_at: NaiveDateTime::MIN,
            retired_at: None,
        });
        Ok(KeySet {
            candidates: vec![key.clone()],
            by_kid: HashMap::from([(kid, key)]),
            jwks: json!({ "keys": [] }).to_string(),
        })
    }

    fn asymmetric_set(&self, conn: &mut DbConnection, alg: JwtAlgorithm) -> anyhow::Result<KeySet> {
        let now = db::now();
        let mut rows = db::keys::published(conn, now).context("reading signing keys")?;
        // A key of the configured algorithm that signs now or is scheduled to: else make one.
        let usable = |r: &KeyRow| r.algorithm == alg.as_str() && r.retired_at.is_none();
        if !rows.iter().any(usable) {
            let row = generate(alg, &self.sealer, now)?;
            db::keys::insert(conn, &row).context("storing a new signing key")?;
            tracing::info!(kid = %row.kid, algorithm = alg.as_str(), "generated a signing key");
            rows = db::keys::published(conn, now).context("reading signing keys")?;
        }
        let mut by_kid = HashMap::new();
        let mut jwks = Vec::new();
        for row in &rows {
            match self.load_row(row) {
                Ok(key) => {
                    if let Some(jwk) = &key.jwk {
                        jwks.push(jwk.clone());
                    }
                    by_kid.insert(key.kid.clone(), Arc::new(key));
                }
                Err(e) => {
                    tracing::error!(kid = %row.kid, error = %e, "signing key unusable, skipped")
                }
            }
        }
        let mut candidates: Vec<Arc<LoadedKey>> = rows
            .iter()
            .filter(|r| r.algorithm == alg.as_str())
            .filter_map(|r| by_kid.get(&r.kid).cloned())
            .collect();
        candidates.sort_by_key(|k| k.activates_at);
        if candidates.is_empty() {
            anyhow::bail!(
                "no usable signing key (is AUTHGATE_ENCRYPTION_KEY the one the keys were sealed with?)"
            );
        }
        Ok(KeySet {
            candidates,
            by_kid,
            jwks: json!({ "keys": jwks }).to_string(),
        })
    }

    fn load_row(&self, row: &KeyRow) -> anyhow::Result<LoadedKey> {
        let alg = JwtAlgorithm::parse(&row.algorithm).context("unknown algorithm")?;
        let der = self.sealer.open(&row.private_key, row.kid.as_bytes())?;
        let jwk: Value = serde_json::from_str(&row.public_jwk)?;
        let (algorithm, encoding, decoding) = match alg {
            JwtAlgorithm::EdDsa => {
                let x = jwk["x"].as_str().context("jwk x")?;
                (
                    Algorithm::EdDSA,
                    EncodingKey::from_ed_der(&der),
                    DecodingKey::from_ed_components(x)?,
                )
            }
            JwtAlgorithm::Es256 => {
                let (x, y) = (
                    jwk["x"].as_str().context("jwk x")?,
                    jwk["y"].as_str().context("jwk y")?,
                );
                (
                    Algorithm::ES256,
                    EncodingKey::from_ec_der(&der),
                    DecodingKey::from_ec_components(x, y)?,
                )
            }
            JwtAlgorithm::Rs256 => {
                let (n, e) = (
                    jwk["n"].as_str().context("jwk n")?,
                    jwk["e"].as_str().context("jwk e")?,
                );
                (
                    Algorithm::RS256,
                    EncodingKey::from_rsa_pem(pkcs8_pem(&der).as_bytes())?,
                    DecodingKey::from_rsa_components(n, e)?,
                )
            }
            JwtAlgorithm::Hs256 => anyhow::bail!("HS256 keys are not stored"),
        };
        let ed25519 = (algorithm == Algorithm::EdDSA)
            .then(|| aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8(&der).ok())
            .flatten()
            .map(Arc::new);
        Ok(LoadedKey {
            kid: row.kid.clone(),
            algorithm,
            encoding: Some(encoding),
            ed25519,
            decoding,
            jwk: Some(jwk),
            activates_at: row.activates_at,
            retired_at: row.retired_at,
        })
    }
}

/// A fresh key pair as a row to store: PKCS#8 private half (sealed), public JWK.
pub fn generate(alg: JwtAlgorithm, sealer: &Sealer, now: NaiveDateTime) -> anyhow::Result<KeyRow> {
    let kid = b64url(&random_bytes::<12>());
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let bad = |_| anyhow::anyhow!("key generation failed");
    let (der, mut jwk) = match alg {
        JwtAlgorithm::EdDsa => {
            let doc = signature::Ed25519KeyPair::generate_pkcs8(&rng).map_err(bad)?;
            let pair = signature::Ed25519KeyPair::from_pkcs8(doc.as_ref())
                .map_err(|_| anyhow::anyhow!("key"))?;
            let x = b64url(pair.public_key().as_ref());
            (
                doc.as_ref().to_vec(),
                json!({ "kty": "OKP", "crv": "Ed25519", "x": x }),
            )
        }
        JwtAlgorithm::Es256 => {
            let sig_alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
            let doc = signature::EcdsaKeyPair::generate_pkcs8(sig_alg, &rng).map_err(bad)?;
            let pair = signature::EcdsaKeyPair::from_pkcs8(sig_alg, doc.as_ref())
                .map_err(|_| anyhow::anyhow!("key"))?;
            // Uncompressed point: 0x04 ‖ x (32) ‖ y (32).
            let point = pair.public_key().as_ref();
            anyhow::ensure!(
                point.len() == 65 && point[0] == 4,
                "unexpected EC point encoding"
            );
            (
                doc.as_ref().to_vec(),
                json!({ "kty": "EC", "crv": "P-256", "x": b64url(&point[1..33]), "y": b64url(&point[33..]) }),
            )
        }
        JwtAlgorithm::Rs256 => {
            let pair =
                signature::RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).map_err(bad)?;
            let der = pair
                .as_der()
                .map_err(|_| anyhow::anyhow!("RSA key export failed"))?;
            let public = pair.public_key();
            let n = b64url(public.modulus().big_endian_without_leading_zero());
            let e = b64url(public.exponent().big_endian_without_leading_zero());
            (
                der.as_ref().to_vec(),
                json!({ "kty": "RSA", "n": n, "e": e }),
            )
        }
        JwtAlgorithm::Hs256 => anyhow::bail!("HS256 uses AUTHGATE_JWT_SECRET, not a generated key"),
    };
    jwk["kid"] = json!(kid);
    jwk["alg"] = json!(alg.as_str());
    jwk["use"] = json!("sig");
    Ok(KeyRow {
        private_key: sealer.seal(&der, kid.as_bytes()),
        kid,
        algorithm: alg.as_str().to_owned(),
        public_jwk: jwk.to_string(),
        created_at: now,
        activates_at: now,
        retired_at: None,
        expires_at: None,
    })
}

/// jsonwebtoken reads RSA private keys as PKCS#1 DER or as PEM (either form); aws-lc-rs exports
/// PKCS#8, so hand it over as PEM.
fn pkcs8_pem(der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(chunk));
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    pem
}

/// Schedules a new signing key: it is published at once, signs from
/// `now + publish_delay` (longer than the JWKS cache time, so every verifier has it by then), and
/// every current key of the algorithm retires at that moment and stays published for
/// `retire_after` (twice the access-token lifetime) before it leaves the JWKS.
pub fn rotate(
    conn: &mut DbConnection,
    alg: JwtAlgorithm,
    sealer: &Sealer,
    publish_delay: Duration,
    retire_after: Duration,
) -> anyhow::Result<KeyRow> {
    anyhow::ensure!(
        alg != JwtAlgorithm::Hs256,
        "HS256 has no stored keys: rotate by changing AUTHGATE_JWT_SECRET"
    );
    db::write_transaction(conn, |conn| {
        db::keys::lock_rotation(conn)?;
        let now = db::now();
        let mut row = generate(alg, sealer, now)?;
        row.activates_at = now + chrono_duration(publish_delay);
        let expires = row.activates_at + chrono_duration(retire_after);
        db::keys::retire_current(conn, alg.as_str(), row.activates_at, expires)?;
        db::keys::insert(conn, &row)?;
        Ok(row)
    })
}

/// Rotates when the newest key of the algorithm is older than `interval` (automatic rotation).
/// Replicas racing here rotate once: the check runs under the rotation lock.
pub fn rotate_if_due(
    conn: &mut DbConnection,
    alg: JwtAlgorithm,
    sealer: &Sealer,
    interval: Duration,
    publish_delay: Duration,
    retire_after: Duration,
) -> anyhow::Result<Option<KeyRow>> {
    if alg == JwtAlgorithm::Hs256 {
        return Ok(None);
    }
    let due = db::write_transaction(conn, |conn| -> anyhow::Result<bool> {
        db::keys::lock_rotation(conn)?;
        let newest = db::keys::newest_created(conn, alg.as_str())?;
        Ok(newest.is_none_or(|t| t + chrono_duration(interval) <= db::now()))
    })?;
    if due {
        rotate(conn, alg, sealer, publish_delay, retire_after).map(Some)
    } else {
        Ok(None)
    }
}

fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// A key's place in its lifecycle, for `authgate keys list`.
pub fn status(row: &KeyRow, now: NaiveDateTime) -> &'static str {
    match (row.activates_at > now, row.retired_at, row.expires_at) {
        (_, _, Some(e)) if e <= now => "expired",
        (true, _, _) => "pending",
        (false, Some(r), _) if r <= now => "retired",
        _ => "active",
    }
}

/// What identifies a key set for caching: each key and its schedule.
fn fingerprint(set: &KeySet) -> Vec<(String, NaiveDateTime, Option<NaiveDateTime>)> {
    let mut v: Vec<_> = set
        .by_kid
        .values()
        .map(|k| (k.kid.clone(), k.activates_at, k.retired_at))
        .collect();
    v.sort();
    v
}
