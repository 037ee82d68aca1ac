//! The real binary, killed without a graceful stop and started again on the same database.

use crate::helpers::*;

both_backends! {
    async fn tokens_and_accounts_survive_a_hard_kill(backend) {
        let db = TestDb::create(backend);
        let client = client();
        let first = Proc::start(&db.url, &[("AUTHGATE_WORKERS", "1")], false).await;
        let email = unique_email();
        let resp = client.post(format!("{}/api/v1/auth/signup/", first.base))
            .json(&serde_json::json!({"email": email, "password": "correct horse battery", "name": "P"}))
            .send().await.unwrap();
        assert_eq!(resp.status(), 201);
        let tokens = Tokens::from_response(&resp);
        first.kill();

        let second = Proc::start(&db.url, &[("AUTHGATE_WORKERS", "1")], false).await;
        let me = client.get(format!("{}/api/v1/auth/user/", second.base)).bearer_auth(&tokens.access).send().await.unwrap();
        assert_eq!(me.status(), 200, "an access token issued before the restart still verifies");
        let refreshed = client.post(format!("{}/api/v1/auth/custom-refresh/", second.base))
            .header("cookie", format!("refresh_token={}", tokens.refresh)).send().await.unwrap();
        assert_eq!(refreshed.status(), 204, "the session survived");
        let signin = client.post(format!("{}/api/v1/auth/signin/", second.base))
            .json(&serde_json::json!({"login": email, "password": "correct horse battery"}))
            .send().await.unwrap();
        assert_eq!(signin.status(), 204);
        second.kill();
    }

    async fn a_second_replica_verifies_tokens_of_the_first(backend) {
        let db = TestDb::create(backend);
        let client = client();
        let a = Proc::start(&db.url, &[("AUTHGATE_WORKERS", "1")], false).await;
        let b = Proc::start(&db.url, &[("AUTHGATE_WORKERS", "1")], false).await;
        let resp = client.post(format!("{}/api/v1/auth/signup/", a.base))
            .json(&serde_json::json!({"email": unique_email(), "password": "correct horse battery", "name": "R"}))
            .send().await.unwrap();
        let tokens = Tokens::from_response(&resp);
        let me = client.get(format!("{}/api/v1/auth/user/", b.base)).bearer_auth(&tokens.access).send().await.unwrap();
        assert_eq!(me.status(), 200);
        let r = client.post(format!("{}/api/v1/auth/custom-refresh/", b.base))
            .header("cookie", format!("refresh_token={}", tokens.refresh)).send().await.unwrap();
        assert_eq!(r.status(), 204);
        let ja: serde_json::Value = client.get(format!("{}/.well-known/jwks.json", a.base)).send().await.unwrap().json().await.unwrap();
        let jb: serde_json::Value = client.get(format!("{}/.well-known/jwks.json", b.base)).send().await.unwrap().json().await.unwrap();
        assert_eq!(ja, jb, "both replicas publish the same keys");
    }
}
