//! The headers that cross the proxy: hop-by-hop ones dropped (RFC 9110 §7.6.1), the `X-Auth-*`
//! family replaced by authgate's own, the headers an app might trust for the client's address,
//! the request's URL or its method dropped, the `X-Forwarded-*` trio set, authgate's cookies
//! removed.
//!
//! Names are compared lower-cased with `_` read as `-`: CGI, WSGI, PHP and many frameworks
//! expose `X_Auth_User_Id` and `X-Auth-User-Id` as the same variable.

use std::net::IpAddr;

use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// Always hop-by-hop, whatever `Connection` says (RFC 9110 §7.6.1, plus the de-facto
/// `Proxy-Connection` and `Keep-Alive`).
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Headers named hop-by-hop by the message's own `Connection` header.
fn connection_listed(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::CONNECTION)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|n| n.trim().to_ascii_lowercase())
        .filter(|n| !n.is_empty())
        .collect()
}

fn is_hop_by_hop(name: &HeaderName, listed: &[String]) -> bool {
    let n = name.as_str();
    HOP_BY_HOP.contains(&n) || listed.iter().any(|l| l == n)
}

/// Request headers never passed to the upstream (besides `x-auth-*` and `x-forwarded-*`, which
/// are dropped as families): what an app may read as the client's address, the URL it asked for
/// or the method it meant. authgate decided on the request's own address, path and method.
pub const SPOOFABLE: &[&str] = &[
    "forwarded",
    "x-real-ip",
    "true-client-ip",
    "x-client-ip",
    "client-ip",
    "x-cluster-client-ip",
    "cf-connecting-ip",
    "fastly-client-ip",
    "x-original-url",
    "x-rewrite-url",
    "x-original-uri",
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

/// Whether a client-sent header is dropped before the upstream, in any `_`/`-` spelling.
pub fn is_spoofable(name: &HeaderName) -> bool {
    let n = name.as_str();
    if n.contains('_') {
        let dashed = n.replace('_', "-");
        return is_spoofable_name(&dashed);
    }
    is_spoofable_name(n)
}

fn is_spoofable_name(n: &str) -> bool {
    n.starts_with("x-auth-") || n.starts_with("x-forwarded-") || SPOOFABLE.contains(&n)
}

/// What the request to the upstream carries besides the client's end-to-end headers.
pub struct Forwarding<'a> {
    pub identity: Vec<(HeaderName, HeaderValue)>,
    /// `Some(token)` when `AUTHGATE_PROXY_PASS_TOKEN` is on and a valid token was presented.
    pub pass_token: Option<&'a str>,
    /// authgate's cookie names, removed from `Cookie`.
    pub cookie_names: [&'a str; 2],
    /// The TCP peer, and whether it is a trusted proxy whose `X-Forwarded-*` is believed.
    pub peer: Option<IpAddr>,
    pub peer_trusted: bool,
    /// `http` or `https`, as the client reached authgate.
    pub scheme: &'static str,
}

/// The header map for the upstream request. `Host`, the body framing headers and the
/// WebSocket handshake headers are left to the client that sends it.
pub fn upstream_request_headers(incoming: &HeaderMap, fwd: &Forwarding<'_>) -> HeaderMap {
    let listed = connection_listed(incoming);
    let mut out = HeaderMap::with_capacity(incoming.len() + 8);
    for (name, value) in incoming {
        let n = name.as_str();
        if is_hop_by_hop(name, &listed)
            || is_spoofable(name)
            || matches!(n, "host" | "content-length" | "expect" | "cookie")
            || n.starts_with("sec-websocket-")
        {
            continue;
        }
        if n == "authorization" && is_bearer(value) {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    // The names below were all filtered out above, so `append` (no lookup for an old value to
    // replace) is enough; callgrind showed `insert` at about twice its cost.
    if let Some(cookie) = strip_cookies(incoming, &fwd.cookie_names) {
        out.append(header::COOKIE, cookie);
    }
    if let Some(token) = fwd.pass_token {
        if let Ok(v) = HeaderValue::from_str(&format!("Bearer {token}")) {
            out.insert(header::AUTHORIZATION, v);
        }
    }
    for (name, value) in &fwd.identity {
        out.append(name.clone(), value.clone());
    }
    let believed = |name: &str| {
        if fwd.peer_trusted {
            incoming.get(name).and_then(|v| v.to_str().ok())
        } else {
            None
        }
    };
    let peer = fwd.peer.map(|ip| ip.to_string());
    let xff = match (believed("x-forwarded-for"), peer) {
        (Some(chain), Some(peer)) => Some(format!("{chain}, {peer}")),
        (None, Some(peer)) => Some(peer),
        (Some(chain), None) => Some(chain.to_owned()),
        (None, None) => None,
    };
    if let Some(v) = xff.and_then(|x| HeaderValue::from_str(&x).ok()) {
        out.append(HeaderName::from_static("x-forwarded-for"), v);
    }
    let proto = believed("x-forwarded-proto").unwrap_or(fwd.scheme);
    if let Ok(v) = HeaderValue::from_str(proto) {
        out.append(HeaderName::from_static("x-forwarded-proto"), v);
    }
    let host = believed("x-forwarded-host")
        .map(|h| HeaderValue::from_str(h).ok())
        .unwrap_or_else(|| incoming.get(header::HOST).cloned());
    if let Some(v) = host {
        out.append(HeaderName::from_static("x-forwarded-host"), v);
    }
    out
}

fn is_bearer(value: &HeaderValue) -> bool {
    value
        .as_bytes()
        .get(..7)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"bearer "))
}

/// The `Cookie` header without authgate's cookies; `None` when nothing is left.
fn strip_cookies(incoming: &HeaderMap, names: &[&str; 2]) -> Option<HeaderValue> {
    let kept: Vec<&str> = incoming
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|pair| {
            let name = pair.split('=').next().unwrap_or_default().trim();
            !pair.is_empty() && !names.contains(&name)
        })
        .collect();
    if kept.is_empty() {
        return None;
    }
    HeaderValue::from_str(&kept.join("; ")).ok()
}

/// The upstream response's headers without hop-by-hop ones and without `Content-Length`
/// (the body's size is set from it separately).
pub fn client_response_headers(
    upstream: &HeaderMap,
) -> impl Iterator<Item = (&HeaderName, &HeaderValue)> {
    let listed = connection_listed(upstream);
    upstream
        .iter()
        .filter(move |(name, _)| !is_hop_by_hop(name, &listed) && *name != header::CONTENT_LENGTH)
}

/// A WebSocket upgrade request (RFC 6455 §4.1).
pub fn is_websocket_upgrade(headers: &HeaderMap) -> bool {
    let upgrade = headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|p| p.trim().eq_ignore_ascii_case("websocket"))
        });
    upgrade && connection_listed(headers).iter().any(|n| n == "upgrade")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn get<'m>(h: &'m HeaderMap, name: &str) -> &'m str {
        h.get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("<missing>")
    }

    fn fwd<'a>(trusted: bool) -> Forwarding<'a> {
        Forwarding {
            identity: vec![(
                HeaderName::from_static("x-auth-user-id"),
                HeaderValue::from_static("real"),
            )],
            pass_token: None,
            cookie_names: ["access_token", "refresh_token"],
            peer: Some("203.0.113.9".parse().unwrap()),
            peer_trusted: trusted,
            scheme: "http",
        }
    }

    #[test]
    fn hop_by_hop_and_connection_listed_headers_are_dropped() {
        let h = map(&[
            ("connection", "keep-alive, x-secret-hop"),
            ("keep-alive", "timeout=5"),
            ("x-secret-hop", "1"),
            ("te", "trailers"),
            ("proxy-authorization", "Basic abc"),
            ("x-app", "kept"),
        ]);
        let out = upstream_request_headers(&h, &fwd(false));
        for gone in [
            "connection",
            "keep-alive",
            "x-secret-hop",
            "te",
            "proxy-authorization",
        ] {
            assert!(!out.contains_key(gone), "{gone}");
        }
        assert_eq!(get(&out, "x-app"), "kept");
    }

    #[test]
    fn identity_family_is_replaced_and_spoofs_vanish() {
        let h = map(&[
            ("X-Auth-User-Id", "spoofed"),
            ("x-auth-anything", "spoofed"),
            ("authorization", "Bearer abc.def"),
            ("cookie", "access_token=t; theme=dark; refresh_token=r"),
        ]);
        let out = upstream_request_headers(&h, &fwd(false));
        assert_eq!(out.get_all("x-auth-user-id").count(), 1);
        assert_eq!(get(&out, "x-auth-user-id"), "real");
        assert!(!out.contains_key("x-auth-anything"));
        assert!(!out.contains_key("authorization"));
        assert_eq!(get(&out, "cookie"), "theme=dark");
    }

    #[test]
    fn a_bearer_token_stays_with_authgate_but_other_credentials_reach_the_app() {
        let out =
            upstream_request_headers(&map(&[("authorization", "Basic YXBwOnB3")]), &fwd(false));
        assert_eq!(get(&out, "authorization"), "Basic YXBwOnB3");
        let out =
            upstream_request_headers(&map(&[("authorization", "bearer abc.def")]), &fwd(false));
        assert!(!out.contains_key("authorization"));
        let out = upstream_request_headers(&map(&[("x-app", "Bearer kept")]), &fwd(false));
        assert_eq!(
            get(&out, "x-app"),
            "Bearer kept",
            "only Authorization is read as a token"
        );
    }

    #[test]
    fn spoofable_headers_vanish_in_every_spelling() {
        let h = map(&[
            ("X_Auth_User_Id", "victim"),
            ("x_auth_aal", "aal2"),
            ("x-auth_session-id", "s"),
            ("X-Real-IP", "6.6.6.6"),
            ("x_real_ip", "6.6.6.6"),
            ("True-Client-IP", "6.6.6.6"),
            ("X-Original-URL", "/admin"),
            ("X-Rewrite-URL", "/admin"),
            ("x_original_url", "/admin"),
            ("Forwarded", "for=6.6.6.6;proto=https"),
            ("x-forwarded-prefix", "/evil"),
            ("x_forwarded_for", "6.6.6.6"),
            ("X-HTTP-Method-Override", "DELETE"),
            ("x-app_header", "kept"),
        ]);
        let out = upstream_request_headers(&h, &fwd(false));
        let mut names: Vec<&str> = out.keys().map(HeaderName::as_str).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "x-app_header",
                "x-auth-user-id",
                "x-forwarded-for",
                "x-forwarded-proto"
            ]
        );
        assert_eq!(get(&out, "x-auth-user-id"), "real");
        assert_eq!(get(&out, "x-forwarded-for"), "203.0.113.9");
    }

    #[test]
    fn forwarded_headers_believe_only_trusted_peers() {
        let h = map(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-proto", "https"),
            ("host", "app.example.com"),
        ]);
        let out = upstream_request_headers(&h, &fwd(false));
        assert_eq!(get(&out, "x-forwarded-for"), "203.0.113.9");
        assert_eq!(get(&out, "x-forwarded-proto"), "http");
        assert_eq!(get(&out, "x-forwarded-host"), "app.example.com");
        let out = upstream_request_headers(&h, &fwd(true));
        assert_eq!(get(&out, "x-forwarded-for"), "6.6.6.6, 203.0.113.9");
        assert_eq!(get(&out, "x-forwarded-proto"), "https");
    }

    #[test]
    fn upstream_responses_lose_hop_by_hop_headers_and_content_length() {
        let h = map(&[
            ("connection", "x-upstream-hop"),
            ("x-upstream-hop", "1"),
            ("keep-alive", "timeout=5"),
            ("transfer-encoding", "chunked"),
            ("content-length", "12"),
            ("set-cookie", "app=1"),
            ("x-app", "kept"),
        ]);
        let mut kept: Vec<&str> = client_response_headers(&h)
            .map(|(n, _)| n.as_str())
            .collect();
        kept.sort_unstable();
        assert_eq!(kept, ["set-cookie", "x-app"]);
    }

    #[test]
    fn websocket_upgrade_needs_both_headers() {
        assert!(is_websocket_upgrade(&map(&[
            ("connection", "keep-alive, Upgrade"),
            ("upgrade", "websocket")
        ])));
        assert!(!is_websocket_upgrade(&map(&[("upgrade", "websocket")])));
    }
}
