//! The shared state every request and background job may need, built once from the settings
//! and shared by every worker. Handlers, middleware and services reach it; it knows nothing of
//! HTTP, so the CLI and the tests build the same thing.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use crate::crypto::{password::PasswordHasher, sealing::Sealer};
use crate::db::{self, Pool};
use crate::settings::Settings;
use crate::tokens::access::TokenIssuer;
use crate::tokens::KeyStore;

/// Everything a request may need, built once and shared by every worker.
pub struct AppState {
    pub settings: Settings,
    pub pool: Pool,
    /// On SQLite, the connection refreshes run on, of their own (see [`db::build_refresh_pool`]).
    pub refresh_pool: Option<Pool>,
    pub keys: Arc<KeyStore>,
    pub tokens: TokenIssuer,
    pub hasher: PasswordHasher,
    pub sealer: Sealer,
    pub metrics: crate::metrics::Metrics,
    /// The private metrics listener's port, when `AUTHGATE_METRICS_LISTEN` is set.
    pub metrics_port: Option<u16>,
    /// Set when shutdown begins: `/readyz` answers 503 so load balancers stop sending traffic.
    pub draining: std::sync::atomic::AtomicBool,
    /// Where password hashing runs: one thread per core, below the workers' priority.
    pub hashing: crate::runtime::HashingPool,
    /// The one outbound HTTP client (connection reuse, rustls); callers set per-request timeouts.
    pub http_client: reqwest::Client,
    /// The configured captcha provider; `None` when `AUTHGATE_CAPTCHA_PROVIDER=none`.
    pub captcha: Option<crate::clients::captcha::Verifier>,
    /// Common-password and context-word rules for new passwords.
    pub password_policy: crate::domain::PasswordPolicy,
    /// The breached-password check; `None` unless `AUTHGATE_PASSWORD_BREACH_CHECK=true`.
    pub breach: Option<crate::clients::breach::BreachChecker>,
    pub mailer: crate::clients::smtp::Mailer,
    pub templates: crate::templates::Templates,
    /// Woken when a request queues mail, so the sender does not wait for its next poll.
    pub outbox_wake: tokio::sync::Notify,
    /// Per-IP hourly cap on the endpoints that send mail.
    pub mail_ip_limit: crate::limits::IpWindowLimit,
    /// Per-IP request rates of `crate::http::rate_limit`.
    pub ip_limits: crate::limits::IpLimits,
    /// Answer-time estimates that keep unknown accounts from answering faster.
    pub answer_times: crate::runtime::answer_time::AnswerTimes,
    /// The server secret one-time codes are hashed under.
    pub code_key: crate::crypto::CodeKey,
    /// Recently ended sessions, refused by the stateless token checks.
    pub revocations: crate::tokens::revocation::RevocationList,
    /// The identity providers users may sign in with (`AUTHGATE_PROVIDERS`).
    pub providers: crate::clients::oidc::Providers,
    /// The WebAuthn relying party passkeys are verified by.
    pub relying_party: crate::crypto::webauthn::RelyingParty,
}

impl AppState {
    /// The pool refreshes run on: their own on SQLite, else the shared one.
    pub fn refresh_pool(&self) -> &Pool {
        self.refresh_pool.as_ref().unwrap_or(&self.pool)
    }

    /// Connects the database (migrating it when enabled), loads the signing keys and builds
    /// every client, limiter and cache the settings ask for.
    pub async fn from_settings(settings: Settings) -> anyhow::Result<Self> {
        let sealer = Sealer::new(settings.encryption_key.as_ref())?;
        let mailer = crate::clients::smtp::Mailer::new(&settings)?;
        let templates = crate::templates::Templates::load(settings.mail_templates_dir.as_deref())?;
        let metrics = crate::metrics::Metrics::new()?;
        let pool = db::build_counted_pool(
            &settings.database_url,
            settings.database_pool_size,
            settings.database_timeout,
            metrics.db_checkouts.clone(),
        );
        let refresh_pool = db::build_refresh_pool(
            &settings.database_url,
            settings.database_timeout,
            metrics.db_checkouts.clone(),
        );
        let keys = Arc::new(KeyStore::new(
            settings.jwt_algorithm,
            settings.jwt_secret.clone(),
            sealer.clone(),
        ));
        let hasher = {
            let (pepper, cost) = (settings.password_pepper.clone(), settings.bcrypt_cost);
            crate::runtime::blocking::in_span(move || PasswordHasher::new(pepper.as_ref(), cost))
                .await??
        };
        {
            let (pool, keys, migrate) = (pool.clone(), keys.clone(), settings.auto_migrate);
            crate::runtime::blocking::in_span(move || -> anyhow::Result<()> {
                let mut conn = pool.get().context("connecting to the database")?;
                if migrate {
                    for m in db::run_migrations(&mut conn)? {
                        tracing::info!(migration = %m, "applied migration");
                    }
                }
                keys.load(&mut conn).context("loading signing keys")
            })
            .await??;
        }
        let revocations = crate::tokens::revocation::RevocationList::new(
            !settings.revocation_list_interval.is_zero(),
            settings.access_token_ttl,
        );
        let tokens = TokenIssuer::new(
            settings.public_url.clone(),
            settings.audience.clone(),
            settings.access_token_ttl,
            settings.token_cache_size,
        );
        let http_client = reqwest::Client::builder()
            .user_agent(concat!("authgate/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(settings.captcha_timeout.min(Duration::from_secs(5)))
            .pool_idle_timeout(Duration::from_secs(60))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("building the HTTP client")?;
        let captcha = crate::clients::captcha::Verifier::from_settings(&settings);
        if let Some(v) = &captcha {
            tracing::info!(
                provider = v.provider().as_str(),
                "captcha required on public endpoints"
            );
        }
        if settings.password_breach_check {
            tracing::info!(
                api = %settings.password_breach_api_url,
                fail_closed = settings.password_breach_fail_closed,
                "new passwords are checked against the Pwned Passwords range API"
            );
        }
        let relying_party = crate::crypto::webauthn::RelyingParty::from_settings(&settings)
            .context("configuring passkeys")?;
        let providers = crate::clients::oidc::Providers::new(
            &settings.providers,
            http_client.clone(),
            settings.provider_timeout,
        );
        Ok(Self {
            providers,
            relying_party,
            pool,
            refresh_pool,
            keys,
            tokens,
            hasher,
            sealer,
            metrics,
            metrics_port: None,
            draining: std::sync::atomic::AtomicBool::new(false),
            hashing: crate::runtime::HashingPool::new(
                match settings.password_hash_concurrency {
                    0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
                    n => n,
                },
                settings.password_hash_priority,
            )?,
            http_client,
            captcha,
            password_policy: crate::domain::PasswordPolicy::new(
                &settings.product_name,
                &settings.password_context_words,
            ),
            breach: crate::clients::breach::BreachChecker::from_settings(&settings),
            mailer,
            templates,
            outbox_wake: tokio::sync::Notify::new(),
            mail_ip_limit: crate::limits::IpWindowLimit::new(
                settings.mail_per_ip_per_hour,
                std::time::Duration::from_secs(3600),
            ),
            ip_limits: crate::limits::IpLimits::new(&settings),
            answer_times: Default::default(),
            revocations,
            code_key: crate::crypto::CodeKey::derive(
                settings
                    .encryption_key
                    .as_ref()
                    .map(|k| k.0.as_slice())
                    .or(settings
                        .password_pepper
                        .as_ref()
                        .map(|p| p.expose().as_bytes())),
            ),
            settings,
        })
    }
}
