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
    pub fn parse(raw: &str) -> Result<Self, String> {
        if !raw.starts_with('/') {
            return Err(format!("path pattern {raw:?} must start with /"));
        }
        match raw.strip_suffix('*') {
            Some(prefix) if !prefix.contains('*') => Ok(Self::Prefix(prefix.to_owned())),
            None if !raw.contains('*') => Ok(Self::Exact(raw.to_owned())),
            _ => Err(format!(
                "path pattern {raw:?}: `*` is allowed only at the end"
            )),
        }
    }

    pub fn matches(&self, path: &str) -> bool {
        match self {
            Self::Exact(p) => path == p,
            Self::Prefix(p) => path.starts_with(p.as_str()),
        }
    }
}

/// Whether `path` (the raw request path) is matched by one of `patterns`. A path an upstream
/// could read differently from us (dot segments, encoded slashes or dots, backslashes) matches
/// nothing, so `/assets/../admin` can never ride on `/assets/*`.
pub fn matches_any(patterns: &[PathPattern], path: &str) -> bool {
    !patterns.is_empty() && is_plain(path) && patterns.iter().any(|p| p.matches(path))
}

fn is_plain(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    !(lower.contains("%2e")
        || lower.contains("%2f")
        || lower.contains("%5c")
        || lower.contains('\\')
        || path
            .split('/')
            .any(|segment| segment == "." || segment == ".."))
}

/// authgate's own paths (DESIGN §10); never forwarded, whatever the mode. `path` is the
/// normalised path the router saw.
pub fn is_own_path(path: &str) -> bool {
    const PREFIXES: &[&str] = &["/api/v1/auth", "/.well-known"];
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
        assert!(matches_any(&p, "/"));
        assert!(matches_any(&p, "/assets/app.js"));
        assert!(matches_any(&p, "/assets/"));
        assert!(!matches_any(&p, "/assets"));
        assert!(!matches_any(&p, "/dashboard"));
        assert!(!matches_any(&[], "/"));
        assert!(PathPattern::parse("assets/*").is_err());
        assert!(PathPattern::parse("/a*/b").is_err());
    }

    #[test]
    fn paths_an_upstream_could_resolve_elsewhere_are_never_public() {
        let p = pats(&["/assets/*"]);
        for path in [
            "/assets/../admin",
            "/assets/./x",
            "/assets/%2e%2e/admin",
            "/assets/%2E%2E/admin",
            "/assets/..%2fadmin",
            "/assets/..\\admin",
            "/assets/%5c..%5cadmin",
        ] {
            assert!(!matches_any(&p, path), "{path}");
        }
        assert!(matches_any(&p, "/assets/a..b.js"));
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
