//! The example SPA (examples/spa + clients/js, embedded so the binary is self-contained) and a
//! protected demo API, served only when `AUTHGATE_DEMO=true`. Not part of the API contract.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::error::ApiError;
use crate::http::auth::Checked;

const INDEX: &str = include_str!("../../examples/spa/index.html");
const APP_JS: &str = include_str!("../../examples/spa/app.js");
const CLIENT_JS: &str = include_str!("../../clients/js/authgate.js");

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, HeaderValue::from_static(content_type)))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
            ),
        ))
        .insert_header((
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .insert_header((
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-cache")))
        .body(body)
}

/// `GET /demo/`: the page.
pub async fn index() -> HttpResponse {
    asset(HTML, INDEX)
}

/// `GET /demo/{file}`: the page's scripts; anything else is 404.
pub async fn file(name: web::Path<String>) -> Result<HttpResponse, ApiError> {
    match name.as_str() {
        "index.html" => Ok(asset(HTML, INDEX)),
        "app.js" => Ok(asset(JS, APP_JS)),
        "authgate.js" => Ok(asset(JS, CLIENT_JS)),
        _ => Err(ApiError::NotFound),
    }
}

/// `GET /demo/api/hello`: `{"hello": <email>}` for a signed-in caller, 401 otherwise. Checks the
/// token as a stateless backend of the SPA would (no database read).
pub async fn hello(Checked(claims): Checked) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "hello": claims.email }))
}
