//! Roles: granted by an operator, carried in the access token from the next refresh, answered by
//! `verify/` and passed on by the proxy, required by `verify/?role=` and proxy path rules.

use serde_json::{json, Value};

use crate::helpers::*;
use crate::mfa::{claims, cli, cli_with};

/// Grants or revokes through the service the CLI uses.
fn change(app: &TestApp, email: &str, role: &str, grant: bool, end_sessions: bool) {
    let mut conn = app.state.pool.get().unwrap();
    let user = authgate::db::users::find_by_email(&mut conn, email)
        .unwrap()
        .unwrap();
    let role = authgate::domain::Role::parse(role).unwrap();
    authgate::service::roles::change(
        &app.state,
        &mut conn,
        &Default::default(),
        &user,
        &role,
        grant,
        end_sessions,
    )
    .unwrap();
}

async fn verify(
    app: &TestApp,
    access: &str,
    query: &str,
    header: Option<&str>,
) -> reqwest::Response {
    let mut req = app
        .client
        .get(app.url(&format!("/api/v1/auth/verify/{query}")))
        .bearer_auth(access);
    if let Some(h) = header {
        req = req.header("X-Auth-Require-Role", h);
    }
    req.send().await.unwrap()
}

both_backends! {
    async fn a_granted_role_reaches_the_token_at_the_next_refresh_and_verify_requires_it(backend) {
        let app = TestApp::spawn(backend).await;
        let email = unique_email();
        let tokens = Tokens::from_response(&app.signup(&email, "correct horse battery").await);
        assert_eq!(claims(&tokens.access)["roles"], json!([]));
        let r = verify(&app, &tokens.access, "", None).await;
        assert_eq!(r.status(), 204);
        assert_eq!(r.headers()["x-auth-roles"], "", "always sent, so an upstream never trusts a client's copy");
        assert_eq!(verify(&app, &tokens.access, "?role=admin", None).await.status(), 403);

        change(&app, &email, "admin", true, false);
        change(&app, &email, "billing", true, false);
        // The token in hand still says what it said; the next refresh carries the roles.
        assert_eq!(verify(&app, &tokens.access, "?role=admin", None).await.status(), 403);
        let rotated = app.refresh(&tokens.refresh).await;
        assert_eq!(rotated.status(), 204);
        let fresh = Tokens::from_response(&rotated);
        assert_eq!(claims(&fresh.access)["roles"], json!(["admin", "billing"]));
        let me: Value = app.get_user_bearer(&fresh.access).await.json().await.unwrap();
        assert_eq!(me["roles"], json!(["admin", "billing"]));

        let r = verify(&app, &fresh.access, "?role=admin", None).await;
        assert_eq!(r.status(), 204);
        assert_eq!(r.headers()["x-auth-roles"], "admin,billing");
        for (query, header) in [("?role=admin&role=billing", None), ("?role=admin,billing", None), ("", Some("admin, billing"))] {
            assert_eq!(verify(&app, &fresh.access, query, header).await.status(), 204, "{query} {header:?}");
        }
        for (query, header) in [("?role=auditor", None), ("?role=admin&role=auditor", None), ("", Some("admin,auditor")), ("?role=admin", Some("auditor"))] {
            let r = verify(&app, &fresh.access, query, header).await;
            assert_eq!(r.status(), 403, "{query} {header:?}");
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["error"], "forbidden");
        }
        // The Envoy form (the original path appended) reads the same parameter.
        let r = app.client.get(app.url("/api/v1/auth/verify/admin/page?role=auditor")).bearer_auth(&fresh.access).send().await.unwrap();
        assert_eq!(r.status(), 403);
        // A name that cannot be a role is a bad request, not a pass.
        let r = verify(&app, &fresh.access, "?role=Admin", None).await;
        assert_eq!(r.status(), 400);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "invalid_role");

        // Revoked with the sessions ended: refresh fails at once.
        change(&app, &email, "admin", false, true);
        assert_eq!(app.refresh(&fresh.refresh).await.status(), 401);
        let again = Tokens::from_response(&app.signin(&email, "correct horse battery", false).await);
        assert_eq!(claims(&again.access)["roles"], json!(["billing"]));
    }

    async fn new_accounts_get_the_default_roles(backend) {
        let app = TestApp::spawn_with(backend, |s| s.default_roles = vec!["member".into(), "reader".into()]).await;
        let tokens = Tokens::from_response(&app.signup(&unique_email(), "correct horse battery").await);
        assert_eq!(claims(&tokens.access)["roles"], json!(["member", "reader"]));
    }

    async fn the_sidecar_requires_roles_by_path_and_passes_them_on(backend) {
        let upstream = crate::proxy::start_upstream().await;
        let app = crate::proxy::proxied_app(backend, &upstream, |s| {
            s.proxy_require_role = authgate::settings::role_rules("/admin/*:admin,/billing/*:billing").unwrap();
        }).await;
        let email = unique_email();
        let tokens = Tokens::from_response(&app.signup(&email, "correct horse battery").await);
        let get = |path: &'static str, access: String| {
            let app = &app;
            async move {
                app.client.get(app.url(path)).bearer_auth(access).send().await.unwrap()
            }
        };
        assert_eq!(get("/app/page", tokens.access.clone()).await.status(), 200);
        // Every spelling of the path is the same decision.
        for path in ["/admin/users", "/admin", "/ADMIN/users", "/admin//users", "/x/../admin/users", "/%61dmin/users", "/admin;x=1/users"] {
            let r = get(path, tokens.access.clone()).await;
            assert_eq!(r.status(), 403, "{path}");
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["error"], "forbidden", "{path}");
        }
        change(&app, &email, "admin", true, false);
        let fresh = Tokens::from_response(&app.refresh(&tokens.refresh).await);
        let r = get("/admin/users", fresh.access.clone()).await;
        assert_eq!(r.status(), 200);
        let echoed: Value = r.json().await.unwrap();
        assert_eq!(echoed["headers"]["x-auth-roles"], json!(["admin"]));
        assert_eq!(get("/billing/invoices", fresh.access.clone()).await.status(), 403);
        // A client's own X-Auth-Roles never reaches the upstream.
        let r = app.client.get(app.url("/app/page")).bearer_auth(&fresh.access)
            .header("X-Auth-Roles", "billing").header("X_Auth_Roles", "billing").send().await.unwrap();
        let echoed: Value = r.json().await.unwrap();
        assert_eq!(echoed["headers"]["x-auth-roles"], json!(["admin"]));
        assert!(echoed["headers"].get("x_auth_roles").is_none());
    }

    async fn operators_grant_revoke_and_list_roles_from_the_cli(backend) {
        let app = TestApp::spawn(backend).await;
        let email = unique_email();
        let tokens = Tokens::from_response(&app.signup(&email, "correct horse battery").await);
        let url = app.db.url.clone();
        let out = cli(&url, &["roles", "--json", "grant", &email, "admin"], "");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let body: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(body["changed"], true);
        assert_eq!(body["roles"], json!(["admin"]));
        let out = cli(&url, &["roles", "--json", "grant", &email, "admin"], "");
        let body: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(body["changed"], false, "granting twice changes nothing");
        let out = cli(&url, &["roles", "--json", "list"], "");
        let body: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(body.as_array().unwrap().contains(&json!({"email": email, "roles": ["admin"]})));
        let out = cli(&url, &["roles", "grant", &email, "Not A Role"], "");
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("lower-case"));
        let out = cli(&url, &["roles", "grant", "nobody@example.com", "admin"], "");
        assert!(!out.status.success());
        // Audited as the operator's.
        let mut conn = app.state.pool.get().unwrap();
        let user = authgate::db::users::find_by_email(&mut conn, &email).unwrap().unwrap();
        let kinds: Vec<String> = authgate::db::events::all_for_user(&mut conn, &user.id).unwrap().into_iter().map(|e| e.kind).collect();
        assert!(kinds.contains(&"admin_role_granted".to_owned()), "{kinds:?}");
        drop(conn);
        // Revoked with --end-sessions: the session in hand ends.
        let out = cli_with(&url, &["roles", "revoke", "--end-sessions", &email, "admin"], "", &[]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(app.refresh(&tokens.refresh).await.status(), 401);
    }
}
