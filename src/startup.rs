//! Building the service: shared state created once, the route table, the HTTP server bound
//! before it starts (port 0 in tests).

use std::net::TcpListener;

use actix_web::http::{Method, StatusCode};
use actix_web::middleware::from_fn;
use actix_web::{dev::Server, web, App, HttpRequest, HttpResponse, HttpServer, Route};
use anyhow::Context as _;

use crate::http::error::envelope;
use crate::http::json::BODY_LIMIT;
use crate::http::rate_limit::{RateClass, RateRules};
use crate::routes;
use crate::settings::Settings;
use crate::state::AppState;

/// Forward-auth checks arriving with the original request path appended (Envoy).
pub const VERIFY_PREFIXED: &str = "/api/v1/auth/verify/{tail:.*}";

/// One route of the table and everything decided per route: the handler, the per-IP budget it
/// draws on, and whether the captcha gate wraps it. The one place these are written.
pub struct RouteSpec {
    pub method: Method,
    /// As the API contract names it, trailing slash included.
    pub path: &'static str,
    pub route: Route,
    pub rate: RateClass,
    /// Wrapped in `crate::http::captcha::require_captcha` when a provider is configured (the
    /// gate itself exempts `token/`'s `refresh_token` grant).
    pub captcha: bool,
}

impl RouteSpec {
    fn captcha(mut self) -> Self {
        self.captcha = true;
        self
    }
}

fn row(method: Method, path: &'static str, route: Route, rate: RateClass) -> RouteSpec {
    RouteSpec {
        method,
        path,
        route,
        rate,
        captcha: false,
    }
}

/// Every route the service serves. The same list registers the routes, gives the rate limits
/// their classes and the captcha gate its routes, and is compared with `openapi.yml` by a test.
pub fn route_table() -> Vec<RouteSpec> {
    use routes::{
        admin, auth, email, health, jwks, mfa, oauth, passkeys, password, phone, sessions, token,
        user, verify,
    };
    use RateClass::{Api, Auth, Refresh, SignIn, Token, Unlimited};
    vec![
        row(
            Method::POST,
            "/api/v1/auth/signup/",
            web::post().to(auth::signup),
            Auth,
        )
        .captcha(),
        row(
            Method::POST,
            "/api/v1/auth/signin/",
            web::post().to(auth::signin),
            SignIn,
        )
        .captcha(),
        row(
            Method::POST,
            "/api/v1/auth/custom-refresh/",
            web::post().to(auth::refresh),
            Refresh,
        ),
        row(
            Method::POST,
            "/api/v1/auth/custom-logout/",
            web::post().to(auth::logout),
            Api,
        ),
        row(
            Method::POST,
            "/api/v1/auth/verify-email/",
            web::post().to(email::verify),
            Auth,
        ),
        row(
            Method::POST,
            "/api/v1/auth/verify-email/resend/",
            web::post().to(email::resend),
            Auth,
        )
        .captcha(),
        row(
            Method::POST,
            "/api/v1/auth/password/forgot/",
            web::post().to(password::forgot),
            Auth,
        )
        .captcha(),
        row(
            Method::POST,
            "/api/v1/auth/password/reset/",
            web::post().to(password::reset),
            Auth,
        ),
        row(
            Method::GET,
            "/api/v1/auth/user/",
            web::get().to(user::get),
            Api,
        ),
        row(
            Method::POST,
            "/api/v1/auth/token/",
            web::post().to(token::token),
            Token,
        )
        .captcha(),
        row(
            Method::POST,
            "/api/v1/auth/token/revoke/",
            web::post().to(token::revoke),
            Api,
        ),
        row(
            Method::GET,
            "/api/v1/auth/verify/",
            web::get().to(verify::verify),
            Unlimited,
        ),
        row(
            Method::POST,
            "/api/v1/auth/verify/",
            web::post().to(verify::verify),
            Unlimited,
        ),
        row(
            Method::PATCH,
            "/api/v1/auth/user/",
            web::patch().to(user::patch),
            Api,
        ),
        row(
            Method::DELETE,
            "/api/v1/auth/user/",
            web::delete().to(user::delete),
            Auth,
        ),
        row(
            Method::POST,
            "/api/v1/auth/user/export/",
            web::post().to(user::export),
            Auth,
        ),
        row(
            Method::DELETE,
            "/api/v1/auth/user/email-change/",
            web::delete().to(email::cancel_change),
            Api,
        ),
        row(
            Method::POST,
            "/api/v1/auth/email-change/revert/",
            web::post().to(email::revert_change),
            Auth,
        ),
        row(
            Method::POST,
            "/api/v1/auth/user/password/",
            web::post().to(password::change),
            Auth,
        ),
        row(
            Method::GET,
            "/api/v1/auth/sessions/",
            web::get().to(sessions::list),
            Api,
        ),
        // Before `{id}`: resources match in registration order.
        row(
            Method::POST,
            "/api/v1/auth/sessions/revoke-others/",
            web::post().to(sessions::revoke_others),
            Api,
        ),
        row(
            Method::DELETE,
            "/api/v1/auth/sessions/{id}/",
            web::delete().to(sessions::revoke),
            Api,
        ),
        row(
            Method::POST,
            "/api/v1/auth/mfa/totp/",
            web::post().to(mfa::enroll),
            Api,
        ),
        row(
            Method::DELETE,
            "/api/v1/auth/mfa/totp/",
            web::delete().to(mfa::disable),
            Auth,
        ),
        row(
            Method::POST,
            "/api/v1/auth/mfa/totp/confirm/",
            web::post().to(mfa::confirm),
            Auth,
        ),
        row(
            Method::POST,
            "/api/v1/auth/mfa/recovery-codes/",
            web::post().to(mfa::replace_recovery_codes),
            Auth,
        ),
        row(
            Method::POST,
            "/api/v1/auth/mfa/passkeys/register/options/",
            web::post().to(passkeys::register_options),
            Auth,
        ),
        row(
            Method::POST,
            "/api/v1/auth/mfa/passkeys/register/",
            web::post().to(passkeys::register),
            Auth,
        ),
        row(
            Method::GET,
            "/api/v1/auth/mfa/passkeys/",
            web::get().to(passkeys::list),
            Api,
        ),
        row(
            Method::PATCH,
            "/api/v1/auth/mfa/passkeys/{id}/",
            web::patch().to(passkeys::rename),
            Api,
        ),
        row(
            Method::DELETE,
            "/api/v1/auth/mfa/passkeys/{id}/",
            web::delete().to(passkeys::remove),
            Auth,
        ),
        row(
            Method::POST,
            "/api/v1/auth/signin/passkey/options/",
            web::post().to(passkeys::sign_in_options),
            // Every signed-out page offering passkey autofill asks for these: the general budget.
            Api,
        ),
        row(
            Method::POST,
            "/api/v1/auth/signin/passkey/",
            web::post().to(passkeys::sign_in),
            SignIn,
        ),
        row(
            Method::POST,
            "/api/v1/auth/signup/passkey/options/",
            web::post().to(passkeys::sign_up_options),
            Auth,
        )
        .captcha(),
        row(
            Method::POST,
            "/api/v1/auth/signup/passkey/",
            web::post().to(passkeys::sign_up),
            Auth,
        ),
        row(
            Method::GET,
            "/api/v1/auth/oauth/providers/",
            web::get().to(oauth::providers),
            Api,
        ),
        row(
            Method::GET,
            "/api/v1/auth/oauth/{provider}/authorize/",
            web::get().to(oauth::authorize),
            Auth,
        ),
        row(
            Method::GET,
            "/api/v1/auth/oauth/{provider}/callback/",
            web::get().to(oauth::callback_get),
            SignIn,
        ),
        row(
            Method::POST,
            "/api/v1/auth/oauth/{provider}/callback/",
            web::post().to(oauth::callback_post),
            SignIn,
        ),
        row(
            Method::POST,
            "/api/v1/auth/oauth/continue/",
            web::post().to(oauth::continue_sign_in),
            SignIn,
        ),
        row(
            Method::POST,
            "/api/v1/auth/user/identities/{provider}/link/",
            web::post().to(oauth::link),
            Auth,
        ),
        row(
            Method::DELETE,
            "/api/v1/auth/user/identities/{id}/",
            web::delete().to(oauth::unlink),
            Auth,
        ),
        row(
            Method::POST,
            "/api/v1/auth/sms/code/",
            web::post().to(phone::sms_code),
            Auth,
        )
        .captcha(),
        row(
            Method::POST,
            "/api/v1/auth/sms/signin/",
            web::post().to(phone::sms_signin),
            SignIn,
        ),
        row(
            Method::POST,
            "/api/v1/auth/user/phone/code/",
            web::post().to(phone::request_binding),
            Auth,
        ),
        row(
            Method::POST,
            "/api/v1/auth/user/phone/",
            web::post().to(phone::bind),
            Auth,
        ),
        row(
            Method::DELETE,
            "/api/v1/auth/user/phone/",
            web::delete().to(phone::unbind),
            Auth,
        ),
        row(
            Method::GET,
            "/api/v1/admin/users/",
            web::get().to(admin::list_users),
            Api,
        ),
        row(
            Method::POST,
            "/api/v1/admin/users/",
            web::post().to(admin::create_user),
            Api,
        ),
        row(
            Method::GET,
            "/api/v1/admin/users/{id}/",
            web::get().to(admin::get_user),
            Api,
        ),
        row(
            Method::PATCH,
            "/api/v1/admin/users/{id}/",
            web::patch().to(admin::update_user),
            Api,
        ),
        row(
            Method::DELETE,
            "/api/v1/admin/users/{id}/",
            web::delete().to(admin::delete_user),
            Api,
        ),
        row(
            Method::POST,
            "/api/v1/admin/users/{id}/reset-mfa/",
            web::post().to(admin::reset_mfa),
            Api,
        ),
        row(
            Method::POST,
            "/api/v1/admin/users/{id}/revoke-sessions/",
            web::post().to(admin::revoke_sessions),
            Api,
        ),
        row(
            Method::GET,
            "/api/v1/admin/invites/",
            web::get().to(admin::list_invites),
            Api,
        ),
        row(
            Method::POST,
            "/api/v1/admin/invites/",
            web::post().to(admin::create_invite),
            Api,
        ),
        row(
            Method::GET,
            "/api/v1/admin/audit/",
            web::get().to(admin::audit),
            Api,
        ),
        row(Method::GET, "/", web::get().to(health::root), Unlimited),
        row(
            Method::GET,
            "/healthz",
            web::get().to(health::healthz),
            Unlimited,
        ),
        row(
            Method::GET,
            "/readyz",
            web::get().to(health::readyz),
            Unlimited,
        ),
        row(
            Method::GET,
            "/metrics",
            web::get().to(health::metrics),
            Unlimited,
        ),
        row(
            Method::GET,
            "/.well-known/jwks.json",
            web::get().to(jwks::jwks),
            Unlimited,
        ),
        row(
            Method::GET,
            "/.well-known/openid-configuration",
            web::get().to(jwks::discovery),
            Unlimited,
        ),
        row(
            Method::GET,
            "/openapi.yml",
            web::get().to(health::openapi),
            Unlimited,
        ),
    ]
}

/// Whether `(method, path)` of the route table passes through the captcha gate.
pub fn requires_captcha(method: &Method, path: &str) -> bool {
    route_table()
        .iter()
        .any(|r| r.captcha && r.method == *method && r.path == path)
}

/// The per-IP budget of every route, keyed as the router sees the path (no trailing slash).
pub fn rate_rules() -> RateRules {
    RateRules::new(
        route_table()
            .into_iter()
            .map(|r| (r.method, registered_path(r.path), r.rate)),
    )
}

/// `(method, path)` of every route, for the contract test.
pub fn routes() -> Vec<(Method, &'static str)> {
    route_table()
        .into_iter()
        .map(|r| (r.method, r.path))
        .collect()
}

/// Paths are registered without their trailing slash; `http::canonical` trims it from every
/// request to authgate's own paths, so both forms match.
fn registered_path(path: &str) -> String {
    if path == "/" {
        path.to_owned()
    } else {
        path.trim_end_matches('/').to_owned()
    }
}

/// The prefix of authgate's API, registered as one scope.
const AUTH_SCOPE: &str = "/api/v1/auth";
/// The prefix of the admin API, its own scope.
const ADMIN_SCOPE: &str = "/api/v1/admin";
const WELL_KNOWN_SCOPE: &str = "/.well-known";

/// Registers the route table. In proxy mode `/` is the upstream's, so authgate's
/// info route is left out and the default service forwards it.
///
/// The API and `/.well-known` routes sit under one scope each, so a path that is neither (every
/// proxied request) fails routing after a handful of prefix checks instead of trying every
/// resource (callgrind: about 9,000 instructions per proxied request with ~35 flat resources).
/// A scope without its own default service falls back to the app's, so unknown paths under a
/// scope still get the 404 envelope.
fn configure(cfg: &mut web::ServiceConfig, proxy_mode: bool) {
    let mut resources: Vec<(String, Vec<Route>)> = Vec::new();
    for RouteSpec {
        path,
        route,
        captcha,
        ..
    } in route_table()
    {
        if proxy_mode && path == "/" {
            continue;
        }
        let route = if captcha {
            route.wrap(from_fn(crate::http::captcha::require_captcha))
        } else {
            route
        };
        let path = registered_path(path);
        match resources.iter_mut().find(|(p, _)| *p == path) {
            Some((_, routes)) => routes.push(route),
            None => resources.push((path, vec![route])),
        }
    }
    let mut auth = web::scope(AUTH_SCOPE);
    let mut well_known = web::scope(WELL_KNOWN_SCOPE);
    let mut admin = web::scope(ADMIN_SCOPE);
    let mut top = Vec::new();
    for (path, routes) in resources {
        let resource = |rel: &str| {
            routes
                .into_iter()
                .fold(web::resource(rel.to_owned()), |r, route| r.route(route))
                .default_service(web::to(method_not_allowed))
        };
        if let Some(rel) = path.strip_prefix(AUTH_SCOPE) {
            auth = auth.service(resource(rel));
        } else if let Some(rel) = path.strip_prefix(ADMIN_SCOPE) {
            admin = admin.service(resource(rel));
        } else if let Some(rel) = path.strip_prefix(WELL_KNOWN_SCOPE) {
            well_known = well_known.service(resource(rel));
        } else {
            top.push(resource(&path));
        }
    }
    // Envoy's ext_authz appends the client's path to the check URL and keeps the client's
    // method: every method on every path below verify/ is the same check.
    let verify_tail = VERIFY_PREFIXED
        .strip_prefix(AUTH_SCOPE)
        .unwrap_or(VERIFY_PREFIXED);
    auth = auth.service(web::resource(verify_tail).route(web::route().to(routes::verify::verify)));
    cfg.service(auth).service(admin).service(well_known);
    for resource in top {
        cfg.service(resource);
    }
}

/// The example SPA and its protected demo API (`AUTHGATE_DEMO=true`), kept out of
/// `route_table()`: they are not part of the API contract.
fn configure_demo(cfg: &mut web::ServiceConfig) {
    use routes::demo;
    cfg.service(web::resource("/demo").route(web::get().to(demo::index)))
        .service(web::resource("/demo/api/hello").route(web::get().to(demo::hello)))
        .service(web::resource("/demo/{file}").route(web::get().to(demo::file)));
}

async fn method_not_allowed() -> HttpResponse {
    envelope(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this method is not allowed on this path",
    )
}

/// JSON extractor failures become the envelope: 413 too large, 415 wrong type, 400 otherwise.
fn json_error(err: actix_web::error::JsonPayloadError, _: &HttpRequest) -> actix_web::Error {
    use actix_web::error::JsonPayloadError as E;
    let resp = match &err {
        E::OverflowKnownLength { .. } | E::Overflow { .. } => envelope(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "request body is larger than 16 KiB",
        ),
        E::ContentType => envelope(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "request bodies must be application/json",
        ),
        E::Deserialize(e) if e.is_data() => envelope(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("invalid request body: {e}"),
        ),
        E::Deserialize(_) => envelope(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            "request body is not valid JSON",
        ),
        _ => envelope(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "request body could not be read",
        ),
    };
    actix_web::error::InternalError::from_response(err, resp).into()
}

pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
}

impl Application {
    /// Prepares the database (migrations, keys), binds the listener and builds the server
    /// without starting it.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        settings.check().map_err(anyhow::Error::msg)?;
        if settings.encryption_key.is_none() {
            tracing::warn!("AUTHGATE_ENCRYPTION_KEY is not set: session secrets and private signing keys are stored unencrypted");
            if settings.password_pepper.is_none() {
                tracing::warn!("neither AUTHGATE_ENCRYPTION_KEY nor AUTHGATE_PASSWORD_PEPPER is set: one-time codes are hashed under a key anyone can know, so a copy of the database reveals live codes");
            }
        }
        if !settings.cookie_secure {
            tracing::warn!("AUTHGATE_COOKIE_SECURE=false: cookies travel over plain http; use only for local development");
        }
        let left_out = settings.webauthn_origins_left_out();
        if !left_out.is_empty() {
            tracing::warn!(
                origins = left_out.join(","),
                rp_id = settings.webauthn_rp_id(),
                "these origins are not on the passkeys' relying party ID, so their pages cannot use passkeys; set AUTHGATE_WEBAUTHN_RP_ID to a domain they share with AUTHGATE_PUBLIC_URL"
            );
        }
        let mut state = AppState::from_settings(settings).await?;
        let settings = &state.settings;
        if settings.demo {
            tracing::warn!(
                "AUTHGATE_DEMO=true: serving the example SPA under /demo/; not for production"
            );
        }
        if !state.mailer.is_smtp() {
            tracing::warn!("AUTHGATE_SMTP_URL is not set: mail (with its codes) is written to the log instead of being sent; development only");
        }
        let listener = TcpListener::bind(settings.listen)
            .with_context(|| format!("binding {}", settings.listen))?;
        let port = listener.local_addr()?.port();
        let workers = settings.workers;
        // Refreshes' own connection on SQLite counts too.
        let app_state_pool_size = settings
            .database_pool_size
            .saturating_add(u32::from(state.refresh_pool.is_some()));
        let shutdown_timeout = settings.shutdown_timeout.as_secs();
        let metrics_listener = match settings.metrics_listen {
            Some(addr) => Some(TcpListener::bind(addr).with_context(|| format!("binding {addr}"))?),
            None => None,
        };
        let metrics_port = match &metrics_listener {
            Some(l) => Some(l.local_addr()?.port()),
            None => None,
        };
        state.metrics_port = metrics_port;
        let state = web::Data::new(state);
        if state.revocations.is_on() {
            match reload_revocations(&state).await {
                Ok(n) => tracing::debug!(sessions = n, "revocation list loaded"),
                Err(e) => tracing::warn!(error = %e, "loading the revocation list failed"),
            }
        }
        let app_state = state.clone();
        let proxy_mode = state.settings.upstream.is_some();
        if let Some(upstream) = &state.settings.upstream {
            tracing::info!(%upstream, "proxy mode: requests not for authgate go to the upstream");
        }
        let rate_rules = web::Data::new(rate_rules());
        let mut server = HttpServer::new(move || {
            let mut app = App::new()
                .app_data(app_state.clone())
                .app_data(rate_rules.clone());
            // One client, with its connection pool, per worker thread.
            if let Some(upstream) = crate::proxy::Upstream::new(&app_state.settings) {
                app = app.app_data(upstream);
            }
            let demo = app_state.settings.demo;
            app.app_data(
                web::JsonConfig::default()
                    .limit(BODY_LIMIT)
                    .error_handler(json_error),
            )
            .app_data(web::PayloadConfig::new(BODY_LIMIT))
            .configure(move |cfg| configure(cfg, proxy_mode))
            .configure(move |cfg| {
                if demo {
                    configure_demo(cfg)
                }
            })
            .default_service(web::to(crate::proxy::default_service))
            // Innermost first: rate limits answer inside the guard, so a 429 still gets the CORS
            // headers a browser needs to read it; hygiene headers go on everything after that.
            .wrap(from_fn(crate::http::rate_limit::limit_requests))
            .wrap(from_fn(crate::http::guard::request_guard))
            // Every layer inside this one, the router included, sees the canonical path.
            .wrap(from_fn(move |req, next| {
                crate::http::canonical::canonical_path(req, next, proxy_mode)
            }))
            .wrap(from_fn(crate::http::hygiene::response_headers))
            .wrap(from_fn(crate::http::request_span::request_span))
        })
        .listen(listener)?
        .disable_signals()
        .shutdown_timeout(shutdown_timeout);
        if let Some(l) = metrics_listener {
            server = server.listen(l)?;
        }
        if workers > 0 {
            server = server.workers(workers);
        }
        // Every blocking task (database work, bcrypt) holds a pooled connection, so threads
        // beyond the connections would only wait for one: cap each worker's blocking pool at its
        // share of them (actix's default is 512 / workers threads, which under load grew
        // the process to 30+ threads and their stacks and malloc arenas).
        let worker_count = if workers > 0 {
            workers
        } else {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        };
        let pool_size = usize::try_from(app_state_pool_size).unwrap_or(usize::MAX);
        server = server.worker_max_blocking_threads(pool_size.div_ceil(worker_count).max(2));
        Ok(Self {
            port,
            server: server.run(),
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// Starts a graceful stop: `/readyz` turns 503 at once, the service keeps serving
    /// for `AUTHGATE_SHUTDOWN_DELAY`, then stops accepting and lets in-flight requests finish
    /// within `AUTHGATE_SHUTDOWN_TIMEOUT`.
    pub fn shutdown_trigger(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let (state, handle) = (self.state.clone(), self.server.handle());
        async move {
            state
                .draining
                .store(true, std::sync::atomic::Ordering::SeqCst);
            tracing::info!(delay = ?state.settings.shutdown_delay, "draining");
            tokio::time::sleep(state.settings.shutdown_delay).await;
            handle.stop(true).await;
        }
    }

    /// Stops the server from outside (tests, embedding): `handle.stop(true)` drains requests,
    /// then `run_until_stopped` stops the outbox sender and returns.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until the server stops (SIGTERM/SIGINT drain in-flight requests first), reloading
    /// signing keys in the background so replicas follow rotations made elsewhere, and sending
    /// queued mail from the outbox.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let state = self.state.clone();
        let reload = tokio::spawn(async move {
            let mut tick = tokio::time::interval(state.settings.key_reload_interval);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    () = state.keys.reload_requested() => {}
                }
                let s = state.clone();
                let outcome = web::block(move || -> anyhow::Result<()> {
                    let mut conn = s.pool.get()?;
                    if let Some(interval) = s.settings.key_rotation_interval {
                        let rotated = crate::tokens::keys::rotate_if_due(
                            &mut conn,
                            s.settings.jwt_algorithm,
                            &s.sealer,
                            interval,
                            s.settings.key_publish_delay,
                            2 * s.settings.access_token_ttl,
                        )?;
                        if let Some(row) = rotated {
                            tracing::info!(kid = %row.kid, "signing key rotated automatically");
                        }
                    }
                    s.keys.load(&mut conn)
                })
                .await;
                match outcome {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "signing key reload failed; keeping the current keys")
                    }
                    Err(e) => tracing::warn!(error = %e, "signing key reload failed"),
                }
            }
        });
        let every = self.state.settings.revocation_list_interval;
        let state = self.state.clone();
        let revocations = (!every.is_zero()).then(|| {
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    if let Err(e) = reload_revocations(&state).await {
                        tracing::warn!(error = %e, "revocation list reload failed; keeping the last list");
                    }
                }
            })
        });
        let every = self.state.settings.retention_interval;
        let state = self.state.clone();
        let retention = (!every.is_zero()).then(|| {
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    let s = state.clone();
                    let pass = web::block(move || -> anyhow::Result<_> {
                        let mut conn = s.pool.get()?;
                        Ok(crate::service::retention::run_once(&s, &mut conn)?)
                    })
                    .await;
                    match pass {
                        Ok(Ok(Some(removed))) => tracing::info!(?removed, "retention clean-up done"),
                        Ok(Ok(None)) => {}
                        Ok(Err(e)) => tracing::warn!(error = %e, "retention clean-up failed; retried at the next interval"),
                        Err(e) => tracing::warn!(error = %e, "retention clean-up failed"),
                    }
                }
            })
        });
        let (stop_sender, stop) = tokio::sync::watch::channel(false);
        let sender = tokio::spawn(crate::notify::sender::run(
            self.state.clone().into_inner(),
            stop,
        ));
        let result = self.server.await;
        reload.abort();
        for task in [revocations, retention].into_iter().flatten() {
            task.abort();
        }
        // The sender finishes the batch in hand (bounded by the SMTP timeout), so a mail that
        // went out is marked sent before the process exits.
        let _ = stop_sender.send(true);
        let grace = self.state.settings.smtp_timeout + std::time::Duration::from_secs(5);
        if tokio::time::timeout(grace, sender).await.is_err() {
            tracing::warn!("outbox sender did not stop in time; unsent mail stays queued");
        }
        result
    }
}

/// Reloads the revocation list on the blocking pool; on failure the list is left as it was.
async fn reload_revocations(state: &web::Data<AppState>) -> anyhow::Result<usize> {
    let s = state.clone();
    web::block(move || -> anyhow::Result<usize> {
        let mut conn = s.pool.get()?;
        Ok(s.revocations.reload(&mut conn)?)
    })
    .await?
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Written out here, not derived from the table: a route that loses its class or its captcha
    /// gate fails this test.
    #[test]
    fn credential_routes_draw_on_their_own_budgets_and_public_ones_need_a_captcha() {
        let table = route_table();
        let with = |wanted: &dyn Fn(&RouteSpec) -> bool| -> Vec<String> {
            let mut v: Vec<String> = table
                .iter()
                .filter(|r| wanted(r))
                .map(|r| format!("{} {}", r.method, r.path))
                .collect();
            v.sort();
            v
        };
        let auth = with(&|r| matches!(r.rate, RateClass::Auth));
        assert_eq!(
            auth,
            [
                "DELETE /api/v1/auth/mfa/passkeys/{id}/",
                "DELETE /api/v1/auth/mfa/totp/",
                "DELETE /api/v1/auth/user/",
                "DELETE /api/v1/auth/user/identities/{id}/",
                "DELETE /api/v1/auth/user/phone/",
                "GET /api/v1/auth/oauth/{provider}/authorize/",
                "POST /api/v1/auth/email-change/revert/",
                "POST /api/v1/auth/mfa/passkeys/register/",
                "POST /api/v1/auth/mfa/passkeys/register/options/",
                "POST /api/v1/auth/mfa/recovery-codes/",
                "POST /api/v1/auth/mfa/totp/confirm/",
                "POST /api/v1/auth/password/forgot/",
                "POST /api/v1/auth/password/reset/",
                "POST /api/v1/auth/signup/",
                "POST /api/v1/auth/signup/passkey/",
                "POST /api/v1/auth/signup/passkey/options/",
                "POST /api/v1/auth/sms/code/",
                "POST /api/v1/auth/user/export/",
                "POST /api/v1/auth/user/identities/{provider}/link/",
                "POST /api/v1/auth/user/password/",
                "POST /api/v1/auth/user/phone/",
                "POST /api/v1/auth/user/phone/code/",
                "POST /api/v1/auth/verify-email/",
                "POST /api/v1/auth/verify-email/resend/",
            ]
        );
        assert_eq!(
            with(&|r| matches!(r.rate, RateClass::SignIn | RateClass::Token)),
            [
                "GET /api/v1/auth/oauth/{provider}/callback/",
                "POST /api/v1/auth/oauth/continue/",
                "POST /api/v1/auth/oauth/{provider}/callback/",
                "POST /api/v1/auth/signin/",
                "POST /api/v1/auth/signin/passkey/",
                "POST /api/v1/auth/sms/signin/",
                "POST /api/v1/auth/token/",
            ]
        );
        assert_eq!(
            with(&|r| matches!(r.rate, RateClass::Refresh)),
            ["POST /api/v1/auth/custom-refresh/"]
        );
        assert_eq!(
            with(&|r| matches!(r.rate, RateClass::Unlimited) && r.path.starts_with(AUTH_SCOPE)),
            ["GET /api/v1/auth/verify/", "POST /api/v1/auth/verify/"]
        );
        assert_eq!(
            with(&|r| r.captcha),
            [
                "POST /api/v1/auth/password/forgot/",
                "POST /api/v1/auth/signin/",
                "POST /api/v1/auth/signup/",
                "POST /api/v1/auth/signup/passkey/options/",
                "POST /api/v1/auth/sms/code/",
                "POST /api/v1/auth/token/",
                "POST /api/v1/auth/verify-email/resend/",
            ]
        );
    }
}
