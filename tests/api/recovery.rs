//! Recovery codes: a lost authenticator is not a lost account. Ten single-use codes come with
//! TOTP, stand in for a TOTP code wherever one is accepted, and are stored only as keyed hashes.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::contract::assert_conforms;
use crate::helpers::*;
use crate::mail::mail_app;
use crate::mfa::{claims, enable_totp_with_recovery_codes, hotp};
use crate::smtp::SmtpServer;

const PW: &str = "correct horse battery";
const WAIT: Duration = Duration::from_secs(10);
const SIGNIN: &str = "/api/v1/auth/signin/";
const CODES: &str = "/api/v1/auth/mfa/recovery-codes/";
const TOTP: &str = "/api/v1/auth/mfa/totp/";

fn left(resp: &reqwest::Response) -> Option<String> {
    resp.headers()
        .get("x-recovery-codes-left")
        .map(|v| v.to_str().unwrap().to_owned())
}

async fn signin_with(app: &TestApp, email: &str, code: &str) -> reqwest::Response {
    app.post_json(
        SIGNIN,
        &json!({"login": email, "password": PW, "code": code}),
    )
    .await
}

fn recovery_rows(app: &TestApp, user_id: &str) -> Vec<(String, bool)> {
    use authgate::db::schema::recovery_codes as rc;
    use diesel::prelude::*;
    let mut conn = app.state.pool.get().unwrap();
    rc::table
        .filter(rc::user_id.eq(user_id))
        .select((rc::code_hash, rc::used_at.is_not_null()))
        .load(&mut conn)
        .unwrap()
}

fn codes_of(body: &Value) -> Vec<String> {
    body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect()
}

both_backends! {
    async fn a_lost_authenticator_is_recovered_with_a_single_use_recovery_code(backend) {
        let smtp = SmtpServer::start().await;
        let app = mail_app(backend, &smtp, |_| {}).await;
        let email = unique_email();
        let tokens = app.verified_user(&smtp, &email).await;
        let (_, _, codes) = enable_totp_with_recovery_codes(&app, &tokens).await;
        smtp.wait_for_nth(&email, 2, WAIT).await; // the "TOTP turned on" notice
        assert_eq!(codes.len(), 10);
        let mut distinct = codes.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), 10, "{codes:?}");
        let user: Value = app.get_user_bearer(&tokens.access).await.json().await.unwrap();
        let user_id = user["id"].as_str().unwrap().to_owned();
        assert_eq!(user["recovery_codes_left"], 10);

        // Only keyed hashes are stored: no code in any spelling, and not a plain SHA-256 either.
        let rows = recovery_rows(&app, &user_id);
        assert_eq!(rows.len(), 10);
        for code in &codes {
            let bare = code.replace('-', "");
            for (hash, _) in &rows {
                assert!(!hash.contains(code.as_str()) && !hash.contains(&bare), "{code} stored");
                assert_ne!(hash, &sha256_hex(&bare));
                assert_ne!(hash, &sha256_hex(code));
            }
        }

        // The phone is gone: the password and a recovery code, typed as a person would.
        let typed = codes[0].to_uppercase().replace('-', " ");
        let resp = signin_with(&app, &email, &typed).await;
        assert_eq!(resp.status(), 204);
        assert_eq!(left(&resp).as_deref(), Some("9"), "the answer says how many are left");
        let signed_in = Tokens::from_response(&resp);
        let c = claims(&signed_in.access);
        assert_eq!(c["amr"], json!(["pwd", "recovery_code"]));
        assert_eq!(c["aal"], "aal2");
        let notice = smtp.wait_for_nth(&email, 3, WAIT).await;
        assert!(notice.text().contains("a recovery code was used"), "{}", notice.data);
        assert!(!notice.data.contains(&codes[0]) && !notice.data.to_lowercase().contains(&codes[0].replace('-', "")));

        // Once only: the same code again is a wrong second factor.
        let resp = signin_with(&app, &email, &codes[0]).await;
        assert_eq!(resp.status(), 401);
        assert_eq!(error_code(resp).await, "invalid_code");

        // The token endpoint takes one too; its user says how many are left.
        let resp = app.post_json("/api/v1/auth/token/", &json!({"grant_type": "password", "login": email, "password": PW, "code": codes[1]})).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(left(&resp).as_deref(), Some("8"));
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["user"]["recovery_codes_left"], 8);
        assert_conforms("POST", "/api/v1/auth/token/", 200, Some(&body));
        let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
        assert!(metrics.contains(r#"authgate_recovery_codes_used_total{method="password"} 2"#), "{metrics}");
        let history: Value = app.get_user_bearer(&signed_in.access).await.json().await.unwrap();
        let outcomes: Vec<&str> = history["history"].as_array().unwrap().iter().filter_map(|h| h["outcome"].as_str()).collect();
        assert!(outcomes.contains(&"recovery_code_used"), "audited: {outcomes:?}");

        // A new set, re-authenticated with a recovery code (the authenticator is still lost):
        // every earlier code stops working, unused ones included.
        let resp = app.send(Method::POST, CODES, &signed_in.access, Some(json!({"password": PW, "code": codes[2]}))).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["cache-control"], "no-store");
        let body: Value = resp.json().await.unwrap();
        assert_conforms("POST", CODES, 200, Some(&body));
        let fresh = codes_of(&body);
        assert_eq!(fresh.len(), 10);
        assert!(fresh.iter().all(|c| !codes.contains(c)));
        // Notices 4 (token/'s recovery code) and 5 (the new set), in whichever order they left.
        smtp.wait_for_nth(&email, 5, WAIT).await;
        let texts: Vec<String> = smtp.to(&email).iter().map(|m| m.text()).collect();
        let count = |what: &str| texts.iter().filter(|t| t.contains(what)).count();
        assert_eq!(count("a recovery code was used"), 2, "{texts:?}");
        assert_eq!(count("a new set of recovery codes was created"), 1, "{texts:?}");
        assert!(texts.iter().all(|t| fresh.iter().chain(&codes).all(|c| !t.contains(c.as_str()))), "no code is mailed");
        let resp = signin_with(&app, &email, &codes[3]).await;
        assert_eq!(error_code(resp).await, "invalid_code", "the old set is void");
        assert_eq!(recovery_rows(&app, &user_id).len(), 10, "the old rows are gone");

        // TOTP off with a recovery code, and a new authenticator enrolled: a new set with it.
        let resp = app.send(Method::DELETE, TOTP, &signed_in.access, Some(json!({"password": PW, "code": fresh[0]}))).await;
        assert_eq!(resp.status(), 204);
        assert!(recovery_rows(&app, &user_id).is_empty(), "the codes go with TOTP");
        let user: Value = app.get_user_bearer(&signed_in.access).await.json().await.unwrap();
        assert_eq!((user["totp_enabled"].clone(), user["recovery_codes_left"].clone()), (json!(false), json!(0)));
        let resp = signin_with(&app, &email, &fresh[1]).await;
        assert_eq!(resp.status(), 204, "without TOTP the code field is not asked for");
        assert_eq!(left(&resp), None);
        let (_, _, again) = enable_totp_with_recovery_codes(&app, &signed_in).await;
        assert!(again.iter().all(|c| !fresh.contains(c)));
        let resp = signin_with(&app, &email, &fresh[2]).await;
        assert_eq!(error_code(resp).await, "invalid_code", "codes of the old authenticator stay void");
    }

    async fn a_sign_in_says_when_two_or_fewer_recovery_codes_are_left(backend) {
        let app = TestApp::spawn(backend).await;
        let email = unique_email();
        let tokens = Tokens::from_response(&app.signup(&email, PW).await);
        let (secret, s, codes) = enable_totp_with_recovery_codes(&app, &tokens).await;
        for (n, code) in codes.iter().take(7).enumerate() {
            let resp = signin_with(&app, &email, code).await;
            assert_eq!(resp.status(), 204);
            assert_eq!(left(&resp), Some((9 - n).to_string()));
        }
        // Three left: a TOTP sign-in says nothing.
        let totp = hotp(&secret, s + 1, 6);
        let resp = signin_with(&app, &email, &totp).await;
        assert_eq!(resp.status(), 204);
        assert_eq!(left(&resp), None);
        assert_eq!(signin_with(&app, &email, &codes[7]).await.status(), 204);
        // Two left: a TOTP sign-in says so. (The step is made usable again rather than waited for.)
        {
            use authgate::db::schema::users;
            use diesel::prelude::*;
            let mut conn = app.state.pool.get().unwrap();
            diesel::update(users::table.filter(users::email.eq(&email)))
                .set(users::totp_last_step.eq(Some(i64::try_from(s).unwrap())))
                .execute(&mut conn)
                .unwrap();
        }
        let resp = signin_with(&app, &email, &totp).await;
        assert_eq!(resp.status(), 204);
        assert_eq!(left(&resp).as_deref(), Some("2"));
    }

    async fn a_new_set_of_recovery_codes_needs_totp_and_full_reauthentication(backend) {
        let app = TestApp::spawn(backend).await;
        let plain = app.signed_in_user().await;
        let resp = app.send(Method::POST, CODES, &plain.access, Some(json!({"password": PW}))).await;
        assert_eq!(resp.status(), 409);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "totp_not_enabled");
        assert_conforms("POST", CODES, 409, Some(&body));

        let (_, tokens, secret, s) = crate::mfa::user_with_totp(&app).await;
        for (proof, code) in [
            (json!({"password": PW}), "reauthentication_required"),
            (json!({"password": PW, "code": "00000-00000"}), "invalid_code"),
            (json!({"password": "not the password!", "code": hotp(&secret, s + 1, 6)}), "invalid_password"),
        ] {
            let resp = app.send(Method::POST, CODES, &tokens.access, Some(proof.clone())).await;
            assert_eq!(resp.status(), 400, "{proof}");
            let body: Value = resp.json().await.unwrap();
            assert_eq!(body["error"], code, "{proof}");
            assert_conforms("POST", CODES, 400, Some(&body));
        }
        let resp = app.client.post(app.url(CODES)).json(&json!({"password": PW})).send().await.unwrap();
        assert_eq!(resp.status(), 401, "signed in only");
    }
}

fn sha256_hex(s: &str) -> String {
    authgate::crypto::sha256_hex(s.as_bytes())
}

/// Runs `authgate users ... --json` as an operator would, with the service's own settings (here:
/// notices on, as the mailing service has them), and parses its one line of JSON.
fn admin(app: &TestApp, args: &[&str], stdin: &str) -> Value {
    let mut all = vec!["users"];
    all.extend_from_slice(args);
    all.push("--json");
    let notices = [("AUTHGATE_NOTIFY_SECURITY_CHANGES", "true")];
    let out = crate::mfa::ok(crate::mfa::cli_with(&app.db.url, &all, stdin, &notices));
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"))
}

both_backends! {
    async fn an_operator_rescues_a_user_who_lost_authenticator_and_codes(backend) {
        let smtp = SmtpServer::start().await;
        let app = mail_app(backend, &smtp, |s| s.revocation_list_interval = Duration::from_millis(200)).await;
        let email = unique_email();
        let tokens = app.verified_user(&smtp, &email).await;
        let (_, _, codes) = enable_totp_with_recovery_codes(&app, &tokens).await;
        assert_eq!(app.signin(&email, PW, false).await.status(), 401, "mfa_required");

        // Shown as a script reads it.
        let shown = admin(&app, &["show", &email], "");
        assert_eq!((shown["email"].as_str(), shown["totp_enabled"].clone(), shown["disabled"].clone()), (Some(email.as_str()), json!(true), json!(false)));
        assert_eq!(shown["recovery_codes_left"], 10);
        let listed = admin(&app, &["list"], "");
        assert!(listed.as_array().unwrap().iter().any(|u| u["email"] == email.as_str() && u["totp_enabled"] == true));

        // Reset: TOTP and the codes gone, every session ended, the owner told.
        let reset = admin(&app, &["reset-mfa", &email], "");
        assert_eq!(reset["sessions_ended"], 1);
        assert_eq!(app.refresh(&tokens.refresh).await.status(), 401);
        let resp = app.signin(&email, PW, false).await;
        assert_eq!(resp.status(), 204, "the password alone signs in again");
        let back = Tokens::from_response(&resp);
        let user: Value = app.get_user_bearer(&back.access).await.json().await.unwrap();
        assert_eq!((user["totp_enabled"].clone(), user["recovery_codes_left"].clone()), (json!(false), json!(0)));
        let resp = signin_with(&app, &email, &codes[0]).await;
        assert_eq!(resp.status(), 204, "the code field is ignored without TOTP");
        assert_eq!(left(&resp), None);
        let notice = smtp.wait_for_nth(&email, 3, WAIT).await;
        assert!(notice.text().contains("an administrator turned off two-factor authentication"), "{}", notice.data);

        // A new password from standard input, under the policy; sessions end.
        let out = crate::mfa::cli(&app.db.url, &["users", "set-password", &email], "password123\n");
        assert!(!out.status.success(), "the policy applies to an operator's password too");
        let new_password = "a new and long passphrase";
        let set = admin(&app, &["set-password", &email], &format!("{new_password}\n"));
        assert!(set["sessions_ended"].as_u64().unwrap() >= 1);
        assert_eq!(app.refresh(&back.refresh).await.status(), 401);
        assert_eq!(app.signin(&email, PW, false).await.status(), 401);
        let t = Tokens::from_response(&app.signin(&email, new_password, false).await);

        let revoked = admin(&app, &["revoke-sessions", &email], "");
        assert_eq!(revoked["sessions_ended"], 1);
        assert_eq!(app.refresh(&t.refresh).await.status(), 401);

        // Every admin action is on the account's record, named as such.
        let t = Tokens::from_response(&app.signin(&email, new_password, false).await);
        let export: Value = app.send(Method::POST, "/api/v1/auth/user/export/", &t.access, Some(json!({"password": new_password}))).await.json().await.unwrap();
        let kinds: Vec<&str> = export["events"].as_array().unwrap().iter().filter(|e| e["method"] == "admin").map(|e| e["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["admin_reset_mfa", "admin_set_password", "admin_revoke_sessions"]);

        let deleted = admin(&app, &["delete", &email], "");
        assert_eq!(deleted["deleted"], true);
        assert_eq!(app.signin(&email, new_password, false).await.status(), 401);
        let out = crate::mfa::cli(&app.db.url, &["users", "show", &email, "--json"], "");
        assert!(!out.status.success(), "no such account any more");
    }
}
