//! The identity headers (`X-Auth-*`) that `verify/` answers with and the proxy passes on to the
//! upstream: one list, so both say the same.

use actix_web::http::header::{HeaderName, HeaderValue};

use crate::tokens::AccessClaims;

pub const USER_ID: &str = "x-auth-user-id";
pub const USER_EMAIL: &str = "x-auth-user-email";
pub const EMAIL_VERIFIED: &str = "x-auth-email-verified";
pub const SESSION_ID: &str = "x-auth-session-id";
pub const AAL: &str = "x-auth-aal";
/// The token's roles, comma-separated (empty when it has none).
pub const ROLES: &str = "x-auth-roles";
/// Sent to `verify/` by a proxy location that needs roles (comma-separated); not an identity
/// header.
pub const REQUIRE_ROLE: &str = "x-auth-require-role";

/// The identity headers a proxy passes on to the upstream.
pub fn identity_headers(claims: &AccessClaims) -> Vec<(HeaderName, HeaderValue)> {
    let mut out = Vec::with_capacity(NAMES.len());
    each_identity_header(claims, |name, value| out.push((name, value)));
    out
}

/// Names built at compile time: `HeaderName::from_static` at run time parses the name again.
const NAMES: [HeaderName; 6] = [
    HeaderName::from_static(USER_ID),
    HeaderName::from_static(USER_EMAIL),
    HeaderName::from_static(EMAIL_VERIFIED),
    HeaderName::from_static(SESSION_ID),
    HeaderName::from_static(AAL),
    HeaderName::from_static(ROLES),
];

pub fn each_identity_header(claims: &AccessClaims, mut emit: impl FnMut(HeaderName, HeaderValue)) {
    // UTF-8 e-mail addresses travel as obs-text bytes; a value that still cannot be a header
    // is left out rather than failing the check.
    let value = |v: &str| HeaderValue::from_bytes(v.as_bytes()).ok();
    let verified_value = HeaderValue::from_static(if claims.email_verified {
        "true"
    } else {
        "false"
    });
    let values = [
        value(&claims.sub),
        value(&claims.email),
        Some(verified_value),
        value(&claims.sid),
        value(&claims.aal),
        value(&claims.roles.join(",")),
    ];
    for (name, v) in NAMES.into_iter().zip(values) {
        if let Some(v) = v {
            emit(name, v);
        }
    }
}
