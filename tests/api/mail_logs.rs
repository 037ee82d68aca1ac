//! The real binary's logs (JSON, debug level) over a full mail flow hold no password, code,
//! token or SMTP password.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::*;
use crate::smtp::SmtpServer;

const SMTP_PASSWORD: &str = "smtp-S3cret-pa55word";

struct Binary {
    child: Child,
    base: String,
    logs: Arc<Mutex<String>>,
}

impl Binary {
    async fn start(db_url: &str, smtp_port: Option<u16>) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_authgate"));
        if let Some(smtp_port) = smtp_port {
            cmd.env(
                "AUTHGATE_SMTP_URL",
                format!("smtp://mailer:{SMTP_PASSWORD}@127.0.0.1:{smtp_port}"),
            );
            cmd.env("AUTHGATE_FRONTEND_URL", "https://app.example.com");
        }
        let mut child = cmd
            .arg("serve")
            .env("AUTHGATE_LISTEN", format!("127.0.0.1:{port}"))
            .env("AUTHGATE_DATABASE_URL", db_url)
            .env("AUTHGATE_BCRYPT_COST", "4")
            .env("AUTHGATE_WORKERS", "1")
            .env("AUTHGATE_LOG_FORMAT", "json")
            .env("AUTHGATE_LOG", "debug")
            .env("AUTHGATE_MAIL_COOLDOWN", "0s")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start authgate");
        let logs = Arc::new(Mutex::new(String::new()));
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let logs = logs.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let mut l = logs.lock().unwrap();
                    l.push_str(&line);
                    l.push('\n');
                }
            });
        }
        let bin = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            logs,
        };
        let c = client();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !matches!(c.get(format!("{}/readyz", bin.base)).send().await, Ok(r) if r.status() == 200)
        {
            assert!(Instant::now() < deadline, "authgate did not become ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bin
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `secret` appears in `logs`. A 6-digit code only counts where it stands alone, not as
/// part of a longer number (timestamps carry microseconds, durations long fractions).
fn leaks(logs: &str, secret: &str) -> bool {
    if !secret.bytes().all(|b| b.is_ascii_digit()) {
        return logs.contains(secret);
    }
    logs.match_indices(secret).any(|(i, _)| {
        let before = logs[..i].chars().next_back();
        let after = logs[i + secret.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_digit() || c == '.')
            && !after.is_some_and(|c| c.is_ascii_digit())
    })
}

both_backends! {
    async fn no_secret_reaches_the_logs_of_a_full_mail_flow(backend) {
        let smtp = SmtpServer::start_with_auth().await;
        let db = TestDb::create(backend);
        let bin = Binary::start(&db.url, Some(smtp.port)).await;
        let c = client();
        let email = unique_email();
        let (p1, p2, p3) = ("first Passw0rd-alpha", "second Passw0rd-beta", "third Passw0rd-gamma");
        let mut secrets: Vec<String> = vec![p1.into(), p2.into(), p3.into(), SMTP_PASSWORD.into()];

        let signup = c.post(bin.url("/api/v1/auth/signup/"))
            .json(&json!({"email": email, "password": p1, "name": "Logs"})).send().await.unwrap();
        assert_eq!(signup.status(), 201);
        let tokens = Tokens::from_response(&signup);
        secrets.push(tokens.access.clone());
        secrets.push(tokens.refresh.clone());
        let code = smtp.wait_for(&email).await.code();
        secrets.push(code.clone());
        let v = c.post(bin.url("/api/v1/auth/verify-email/")).bearer_auth(&tokens.access)
            .json(&json!({"verification_code": code})).send().await.unwrap();
        assert_eq!(v.status(), 200);

        let f = c.post(bin.url("/api/v1/auth/password/forgot/")).json(&json!({"email": email})).send().await.unwrap();
        assert_eq!(f.status(), 202);
        let reset_code = smtp.wait_for_nth(&email, 2, Duration::from_secs(10)).await.code();
        secrets.push(reset_code.clone());
        let r = c.post(bin.url("/api/v1/auth/password/reset/"))
            .json(&json!({"email": email, "code": reset_code, "password": p2})).send().await.unwrap();
        assert_eq!(r.status(), 204);

        let signin = c.post(bin.url("/api/v1/auth/signin/"))
            .json(&json!({"login": email, "password": p2})).send().await.unwrap();
        assert_eq!(signin.status(), 204);
        let t2 = Tokens::from_response(&signin);
        secrets.push(t2.access.clone());
        secrets.push(t2.refresh.clone());
        let ch = c.post(bin.url("/api/v1/auth/user/password/")).bearer_auth(&t2.access)
            .json(&json!({"old_password": p2, "password": p3})).send().await.unwrap();
        assert_eq!(ch.status(), 204);
        let wrong = c.post(bin.url("/api/v1/auth/signin/"))
            .json(&json!({"login": email, "password": p1})).send().await.unwrap();
        assert_eq!(wrong.status(), 401);
        // A refused token is logged at DEBUG: proves the debug level is captured.
        let bad = c.get(bin.url("/api/v1/auth/user/")).bearer_auth("not.a.jwt").send().await.unwrap();
        assert_eq!(bad.status(), 401);
        tokio::time::sleep(Duration::from_millis(300)).await;

        // Controls: the SMTP password was really used, and the logs really are being captured.
        assert!(smtp.auths().iter().all(|(u, p)| u == "mailer" && p == SMTP_PASSWORD));
        assert!(!smtp.auths().is_empty(), "the SMTP server saw the credentials");
        let logs = bin.logs.lock().unwrap().clone();
        assert!(logs.contains("request done") && logs.contains("mail sent"), "logs captured:\n{logs}");
        assert!(logs.contains("\"level\":\"DEBUG\"") && logs.contains("access token refused"), "debug level is on");
        assert!(logs.contains("mailer:[redacted]@127.0.0.1"), "the SMTP URL is logged redacted");
        for s in &secrets {
            assert!(!leaks(&logs, s), "secret {s:?} found in the logs:\n{logs}");
        }
        assert!(leaks(&format!("{{\"body\":\"Your code: {code}\"}}"), &code), "control: a leak is detected");
    }
}

both_backends! {
    async fn without_smtp_mail_goes_to_the_log_marked_development_only(backend) {
        let db = TestDb::create(backend);
        let bin = Binary::start(&db.url, None).await;
        let email = unique_email();
        let r = client().post(bin.url("/api/v1/auth/signup/"))
            .json(&json!({"email": email, "password": "correct horse battery", "name": "Dev"})).send().await.unwrap();
        assert_eq!(r.status(), 201);
        let deadline = Instant::now() + Duration::from_secs(10);
        let line = loop {
            let logs = bin.logs.lock().unwrap().clone();
            if let Some(l) = logs.lines().find(|l| l.contains("DEVELOPMENT ONLY") && l.contains(&email)) {
                break l.to_owned();
            }
            assert!(Instant::now() < deadline, "no development mail line in:\n{logs}");
            drop(logs);
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["level"], "WARN");
        assert_eq!(v["development_only"], true);
        assert!(v["body"].as_str().unwrap().contains("Your code: "));
        let logs = bin.logs.lock().unwrap().clone();
        assert!(logs.contains("AUTHGATE_SMTP_URL is not set"), "a startup warning says so");
    }
}
