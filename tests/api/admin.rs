//! The admin API: who may call it (admin API keys by scope; access tokens of `admin` users at
//! `aal2`), what it does to accounts, invitations and the audit trail, and the operator's
//! journey from a new key to a role the sidecar and `verify/` enforce.

use reqwest::Method;
use serde_json::{json, Value};

use crate::contract::assert_conforms;
use crate::helpers::*;
use crate::mfa::{claims, cli, enable_totp, hotp, step_now};
use crate::smtp::SmtpServer;

const PW: &str = "correct horse battery";
const USERS: &str = "/api/v1/admin/users/";

/// `authgate admin-keys create --scope <scope> --json`: the key and its id.
pub(crate) fn create_key(app: &TestApp, scope: &str) -> (String, String) {
    let out = cli(
        &app.db.url,
        &[
            "admin-keys",
            "create",
            "--scope",
            scope,
            "--name",
            "ci",
            "--json",
        ],
        "",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["scope"], scope);
    assert!(v["key"].as_str().unwrap().starts_with("agk_"));
    (
        v["key"].as_str().unwrap().to_owned(),
        v["id"].as_str().unwrap().to_owned(),
    )
}

/// An admin API call with a Bearer credential (key or access token).
pub(crate) async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    bearer: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut req = app
        .client
        .request(method, app.url(path))
        .bearer_auth(bearer);
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.unwrap()
}

/// Calls, checks the status and that the answer is the documented shape, returns the body.
async fn expect(
    app: &TestApp,
    method: Method,
    path: &str,
    spec_path: &str,
    bearer: &str,
    body: Option<Value>,
    status: u16,
) -> Value {
    let m = method.to_string();
    let resp = call(app, method, path, bearer, body).await;
    let got = resp.status();
    let text = resp.text().await.unwrap();
    assert_eq!(got, status, "{m} {path}: {text}");
    let value: Option<Value> = (!text.is_empty()).then(|| serde_json::from_str(&text).unwrap());
    assert_conforms(&m, spec_path, status, value.as_ref());
    value.unwrap_or(Value::Null)
}

fn user_id_of(resp_body: &Value) -> String {
    resp_body["id"].as_str().unwrap().to_owned()
}

async fn signed_up(app: &TestApp, email: &str) -> Tokens {
    let resp = app.signup(email, PW).await;
    assert_eq!(resp.status(), 201);
    Tokens::from_response(&resp)
}

async fn id_of(app: &TestApp, key: &str, email: &str) -> String {
    let page = expect(
        app,
        Method::GET,
        &format!("{USERS}?q={}", urlencoding(email)),
        USERS,
        key,
        None,
        200,
    )
    .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1, "{page}");
    page["items"][0]["id"].as_str().unwrap().to_owned()
}

fn urlencoding(s: &str) -> String {
    s.replace('+', "%2B").replace('@', "%40")
}

both_backends! {
    async fn an_operators_key_grants_a_role_that_the_next_refresh_carries_and_the_sidecar_enforces(backend) {
        let upstream = crate::proxy::start_upstream().await;
        let app = crate::proxy::proxied_app(backend, &upstream, |s| {
            s.proxy_require_role = authgate::settings::role_rules("/admin/*:admin").unwrap();
        }).await;
        let (key, key_id) = create_key(&app, "write");
        let email = unique_email();
        let tokens = signed_up(&app, &email).await;
        let into_admin = |access: String| {
            let app = &app;
            async move { app.client.get(app.url("/admin/reports")).bearer_auth(access).send().await.unwrap() }
        };
        assert_eq!(into_admin(tokens.access.clone()).await.status(), 403);

        let id = id_of(&app, &key, &email).await;
        let path = format!("{USERS}{id}/");
        let detail = expect(&app, Method::PATCH, &path, "/api/v1/admin/users/{id}/", &key, Some(json!({"roles": ["admin"]})), 200).await;
        assert_eq!(detail["roles"], json!(["admin"]));

        // The token in hand is unchanged until the user refreshes.
        assert_eq!(into_admin(tokens.access.clone()).await.status(), 403);
        let fresh = Tokens::from_response(&app.refresh(&tokens.refresh).await);
        assert_eq!(claims(&fresh.access)["roles"], json!(["admin"]));
        let r = into_admin(fresh.access.clone()).await;
        assert_eq!(r.status(), 200);
        let echoed: Value = r.json().await.unwrap();
        assert_eq!(echoed["headers"]["x-auth-roles"], json!(["admin"]));
        let verify = app.client.get(app.url("/api/v1/auth/verify/?role=admin")).bearer_auth(&fresh.access).send().await.unwrap();
        assert_eq!(verify.status(), 204);

        // The audit trail names the key as the actor.
        let log = expect(&app, Method::GET, &format!("/api/v1/admin/audit/?user={id}&kind=admin_role_granted"), "/api/v1/admin/audit/", &key, None, 200).await;
        let items = log["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{log}");
        assert_eq!(items[0]["actor"], format!("key:{key_id}"));
        assert_eq!(items[0]["method"], "admin");

        // The admin API is authgate's own in proxy mode: never forwarded, in any spelling.
        let before = upstream.hits.load(std::sync::atomic::Ordering::SeqCst);
        for p in ["/api/v1/admin/users/", "/api/v1/admin//users", "/api/v1/%61dmin/users/", "/api/v1/x/../admin/users/"] {
            let r = app.client.get(app.url(p)).send().await.unwrap();
            assert_eq!(r.status(), 401, "{p}");
            assert_eq!(error_code(r).await, "unauthenticated", "{p}");
        }
        assert_eq!(upstream.hits.load(std::sync::atomic::Ordering::SeqCst), before, "nothing reached the upstream");
    }

    async fn a_read_key_reads_and_cannot_write_and_a_revoked_key_stops_at_once(backend) {
        let app = TestApp::spawn(backend).await;
        let (read, read_id) = create_key(&app, "read");
        let email = unique_email();
        signed_up(&app, &email).await;
        let id = id_of(&app, &read, &email).await;
        let path = format!("{USERS}{id}/");
        expect(&app, Method::GET, &path, "/api/v1/admin/users/{id}/", &read, None, 200).await;
        for (method, p, body) in [
            (Method::PATCH, path.clone(), Some(json!({"disabled": true}))),
            (Method::DELETE, path.clone(), None),
            (Method::POST, format!("{path}reset-mfa/"), None),
            (Method::POST, format!("{path}revoke-sessions/"), None),
            (Method::POST, USERS.to_owned(), Some(json!({"email": unique_email()}))),
            (Method::POST, "/api/v1/admin/invites/".to_owned(), Some(json!({}))),
        ] {
            let r = call(&app, method.clone(), &p, &read, body).await;
            assert_eq!(r.status(), 403, "{method} {p}");
            assert_eq!(error_code(r).await, "forbidden");
        }
        // Nothing changed.
        let detail = expect(&app, Method::GET, &path, "/api/v1/admin/users/{id}/", &read, None, 200).await;
        assert_eq!(detail["disabled"], false);

        let out = cli(&app.db.url, &["admin-keys", "list", "--json"], "");
        let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
        let entry = listed.as_array().unwrap().iter().find(|k| k["id"] == read_id.as_str()).unwrap().clone();
        assert!(entry.get("key").is_none() && !listed.to_string().contains(&read), "a key is shown only once");
        assert!(entry["last_used_at"].is_string(), "{entry}");
        let out = cli(&app.db.url, &["admin-keys", "revoke", &read_id], "");
        assert!(out.status.success());
        let r = call(&app, Method::GET, USERS, &read, None).await;
        assert_eq!(r.status(), 401);
        assert_eq!(error_code(r).await, "invalid_token");
        let out = cli(&app.db.url, &["admin-keys", "revoke", &read_id], "");
        assert!(!out.status.success(), "revoking twice says so");
        // A made-up key, and one a character off, are refused alike.
        for bad in ["agk_", "agk_AAAA", &format!("{read}x"), &"agk_x".repeat(100)] {
            let r = call(&app, Method::GET, USERS, bad, None).await;
            assert_eq!(r.status(), 401, "{bad}");
        }
    }

    async fn an_admin_token_needs_the_admin_role_and_a_second_factor_and_loses_access_with_the_role(backend) {
        let app = TestApp::spawn(backend).await;
        let (key, _) = create_key(&app, "write");
        let r = app.client.get(app.url(USERS)).send().await.unwrap();
        assert_eq!(r.status(), 401);
        assert_eq!(error_code(r).await, "unauthenticated");

        let email = unique_email();
        let tokens = signed_up(&app, &email).await;
        let r = call(&app, Method::GET, USERS, &tokens.access, None).await;
        assert_eq!(r.status(), 403, "not an admin");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "forbidden");
        assert_conforms("GET", USERS, 403, Some(&body));

        let id = id_of(&app, &key, &email).await;
        expect(&app, Method::PATCH, &format!("{USERS}{id}/"), "/api/v1/admin/users/{id}/", &key, Some(json!({"roles": ["admin"]})), 200).await;
        let aal1 = Tokens::from_response(&app.refresh(&tokens.refresh).await);
        assert_eq!(claims(&aal1.access)["aal"], "aal1");
        let r = call(&app, Method::GET, USERS, &aal1.access, None).await;
        assert_eq!(r.status(), 403, "an admin without a second factor");
        assert!(r.text().await.unwrap().contains("aal2"));

        let (secret, step) = enable_totp(&app, &aal1).await;
        let code = hotp(&secret, step.max(step_now()) + 1, 6);
        let resp = app.post_json("/api/v1/auth/signin/", &json!({"login": email, "password": PW, "code": code})).await;
        assert_eq!(resp.status(), 204);
        let aal2 = Tokens::from_response(&resp);
        assert_eq!(claims(&aal2.access)["aal"], "aal2");
        let page = expect(&app, Method::GET, USERS, USERS, &aal2.access, None, 200).await;
        assert!(!page["items"].as_array().unwrap().is_empty());
        // By cookie as well (an admin UI in the browser).
        let r = app.client.get(app.url(USERS)).header("cookie", format!("access_token={}", aal2.access)).send().await.unwrap();
        assert_eq!(r.status(), 200);

        // An admin's action is audited with the admin as the actor.
        let other = unique_email();
        signed_up(&app, &other).await;
        let other_id = id_of(&app, &key, &other).await;
        expect(&app, Method::POST, &format!("{USERS}{other_id}/revoke-sessions/"), "/api/v1/admin/users/{id}/revoke-sessions/", &aal2.access, None, 200).await;
        let log = expect(&app, Method::GET, &format!("/api/v1/admin/audit/?user={other_id}&kind=admin_revoke_sessions"), "/api/v1/admin/audit/", &key, None, 200).await;
        assert_eq!(log["items"][0]["actor"], format!("user:{id}"));

        // The role taken away, the same token is refused at once (not at its next refresh).
        let out = cli(&app.db.url, &["roles", "revoke", &email, "admin"], "");
        assert!(out.status.success());
        let r = call(&app, Method::GET, USERS, &aal2.access, None).await;
        assert_eq!(r.status(), 403);
    }

    async fn admins_create_change_rescue_and_delete_accounts(backend) {
        let smtp = SmtpServer::start().await;
        let app = crate::mail::mail_app(backend, &smtp, |_| {}).await;
        let (key, key_id) = create_key(&app, "write");

        // With a password: it signs in with it.
        let email = unique_email();
        let created = expect(&app, Method::POST, USERS, USERS, &key, Some(json!({"email": email, "password": PW, "name": "Ada", "email_verified": true, "roles": ["billing", "admin", "billing"]})), 201).await;
        assert_eq!(created["name"], "Ada");
        assert_eq!(created["email_verified"], true);
        assert_eq!(created["has_password"], true);
        assert_eq!(created["roles"], json!(["admin", "billing"]));
        let resp = app.signin(&email, PW, false).await;
        assert_eq!(resp.status(), 204);
        let tokens = Tokens::from_response(&resp);
        let id = user_id_of(&created);
        let path = format!("{USERS}{id}/");

        // Without one: invited, mailed a code to set a password with.
        let invited = unique_email();
        let body = expect(&app, Method::POST, USERS, USERS, &key, Some(json!({"email": invited})), 201).await;
        assert_eq!(body["has_password"], false);
        let code = smtp.wait_for(&invited).await.code();
        let r = app.post_json("/api/v1/auth/password/reset/", &json!({"email": invited, "code": code, "password": "a brand new passphrase"})).await;
        assert!(r.status().is_success(), "{}", r.status());
        assert_eq!(app.signin(&invited, "a brand new passphrase", false).await.status(), 204);

        // The same address twice, a bad one, a weak password, an unknown field.
        let r = call(&app, Method::POST, USERS, &key, Some(json!({"email": email}))).await;
        assert_eq!(r.status(), 409);
        assert_eq!(error_code(r).await, "email_taken");
        for body in [json!({"email": "not an address"}), json!({"email": unique_email(), "password": "short"}), json!({"email": unique_email(), "admin": true}), json!({"email": unique_email(), "roles": ["Admin"]})] {
            let r = call(&app, Method::POST, USERS, &key, Some(body.clone())).await;
            assert_eq!(r.status(), 400, "{body}");
            let b: Value = r.json().await.unwrap();
            assert_conforms("POST", USERS, 400, Some(&b));
        }

        // Read one: profile, factors without secrets, live sessions, recent events.
        let detail = expect(&app, Method::GET, &path, "/api/v1/admin/users/{id}/", &key, None, 200).await;
        assert_eq!(detail["live_sessions"].as_array().unwrap().len(), 1);
        assert_eq!(detail["factors"]["password"], true);
        assert!(detail["recent_events"].as_array().unwrap().iter().any(|e| e["kind"] == "admin_create" && e["actor"] == format!("key:{key_id}")));
        let text = detail.to_string();
        assert!(!text.contains("$2") && !text.contains("password_hash"), "no hash in {text}");

        // Patch: name, verified flag, roles; then disable, which ends every session.
        let patched = expect(&app, Method::PATCH, &path, "/api/v1/admin/users/{id}/", &key, Some(json!({"name": "Ada L.", "email_verified": false, "roles": ["billing"]})), 200).await;
        assert_eq!(patched["name"], "Ada L.");
        assert_eq!(patched["email_verified"], false);
        assert_eq!(patched["roles"], json!(["billing"]));
        let disabled = expect(&app, Method::PATCH, &path, "/api/v1/admin/users/{id}/", &key, Some(json!({"disabled": true})), 200).await;
        assert_eq!(disabled["disabled"], true);
        assert_eq!(disabled["live_sessions"], json!([]));
        assert_eq!(app.refresh(&tokens.refresh).await.status(), 401);
        assert_ne!(app.signin(&email, PW, false).await.status(), 204);
        expect(&app, Method::PATCH, &path, "/api/v1/admin/users/{id}/", &key, Some(json!({"disabled": false})), 200).await;
        let resp = app.signin(&email, PW, false).await;
        assert_eq!(resp.status(), 204);
        for body in [json!({"roles": ["Nope"]}), json!({"name": ""}), json!({"disabled": "yes"}), json!({"email": "x@example.com"})] {
            let r = call(&app, Method::PATCH, &path, &key, Some(body.clone())).await;
            assert_eq!(r.status(), 400, "{body}");
        }

        // Reset the second factor and end the sessions.
        let signed = Tokens::from_response(&resp);
        enable_totp(&app, &signed).await;
        let ended = expect(&app, Method::POST, &format!("{path}reset-mfa/"), "/api/v1/admin/users/{id}/reset-mfa/", &key, None, 200).await;
        assert!(ended["sessions_ended"].as_u64().unwrap() >= 1);
        assert_eq!(app.signin(&email, PW, false).await.status(), 204, "no second factor asked any more");
        let ended = expect(&app, Method::POST, &format!("{path}revoke-sessions/"), "/api/v1/admin/users/{id}/revoke-sessions/", &key, None, 200).await;
        assert_eq!(ended["sessions_ended"], 1);

        // Delete: gone, and a second delete is 404.
        expect(&app, Method::DELETE, &path, "/api/v1/admin/users/{id}/", &key, None, 204).await;
        expect(&app, Method::GET, &path, "/api/v1/admin/users/{id}/", &key, None, 404).await;
        expect(&app, Method::DELETE, &path, "/api/v1/admin/users/{id}/", &key, None, 404).await;
        for p in [format!("{USERS}nope/"), format!("{USERS}{}/", "x".repeat(500))] {
            let r = call(&app, Method::GET, &p, &key, None).await;
            assert_eq!(r.status(), 404, "{p}");
        }
        let log = expect(&app, Method::GET, "/api/v1/admin/audit/?kind=admin_delete", "/api/v1/admin/audit/", &key, None, 200).await;
        assert_eq!(log["items"][0]["actor"], format!("key:{key_id}"));
        assert!(log["items"][0]["user_id"].is_null(), "an erased account is named nowhere");
    }

    async fn an_admin_who_deletes_their_own_account_leaves_only_a_pseudonym_behind(backend) {
        let app = TestApp::spawn(backend).await;
        let (key, _) = create_key(&app, "write");
        let email = unique_email();
        let tokens = signed_up(&app, &email).await;
        let id = id_of(&app, &key, &email).await;
        expect(&app, Method::PATCH, &format!("{USERS}{id}/"), "/api/v1/admin/users/{id}/", &key, Some(json!({"roles": ["admin"]})), 200).await;
        let (secret, step) = enable_totp(&app, &tokens).await;
        let resp = app.post_json("/api/v1/auth/signin/", &json!({"login": email, "password": PW, "code": hotp(&secret, step.max(step_now()) + 1, 6)})).await;
        let admin = Tokens::from_response(&resp);
        // An action of theirs first, then their own deletion.
        let other = unique_email();
        signed_up(&app, &other).await;
        let other_id = id_of(&app, &key, &other).await;
        expect(&app, Method::POST, &format!("{USERS}{other_id}/revoke-sessions/"), "/api/v1/admin/users/{id}/revoke-sessions/", &admin.access, None, 200).await;
        expect(&app, Method::DELETE, &format!("{USERS}{id}/"), "/api/v1/admin/users/{id}/", &admin.access, None, 204).await;
        assert_eq!(crate::erasure::tables_holding(&app, &id), Vec::<String>::new(), "the id is nowhere");
        let log = expect(&app, Method::GET, "/api/v1/admin/audit/?limit=200", "/api/v1/admin/audit/", &key, None, 200).await;
        let actors: Vec<&str> = log["items"].as_array().unwrap().iter()
            .filter(|e| e["kind"] == "admin_delete" || e["kind"] == "admin_revoke_sessions")
            .map(|e| e["actor"].as_str().unwrap()).collect();
        assert_eq!(actors.len(), 2, "{log}");
        assert!(actors.iter().all(|a| a.starts_with("erased:") && *a == actors[0]), "one pseudonym for both: {actors:?}");
    }

    async fn lists_page_with_a_cursor_and_filter_by_prefix_role_and_time(backend) {
        let app = TestApp::spawn(backend).await;
        let (key, _) = create_key(&app, "write");
        let tag = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
        let mut ids = Vec::new();
        for i in 0..5 {
            let body = expect(&app, Method::POST, USERS, USERS, &key, Some(json!({"email": format!("p{tag}-{i}@example.com"), "password": PW, "roles": if i % 2 == 0 { json!(["staff"]) } else { json!([]) }})), 201).await;
            ids.push(user_id_of(&body));
        }
        // A prefix with LIKE's wildcards matches them only literally.
        let r = expect(&app, Method::GET, &format!("{USERS}?q=p{tag}"), USERS, &key, None, 200).await;
        assert_eq!(r["items"].as_array().unwrap().len(), 5);
        for q in ["%25", "_", &format!("p{}%25", &tag[..4])] {
            let r = expect(&app, Method::GET, &format!("{USERS}?q={q}"), USERS, &key, None, 200).await;
            assert_eq!(r["items"], json!([]), "{q}");
        }
        let r = expect(&app, Method::GET, &format!("{USERS}?q=P{}", tag.to_uppercase()), USERS, &key, None, 200).await;
        assert_eq!(r["items"].as_array().unwrap().len(), 5, "addresses are matched as they are stored, lower-cased");

        // Pages of two, in creation order, to the end.
        let mut seen = Vec::new();
        let mut next = format!("{USERS}?q=p{tag}&limit=2");
        loop {
            let page = expect(&app, Method::GET, &next, USERS, &key, None, 200).await;
            let items = page["items"].as_array().unwrap();
            assert!(items.len() <= 2);
            seen.extend(items.iter().map(|u| u["id"].as_str().unwrap().to_owned()));
            match page["next_cursor"].as_str() {
                Some(c) => next = format!("{USERS}?q=p{tag}&limit=2&cursor={c}"),
                None => break,
            }
        }
        assert_eq!(seen, ids);

        let staff = expect(&app, Method::GET, &format!("{USERS}?q=p{tag}&role=staff"), USERS, &key, None, 200).await;
        let staff_ids: Vec<&str> = staff["items"].as_array().unwrap().iter().map(|u| u["id"].as_str().unwrap()).collect();
        assert_eq!(staff_ids, vec![ids[0].as_str(), ids[2].as_str(), ids[4].as_str()]);
        assert!(staff["items"].as_array().unwrap().iter().all(|u| u["roles"] == json!(["staff"])));
        let future = expect(&app, Method::GET, &format!("{USERS}?q=p{tag}&created_after=2999-01-01T00:00:00Z"), USERS, &key, None, 200).await;
        assert_eq!(future["items"], json!([]));
        let past = expect(&app, Method::GET, &format!("{USERS}?q=p{tag}&created_before=2999-01-01T00:00:00Z&created_after=2000-01-01T00:00:00%2B02:00"), USERS, &key, None, 200).await;
        assert_eq!(past["items"].as_array().unwrap().len(), 5);

        for (query, code) in [
            ("cursor=not-a-cursor", "invalid_cursor"),
            ("limit=0", "invalid_limit"),
            ("limit=1000", "invalid_limit"),
            ("created_after=yesterday", "invalid_time"),
            ("role=Admin", "invalid_role"),
            ("sort=email", "invalid_query"),
            ("q=a&q=b", "invalid_query"),
        ] {
            let r = call(&app, Method::GET, &format!("{USERS}?{query}"), &key, None).await;
            assert_eq!(r.status(), 400, "{query}");
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["error"], code, "{query}");
            assert_conforms("GET", USERS, 400, Some(&body));
        }
    }

    async fn invitations_made_through_the_api_open_an_invite_only_signup(backend) {
        let app = TestApp::spawn_with(backend, |s| s.invite_only = true).await;
        let (key, _) = create_key(&app, "write");
        let created = expect(&app, Method::POST, "/api/v1/admin/invites/", "/api/v1/admin/invites/", &key, Some(json!({"uses": 1, "expires_in": 3600})), 201).await;
        let code = created["code"].as_str().unwrap().to_owned();
        assert_eq!(created["max_uses"], 1);
        let list = expect(&app, Method::GET, "/api/v1/admin/invites/", "/api/v1/admin/invites/", &key, None, 200).await;
        assert!(!list.to_string().contains(&code), "a code is shown once");
        assert_eq!(list["items"][0]["hash_prefix"], created["hash_prefix"]);
        let r = app.post_json("/api/v1/auth/signup/", &json!({"email": unique_email(), "password": PW, "name": "In", "invite_code": code})).await;
        assert_eq!(r.status(), 201);
        let list = expect(&app, Method::GET, "/api/v1/admin/invites/", "/api/v1/admin/invites/", &key, None, 200).await;
        assert_eq!(list["items"][0]["uses"], 1);
        for body in [json!({"uses": 0}), json!({"expires_in": 0}), json!({"uses": "many"})] {
            let r = call(&app, Method::POST, "/api/v1/admin/invites/", &key, Some(body.clone())).await;
            assert_eq!(r.status(), 400, "{body}");
        }
    }

    async fn the_audit_log_filters_by_user_kind_and_time_newest_first(backend) {
        let app = TestApp::spawn(backend).await;
        let (key, _) = create_key(&app, "read");
        let email = unique_email();
        signed_up(&app, &email).await;
        assert_eq!(app.signin(&email, "wrong password!", false).await.status(), 401);
        assert_eq!(app.signin(&email, PW, false).await.status(), 204);
        let id = id_of(&app, &key, &email).await;
        let log = expect(&app, Method::GET, &format!("/api/v1/admin/audit/?user={id}"), "/api/v1/admin/audit/", &key, None, 200).await;
        let kinds: Vec<(&str, &str)> = log["items"].as_array().unwrap().iter().map(|e| (e["kind"].as_str().unwrap(), e["outcome"].as_str().unwrap())).collect();
        assert_eq!(&kinds[..3], &[("signin", "success"), ("signin", "bad_password"), ("signup", "success")], "{kinds:?}");
        let one = expect(&app, Method::GET, &format!("/api/v1/admin/audit/?user={id}&kind=signin&limit=1"), "/api/v1/admin/audit/", &key, None, 200).await;
        assert_eq!(one["items"].as_array().unwrap().len(), 1);
        let cursor = one["next_cursor"].as_str().unwrap();
        let rest = expect(&app, Method::GET, &format!("/api/v1/admin/audit/?user={id}&kind=signin&cursor={cursor}"), "/api/v1/admin/audit/", &key, None, 200).await;
        assert_eq!(rest["items"].as_array().unwrap().len(), 1);
        assert_eq!(rest["items"][0]["outcome"], "bad_password");
        assert!(rest.get("next_cursor").is_none());
        let later = expect(&app, Method::GET, &format!("/api/v1/admin/audit/?user={id}&since=2999-01-01T00:00:00Z"), "/api/v1/admin/audit/", &key, None, 200).await;
        assert_eq!(later["items"], json!([]));
        let r = call(&app, Method::GET, "/api/v1/admin/audit/?since=now", &key, None).await;
        assert_eq!(r.status(), 400);
    }
}
