//! Sidecar proxy mode: with `AUTHGATE_UPSTREAM` set, every request that is not
//! authgate's own is checked exactly like `verify/` (no database) and streamed to the upstream.
//!
//! One awc client per worker thread (awc is actix's own client and, like the worker, single
//! threaded), so each worker keeps one connection pool to the upstream and bodies stream between
//! the two connections without crossing threads or being buffered whole.

pub mod headers;
mod websocket;

use std::time::Duration;

use actix_web::body::{BodyStream, SizedStream};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::Stream;

use crate::error::ApiError;
use crate::http::error::envelope;
use crate::paths::rules;
use crate::state::AppState;
use crate::tokens::AccessClaims;

/// The per-worker client to the upstream.
#[derive(Clone)]
pub struct Upstream {
    client: awc::Client,
    base: String,
    timeout: Duration,
}

impl Upstream {
    /// `None` when proxy mode is off. Called once per worker.
    pub fn new(settings: &crate::settings::Settings) -> Option<Self> {
        let base = settings.upstream.clone()?;
        let timeout = settings.upstream_timeout;
        Some(Self {
            client: upstream_client(timeout),
            base,
            timeout,
        })
    }
}

/// An HTTP/1.1 client with pooled keep-alive connections, no default headers and no redirects
/// (the upstream's answers go back as they are); `connect_timeout` bounds the connection only,
/// as the proxy applies its own timeout once the request body is sent. Also the ceiling proxy's
/// client in `bench/proxy_ceiling.rs`.
pub fn upstream_client(connect_timeout: Duration) -> awc::Client {
    let connector = awc::Connector::new()
        .timeout(connect_timeout)
        .limit(0)
        .conn_keep_alive(Duration::from_secs(30))
        .max_http_version(awc::http::Version::HTTP_11);
    awc::Client::builder()
        .connector(connector)
        .no_default_headers()
        .disable_redirects()
        .disable_timeout()
        .finish()
}

/// The app's default service: in proxy mode, forwards; otherwise (and for authgate's own
/// prefixes) 404.
pub async fn default_service(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let upstream = req.app_data::<Upstream>().cloned();
    match upstream {
        Some(upstream) if !rules::is_own_path(req.path()) => {
            match forward(&req, payload, &state, &upstream).await {
                Ok(resp) => resp,
                Err(e) => actix_web::ResponseError::error_response(&e),
            }
        }
        _ => envelope(StatusCode::NOT_FOUND, "not_found", "no such endpoint"),
    }
}

/// What the check in front of the upstream decided.
enum Decision {
    Pass(Option<(std::sync::Arc<AccessClaims>, String)>),
    Refuse(HttpResponse),
}

/// Decided on the canonical path (`crate::http::canonical`), the very path that is forwarded.
fn decide(req: &HttpRequest, state: &AppState, path: &str, path_and_query: &str) -> Decision {
    let s = &state.settings;
    let presented = crate::http::auth::presented_token(req, &s.access_cookie_name);
    let verified = presented.as_ref().map(|(token, _)| {
        crate::http::auth::verify_access(state, token).map(|claims| (claims, token.clone()))
    });
    if rules::is_public(&s.public_paths, path) {
        // A public page still learns who is signed in when a valid token comes along.
        return Decision::Pass(verified.and_then(Result::ok));
    }
    let (claims, token) = match verified {
        Some(Ok(pair)) => pair,
        refused => {
            let wants_html = req
                .headers()
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(rules::prefers_html);
            if let (true, Some(login)) = (wants_html, &s.login_url) {
                let to = rules::login_redirect(login, &s.public_url, path_and_query);
                return Decision::Refuse(
                    HttpResponse::Found()
                        .insert_header((header::LOCATION, to))
                        .insert_header((
                            header::CACHE_CONTROL,
                            HeaderValue::from_static("no-store"),
                        ))
                        .finish(),
                );
            }
            let err = if refused.is_some() {
                ApiError::InvalidToken
            } else {
                ApiError::Unauthenticated
            };
            return Decision::Refuse(actix_web::ResponseError::error_response(&err));
        }
    };
    if !claims.email_verified && rules::is_required(&s.proxy_require_verified_email, path) {
        return Decision::Refuse(actix_web::ResponseError::error_response(
            &ApiError::EmailNotVerified,
        ));
    }
    if claims.aal != "aal2" && rules::is_required(&s.proxy_require_aal2, path) {
        return Decision::Refuse(actix_web::ResponseError::error_response(
            &ApiError::Aal2Required,
        ));
    }
    let missing_role = s.proxy_require_role.iter().any(|rule| {
        rules::is_required(std::slice::from_ref(&rule.pattern), path)
            && !claims.roles.contains(&rule.role)
    });
    if missing_role {
        return Decision::Refuse(actix_web::ResponseError::error_response(
            &ApiError::Forbidden("this page requires a role the session does not have"),
        ));
    }
    Decision::Pass(Some((claims, token)))
}

async fn forward(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    upstream: &Upstream,
) -> Result<HttpResponse, ApiError> {
    let path_and_query = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let identity = match decide(req, state, req.path(), path_and_query) {
        Decision::Refuse(resp) => return Ok(resp),
        Decision::Pass(identity) => identity,
    };
    if let Some((claims, _)) = &identity {
        crate::telemetry::record_identity(&claims.sub, &claims.sid);
    }
    let s = &state.settings;
    let peer = req.peer_addr().map(|a| a.ip());
    let fwd = headers::Forwarding {
        identity: identity
            .as_ref()
            .map(|(c, _)| crate::http::identity::identity_headers(c))
            .unwrap_or_default(),
        pass_token: identity
            .as_ref()
            .filter(|_| s.proxy_pass_token)
            .map(|(_, t)| t.as_str()),
        cookie_names: [&s.access_cookie_name, &s.refresh_cookie_name],
        peer,
        peer_trusted: peer.is_some_and(|ip| s.trusted_proxies.iter().any(|n| n.contains(&ip))),
        scheme: if req.app_config().secure() {
            "https"
        } else {
            "http"
        },
    };
    let out_headers = headers::upstream_request_headers(req.headers(), &fwd);
    let url = format!("{}{}", upstream.base, path_and_query);
    if headers::is_websocket_upgrade(req.headers()) && req.method() == Method::GET {
        return websocket::bridge(req, payload, upstream, &url, out_headers).await;
    }
    let mut outgoing = upstream
        .client
        .request(req.method().clone(), url.as_str())
        .no_decompress();
    // The client adds no headers of its own (`no_default_headers`): hand over the map built
    // for the upstream instead of copying it header by header.
    *outgoing.headers_mut() = out_headers;
    // The timeout runs from the moment the request body has been handed over in full, so a
    // large upload is not cut short, while an upstream that never answers is.
    let (sent_tx, sent_rx) = tokio::sync::oneshot::channel::<()>();
    let length = request_length(req);
    let send = match length {
        Some(0) => {
            let _ = sent_tx.send(());
            outgoing.send_body(())
        }
        Some(len) => outgoing.send_body(SizedStream::new(len, NotifyAtEnd::new(payload, sent_tx))),
        None => outgoing.send_body(BodyStream::new(NotifyAtEnd::new(payload, sent_tx))),
    };
    let timeout = upstream.timeout;
    let deadline = async move {
        let _ = sent_rx.await;
        tokio::time::sleep(timeout).await;
    };
    let response = tokio::select! {
        r = send => r.map_err(send_error)?,
        () = deadline => {
            tracing::warn!(?timeout, "upstream did not answer in time");
            return Err(ApiError::UpstreamTimeout);
        }
    };
    let mut builder = HttpResponse::build(response.status());
    for (name, value) in headers::client_response_headers(response.headers()) {
        builder.append_header((name.clone(), value.clone()));
    }
    let length = response
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let bodiless = req.method() == Method::HEAD
        || matches!(
            response.status(),
            StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED
        );
    Ok(match length {
        _ if bodiless => builder.finish(),
        Some(len) => builder.body(SizedStream::new(len, response)),
        None => builder.streaming(response),
    })
}

/// The request body's length: `Some(n)` from `Content-Length`, `Some(0)` when there is no body,
/// `None` for a chunked body.
fn request_length(req: &HttpRequest) -> Option<u64> {
    let h = req.headers();
    match h
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        Some(n) => Some(n),
        None if h.contains_key(header::TRANSFER_ENCODING) => None,
        None => Some(0),
    }
}

fn send_error(e: awc::error::SendRequestError) -> ApiError {
    use awc::error::{ConnectError, SendRequestError as E};
    match e {
        E::Timeout | E::Connect(ConnectError::Timeout) => ApiError::UpstreamTimeout,
        other => {
            tracing::warn!(error = %other, "upstream request failed");
            ApiError::UpstreamUnavailable
        }
    }
}

/// A body stream that reports when it has been read to its end (or dropped).
struct NotifyAtEnd<S> {
    inner: S,
    done: Option<tokio::sync::oneshot::Sender<()>>,
}

impl<S> NotifyAtEnd<S> {
    fn new(inner: S, done: tokio::sync::oneshot::Sender<()>) -> Self {
        Self {
            inner,
            done: Some(done),
        }
    }
}

impl<S: Stream + Unpin> Stream for NotifyAtEnd<S> {
    type Item = S::Item;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_next(cx);
        if let std::task::Poll::Ready(None) = polled {
            if let Some(done) = self.done.take() {
                let _ = done.send(());
            }
        }
        polled
    }
}
