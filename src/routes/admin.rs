//! The admin API under `/api/v1/admin/`: accounts, invitations and the audit trail, for an
//! admin UI or automation. The caller is an [`Admin`]; everything it changes is audited with it
//! as the actor.

use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::db::{self, users::UserRow};
use crate::domain::ClientInfo;
use crate::domain::{DisplayName, Email, Invalid, Password, Role};
use crate::error::ApiError;
use crate::http::admin::Admin;
use crate::notify;
use crate::routes::blocking;
use crate::service::accounts::NewAccount;
use crate::service::admin::{self, Cursor, UserPatch};
use crate::service::rescue;
use crate::state::AppState;

/// The query's parameters by name, each at most once: a repeated one is refused rather than
/// one of its values picked.
fn query(req: &HttpRequest, known: &[&str]) -> Result<Vec<(String, String)>, ApiError> {
    let pairs = web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .map_err(|_| Invalid::new("invalid_query", "the query string does not parse"))?;
    for (i, (name, _)) in pairs.iter().enumerate() {
        if !known.contains(&name.as_str()) {
            return Err(Invalid::new(
                "invalid_query",
                format!(
                    "unknown query parameter `{name}`; known: {}",
                    known.join(", ")
                ),
            )
            .into());
        }
        if pairs[..i].iter().any(|(n, _)| n == name) {
            return Err(Invalid::new("invalid_query", format!("`{name}` is given twice")).into());
        }
    }
    Ok(pairs)
}

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn cursor(pairs: &[(String, String)]) -> Result<Option<(chrono::NaiveDateTime, String)>, Invalid> {
    param(pairs, "cursor")
        .map(Cursor::parse)
        .transpose()
        .map(|c| c.map(|c| (c.at, c.id)))
}

pub async fn list_users(
    _admin: Admin,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let pairs = query(
        &req,
        &[
            "q",
            "role",
            "created_after",
            "created_before",
            "limit",
            "cursor",
        ],
    )?;
    let filter = db::users::UserFilter {
        email_prefix: param(&pairs, "q").map(str::to_lowercase),
        role: param(&pairs, "role")
            .map(|r| Role::parse(r).map(|r| r.as_str().to_owned()))
            .transpose()?,
        created_after: param(&pairs, "created_after")
            .map(|t| admin::parse_time("created_after", t))
            .transpose()?,
        created_before: param(&pairs, "created_before")
            .map(|t| admin::parse_time("created_before", t))
            .transpose()?,
        after: cursor(&pairs)?,
    };
    if filter.email_prefix.as_ref().is_some_and(|q| q.len() > 320) {
        return Err(Invalid::new(
            "invalid_query",
            "q is an address prefix (320 bytes at most)",
        )
        .into());
    }
    let limit = admin::parse_limit(param(&pairs, "limit"))?;
    let page = blocking(&state, move |_, conn| {
        admin::list_users(conn, &filter, limit)
    })
    .await?;
    Ok(HttpResponse::Ok().json(page))
}

pub async fn get_user(
    _admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let detail = blocking(&state, move |state, conn| admin::detail(state, conn, &id)).await?;
    Ok(HttpResponse::Ok().json(detail))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    email: String,
    /// Without one, the account is invited: mailed a code to set its password with.
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email_verified: bool,
    #[serde(default)]
    roles: Vec<String>,
}

pub async fn create_user(
    admin: Admin,
    state: web::Data<AppState>,
    body: crate::http::Json<CreateBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let email = Email::parse(&body.email)?;
    let name = match &body.name {
        Some(n) => DisplayName::parse(n)?,
        None => DisplayName::parse(email.as_str().split('@').next().unwrap_or("user"))?,
    };
    let roles = parse_roles(&body.roles)?;
    let has_password = body.password.is_some();
    let password = match body.password {
        Some(p) => {
            let p = Password::parse(p)?;
            crate::service::password::check_new(&state, &p, &email).await?;
            p
        }
        None => crate::service::password::unusable()?,
    };
    let input = NewAccount {
        email,
        password,
        name,
        verified: body.email_verified,
        has_password,
    };
    let (input, hash) =
        crate::service::run::hash_new_password(&state, input, |i| &i.password).await?;
    let client = admin.client;
    let detail = blocking(&state, move |state, conn| {
        let user = crate::service::accounts::create(state, conn, &client, &input, &hash)?;
        let patch = UserPatch {
            roles: (!roles.is_empty()).then_some(roles),
            ..Default::default()
        };
        admin::update(state, conn, &client, &user.id, &patch)?;
        admin::detail(state, conn, &user.id)
    })
    .await?;
    notify::wake(&state);
    Ok(HttpResponse::Created().json(detail))
}

fn parse_roles(raw: &[String]) -> Result<Vec<Role>, ApiError> {
    if raw.len() > 64 {
        return Err(Invalid::new("invalid_role", "64 roles at most").into());
    }
    let mut roles: Vec<Role> = raw
        .iter()
        .map(|r| Role::parse(r))
        .collect::<Result<_, _>>()?;
    roles.sort();
    roles.dedup();
    Ok(roles)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email_verified: Option<bool>,
    #[serde(default)]
    disabled: Option<bool>,
    #[serde(default)]
    roles: Option<Vec<String>>,
}

pub async fn update_user(
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: crate::http::Json<PatchBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let patch = UserPatch {
        name: body.name.as_deref().map(DisplayName::parse).transpose()?,
        email_verified: body.email_verified,
        disabled: body.disabled,
        roles: body.roles.as_deref().map(parse_roles).transpose()?,
    };
    let id = id.into_inner();
    let client = admin.client;
    let detail = blocking(&state, move |state, conn| {
        admin::update(state, conn, &client, &id, &patch)?;
        admin::detail(state, conn, &id)
    })
    .await?;
    notify::wake(&state);
    Ok(HttpResponse::Ok().json(detail))
}

/// Runs a rescue action on the account `id` names (404 when none), as `admin`, and wakes the
/// sender for the notice it may have queued.
async fn rescue_action<T: Send + 'static>(
    admin: Admin,
    state: &web::Data<AppState>,
    id: web::Path<String>,
    action: fn(&AppState, &mut db::DbConnection, &ClientInfo, &UserRow) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let id = id.into_inner();
    let client = admin.client;
    let done = blocking(state, move |state, conn| {
        let user = admin::find(conn, &id)?;
        action(state, conn, &client, &user)
    })
    .await?;
    notify::wake(state);
    Ok(done)
}

pub async fn delete_user(
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    rescue_action(admin, &state, id, rescue::delete).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn reset_mfa(
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let ended = rescue_action(admin, &state, id, rescue::reset_mfa).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "sessions_ended": ended })))
}

pub async fn revoke_sessions(
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let ended = rescue_action(admin, &state, id, rescue::revoke_sessions).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "sessions_ended": ended })))
}

pub async fn list_invites(
    _admin: Admin,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let items = blocking(&state, move |_, conn| crate::service::invites::list(conn)).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "items": items })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InviteBody {
    #[serde(default = "one")]
    uses: u32,
    /// Seconds until the code expires; none: it never does.
    #[serde(default)]
    expires_in: Option<u64>,
}

fn one() -> u32 {
    1
}

pub async fn create_invite(
    admin: Admin,
    state: web::Data<AppState>,
    body: crate::http::Json<InviteBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    if !(1..=1_000_000).contains(&body.uses) {
        return Err(Invalid::new("invalid_uses", "uses is from 1 to 1000000").into());
    }
    const TEN_YEARS: u64 = 10 * 366 * 24 * 3600;
    if body.expires_in.is_some_and(|s| s == 0 || s > TEN_YEARS) {
        return Err(Invalid::new(
            "invalid_expires_in",
            "expires_in is a number of seconds, from 1 to ten years",
        )
        .into());
    }
    let client = admin.client;
    let created = blocking(&state, move |_, conn| {
        crate::service::invites::create(
            conn,
            &client,
            body.uses,
            body.expires_in.map(Duration::from_secs),
        )
        .map_err(ApiError::from)
    })
    .await?;
    let (code, view) = created;
    let mut value = serde_json::to_value(view).map_err(|e| ApiError::Internal(e.into()))?;
    value["code"] = serde_json::Value::String(code);
    Ok(HttpResponse::Created().json(value))
}

pub async fn audit(
    _admin: Admin,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let pairs = query(&req, &["user", "kind", "since", "limit", "cursor"])?;
    let long = |name: &str| {
        param(&pairs, name)
            .is_some_and(|v| v.len() > 64)
            .then(|| Invalid::new("invalid_query", format!("{name} is 64 bytes at most")))
    };
    if let Some(e) = long("user").or_else(|| long("kind")) {
        return Err(e.into());
    }
    let filter = db::events::EventFilter {
        user_id: param(&pairs, "user").map(str::to_owned),
        kind: param(&pairs, "kind").map(str::to_owned),
        since: param(&pairs, "since")
            .map(|t| admin::parse_time("since", t))
            .transpose()?,
        after: cursor(&pairs)?,
    };
    let limit = admin::parse_limit(param(&pairs, "limit"))?;
    let page = blocking(&state, move |_, conn| {
        admin::audit_log(conn, &filter, limit)
    })
    .await?;
    Ok(HttpResponse::Ok().json(page))
}
