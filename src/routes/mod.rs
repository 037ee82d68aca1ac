//! HTTP handlers: each turns the request into domain values, runs a service (database work on
//! the blocking pool, hashing on the hashing threads: `crate::service::run`), and shapes the
//! response. No SQL and no crypto here.

pub mod admin;
pub mod auth;
pub mod demo;
pub mod email;
pub mod health;
pub mod jwks;
pub mod mfa;
pub mod oauth;
pub mod passkeys;
pub mod password;
pub mod phone;
pub mod sessions;
pub mod token;
pub mod user;
pub mod verify;

use actix_web::HttpResponse;

pub use crate::service::run::{blocking, refreshing};

/// 202 for the endpoints that answer alike whether or not an account exists.
pub fn accepted() -> HttpResponse {
    HttpResponse::Accepted().json(serde_json::json!({
        "message": "if an account matches, a mail with a code is on its way"
    }))
}

pub fn no_content() -> HttpResponse {
    HttpResponse::NoContent().finish()
}
