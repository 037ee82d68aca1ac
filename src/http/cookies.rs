//! The session cookies: the access and refresh tokens (`HttpOnly`; the refresh cookie scoped to
//! the auth API's path so it is sent only where it is used), and the session hint a page may read.

use actix_web::cookie::{self, Cookie};

use crate::settings::{SameSite, Settings};

pub const REFRESH_PATH: &str = "/api/v1/auth/";

fn base<'c>(settings: &Settings, name: &str, value: String, path: &'static str) -> Cookie<'c> {
    let mut c = Cookie::new(name.to_owned(), value);
    c.set_http_only(true);
    c.set_secure(settings.cookie_secure);
    c.set_path(path);
    c.set_same_site(match settings.cookie_samesite {
        SameSite::Strict => cookie::SameSite::Strict,
        SameSite::Lax => cookie::SameSite::Lax,
        SameSite::None => cookie::SameSite::None,
    });
    if let Some(domain) = &settings.cookie_domain {
        c.set_domain(domain.clone());
    }
    c
}

fn max_age(d: std::time::Duration) -> cookie::time::Duration {
    cookie::time::Duration::seconds(i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

pub fn access<'c>(settings: &Settings, token: String) -> Cookie<'c> {
    let mut c = base(settings, &settings.access_cookie_name, token, "/");
    c.set_max_age(max_age(settings.access_token_ttl));
    c
}

/// `persist_for`: the remaining session lifetime for remember-me sessions; `None` makes a
/// browser-session cookie.
pub fn refresh<'c>(
    settings: &Settings,
    token: String,
    persist_for: Option<std::time::Duration>,
) -> Cookie<'c> {
    let mut c = base(settings, &settings.refresh_cookie_name, token, REFRESH_PATH);
    if let Some(d) = persist_for {
        c.set_max_age(max_age(d));
    }
    c
}

/// The session hint: readable by the page's script (not `HttpOnly`), holding no secret, only
/// when the access token just issued expires (Unix seconds). A client answers "signed in?"
/// without a request, skips the refresh on pages nobody is signed in to, and refreshes shortly
/// before the expiry. It lives as long as the refresh cookie, so its presence says a session
/// probably exists; `None` when `AUTHGATE_SESSION_HINT_COOKIE_NAME` is empty.
pub fn session_hint<'c>(
    settings: &Settings,
    access_expires_at: i64,
    persist_for: Option<std::time::Duration>,
) -> Option<Cookie<'c>> {
    let name = settings.session_hint_cookie_name.as_str();
    if name.is_empty() {
        return None;
    }
    let mut c = base(settings, name, access_expires_at.to_string(), "/");
    c.set_http_only(false);
    if let Some(d) = persist_for {
        c.set_max_age(max_age(d));
    }
    Some(c)
}

/// Expired copies of the session cookies, with the same attributes so the browser replaces
/// them (the hint too, when it is on).
pub fn cleared<'c>(settings: &Settings) -> Vec<Cookie<'c>> {
    let mut a = base(settings, &settings.access_cookie_name, String::new(), "/");
    a.make_removal();
    let mut r = base(
        settings,
        &settings.refresh_cookie_name,
        String::new(),
        REFRESH_PATH,
    );
    r.make_removal();
    let mut all = vec![a, r];
    if let Some(mut h) = session_hint(settings, 0, None) {
        h.set_value("");
        h.make_removal();
        all.push(h);
    }
    all
}
