//! The captcha gate: an actix middleware that `crate::startup` wraps around exactly the routes
//! marked `captcha` in `crate::startup::route_table`, so a handler never has to remember it.
//!
//! When a provider is configured, the request's token is taken from the JSON body field
//! `captcha`, else from the `X-Captcha-Token` header, else from the `captcha` query parameter,
//! and verified before the handler runs. The body (at most 16 KiB) is buffered to read
//! it and handed back to the handler untouched. Without a provider the gate does nothing.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage as _};
use futures_util::StreamExt as _;
use serde::Deserialize;

use crate::clients::captcha::Failure;
use crate::error::ApiError;
use crate::http::client_ip::client_ip;
use crate::http::error::envelope;
use crate::http::json::BODY_LIMIT;
use crate::state::AppState;

/// Header carrying the token for clients that cannot put it in the body.
pub const TOKEN_HEADER: &str = "x-captcha-token";

#[derive(Deserialize)]
struct CaptchaField {
    #[serde(default)]
    captcha: Option<String>,
}

#[derive(Deserialize)]
struct GrantType {
    grant_type: String,
}

/// `token/` needs a captcha for its password grant only: a refresh-token grant is a
/// refresh, and refresh never asks for one; a passkey grant cannot be guessed (as
/// `signin/passkey/`, which has no captcha). Any other grant (or none) is checked.
fn is_refresh_grant(req: &ServiceRequest, body: &[u8]) -> bool {
    req.path().trim_end_matches('/') == "/api/v1/auth/token"
        && (is_refresh_grant_body(body) || is_passkey_grant_body(body))
}

fn is_passkey_grant_body(body: &[u8]) -> bool {
    serde_json::from_slice::<GrantType>(body).is_ok_and(|g| g.grant_type == "passkey")
}

/// Reads the whole body (at most 16 KiB) for a middleware to look at and puts it back for the
/// handler. `Ok(Err(413 envelope))` when it is larger.
pub async fn buffer_body(
    req: &mut ServiceRequest,
) -> Result<Result<web::Bytes, actix_web::HttpResponse>, actix_web::Error> {
    let mut payload = req.take_payload();
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk?;
        if body.len() + chunk.len() > BODY_LIMIT {
            return Ok(Err(envelope(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "request body is larger than 16 KiB",
            )));
        }
        body.extend_from_slice(&chunk);
    }
    let body = body.freeze();
    req.set_payload(Payload::from(body.clone()));
    Ok(Ok(body))
}

/// Whether a `token/` body asks for the `refresh_token` grant.
pub fn is_refresh_grant_body(body: &[u8]) -> bool {
    serde_json::from_slice::<GrantType>(body).is_ok_and(|g| g.grant_type == "refresh_token")
}

pub async fn require_captcha(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    };
    let Some(verifier) = state.captcha.as_ref() else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    };

    // Buffer the body (bounded) to read its `captcha` field, then give it back to the handler.
    let body = match buffer_body(&mut req).await? {
        Ok(body) => body,
        Err(resp) => return Ok(req.into_response(resp).map_into_right_body()),
    };
    let token = token(&req, &body);
    let exempt = is_refresh_grant(&req, &body);
    if exempt {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    }

    let ip = client_ip(req.request(), &state.settings.trusted_proxies);
    let provider = verifier.provider().as_str();
    let outcome = match token {
        None => Err(Failure::Rejected("no captcha token presented".into())),
        Some(t) => verifier.verify(&state.http_client, &t, ip).await,
    };
    let label = match &outcome {
        Ok(()) => "success",
        Err(Failure::Rejected(_)) => "rejected",
        Err(Failure::Unavailable(_)) => "unavailable",
    };
    state.metrics.captcha.with_label_values(&[label]).inc();
    let error = match outcome {
        Ok(()) => {
            return next
                .call(req)
                .await
                .map(ServiceResponse::map_into_left_body)
        }
        Err(Failure::Rejected(reason)) => {
            tracing::info!(provider, %reason, "captcha rejected");
            ApiError::CaptchaInvalid
        }
        Err(Failure::Unavailable(reason)) => {
            tracing::error!(provider, %reason, "captcha verification unavailable");
            ApiError::CaptchaUnavailable
        }
    };
    Ok(req.error_response(error).map_into_right_body())
}

/// The body's `captcha` field, else the header, else the query parameter; empty values count as
/// absent.
fn token(req: &ServiceRequest, body: &[u8]) -> Option<String> {
    let from_body = serde_json::from_slice::<CaptchaField>(body)
        .ok()
        .and_then(|f| f.captcha);
    let from_header = || {
        req.headers()
            .get(TOKEN_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_owned())
    };
    let from_query = || {
        web::Query::<CaptchaField>::from_query(req.query_string())
            .ok()
            .and_then(|q| q.into_inner().captcha)
    };
    let present = |t: &String| !t.is_empty();
    from_body
        .filter(present)
        .or_else(|| from_header().filter(present))
        .or_else(|| from_query().filter(present))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn body_then_header_then_query() {
        let req = TestRequest::post()
            .uri("/x?captcha=q")
            .insert_header((TOKEN_HEADER, "h"))
            .to_srv_request();
        assert_eq!(token(&req, br#"{"captcha":"b"}"#).as_deref(), Some("b"));
        assert_eq!(token(&req, br#"{"captcha":""}"#).as_deref(), Some("h"));
        let req = TestRequest::post().uri("/x?captcha=q").to_srv_request();
        assert_eq!(token(&req, b"not json").as_deref(), Some("q"));
        let req = TestRequest::post().uri("/x").to_srv_request();
        assert_eq!(token(&req, br#"{"captcha": null}"#), None);
        assert_eq!(token(&req, br#"{"captcha": 5}"#), None);
    }

    #[test]
    fn only_the_refresh_grant_of_token_is_exempt() {
        let token_req = TestRequest::post()
            .uri("/api/v1/auth/token")
            .to_srv_request();
        assert!(is_refresh_grant(
            &token_req,
            br#"{"grant_type":"refresh_token","refresh_token":"x"}"#
        ));
        assert!(!is_refresh_grant(
            &token_req,
            br#"{"grant_type":"password","login":"a"}"#
        ));
        assert!(!is_refresh_grant(&token_req, br#"{"login":"a"}"#));
        let signin = TestRequest::post()
            .uri("/api/v1/auth/signin")
            .to_srv_request();
        assert!(!is_refresh_grant(
            &signin,
            br#"{"grant_type":"refresh_token"}"#
        ));
    }
}
