//! Who is calling: the client IP (through trusted proxies only) and the user agent, recorded on
//! sessions and audit events.

use std::net::IpAddr;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use ipnet::IpNet;

pub use crate::domain::ClientInfo;
use crate::state::AppState;

/// The client address: the TCP peer, unless the peer is a trusted proxy. Then `X-Forwarded-For`
/// (every such header, in order) is walked from the right: trusted hops are skipped and the first
/// address that is not a trusted proxy is the client. A hop that is not an address (`unknown`, an
/// obfuscated identifier, junk) ends the walk at the hop to its right, the last one a trusted
/// proxy vouched for: skipping it would let the client choose what stands left of it. A client
/// cannot spoof its address by sending its own header, because the trusted proxy appends the
/// real one to the right.
pub fn client_ip(req: &HttpRequest, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = req.peer_addr().map(|a| a.ip())?;
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        if trusted.is_empty() && req.headers().contains_key("x-forwarded-for") {
            warn_untrusted_forwarding(peer);
        }
        return Some(peer);
    }
    // A header line that is not text is read as one empty hop, which ends the walk, rather than
    // dropped: a proxy that appends its hop to the client's last line would lose that hop with
    // the client's junk, and the walk would reach what the client wrote on an earlier line.
    let hops: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .map(|v| v.to_str().unwrap_or(""))
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Some(ip) = parse_hop(hop) else {
            return Some(client);
        };
        client = ip;
        if !is_trusted(&ip) {
            return Some(ip);
        }
    }
    Some(client)
}

/// Once per process: a proxy is forwarding to authgate but none is trusted, so every client
/// behind it shares the proxy's address, and with it one per-IP budget. Refusing to start is not
/// possible (nothing shows a proxy before its first request); a client sending the header itself
/// triggers it too, which is why it is a warning and names only the peer.
fn warn_untrusted_forwarding(peer: IpAddr) {
    static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        tracing::warn!(
            %peer,
            "a request came through a proxy (X-Forwarded-For) but AUTHGATE_TRUSTED_PROXIES is \
             empty: every client behind it shares the proxy's address and its rate limits; set \
             AUTHGATE_TRUSTED_PROXIES to the proxy's address"
        );
    }
}

/// One `X-Forwarded-For` entry: a bare address, or exactly `ipv4:port`, `[ipv6]` or
/// `[ipv6]:port` (some proxies write those); anything else is not an address.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(sock) = hop.parse::<std::net::SocketAddr>() {
        return Some(sock.ip());
    }
    hop.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .and_then(|h| h.parse::<std::net::Ipv6Addr>().ok())
        .map(IpAddr::V6)
}

const MAX_USER_AGENT: usize = 512;

impl FromRequest for ClientInfo {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let trusted = req
            .app_data::<web::Data<AppState>>()
            .map(|s| s.settings.trusted_proxies.as_slice())
            .unwrap_or_default();
        let user_agent = req
            .headers()
            .get(actix_web::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(MAX_USER_AGENT).collect());
        std::future::ready(Ok(ClientInfo {
            ip: client_ip(req, trusted),
            user_agent,
            actor: None,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn req(peer: &str, xff: Option<&str>) -> HttpRequest {
        let mut r = TestRequest::default().peer_addr(format!("{peer}:1234").parse().unwrap());
        if let Some(x) = xff {
            r = r.insert_header(("x-forwarded-for", x));
        }
        r.to_http_request()
    }

    #[test]
    fn untrusted_peer_is_the_client_whatever_it_claims() {
        let ip = client_ip(&req("203.0.113.9", Some("1.2.3.4")), &[]);
        assert_eq!(ip, Some("203.0.113.9".parse().unwrap()));
    }

    #[test]
    fn a_hop_that_is_not_an_address_ends_the_walk() {
        let trusted = vec!["10.0.0.0/8".parse().unwrap()];
        for (xff, want) in [
            ("6.6.6.6, unknown", "10.0.0.2"),
            ("6.6.6.6, 203.0.113.5:4711x", "10.0.0.2"),
            ("6.6.6.6, _hidden", "10.0.0.2"),
            ("6.6.6.6, ", "10.0.0.2"),
            ("6.6.6.6, [2001:db8::5", "10.0.0.2"),
            ("6.6.6.6, 1.2.3.4:99999", "10.0.0.2"),
            ("6.6.6.6, junk, 10.0.0.7", "10.0.0.7"),
            ("6.6.6.6,,10.0.0.7", "10.0.0.7"),
        ] {
            let ip = client_ip(&req("10.0.0.2", Some(xff)), &trusted);
            assert_eq!(ip, Some(want.parse().unwrap()), "{xff}");
        }
    }

    #[test]
    fn hops_with_ports_or_brackets_are_read_exactly() {
        let trusted = vec!["10.0.0.0/8".parse().unwrap()];
        for (xff, want) in [
            ("6.6.6.6, 203.0.113.5:4711", "203.0.113.5"),
            ("6.6.6.6, [2001:db8::5]:443", "2001:db8::5"),
            ("6.6.6.6, [2001:db8::5]", "2001:db8::5"),
            ("6.6.6.6, 2001:db8::5", "2001:db8::5"),
            ("6.6.6.6, 10.0.0.9:80", "6.6.6.6"),
        ] {
            let ip = client_ip(&req("10.0.0.2", Some(xff)), &trusted);
            assert_eq!(ip, Some(want.parse().unwrap()), "{xff}");
        }
    }

    #[test]
    fn every_hop_trusted_leaves_the_leftmost_and_several_headers_read_in_order() {
        let trusted = vec!["10.0.0.0/8".parse().unwrap()];
        let ip = client_ip(&req("10.0.0.2", Some("10.0.0.5, 10.0.0.4")), &trusted);
        assert_eq!(ip, Some("10.0.0.5".parse().unwrap()));
        let r = TestRequest::default()
            .peer_addr("10.0.0.2:1234".parse().unwrap())
            .append_header(("x-forwarded-for", "198.51.100.1"))
            .append_header(("x-forwarded-for", "10.0.0.3"))
            .to_http_request();
        assert_eq!(
            client_ip(&r, &trusted),
            Some("198.51.100.1".parse().unwrap())
        );
        let ip = client_ip(&req("10.0.0.2", None), &trusted);
        assert_eq!(ip, Some("10.0.0.2".parse().unwrap()), "no header: the peer");
    }

    #[test]
    fn a_header_line_that_is_not_text_ends_the_walk_instead_of_being_dropped() {
        let trusted = vec!["10.0.0.0/8".parse().unwrap()];
        let spoof = TestRequest::default()
            .peer_addr("10.0.0.2:1234".parse().unwrap())
            .append_header(("x-forwarded-for", "6.6.6.6"))
            .append_header((
                "x-forwarded-for",
                actix_web::http::header::HeaderValue::from_bytes(b"\xff, 198.51.100.7").unwrap(),
            ))
            .to_http_request();
        assert_eq!(
            client_ip(&spoof, &trusted),
            Some("10.0.0.2".parse().unwrap()),
            "the earlier line is never reached"
        );
    }

    #[test]
    fn trusted_proxy_hops_are_skipped_from_the_right() {
        let trusted = vec!["10.0.0.0/8".parse().unwrap()];
        let ip = client_ip(
            &req("10.0.0.2", Some("6.6.6.6, 198.51.100.7, 10.0.0.1")),
            &trusted,
        );
        assert_eq!(
            ip,
            Some("198.51.100.7".parse().unwrap()),
            "the spoofed leftmost entry is ignored"
        );
    }
}
