//! Deleting an account: the account and everything that refers to it, every session ended at
//! once, a last notice to the verified address, and afterwards no table holding the address or
//! the user id.

use std::time::Duration;

use authgate::db::DbConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use reqwest::Method;
use serde_json::{json, Value};

use crate::contract::assert_conforms;
use crate::helpers::*;
use crate::mail::mail_app;
use crate::smtp::SmtpServer;

const PW: &str = "correct horse battery";
const USER: &str = "/api/v1/auth/user/";
const WAIT: Duration = Duration::from_secs(10);

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Every table (the migrations' bookkeeping aside) whose rows, read as text, contain `needle`.
pub(crate) fn tables_holding(app: &TestApp, needle: &str) -> Vec<String> {
    let mut conn = app.state.pool.get().unwrap();
    let pattern = format!("%{needle}%");
    let mut holding = Vec::new();
    match &mut *conn {
        DbConnection::Postgresql(c) => {
            let tables: Vec<Name> = diesel::sql_query(
                "SELECT table_name AS name FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
            )
            .load(c)
            .unwrap();
            for t in tables
                .into_iter()
                .filter(|t| !t.name.starts_with("__diesel"))
            {
                let q = format!(
                    r#"SELECT count(*) AS n FROM "{0}" t WHERE t::text LIKE $1"#,
                    t.name
                );
                let n: Count = diesel::sql_query(q)
                    .bind::<Text, _>(&pattern)
                    .get_result(c)
                    .unwrap();
                if n.n > 0 {
                    holding.push(t.name);
                }
            }
        }
        DbConnection::Sqlite(c) => {
            let tables: Vec<Name> = diesel::sql_query(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            )
            .load(c)
            .unwrap();
            for t in tables
                .into_iter()
                .filter(|t| !t.name.starts_with("__diesel"))
            {
                let columns: Vec<Name> =
                    diesel::sql_query(format!("SELECT name FROM pragma_table_info('{}')", t.name))
                        .load(c)
                        .unwrap();
                let row = columns
                    .iter()
                    .map(|col| format!(r#"coalesce(CAST("{}" AS TEXT), '')"#, col.name))
                    .collect::<Vec<_>>()
                    .join(" || '|' || ");
                let q = format!(
                    r#"SELECT count(*) AS n FROM "{}" WHERE {row} LIKE ?"#,
                    t.name
                );
                let n: Count = diesel::sql_query(q)
                    .bind::<Text, _>(&pattern)
                    .get_result(c)
                    .unwrap();
                if n.n > 0 {
                    holding.push(t.name);
                }
            }
        }
    }
    holding
}

both_backends! {
    async fn deleting_an_account_leaves_nothing_about_the_person(backend) {
        let smtp = SmtpServer::start().await;
        let app = mail_app(backend, &smtp, |s| {
            s.revocation_list_interval = Duration::from_millis(200);
            crate::passkeys::passkey_settings(s);
        })
        .await;
        let email = unique_email();
        let first = app.verified_user(&smtp, &email).await;
        // A passkey, and with it recovery codes and a ceremony state naming the account.
        let mut authenticator = crate::authenticator::SoftAuthenticator::new(crate::passkeys::ORIGIN);
        app.register_passkey(&first.access, &mut authenticator, &json!({"password": PW})).await;
        let (pk, state) = app.passkey_sign_in_options().await;
        let signed_in = app
            .post_json("/api/v1/auth/signin/passkey/", &json!({"credential": authenticator.get(&pk), "state": state}))
            .await;
        let second = Tokens::from_response(&signed_in);
        let user: Value = app.get_user_bearer(&first.access).await.json().await.unwrap();
        let user_id = user["id"].as_str().unwrap().to_owned();
        // A pending email change: a code mailed to another address, also about this person.
        let new_email = unique_email();
        let r = app.send(Method::PATCH, USER, &first.access, Some(json!({"email": new_email, "password": PW}))).await;
        assert_eq!(r.status(), 200);
        smtp.wait_for(&new_email).await;
        // Control: the search finds the person while the account exists.
        assert!(tables_holding(&app, &email).contains(&"users".to_owned()));
        let holding_id = tables_holding(&app, &user_id);
        for table in ["users", "passkeys", "webauthn_challenges", "recovery_codes", "sessions"] {
            assert!(holding_id.contains(&table.to_owned()), "{table} holds the id: {holding_id:?}");
        }
        assert!(tables_holding(&app, &new_email).contains(&"outbox".to_owned()));
        // The user agent the account was verified from (`verified_user` sends it): its history.
        let agent = "notice-test-agent";
        assert!(tables_holding(&app, agent).contains(&"auth_events".to_owned()));

        // Full re-authentication first.
        for (body, code) in [(json!({}), "reauthentication_required"), (json!({"password": "not the password!"}), "invalid_password")] {
            let r = app.send(Method::DELETE, USER, &first.access, Some(body)).await;
            assert_eq!(r.status(), 400);
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["error"], code);
            assert_conforms("DELETE", USER, 400, Some(&body));
        }
        let r = app.send(Method::DELETE, USER, &first.access, Some(json!({"password": PW}))).await;
        assert_eq!(r.status(), 204);
        for name in ["access_token", "refresh_token"] {
            let c = cookie(r.headers(), name).expect("cleared cookie");
            assert_eq!(c.value(), "", "{name} cleared");
        }

        // Every session is over at once: refresh, database-backed calls and verify/.
        for t in [&first, &second] {
            assert_eq!(app.refresh(&t.refresh).await.status(), 401);
            assert_eq!(app.get_user_bearer(&t.access).await.status(), 401);
            let v = app.client.get(app.url("/api/v1/auth/verify/")).bearer_auth(&t.access).send().await.unwrap();
            assert_eq!(v.status(), 401, "verify/ refuses the deleted account's tokens");
        }
        // A password sign-in finds no account.
        assert_eq!(app.signin(&email, PW, false).await.status(), 401);

        // The last notice (after the verification code and the passkey notice), sent after the
        // account is gone, and then erased from the outbox too.
        let notice = smtp.wait_for_nth(&email, 3, WAIT).await;
        assert!(notice.subject().contains("your account was deleted"), "{}", notice.data);
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let holding: Vec<String> = [email.as_str(), user_id.as_str(), new_email.as_str(), agent]
                .iter()
                .flat_map(|n| tables_holding(&app, n))
                .collect();
            if holding.is_empty() {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "still held in {holding:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(smtp.to(&new_email).len() == 1, "nothing more to the pending address");

        // The address is free again.
        let again = app.signup(&email, PW).await;
        assert_eq!(again.status(), 201);
    }
}

both_backends! {
    async fn the_export_holds_everything_about_the_account_and_no_secret(backend) {
        let smtp = SmtpServer::start().await;
        let app = mail_app(backend, &smtp, |_| {}).await;
        let email = unique_email();
        let first = app.verified_user(&smtp, &email).await;
        let _ = app.signin(&email, "a wrong password!", false).await;
        let second = Tokens::from_response(&app.signin(&email, PW, true).await);
        let new_email = unique_email();
        let r = app.send(Method::PATCH, USER, &first.access, Some(json!({"email": new_email, "password": PW}))).await;
        assert_eq!(r.status(), 200);
        let (_, _, recovery) = crate::mfa::enable_totp_with_recovery_codes(&app, &second).await;

        let export = "/api/v1/auth/user/export/";
        let r = app.send(Method::POST, export, &first.access, Some(json!({"password": PW}))).await;
        assert_eq!(r.status(), 400, "TOTP is on: the password alone is not enough");
        let r = app.send(Method::POST, export, &first.access, Some(json!({"password": PW, "code": recovery[0]}))).await;
        assert_eq!(r.status(), 200);
        assert!(r.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
        let raw = r.text().await.unwrap();
        let body: Value = serde_json::from_str(&raw).unwrap();
        assert_conforms("POST", export, 200, Some(&body));
        assert_eq!(body["user"]["email"], email);
        assert_eq!(body["factors"]["totp"], true);
        assert_eq!(body["factors"]["recovery_codes_left"], 9);
        assert_eq!(body["pending"]["email_change"], new_email.as_str());
        assert_eq!(body["sessions"].as_array().unwrap().len(), 2, "both sessions");
        assert!(body["sessions"].as_array().unwrap().iter().any(|s| s["remember_me"] == true));
        let events: Vec<(&str, &str)> = body["events"].as_array().unwrap().iter()
            .map(|e| (e["kind"].as_str().unwrap(), e["outcome"].as_str().unwrap())).collect();
        for wanted in [("signup", "success"), ("email_verification", "success"), ("signin", "bad_password"), ("signin", "success")] {
            assert!(events.contains(&wanted), "{wanted:?} in {events:?}");
        }
        let messages = body["messages"].as_array().unwrap();
        assert!(messages.iter().any(|m| m["to"] == new_email.as_str()), "the code to the new address");
        assert!(messages.iter().any(|m| m["to"] == email.as_str()));
        // No secret of any kind: codes mailed, recovery codes, tokens, the password.
        let mailed: Vec<String> = smtp.to(&email).iter().chain(smtp.to(&new_email).iter()).filter_map(|m| std::panic::catch_unwind(|| m.code()).ok()).collect();
        assert!(!mailed.is_empty());
        for secret in mailed.iter().chain(&recovery).map(String::as_str).chain([PW, first.refresh.as_str(), second.refresh.as_str(), first.access.as_str()]) {
            assert!(!raw.contains(secret), "{secret} in the export");
        }
        // The export is itself on the record.
        let r = app.send(Method::POST, export, &first.access, Some(json!({"password": PW, "code": recovery[1]}))).await;
        let again: Value = r.json().await.unwrap();
        assert!(again["events"].as_array().unwrap().iter().any(|e| e["kind"] == "data_export"));
    }
}
