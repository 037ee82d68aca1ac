//! One canonical request path, computed once per request before anything looks at the path.
//!
//! The router, the rate limits, the CSRF rule, the response hygiene, the metrics labels and the
//! proxy's path rules all read `req.path()`; this middleware rewrites the request URI first, so
//! they all read the same spelling, and in proxy mode the upstream receives exactly the path the
//! decision was made on. The canonical form:
//! - percent-escapes of unreserved characters (`A-Z a-z 0-9 - . _ ~`) decoded (`sign%69n` is
//!   `signin`), every other escape kept with upper-case hex (`%3b` is `%3B`);
//! - dot segments resolved (`/a/./b/../c` is `/a/c`; `%2e` counts as a dot), never above `/`;
//! - repeated slashes merged;
//! - a trailing slash trimmed on authgate's own paths (their routes answer with or without it)
//!   and kept on proxied ones (an upstream may tell `/dir/` from `/dir`).
//!
//! Refused with 400 `invalid_path`, because some server behind or beside authgate would read
//! them as another path: an encoded `/` or `\`, a raw `\`, an encoded NUL, a double-encoded
//! escape (`%252e`), a malformed escape, a dot segment carrying `;` parameters (`..;` is `..` to
//! Tomcat, Jetty and Spring), and any `;` parameter on authgate's own paths.

use std::borrow::Cow;

use super::rules::is_own_path;

/// Why a path has no safe canonical form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    EncodedSeparator,
    Backslash,
    Nul,
    DoubleEncoded,
    MalformedEscape,
    DotWithParameters,
    Parameters,
}

impl Refusal {
    pub fn message(self) -> &'static str {
        match self {
            Self::EncodedSeparator => "the path contains an encoded / or \\",
            Self::Backslash => "the path contains a backslash",
            Self::Nul => "the path contains an encoded NUL",
            Self::DoubleEncoded => "the path contains a double-encoded escape",
            Self::MalformedEscape => "the path contains a malformed percent-escape",
            Self::DotWithParameters => "the path contains a dot segment with ; parameters",
            Self::Parameters => "; parameters are not accepted on this path",
        }
    }
}

/// The canonical form of `raw` with its trailing slash kept (see the module comment), borrowed
/// when `raw` is canonical already, which almost every request's path is.
pub fn canonical(raw: &str) -> Result<Cow<'_, str>, Refusal> {
    if is_canonical(raw) {
        return Ok(Cow::Borrowed(raw));
    }
    rebuild(raw)
}

/// The slow path of [`canonical`]: every segment decoded and checked.
fn rebuild(raw: &str) -> Result<Cow<'_, str>, Refusal> {
    let Some(rest) = raw.strip_prefix('/') else {
        // `*` (OPTIONS) and the like: no path to decide on, and nothing routes them.
        return Ok(Cow::Borrowed(raw));
    };
    let mut out = String::with_capacity(raw.len());
    // Where each kept segment's leading `/` sits in `out`, for `..`.
    let mut starts: Vec<usize> = Vec::new();
    let mut trailing = false;
    for segment in rest.split('/') {
        let start = out.len();
        out.push('/');
        decode_into(segment, &mut out)?;
        if has_escaped_escape(&out[start + 1..]) {
            // `%25` then `%34%31`: decoding made `%2541`, which a second decoding reads as `A`.
            return Err(Refusal::DoubleEncoded);
        }
        match &out[start + 1..] {
            "" | "." => {
                out.truncate(start);
                trailing = true;
            }
            ".." => {
                out.truncate(start);
                if let Some(previous) = starts.pop() {
                    out.truncate(previous);
                }
                trailing = true;
            }
            kept => {
                if matches!(kept.split(';').next(), Some("." | "..")) {
                    return Err(Refusal::DotWithParameters);
                }
                starts.push(start);
                trailing = false;
            }
        }
    }
    if trailing || out.is_empty() {
        out.push('/');
    }
    Ok(if out == raw {
        Cow::Borrowed(raw)
    } else {
        Cow::Owned(out)
    })
}

/// The cheap check that lets most paths through without a copy: nothing to decode, no
/// backslash, no parameters, no empty or dot segment.
fn is_canonical(raw: &str) -> bool {
    let b = raw.as_bytes();
    if b.first() != Some(&b'/') {
        return false;
    }
    if b.iter().any(|&c| matches!(c, b'%' | b'\\' | b';')) {
        return false;
    }
    // Every segment after a `/` is non-empty and not `.` or `..`, but for the empty one a
    // trailing slash leaves (the common `/api/v1/auth/verify/`).
    let segments = raw[1..].trim_end_matches('/');
    if segments.is_empty() {
        return raw == "/";
    }
    raw.len() - 1 - segments.len() <= 1
        && segments
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != "..")
}

fn is_unreserved(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~')
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Whether `decoded` holds an encoded `%` followed by two hex digits.
fn has_escaped_escape(decoded: &str) -> bool {
    decoded
        .as_bytes()
        .windows(5)
        .any(|w| w[..3] == *b"%25" && hex(w[3]).is_some() && hex(w[4]).is_some())
}

/// Appends one path segment with its unreserved escapes decoded and the rest upper-cased.
fn decode_into(segment: &str, out: &mut String) -> Result<(), Refusal> {
    let b = segment.as_bytes();
    let mut plain = 0;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => return Err(Refusal::Backslash),
            b'%' => {
                out.push_str(&segment[plain..i]);
                let (Some(hi), Some(lo)) = (
                    b.get(i + 1).copied().and_then(hex),
                    b.get(i + 2).copied().and_then(hex),
                ) else {
                    return Err(Refusal::MalformedEscape);
                };
                let byte = hi << 4 | lo;
                match byte {
                    b'/' | b'\\' => return Err(Refusal::EncodedSeparator),
                    0 => return Err(Refusal::Nul),
                    b'%' if b.get(i + 3).copied().and_then(hex).is_some()
                        && b.get(i + 4).copied().and_then(hex).is_some() =>
                    {
                        return Err(Refusal::DoubleEncoded)
                    }
                    c if is_unreserved(c) => out.push(char::from(c)),
                    c => {
                        const HEX: &[u8; 16] = b"0123456789ABCDEF";
                        out.push('%');
                        out.push(char::from(HEX[usize::from(c >> 4)]));
                        out.push(char::from(HEX[usize::from(c & 0xf)]));
                    }
                }
                i += 3;
                plain = i;
            }
            _ => i += 1,
        }
    }
    out.push_str(&segment[plain..]);
    Ok(())
}

/// `path` without `;` parameters in its segments, dot segments resolved again: how Tomcat, Jetty
/// and Spring read it. `None` when `path` has no parameters, so it reads the same everywhere.
pub fn without_parameters(path: &str) -> Option<String> {
    if !path.contains(';') {
        return None;
    }
    let stripped: Vec<&str> = path
        .split('/')
        .map(|s| s.split(';').next().unwrap_or_default())
        .collect();
    let joined = stripped.join("/");
    Some(
        canonical(&joined)
            .map(Cow::into_owned)
            .unwrap_or_else(|_| "/".to_owned()),
    )
}

/// The trailing slash trimmed, as authgate's own routes are registered.
pub fn trim_trailing(path: &str) -> &str {
    match path.trim_end_matches('/') {
        "" => "/",
        trimmed => trimmed,
    }
}

/// The path every layer will see: `Ok(None)` when `raw` is that path already. authgate's own
/// paths (every path when proxy mode is off) lose their trailing slash and may carry no `;`.
pub fn decide(raw: &str, proxy_mode: bool) -> Result<Option<String>, Refusal> {
    let path = canonical(raw)?;
    let own = !proxy_mode
        || is_own_path(trim_trailing(&path))
        || without_parameters(&path).is_some_and(|p| is_own_path(trim_trailing(&p)));
    if own && path.contains(';') {
        return Err(Refusal::Parameters);
    }
    let path = if own {
        match path {
            Cow::Borrowed(p) => Cow::Borrowed(trim_trailing(p)),
            Cow::Owned(p) => Cow::Owned(trim_trailing(&p).to_owned()),
        }
    } else {
        path
    };
    Ok((path != raw).then(|| path.into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(raw: &str) -> Result<String, Refusal> {
        canonical(raw).map(Cow::into_owned)
    }

    #[test]
    fn canonical_paths_are_borrowed_unchanged() {
        for p in [
            "/",
            "/api/v1/auth/signin",
            "/a/b.c/d..e/~x_y-z",
            "/ü",
            "/a/b/",
        ] {
            assert!(
                matches!(canonical(p), Ok(Cow::Borrowed(b)) if b == p),
                "{p}"
            );
        }
    }

    #[test]
    fn the_fast_path_takes_plain_paths_and_nothing_the_slow_path_would_change() {
        for p in [
            "/",
            "/api/v1/auth/verify/",
            "/api/v1/auth/verify",
            "/a/b.c/~d",
        ] {
            assert!(is_canonical(p), "{p} should skip the rebuild");
        }
        for p in [
            "", "*", "//", "/a//", "/a//b", "//a", "/a/./", "/./", "/.", "/..", "/a/..", "/a/../",
            "/a/.", "/a%41", "/a;b", "/a\\b", "/a/b//", "/a///",
        ] {
            let changed = rebuild(p).map_or(true, |c| c != p);
            assert!(
                !(is_canonical(p) && changed),
                "the fast path accepted {p:?}"
            );
            if p.starts_with('/') && changed {
                assert!(!is_canonical(p), "{p}");
            }
        }
    }

    #[test]
    fn the_canonical_form_is_a_fixed_point() {
        // Pseudo-random paths over the characters that matter; whatever is accepted must come
        // out as a path that is canonical already (so no layer can read it another way).
        const ALPHABET: &[u8] = b"%%%25412eEfF./;a\\";
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..200_000 {
            let mut raw = String::from("/");
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let len = (seed >> 60) as usize + 1;
            for k in 0..len {
                let pick = (seed >> (k * 4 % 56)) as usize % ALPHABET.len();
                raw.push(char::from(ALPHABET[pick]));
            }
            if let Ok(once) = canonical(&raw) {
                let twice = canonical(&once);
                assert_eq!(twice.as_deref(), Ok(once.as_ref()), "{raw:?}");
            }
        }
    }

    #[test]
    fn refusals_say_why() {
        assert!(Refusal::EncodedSeparator.message().contains("encoded /"));
        assert!(Refusal::Parameters.message().contains(';'));
        assert!(Refusal::DoubleEncoded.message().contains("double-encoded"));
    }

    #[test]
    fn unreserved_escapes_are_decoded_in_any_case_and_others_upper_cased() {
        assert_eq!(c("/api/v1/auth/sign%69n").unwrap(), "/api/v1/auth/signin");
        assert_eq!(c("/%61pi/v1/auth/signin").unwrap(), "/api/v1/auth/signin");
        assert_eq!(c("/custom-l%6Fgout").unwrap(), "/custom-logout");
        assert_eq!(c("/a%7eb%5F%2D%2e").unwrap(), "/a~b_-.");
        assert_eq!(c("/a%3bb%3F%20%c3%bc").unwrap(), "/a%3Bb%3F%20%C3%BC");
        assert_eq!(c("/a%25").unwrap(), "/a%25");
        // A literal percent sign followed by one hex digit is not a double encoding.
        assert_eq!(c("/100%25a").unwrap(), "/100%25a");
        assert_eq!(c("/x%25ag").unwrap(), "/x%25ag");
        assert_eq!(c("/x%25%41").unwrap(), "/x%25A");
        assert_eq!(c("/x%25%34%31"), Err(Refusal::DoubleEncoded));
    }

    #[test]
    fn dot_segments_and_doubled_slashes_resolve() {
        for (raw, want) in [
            ("/admin/./users", "/admin/users"),
            ("/admin/%2e/users", "/admin/users"),
            ("/admin/%2E/users", "/admin/users"),
            ("/x/../admin/users", "/admin/users"),
            ("/x/%2e%2e/admin/users", "/admin/users"),
            ("/x/.%2E/admin/users", "/admin/users"),
            ("//admin/users", "/admin/users"),
            ("/admin//users///", "/admin/users/"),
            ("/../../etc/passwd", "/etc/passwd"),
            ("/a/b/..", "/a/"),
            ("/a/.", "/a/"),
            ("/..", "/"),
            ("//", "/"),
            ("/public/../data", "/data"),
        ] {
            assert_eq!(c(raw).unwrap(), want, "{raw}");
        }
    }

    #[test]
    fn spellings_that_cannot_be_normalised_safely_are_refused() {
        for (raw, why) in [
            ("/a%2fb", Refusal::EncodedSeparator),
            ("/a%2F..%2Fadmin", Refusal::EncodedSeparator),
            ("/a%5cb", Refusal::EncodedSeparator),
            ("/a\\..\\admin", Refusal::Backslash),
            ("/a%00b", Refusal::Nul),
            ("/a/%252e%252e/admin", Refusal::DoubleEncoded),
            ("/a/%252F", Refusal::DoubleEncoded),
            ("/a%2", Refusal::MalformedEscape),
            ("/a%zz", Refusal::MalformedEscape),
            ("/public/..;/data", Refusal::DotWithParameters),
            ("/public/.;x=1/data", Refusal::DotWithParameters),
            ("/public/%2e%2e;/data", Refusal::DotWithParameters),
        ] {
            assert_eq!(c(raw), Err(why), "{raw}");
        }
    }

    #[test]
    fn own_paths_lose_the_trailing_slash_and_refuse_parameters() {
        assert_eq!(
            decide("/api/v1/auth/sign%69n/", false).unwrap().as_deref(),
            Some("/api/v1/auth/signin")
        );
        assert_eq!(decide("/api/v1/auth/signin", false).unwrap(), None);
        assert_eq!(decide("/", false).unwrap(), None);
        assert_eq!(
            decide("/api/v1/auth/signin;x=1", false),
            Err(Refusal::Parameters)
        );
        assert_eq!(
            decide("/api;x/v1/auth/signin", true),
            Err(Refusal::Parameters)
        );
        assert_eq!(decide("/page;x=1", false), Err(Refusal::Parameters));
        // Proxied paths keep their trailing slash, and their parameters (rules read both).
        assert_eq!(decide("/dash/", true).unwrap(), None);
        assert_eq!(
            decide("/dash//x/./", true).unwrap().as_deref(),
            Some("/dash/x/")
        );
        assert_eq!(decide("/products;id=3", true).unwrap(), None);
        assert_eq!(
            decide("/api/v1/auth/user/", true).unwrap().as_deref(),
            Some("/api/v1/auth/user")
        );
    }

    #[test]
    fn parameters_are_stripped_the_way_java_servers_read_them() {
        assert_eq!(
            without_parameters("/admin;x=1/users").as_deref(),
            Some("/admin/users")
        );
        assert_eq!(without_parameters("/a;b/../c").as_deref(), Some("/c"));
        assert_eq!(without_parameters("/plain"), None);
    }
}
