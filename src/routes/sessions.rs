//! `GET sessions/`, `DELETE sessions/{id}/`, `POST sessions/revoke-others/`.

use actix_web::{web, HttpResponse};

use crate::error::ApiError;
use crate::http::{Authenticated, ClientInfo};
use crate::routes::{blocking, no_content};
use crate::service::sessions;
use crate::state::AppState;

pub async fn list(
    state: web::Data<AppState>,
    auth: Authenticated,
) -> Result<HttpResponse, ApiError> {
    let (user_id, sid) = (auth.claims.sub, auth.claims.sid);
    let list = blocking(&state, move |state, conn| {
        sessions::list(state, conn, &user_id, &sid)
    })
    .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "sessions": list })))
}

pub async fn revoke(
    state: web::Data<AppState>,
    auth: Authenticated,
    client: ClientInfo,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let user_id = auth.claims.sub;
    blocking(&state, move |state, conn| {
        sessions::revoke_own(state, conn, &client, &user_id, &id)
    })
    .await?;
    Ok(no_content())
}

pub async fn revoke_others(
    state: web::Data<AppState>,
    auth: Authenticated,
) -> Result<HttpResponse, ApiError> {
    let (user_id, sid) = (auth.claims.sub, auth.claims.sid);
    blocking(&state, move |state, conn| {
        sessions::revoke_others(state, conn, &user_id, &sid)
    })
    .await?;
    Ok(no_content())
}
