//! `AUTHGATE_REDIRECT_URLS`: where a browser may be sent back to after a provider sign-in. Each
//! rule is an absolute http(s) URL, matched exactly, or ending in `*`, matched as a prefix of the
//! path and query on the same origin (scheme, host and port always match whole: `https://app.example.com*`
//! never matches `https://app.example.com.evil.example`).
//!
//! A candidate is parsed once (dot segments and percent-encoded dots resolved, backslashes read
//! as a browser reads them), checked in that form, and that same form is where the browser goes:
//! the decision and the redirect are made on one spelling.

use url::Url;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectRule {
    /// `scheme://host[:port]`, as [`Url::origin`] serialises it.
    origin: String,
    /// The path (and query) the candidate's must equal, or start with for a prefix rule.
    rest: String,
    prefix: bool,
}

impl RedirectRule {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let (text, prefix) = match raw.strip_suffix('*') {
            Some(t) => (t, true),
            None => (raw, false),
        };
        let url = Url::parse(text).map_err(|e| format!("`{raw}` is not an absolute URL ({e})"))?;
        if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
            return Err(format!("`{raw}` is not an http(s) URL"));
        }
        if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
            return Err(format!("`{raw}` must not hold credentials or a fragment"));
        }
        let origin = url.origin().ascii_serialization();
        // What follows the origin in the rule as written: a prefix rule that ends at the host
        // (`https://app.example.com*`) allows every path; the parsed form adds a `/`.
        let after_origin = text
            .split_once("://")
            .and_then(|(_, r)| r.find('/').map(|i| &r[i..]))
            .unwrap_or("");
        let rest = if prefix && after_origin.is_empty() {
            String::new()
        } else {
            path_and_query(&url)
        };
        Ok(Self {
            origin,
            rest,
            prefix,
        })
    }

    fn allows(&self, url: &Url) -> bool {
        if url.origin().ascii_serialization() != self.origin {
            return false;
        }
        let candidate = path_and_query(url);
        if self.prefix {
            candidate.starts_with(&self.rest)
        } else {
            candidate == self.rest
        }
    }

    /// Where a flow started without `return_to` goes: the rule itself (its prefix, for a
    /// prefix rule).
    pub fn default_target(&self) -> String {
        if self.rest.is_empty() {
            format!("{}/", self.origin)
        } else {
            format!("{}{}", self.origin, self.rest)
        }
    }
}

fn path_and_query(url: &Url) -> String {
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    }
}

/// `AUTHGATE_REDIRECT_URLS`, comma-separated.
pub fn redirect_rules(raw: &str) -> Result<Vec<RedirectRule>, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(RedirectRule::parse)
        .collect()
}

/// A `return_to` the rules allow, in the one form that was checked and is redirected to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnTo(Url);

impl ReturnTo {
    /// `None` for anything the rules do not allow, or anything that is not an absolute http(s) URL.
    pub fn parse(raw: &str, rules: &[RedirectRule]) -> Option<Self> {
        if raw.len() > 2048 || raw.chars().any(char::is_control) {
            return None;
        }
        let url = Url::parse(raw).ok()?;
        if !matches!(url.scheme(), "https" | "http")
            || !url.username().is_empty()
            || url.password().is_some()
        {
            return None;
        }
        rules.iter().any(|r| r.allows(&url)).then_some(Self(url))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The URL with `error=<code>` added to its query, for a flow that failed.
    pub fn with_error(&self, code: &str) -> String {
        let mut url = self.0.clone();
        url.query_pairs_mut().append_pair("error", code);
        url.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(rules: &str, candidate: &str) -> Option<String> {
        ReturnTo::parse(candidate, &redirect_rules(rules).unwrap()).map(|r| r.as_str().to_owned())
    }

    #[test]
    fn exact_rules_match_only_themselves() {
        let rules = "https://app.example.com/signed-in";
        assert!(allowed(rules, "https://app.example.com/signed-in").is_some());
        for bad in [
            "https://app.example.com/signed-in/x",
            "https://app.example.com/signed-in?x=1",
            "http://app.example.com/signed-in",
            "https://app.example.com:8443/signed-in",
            "https://evil.example/signed-in",
            "/signed-in",
            "//evil.example/signed-in",
            "javascript:alert(1)",
        ] {
            assert_eq!(allowed(rules, bad), None, "{bad}");
        }
    }

    #[test]
    fn a_prefix_never_crosses_the_host_boundary() {
        let rules = "https://app.example.com*";
        assert!(allowed(rules, "https://app.example.com/any/page?x=1").is_some());
        for bad in [
            "https://app.example.com.evil.example/",
            "https://app.example.com@evil.example/",
            "https://user:pw@app.example.com/",
            "https://app.example.com:444/",
            "https://evil.example/?https://app.example.com",
        ] {
            assert_eq!(allowed(rules, bad), None, "{bad}");
        }
    }

    #[test]
    fn paths_are_checked_in_the_form_the_browser_goes_to() {
        let rules = "https://app.example.com/app/*";
        assert_eq!(
            allowed(rules, "https://app.example.com/app/x/../y").as_deref(),
            Some("https://app.example.com/app/y")
        );
        for bad in [
            "https://app.example.com/app/../admin",
            "https://app.example.com/app/%2e%2e/admin",
            "https://app.example.com/app/..%2fadmin/../../admin",
            "https://app.example.com/app\\..\\..\\admin",
            "https://app.example.com/other",
            "https://app.example.com/app",
            "https://app.example.com/app/\n",
        ] {
            let got = allowed(rules, bad);
            assert!(
                got.as_deref()
                    .is_none_or(|u| u.starts_with("https://app.example.com/app/")),
                "{bad} -> {got:?}"
            );
        }
        assert_eq!(allowed(rules, "https://app.example.com/app/../admin"), None);
    }

    #[test]
    fn errors_are_added_to_the_query() {
        let r = ReturnTo::parse(
            "https://app.example.com/cb?tab=1",
            &redirect_rules("https://app.example.com/*").unwrap(),
        )
        .unwrap();
        assert_eq!(
            r.with_error("access_denied"),
            "https://app.example.com/cb?tab=1&error=access_denied"
        );
    }

    #[test]
    fn rules_must_be_absolute_urls() {
        assert!(redirect_rules("/relative").is_err());
        assert!(redirect_rules("ftp://x.example/").is_err());
        assert!(redirect_rules("https://u:p@x.example/").is_err());
        assert_eq!(
            redirect_rules("https://a.example*").unwrap()[0].default_target(),
            "https://a.example/"
        );
    }
}
