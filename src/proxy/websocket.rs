//! WebSocket pass-through: the client's upgrade is answered once the upstream has accepted its
//! own, then frames are relayed both ways, unchanged, until either side closes.

use actix_web::http::header::{self, HeaderMap};
use actix_web::{web, HttpResponse};
use awc::ws::{Frame, Message};
use futures_util::{SinkExt as _, StreamExt as _};

use super::Upstream;
use crate::error::ApiError;

/// Largest frame relayed (either direction).
const MAX_FRAME: usize = 1024 * 1024;

pub(super) async fn bridge(
    req: &actix_web::HttpRequest,
    payload: web::Payload,
    upstream: &Upstream,
    url: &str,
    headers: HeaderMap,
) -> Result<HttpResponse, ApiError> {
    let mut outgoing = upstream.client.ws(url).max_frame_size(MAX_FRAME);
    for (name, value) in &headers {
        outgoing = outgoing.set_header(name.clone(), value.clone());
    }
    if let Some(protocols) = req.headers().get(header::SEC_WEBSOCKET_PROTOCOL) {
        outgoing = outgoing.set_header(header::SEC_WEBSOCKET_PROTOCOL, protocols.clone());
    }
    let connected = tokio::time::timeout(upstream.timeout, outgoing.connect()).await;
    let (answer, upstream_conn) = match connected {
        Err(_) => return Err(ApiError::UpstreamTimeout),
        Ok(Err(awc::error::WsClientError::InvalidResponseStatus(status))) => {
            // The upstream refused the upgrade: the client hears the same status.
            return Ok(HttpResponse::build(status).finish());
        }
        Ok(Err(awc::error::WsClientError::SendRequest(e))) => return Err(super::send_error(e)),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "upstream WebSocket handshake failed");
            return Err(ApiError::UpstreamUnavailable);
        }
        Ok(Ok(pair)) => pair,
    };
    let (mut response, session, client_frames) = actix_ws::handle(req, payload)
        .map_err(|e| ApiError::validation("invalid_websocket_upgrade", e.to_string()))?;
    if let Some(chosen) = answer.headers().get(header::SEC_WEBSOCKET_PROTOCOL) {
        response
            .headers_mut()
            .insert(header::SEC_WEBSOCKET_PROTOCOL, chosen.clone());
    }
    actix_web::rt::spawn(relay(
        session,
        client_frames.max_frame_size(MAX_FRAME),
        upstream_conn,
    ));
    Ok(response)
}

async fn relay(
    mut client: actix_ws::Session,
    mut from_client: actix_ws::MessageStream,
    upstream: actix_codec::Framed<awc::BoxedSocket, awc::ws::Codec>,
) {
    let (mut to_upstream, mut from_upstream) = upstream.split();
    loop {
        tokio::select! {
            msg = from_client.next() => {
                let Some(Ok(msg)) = msg else {
                    let _ = to_upstream.send(Message::Close(None)).await;
                    break;
                };
                let closing = matches!(msg, Message::Close(_));
                if to_upstream.send(msg).await.is_err() || closing {
                    break;
                }
            }
            frame = from_upstream.next() => {
                let Some(Ok(frame)) = frame else {
                    let _ = client.close(None).await;
                    return;
                };
                let sent = match frame {
                    Frame::Text(b) => match String::from_utf8(b.to_vec()) {
                        Ok(text) => client.text(text).await,
                        Err(_) => break,
                    },
                    Frame::Binary(b) => client.binary(b).await,
                    Frame::Continuation(item) => client.continuation(item).await,
                    Frame::Ping(b) => client.ping(&b).await,
                    Frame::Pong(b) => client.pong(&b).await,
                    Frame::Close(reason) => {
                        let _ = client.close(reason).await;
                        return;
                    }
                };
                if sent.is_err() {
                    let _ = to_upstream.send(Message::Close(None)).await;
                    return;
                }
            }
        }
    }
    let _ = client.close(None).await;
}
