//! Cookie attributes exactly as documented in docs/spa.md (Cookies).

use actix_web::cookie::{time::Duration, SameSite};

use crate::helpers::*;

fn assert_common(c: &actix_web::cookie::Cookie<'_>) {
    assert_eq!(c.http_only(), Some(true), "{} must be HttpOnly", c.name());
    assert_eq!(c.secure(), Some(true), "{} must be Secure", c.name());
    assert_eq!(
        c.same_site(),
        Some(SameSite::Lax),
        "{} must be SameSite=Lax",
        c.name()
    );
    assert_eq!(c.domain(), None);
}

both_backends! {
    async fn cookies_without_remember_me(backend) {
        let app = TestApp::spawn(backend).await;
        let email = unique_email();
        app.signup(&email, "correct horse battery").await;
        let resp = app.signin(&email, "correct horse battery", false).await;
        let access = cookie(resp.headers(), "access_token").unwrap();
        assert_common(&access);
        assert_eq!(access.path(), Some("/"));
        assert_eq!(access.max_age(), Some(Duration::seconds(900)));
        let refresh = cookie(resp.headers(), "refresh_token").unwrap();
        assert_common(&refresh);
        assert_eq!(refresh.path(), Some("/api/v1/auth/"));
        assert_eq!(refresh.max_age(), None, "a browser-session cookie has no Max-Age");
        assert_eq!(refresh.expires(), None);

        let rotated = app.refresh(refresh.value()).await;
        assert_eq!(cookie(rotated.headers(), "refresh_token").unwrap().max_age(), None);
    }

    async fn cookies_with_remember_me_persist_for_the_remaining_lifetime(backend) {
        let app = TestApp::spawn(backend).await;
        let email = unique_email();
        app.signup(&email, "correct horse battery").await;
        let resp = app.signin(&email, "correct horse battery", true).await;
        assert_eq!(resp.status(), 204);
        let refresh = cookie(resp.headers(), "refresh_token").unwrap();
        assert_common(&refresh);
        assert_eq!(refresh.path(), Some("/api/v1/auth/"));
        let thirty_days = 30 * 24 * 3600;
        let max_age = refresh.max_age().unwrap().whole_seconds();
        assert!((thirty_days - 5..=thirty_days).contains(&max_age), "max-age {max_age}");

        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let rotated = app.refresh(refresh.value()).await;
        assert_eq!(rotated.status(), 204);
        let again = cookie(rotated.headers(), "refresh_token").unwrap().max_age().unwrap().whole_seconds();
        assert!(again < max_age, "refresh never extends the absolute lifetime ({again} vs {max_age})");
    }

    async fn cookie_settings_are_applied(backend) {
        let app = TestApp::spawn_with(backend, |s| {
            s.cookie_domain = Some("example.test".into());
            s.cookie_samesite = authgate::settings::SameSite::Strict;
            s.access_cookie_name = "__Secure-access_token".into();
        }).await;
        let resp = app.signup(&unique_email(), "correct horse battery").await;
        let access = cookie(resp.headers(), "__Secure-access_token").expect("renamed access cookie");
        assert_eq!(access.domain(), Some("example.test"));
        assert_eq!(access.same_site(), Some(SameSite::Strict));
        let r = app.client.get(app.url("/api/v1/auth/user/"))
            .header("cookie", format!("__Secure-access_token={}", access.value())).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
}

/// The session hint of a response: its value as the access token's expiry.
fn hint(resp: &reqwest::Response) -> actix_web::cookie::Cookie<'static> {
    cookie(resp.headers(), "authgate_session").expect("session hint cookie")
}

both_backends! {
    async fn the_session_hint_follows_the_session_and_holds_only_the_access_expiry(backend) {
        let app = TestApp::spawn(backend).await;
        let email = unique_email();
        let signup = app.signup(&email, "correct horse battery").await;
        let now = chrono::Utc::now().timestamp();
        let h = hint(&signup);
        assert_eq!(h.http_only(), None, "readable by the page's script");
        assert_eq!(h.secure(), Some(true));
        assert_eq!(h.same_site(), Some(SameSite::Lax));
        assert_eq!(h.path(), Some("/"), "readable on every page of the origin");
        assert_eq!(h.max_age(), None, "lives as long as the browser-session refresh cookie");
        let expiry: i64 = h.value().parse().expect("Unix seconds");
        assert!((now + 895..=now + 905).contains(&expiry), "the access token's expiry: {expiry} vs {now}");
        let access = cookie(signup.headers(), "access_token").unwrap();
        let claims = crate::mfa::claims(access.value());
        assert_eq!(claims["exp"].as_i64(), Some(expiry), "the same instant as the token's exp");

        // Remember-me: as long as the refresh cookie.
        let remembered = app.signin(&email, "correct horse battery", true).await;
        let refresh = cookie(remembered.headers(), "refresh_token").unwrap();
        assert_eq!(hint(&remembered).max_age(), refresh.max_age());

        // Set again by every rotation; cleared with the tokens when the refresh is refused and
        // at logout.
        let rotated = app.refresh(refresh.value()).await;
        assert_eq!(rotated.status(), 204);
        assert!(hint(&rotated).value().parse::<i64>().is_ok());
        let refused = app.refresh("not-a-token").await;
        assert_eq!(refused.status(), 401);
        assert_eq!(hint(&refused).value(), "", "cleared with the dead session");
        let logout = app.client.post(app.url("/api/v1/auth/custom-logout/"))
            .header("cookie", format!("refresh_token={}", refresh.value())).send().await.unwrap();
        assert_eq!(logout.status(), 204);
        let cleared = hint(&logout);
        assert_eq!(cleared.value(), "");
        assert_eq!(cleared.max_age(), Some(Duration::ZERO));
        assert_eq!(cleared.path(), Some("/"));

        // A failed sign-in sets nothing.
        let wrong = app.signin(&email, "wrong password here", false).await;
        assert!(cookie(wrong.headers(), "authgate_session").is_none());
    }

    async fn the_session_hint_can_be_renamed_or_left_out(backend) {
        let app = TestApp::spawn_with(backend, |s| s.session_hint_cookie_name = "signed_in".into()).await;
        let resp = app.signup(&unique_email(), "correct horse battery").await;
        assert!(cookie(resp.headers(), "signed_in").is_some());
        assert!(cookie(resp.headers(), "authgate_session").is_none());
        let app = TestApp::spawn_with(backend, |s| s.session_hint_cookie_name = String::new()).await;
        let resp = app.signup(&unique_email(), "correct horse battery").await;
        let names: Vec<String> = set_cookies(resp.headers()).iter().map(|c| c.name().to_owned()).collect();
        assert_eq!(names.len(), 2, "only the tokens: {names:?}");
        let logout = app.client.post(app.url("/api/v1/auth/custom-logout/")).send().await.unwrap();
        assert_eq!(set_cookies(logout.headers()).len(), 2);
    }
}
