//! The admin API's caller: an admin API key (`Authorization: Bearer agk_…`), or the access token
//! (Bearer or cookie) of a user who holds the `admin` role, read from the database at each
//! request (a revoked role stops working at once, not at the next refresh), at `aal2`.

use actix_web::dev::Payload;
use actix_web::http::{header, Method};
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;

use crate::domain::ClientInfo;
use crate::error::ApiError;
use crate::http::Authenticated;
use crate::service::admin_keys::{self, Scope};
use crate::state::AppState;

/// The role an account needs for the admin API.
pub const ADMIN_ROLE: &str = "admin";

/// An admin allowed to make this request: its [`ClientInfo`] names it as the actor of whatever
/// it does. A read-only key is refused (403) on anything but GET.
#[derive(Debug, Clone)]
pub struct Admin {
    pub client: ClientInfo,
}

fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let reads_only = matches!(*req.method(), Method::GET | Method::HEAD);
        let mut client: ClientInfo = ClientInfo::from_request(req, payload)
            .into_inner()
            .unwrap_or_default();
        let key = bearer(req)
            .filter(|t| t.starts_with(admin_keys::PREFIX))
            .map(str::to_owned);
        let token = key
            .is_none()
            .then(|| Authenticated::from_request(req, payload));
        Box::pin(async move {
            let state = state
                .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("application state missing")))?;
            if let Some(key) = key {
                let (id, scope) = web::block({
                    let state = state.clone();
                    move || {
                        let mut conn = state.pool.get()?;
                        admin_keys::authenticate(&mut conn, &key)
                    }
                })
                .await??;
                if scope == Scope::Read && !reads_only {
                    return Err(ApiError::Forbidden("this API key may only read"));
                }
                client.actor = Some(format!("key:{id}"));
                return Ok(Admin { client });
            }
            let Some(token) = token else {
                return Err(ApiError::Unauthenticated);
            };
            let caller = token.await?;
            let user_id = caller.claims.sub.clone();
            let is_admin = web::block({
                let state = state.clone();
                let user_id = user_id.clone();
                move || -> Result<bool, ApiError> {
                    let mut conn = state.pool.get()?;
                    let roles = crate::db::roles::for_user(&mut conn, &user_id)?;
                    Ok(roles.iter().any(|r| r == ADMIN_ROLE))
                }
            })
            .await??;
            if !is_admin {
                return Err(ApiError::Forbidden("the admin API needs the admin role"));
            }
            if caller.claims.aal != "aal2" {
                return Err(ApiError::Forbidden(
                    "the admin API needs a session signed in with a second factor (aal2)",
                ));
            }
            client.actor = Some(format!("user:{user_id}"));
            Ok(Admin { client })
        })
    }
}
