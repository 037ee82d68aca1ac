//! Proxy-mode decisions that need no I/O: which paths are authgate's own, which pass without a
//! token, whether a client wants HTML, and where a browser is sent to sign in.

/// One entry of `AUTHGATE_PUBLIC_PATHS` (or a requirement list): an exact path, or a prefix when
/// written with a trailing `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathPattern {
    Exact(String),
    Prefix(String),
}

impl PathPattern {
    /// Patterns are written in the canonical form requests are matched in (see
    /// `super::canonical`), so a pattern can never name a spelling no request arrives in.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if !raw.starts_with('/') {
            return Err(format!("path pattern {raw:?} must start with /"));
        }
        let pattern = match raw.strip_suffix('*') {
            Some(prefix) if !prefix.contains('*') => Self::Prefix(prefix.to_owned()),
            None if !raw.contains('*') => Self::Exact(raw.to_owned()),
            _ => {
                return Err(format!(
                    "path pattern {raw:?}: `*` is allowed only at the end"
                ))
            }
        };
        let path = match &pattern {
            Self::Exact(p) | Self::Prefix(p) => p,
        };
        match super::canonical::canonical(path) {
            Ok(c) if c == path.as_str() && !path.contains(';') => Ok(pattern),
            _ => Err(format!(
                "path pattern {raw:?} is not in canonical form (no dot segments, doubled \
                 slashes, ; parameters or escapes of letters, digits and -._~)"
            )),
        }
    }

    /// `broad` is how requirement rules match: in any letter case, and `/admin/*` covering
    /// `/admin` too (most servers answer it with the same area's index). Public rules match
    /// exactly as written.
    fn matches(&self, path: &str, broad: bool) -> bool {
        let eq = |a: &str, b: &str| {
            if broad {
                a.eq_ignore_ascii_case(b)
            } else {
                a == b
            }
        };
        match self {
            Self::Exact(p) => eq(path, p),
            Self::Prefix(p) => {
                path.get(..p.len()).is_some_and(|head| eq(head, p))
                    || (broad && p.strip_suffix('/').is_some_and(|dir| eq(path, dir)))
            }
        }
    }
}

/// Whether `path` (canonical, see `super::canonical`) is public under `patterns`: in the
/// letter case written, and in every reading of it (with its `;` parameters stripped too, as a
/// Java server behind the proxy would read it).
pub fn is_public(patterns: &[PathPattern], path: &str) -> bool {
    let public = |p: &str| patterns.iter().any(|pattern| pattern.matches(p, false));
    !patterns.is_empty()
        && public(path)
        && super::canonical::without_parameters(path).is_none_or(|p| public(&p))
}

/// Whether a requirement rule applies to `path` (canonical): in any letter case (an upstream
/// may be case-insensitive) and in any reading of it. Requirements err on the side of applying.
pub fn is_required(patterns: &[PathPattern], path: &str) -> bool {
    let applies = |p: &str| patterns.iter().any(|pattern| pattern.matches(p, true));
    !patterns.is_empty()
        && (applies(path)
            || super::canonical::without_parameters(path).is_some_and(|p| applies(&p)))
}

/// authgate's own paths; never forwarded, whatever the mode. `path` is the
/// normalised path the router saw.
pub fn is_own_path(path: &str) -> bool {
    const PREFIXES: &[&str] = &["/api/v1/auth", "/api/v1/admin", "/.well-known"];
    const EXACT: &[&str] = &["/healthz", "/readyz", "/metrics", "/openapi.yml"];
    PREFIXES
        .iter()
        .any(|p| path == *p || path.strip_prefix(p).is_some_and(|r| r.starts_with('/')))
        || EXACT
            .iter()
            .any(|p| path == *p || path.strip_prefix(p) == Some("/"))
}

/// Whether an `Accept` header prefers an HTML page to JSON: some HTML type is acceptable and
/// ranks above `application/json` (a bare `*/*` counts for neither).
pub fn prefers_html(accept: &str) -> bool {
    let (mut html, mut json) = (0.0_f32, 0.0_f32);
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let mime = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        match mime.as_str() {
            "text/html" | "application/xhtml+xml" => html = html.max(q),
            "application/json" => json = json.max(q),
            _ => {}
        }
    }
    html > 0.0 && html > json
}

/// `login_url?return_to=<public_url + path_and_query>`, the inner URL percent-encoded. Built from
/// the request's path only, so `return_to` always names a page of the service's own origin.
pub fn login_redirect(login_url: &str, public_url: &str, path_and_query: &str) -> String {
    let path = if path_and_query.starts_with('/') {
        path_and_query.to_owned()
    } else {
        format!("/{path_and_query}")
    };
    let return_to = format!("{public_url}{path}");
    let sep = if login_url.contains('?') { '&' } else { '?' };
    format!("{login_url}{sep}return_to={}", percent_encode(&return_to))
}

/// RFC 3986 query-component encoding: everything but unreserved characters.
fn percent_encode(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len() * 3);
    for b in raw.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pats(list: &[&str]) -> Vec<PathPattern> {
        list.iter()
            .map(|p| PathPattern::parse(p).unwrap())
            .collect()
    }

    #[test]
    fn patterns_are_exact_or_trailing_prefix() {
        let p = pats(&["/", "/assets/*"]);
        assert!(is_public(&p, "/"));
        assert!(is_public(&p, "/assets/app.js"));
        assert!(is_public(&p, "/assets/"));
        assert!(!is_public(&p, "/assets"), "public rules match as written");
        assert!(!is_public(&p, "/assetsx"));
        assert!(!is_public(&p, "/dashboard"));
        assert!(!is_public(&[], "/"));
        assert!(PathPattern::parse("assets/*").is_err());
        assert!(PathPattern::parse("/a*/b").is_err());
        assert!(
            PathPattern::parse("/a*/*").is_err(),
            "one wildcard, at the end"
        );
    }

    #[test]
    fn patterns_must_be_canonical() {
        for bad in [
            "/a/../b",
            "/a//b/*",
            "/a/./*",
            "/%61dmin/*",
            "/a;x/*",
            "/a%2fb",
        ] {
            assert!(PathPattern::parse(bad).is_err(), "{bad}");
        }
        assert!(PathPattern::parse("/files/a%20b/*").is_ok());
    }

    #[test]
    fn public_means_public_in_every_reading_and_the_written_case() {
        let p = pats(&["/public/*"]);
        assert!(is_public(&p, "/public/a;jsessionid=1"));
        assert!(
            !is_public(&p, "/public;x/../data"),
            "a Java server reads /data"
        );
        assert!(!is_public(&p, "/PUBLIC/a"));
    }

    #[test]
    fn requirements_apply_in_any_case_and_any_reading() {
        let p = pats(&["/admin/*"]);
        for path in [
            "/admin/users",
            "/admin",
            "/ADMIN/users",
            "/Admin/",
            "/admin;x=1/users",
        ] {
            assert!(is_required(&p, path), "{path}");
        }
        for path in ["/administrator", "/x/admin/users", "/"] {
            assert!(!is_required(&p, path), "{path}");
        }
        assert!(!is_required(&[], "/admin/x"));
    }

    #[test]
    fn own_paths_stay_authgates() {
        for p in [
            "/api/v1/auth",
            "/api/v1/auth/signin",
            "/api/v1/auth/nope",
            "/.well-known/jwks.json",
            "/healthz",
            "/readyz",
            "/metrics",
            "/openapi.yml",
        ] {
            assert!(is_own_path(p), "{p}");
        }
        for p in [
            "/",
            "/api/v1/authx",
            "/api/v2/things",
            "/healthzz",
            "/metrics2",
        ] {
            assert!(!is_own_path(p), "{p}");
        }
    }

    #[test]
    fn browsers_prefer_html_and_api_clients_do_not() {
        assert!(prefers_html(
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        ));
        assert!(!prefers_html("*/*"));
        assert!(!prefers_html("application/json"));
        assert!(!prefers_html("application/json, text/html;q=0.5"));
        assert!(!prefers_html("text/html;q=0"));
        assert!(prefers_html("application/json;q=0.5, text/html"));
        assert!(
            !prefers_html("text/html, application/json"),
            "a tie goes to JSON: an API client listing both gets the 401, not a redirect"
        );
    }

    #[test]
    fn return_to_is_always_on_the_own_origin() {
        let to = login_redirect(
            "https://app.example.com/login",
            "https://app.example.com",
            "/dash/?a=1&return_to=https://evil.example",
        );
        assert_eq!(
            to,
            "https://app.example.com/login?return_to=https%3A%2F%2Fapp.example.com%2Fdash%2F%3Fa%3D1%26return_to%3Dhttps%3A%2F%2Fevil.example"
        );
        let to = login_redirect("/login?x=1", "https://app.example.com", "//evil.example/x");
        assert_eq!(
            to,
            "/login?x=1&return_to=https%3A%2F%2Fapp.example.com%2F%2Fevil.example%2Fx"
        );
    }
}
