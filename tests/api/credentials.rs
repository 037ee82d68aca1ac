//! Answers that must not reveal whether an account exists, and duplicate accounts.

use serde_json::Value;

use crate::helpers::*;

both_backends! {
    async fn wrong_password_and_unknown_user_answer_alike(backend) {
        let app = TestApp::spawn(backend).await;
        let email = unique_email();
        app.signup(&email, "correct horse battery").await;
        let wrong = app.signin(&email, "wrong horse battery", false).await;
        let unknown = app.signin(&unique_email(), "correct horse battery", false).await;
        let malformed = app.signin("not-an-email", "correct horse battery", false).await;
        assert_eq!(wrong.status(), 401);
        assert_eq!(wrong.status(), unknown.status());
        assert_eq!(wrong.status(), malformed.status());
        assert!(cookie(wrong.headers(), "access_token").is_none());
        let names = |r: &reqwest::Response| {
            let mut v: Vec<String> = r.headers().keys().map(|k| k.to_string()).filter(|k| k != "x-request-id" && k != "date").collect();
            v.sort();
            v
        };
        assert_eq!(names(&wrong), names(&unknown), "same headers");
        let (a, b, c): (Value, Value, Value) = (wrong.json().await.unwrap(), unknown.json().await.unwrap(), malformed.json().await.unwrap());
        assert_eq!(a, b, "same body");
        assert_eq!(a, c);
        assert_eq!(a["error"], "invalid_credentials");
    }

    async fn duplicate_email_is_409_whatever_its_case_or_unicode_form(backend) {
        let app = TestApp::spawn(backend).await;
        assert_eq!(app.signup("jos\u{e9}@example.com", "correct horse battery").await.status(), 201);
        for dup in ["jos\u{e9}@example.com", "JOS\u{c9}@EXAMPLE.COM", "jose\u{301}@example.com", " jos\u{e9}@example.com "] {
            let resp = app.signup(dup, "another password").await;
            assert_eq!(resp.status(), 409, "{dup:?}");
            assert_eq!(error_code(resp).await, "email_taken");
        }
        // The NFD spelling signs in to the NFC account.
        assert_eq!(app.signin("jose\u{301}@EXAMPLE.com", "correct horse battery", false).await.status(), 204);
    }

    async fn every_byte_of_a_long_password_counts(backend) {
        let app = TestApp::spawn(backend).await;
        let email = unique_email();
        let long = "p".repeat(100);
        assert_eq!(app.signup(&email, &long).await.status(), 201);
        let mut other = "p".repeat(99);
        other.push('q');
        assert_eq!(app.signin(&email, &other, false).await.status(), 401, "bytes past bcrypt's 72 matter");
        assert_eq!(app.signin(&email, &long, false).await.status(), 204);
        let with_nul = format!("{}\u{0}tail", "p".repeat(10));
        let email2 = unique_email();
        assert_eq!(app.signup(&email2, &with_nul).await.status(), 201);
        assert_eq!(app.signin(&email2, &"p".repeat(10), false).await.status(), 401, "NUL does not truncate");
        assert_eq!(app.signin(&email2, &with_nul, false).await.status(), 204);
    }
}
