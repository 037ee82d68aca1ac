//! The two session cookies. The refresh cookie is scoped to the auth API's path so it is
//! sent only where it is used.

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

/// Expired copies of both cookies, with the same attributes so the browser replaces them.
pub fn cleared<'c>(settings: &Settings) -> [Cookie<'c>; 2] {
    let mut a = base(settings, &settings.access_cookie_name, String::new(), "/");
    a.make_removal();
    let mut r = base(
        settings,
        &settings.refresh_cookie_name,
        String::new(),
        REFRESH_PATH,
    );
    r.make_removal();
    [a, r]
}
