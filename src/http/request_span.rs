//! One span per request carrying a request id that is echoed in `X-Request-Id` and present on
//! every log line of the request, the closing log line, and the HTTP metrics.

use std::cell::Cell;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::Instrument as _;

use crate::state::AppState;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A client-supplied id is kept only when it is short and plain, so it cannot forge log lines.
fn sane_request_id(v: &HeaderValue) -> bool {
    let s = v.as_bytes();
    !s.is_empty()
        && s.len() <= 64
        && s.iter()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(b))
}

/// A random (version 4) UUID from a per-thread generator seeded once from the OS: a request id
/// must be unique, not secret, and `Uuid::new_v4` makes a `getrandom` system call per request.
fn new_request_id() -> HeaderValue {
    thread_local! {
        static STATE: Cell<u64> = Cell::new(uuid::Uuid::new_v4().as_u64_pair().0);
    }
    // SplitMix64: full period, every seed fine.
    let next = |state: &Cell<u64>| {
        let s = state.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
        state.set(s);
        let z = (s ^ (s >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        let z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let (hi, lo) = STATE.with(|s| (next(s), next(s)));
    let random = (u128::from(hi) << 64 | u128::from(lo)).to_le_bytes();
    let id = uuid::Builder::from_random_bytes(random).into_uuid();
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    HeaderValue::from_str(id.hyphenated().encode_lower(&mut buf))
        .unwrap_or_else(|_| HeaderValue::from_static("unknown"))
}

/// One span per request (request id, method, path, then user and session ids), the closing log
/// line, the `X-Request-Id` echo, and the HTTP metrics by route template.
pub async fn request_span(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = match req.headers().get(&REQUEST_ID) {
        Some(v) if sane_request_id(v) => v.clone(),
        _ => new_request_id(),
    };
    let state = req.app_data::<actix_web::web::Data<AppState>>().cloned();
    let span = tracing::info_span!(
        "request",
        request_id = id.to_str().unwrap_or_default(),
        method = %req.method(),
        path = %req.path(),
        user_id = tracing::field::Empty,
        session_id = tracing::field::Empty,
    );
    let started = Instant::now();
    let result = next.call(req).instrument(span.clone()).await;
    let _entered = span.enter();
    let elapsed = started.elapsed();
    match result {
        Ok(mut resp) => {
            let status = resp.status();
            tracing::info!(
                status = status.as_u16(),
                elapsed_ms = elapsed.as_secs_f64() * 1e3,
                "request done"
            );
            if let Some(state) = state {
                let proxied = state.settings.is_proxied(resp.request().path());
                state.metrics.observe_http(
                    resp.request().method().as_str(),
                    resp.request().path(),
                    || resp.request().match_pattern(),
                    proxied,
                    status.as_u16(),
                    elapsed,
                );
            }
            resp.headers_mut().insert(REQUEST_ID, id);
            Ok(resp)
        }
        Err(e) => {
            tracing::warn!(error = %e, "request failed");
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_request_ids_are_distinct_v4_uuids() {
        let ids: std::collections::HashSet<String> = (0..1000)
            .map(|_| new_request_id().to_str().unwrap().to_owned())
            .collect();
        assert_eq!(ids.len(), 1000);
        for id in ids.iter().take(10) {
            let parsed = uuid::Uuid::parse_str(id).unwrap();
            assert_eq!(parsed.get_version_num(), 4, "{id}");
            assert!(sane_request_id(&HeaderValue::from_str(id).unwrap()));
        }
    }

    #[test]
    fn only_short_plain_request_ids_are_kept() {
        assert!(sane_request_id(&HeaderValue::from_static(
            "trace-abc.123_x"
        )));
        assert!(!sane_request_id(&HeaderValue::from_static("")));
        assert!(!sane_request_id(&HeaderValue::from_static("bad id")));
        assert!(!sane_request_id(
            &HeaderValue::from_str(&"a".repeat(65)).unwrap()
        ));
    }
}
