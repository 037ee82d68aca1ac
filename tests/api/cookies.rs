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
