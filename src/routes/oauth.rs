//! Sign-in with identity providers: `oauth/providers/`, `oauth/{provider}/authorize/`,
//! `oauth/{provider}/callback/` (GET, or a form POST for Apple), `oauth/continue/` (the second
//! factor), and the signed-in user's `user/identities/{provider}/link/` and
//! `user/identities/{id}/`.

use actix_web::cookie::{self, Cookie};
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::http::{Authenticated, ClientInfo};
use crate::routes::auth::with_session_cookies;
use crate::routes::blocking;
use crate::routes::mfa::{reauthenticated, ReauthBody};
use crate::service::accounts::SecondProof;
use crate::service::identities::{self, CallbackParams, Mode};
use crate::state::AppState;

/// The cookie that binds a flow to this browser. `SameSite=None` when cookies are `Secure`, so
/// that a provider's form POST (Apple) still carries it; it is worth nothing without the
/// flow's `state`.
fn binding_cookie<'c>(state: &AppState, value: String, max_age: std::time::Duration) -> Cookie<'c> {
    let s = &state.settings;
    let mut c = Cookie::new(identities::binding_cookie_name(s), value);
    c.set_http_only(true);
    c.set_secure(s.cookie_secure);
    c.set_path("/");
    c.set_same_site(if s.cookie_secure {
        cookie::SameSite::None
    } else {
        cookie::SameSite::Lax
    });
    c.set_max_age(cookie::time::Duration::seconds(
        i64::try_from(max_age.as_secs()).unwrap_or(600),
    ));
    c
}

fn presented_binding(state: &AppState, req: &HttpRequest) -> Option<String> {
    req.cookie(identities::binding_cookie_name(&state.settings))
        .map(|c| c.value().to_owned())
}

fn redirect(location: &str) -> actix_web::HttpResponseBuilder {
    let mut resp = HttpResponse::Found();
    resp.insert_header((header::LOCATION, location.to_owned()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"));
    resp
}

#[derive(Serialize)]
struct ProviderList<'a> {
    providers: Vec<ProviderItem<'a>>,
}

#[derive(Serialize)]
struct ProviderItem<'a> {
    id: &'a str,
}

/// The configured providers, for a front end to offer its "Continue with …" buttons.
pub async fn providers(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(ProviderList {
        providers: state
            .providers
            .ids()
            .map(|id| ProviderItem { id })
            .collect(),
    })
}

#[derive(Deserialize)]
pub struct AuthorizeQuery {
    #[serde(default)]
    return_to: Option<String>,
    #[serde(default)]
    remember_me: Option<String>,
    #[serde(default)]
    invite_code: Option<String>,
}

pub async fn authorize(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let query = web::Query::<AuthorizeQuery>::from_query(req.query_string())
        .map_err(|_| ApiError::validation("invalid_request", "the query string is malformed"))?
        .into_inner();
    let provider = path.into_inner();
    if state.providers.get(&provider).is_none() {
        return Err(ApiError::UnknownProvider);
    }
    let to = identities::return_to(&state.settings, query.return_to.as_deref())?;
    let started = identities::start(
        &state,
        &provider,
        to,
        presented_binding(&state, &req),
        Mode::SignIn {
            remember_me: matches!(query.remember_me.as_deref(), Some("true" | "1")),
            invite_code: query.invite_code,
        },
    )
    .await?;
    Ok(redirect(&started.location)
        .cookie(binding_cookie(
            &state,
            started.binding,
            identities::FLOW_TTL,
        ))
        .finish())
}

async fn finish_callback(
    state: web::Data<AppState>,
    client: ClientInfo,
    req: HttpRequest,
    provider: String,
    params: CallbackParams,
) -> Result<HttpResponse, ApiError> {
    let finished = identities::callback(
        &state,
        client,
        &provider,
        params,
        presented_binding(&state, &req),
    )
    .await?;
    crate::notify::wake(&state);
    let mut resp = redirect(&finished.location);
    if !finished.keep_binding {
        resp.cookie(binding_cookie(
            &state,
            String::new(),
            std::time::Duration::ZERO,
        ));
    }
    if let Some(issued) = finished.issued {
        with_session_cookies(&mut resp, &state.settings, issued);
    }
    Ok(resp.finish())
}

pub async fn callback_get(
    state: web::Data<AppState>,
    client: ClientInfo,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let params = web::Query::<CallbackParams>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .unwrap_or_default();
    finish_callback(state, client, req, path.into_inner(), params).await
}

/// Apple's `response_mode=form_post`: the same parameters as a form body.
pub async fn callback_post(
    state: web::Data<AppState>,
    client: ClientInfo,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let params = web::Query::<CallbackParams>::from_query(&String::from_utf8_lossy(&body))
        .map(web::Query::into_inner)
        .unwrap_or_default();
    finish_callback(state, client, req, path.into_inner(), params).await
}

#[derive(Deserialize)]
pub struct ContinueBody {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    passkey: Option<crate::service::passkeys::Assertion>,
}

pub async fn continue_sign_in(
    state: web::Data<AppState>,
    client: ClientInfo,
    req: HttpRequest,
    body: crate::http::Json<ContinueBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let binding = presented_binding(&state, &req);
    let issued = blocking(&state, move |state, conn| {
        identities::continue_sign_in(
            state,
            conn,
            &client,
            binding.as_deref(),
            SecondProof {
                code: body.code.as_deref(),
                passkey: body.passkey.as_ref(),
            },
        )
    })
    .await?;
    crate::notify::wake(&state);
    let mut resp = HttpResponse::NoContent();
    resp.cookie(binding_cookie(
        &state,
        String::new(),
        std::time::Duration::ZERO,
    ));
    with_session_cookies(&mut resp, &state.settings, issued);
    Ok(resp.finish())
}

#[derive(Deserialize)]
pub struct LinkBody {
    #[serde(default)]
    return_to: Option<String>,
    /// The re-authentication, for an account that has a password or passkeys.
    #[serde(flatten)]
    reauth: ReauthBody,
}

#[derive(Serialize)]
struct LinkStarted {
    /// Where the page sends the browser (the provider's authorization endpoint).
    url: String,
}

pub async fn link(
    state: web::Data<AppState>,
    auth: Authenticated,
    client: ClientInfo,
    req: HttpRequest,
    path: web::Path<String>,
    body: crate::http::Json<LinkBody>,
) -> Result<HttpResponse, ApiError> {
    let provider = path.into_inner();
    if state.providers.get(&provider).is_none() {
        return Err(ApiError::UnknownProvider);
    }
    let body = body.into_inner();
    let to = identities::return_to(&state.settings, body.return_to.as_deref())?;
    let user_id = auth.claims.sub.clone();
    let needs_proof = {
        let (user_id, session_id) = (user_id.clone(), auth.claims.sid.clone());
        blocking(&state, move |_, conn| {
            identities::link_needs_reauthentication(conn, &user_id, &session_id)
        })
        .await?
    };
    if needs_proof {
        reauthenticated(
            &state,
            auth,
            client,
            body.reauth,
            |state, conn, client, user_id, proof| {
                crate::service::mfa::reauthenticate(state, conn, client, user_id, &proof).map(drop)
            },
        )
        .await?;
    }
    let started = identities::start(
        &state,
        &provider,
        to,
        presented_binding(&state, &req),
        Mode::Link { user_id },
    )
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .cookie(binding_cookie(
            &state,
            started.binding,
            identities::FLOW_TTL,
        ))
        .json(LinkStarted {
            url: started.location,
        }))
}

pub async fn unlink(
    state: web::Data<AppState>,
    auth: Authenticated,
    client: ClientInfo,
    path: web::Path<String>,
    body: crate::http::Json<ReauthBody>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    reauthenticated(
        &state,
        auth,
        client,
        body.into_inner(),
        move |state, conn, client, user_id, proof| {
            identities::unlink(state, conn, client, user_id, &id, &proof)
        },
    )
    .await?;
    Ok(crate::routes::no_content())
}
