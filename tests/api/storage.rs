//! SQLite on a file system that fills up or turns read-only: a clear 503, nothing half-written,
//! and service resumes by itself once the disk is usable again. Uses a real tmpfs mount (root).

use std::process::Command;

use diesel::{Connection as _, RunQueryDsl as _};
use serde_json::json;

use crate::helpers::*;

struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            assert!(
                std::env::var_os("AUTHGATE_TEST_REQUIRE_PEERS").is_none(),
                "mounting a tmpfs is required (root)"
            );
            eprintln!("*** cannot mount a tmpfs (needs root): storage test SKIPPED ***");
            return None;
        }
        Some(Self { dir })
    }

    fn remount(&self, opts: &str) {
        let ok = Command::new("mount")
            .args(["-o", &format!("remount,{opts}")])
            .arg(self.dir.path())
            .status()
            .unwrap()
            .success();
        assert!(ok, "remount {opts}");
    }

    fn db_url(&self) -> String {
        format!("sqlite://{}", self.dir.path().join("authgate.db").display())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

#[derive(diesel::QueryableByName)]
struct IntegrityCheck {
    #[diesel(sql_type = diesel::sql_types::Text)]
    integrity_check: String,
}

fn integrity(url: &str) -> String {
    let mut conn =
        diesel::SqliteConnection::establish(url.trim_start_matches("sqlite://")).unwrap();
    let rows: Vec<IntegrityCheck> = diesel::sql_query("PRAGMA integrity_check")
        .load(&mut conn)
        .unwrap();
    rows.into_iter()
        .map(|r| r.integrity_check)
        .collect::<Vec<_>>()
        .join(";")
}

async fn signup(app: &TestApp, email: &str) -> reqwest::Response {
    app.post_json(
        "/api/v1/auth/signup/",
        &json!({"email": email, "password": "correct horse battery", "name": "x".repeat(90)}),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_on_a_full_disk_answers_503_and_recovers_without_corruption() {
    let Some(fs) = Tmpfs::mount("2m") else { return };
    let url = fs.db_url();
    let app = TestApp::spawn_with(Backend::Sqlite, |s| {
        s.database_url = authgate::settings::DatabaseUrl::parse(&url).unwrap()
    })
    .await;
    let mut created = Vec::new();
    let mut failure = None;
    for i in 0..5000 {
        let email = format!("fill{i}@example.com");
        let resp = signup(&app, &email).await;
        match resp.status().as_u16() {
            201 => created.push(email),
            _ => {
                failure = Some((email, resp));
                break;
            }
        }
    }
    let (failed_email, resp) = failure.expect("the disk never filled up");
    assert_eq!(resp.status(), 503, "a full disk is 503, not 500");
    assert!(resp.headers().contains_key("retry-after"));
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "storage_unavailable");
    assert!(body["message"].as_str().unwrap().contains("full"), "{body}");
    assert!(
        created.len() > 10,
        "some accounts fit first ({})",
        created.len()
    );

    fs.remount("size=16m");
    let again = signup(&app, &unique_email()).await;
    assert_eq!(again.status(), 201, "writes resume once there is space");
    assert_eq!(
        app.signin(&failed_email, "correct horse battery", false)
            .await
            .status(),
        401,
        "the failed sign-up left nothing behind"
    );
    for email in [&created[0], &created[created.len() - 1]] {
        assert_eq!(
            app.signin(email, "correct horse battery", false)
                .await
                .status(),
            204,
            "{email} survived"
        );
    }
    assert_eq!(integrity(&url), "ok");
}

/// A file system cannot turn read-only under an open SQLite database (the kernel refuses while
/// files are open for writing), so the case that happens is a start on a read-only disk: it must
/// fail at once with one clear line, and leave the data as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_on_a_read_only_file_system_fails_fast_with_a_clear_error() {
    let Some(fs) = Tmpfs::mount("16m") else {
        return;
    };
    let url = fs.db_url();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_authgate"))
            .args(args)
            .env("AUTHGATE_DATABASE_URL", &url)
            .env("AUTHGATE_LISTEN", "127.0.0.1:0")
            .env("AUTHGATE_LOG_FORMAT", "json")
            .output()
            .unwrap()
    };
    assert!(run(&["migrate"]).status.success());
    let before = integrity(&url);
    assert_eq!(before, "ok");

    fs.remount("ro");
    let started = std::time::Instant::now();
    let out = run(&["serve"]);
    assert!(
        !out.status.success(),
        "serve must not start on a read-only database"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "fails fast"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "one clear line: {stderr}");
    assert!(
        stderr.contains("authgate:") && (stderr.contains("read") || stderr.contains("open")),
        "{stderr}"
    );

    fs.remount("rw");
    assert_eq!(integrity(&url), "ok", "nothing was damaged");
}
