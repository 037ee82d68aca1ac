//! `GET /.well-known/jwks.json`: every published public key, served from memory.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpResponse};

use crate::state::AppState;

pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=600"),
        ))
        .content_type("application/json")
        .body(state.keys.snapshot().jwks.clone())
}

/// `GET /.well-known/openid-configuration`: enough for JWT middlewares that discover keys this
/// way. authgate is not an OpenID provider, so the document names only the issuer and the keys.
pub async fn discovery(state: web::Data<AppState>) -> HttpResponse {
    let issuer = &state.settings.public_url;
    HttpResponse::Ok()
        .insert_header((
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=600"),
        ))
        .json(serde_json::json!({
            "issuer": issuer,
            "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        }))
}
