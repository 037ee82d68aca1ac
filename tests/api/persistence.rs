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

both_backends! {
    async fn replicas_starting_together_migrate_once_and_all_start(backend) {
        // Several replicas against one fresh database, each migrating at start: one applies the
        // migrations, the others wait for it and find nothing left to do.
        let db = TestDb::create(backend);
        let url = authgate::settings::DatabaseUrl::parse(&db.url).unwrap();
        let start = std::sync::Arc::new(std::sync::Barrier::new(4));
        let runs: Vec<_> = (0..4)
            .map(|_| {
                let (url, start) = (url.clone(), start.clone());
                std::thread::spawn(move || {
                    let pool = authgate::db::build_pool(&url, 1, std::time::Duration::from_secs(30));
                    let mut conn = pool.get().expect("connection");
                    start.wait();
                    authgate::db::run_migrations(&mut conn).map_err(|e| format!("{e:#}"))
                })
            })
            .collect();
        let applied: Vec<Vec<String>> = runs
            .into_iter()
            .map(|t| t.join().expect("thread").expect("every replica's migration run succeeds"))
            .collect();
        let counts: Vec<usize> = applied.iter().map(Vec::len).collect();
        assert_eq!(counts.iter().filter(|n| **n > 0).count(), 1, "one replica migrated: {counts:?}");
        assert!(counts.iter().all(|n| *n == 0 || *n == counts.iter().copied().max().unwrap_or(0)));
    }
}
