//! A real OpenID provider for the tests: oidc-provider (certified) run by node from
//! `tests/peers/oidc` (`npm ci --prefix tests/peers/oidc`). Missing, a test using it is skipped
//! with one loud line; with `AUTHGATE_TEST_REQUIRE_PEERS` set (CI) that is a failure.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::peers::peer_available;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/oidc");

pub struct OidcPeer {
    pub issuer: String,
    child: Child,
}

impl OidcPeer {
    /// Starts the provider with `config` (see `tests/peers/oidc/server.mjs`); `None` when node or
    /// its packages are missing (and peers are not required).
    pub async fn start(config: Value) -> Option<OidcPeer> {
        let installed = std::path::Path::new(DIR)
            .join("node_modules/oidc-provider")
            .is_dir();
        let mut probe = Command::new("node");
        probe.arg("--version");
        if !installed {
            // Fails the same way as a missing node: skipped, or a failure when peers are required.
            probe = Command::new("false");
        }
        if !peer_available(
            "node with oidc-provider (npm ci --prefix tests/peers/oidc)",
            &mut probe,
        ) {
            return None;
        }
        let mut child = Command::new("node")
            .arg(format!("{DIR}/server.mjs"))
            .arg(config.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the OpenID provider");
        let stdout = child.stdout.take().expect("stdout");
        // Read on a thread that keeps draining the pipe: the provider must never write to a
        // closed one.
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = tx.send(lines.next());
            for _ in lines {}
        });
        let line = tokio::time::timeout(Duration::from_secs(30), rx)
            .await
            .expect("the provider announced its issuer in time")
            .unwrap()
            .expect("the provider printed its issuer")
            .unwrap();
        let announced: Value = serde_json::from_str(&line).expect("the provider's first line");
        Some(OidcPeer {
            issuer: announced["issuer"].as_str().unwrap().to_owned(),
            child,
        })
    }

    /// The provider signs with a new key from now on, and publishes only that one.
    pub async fn rotate_keys(&self) {
        let resp = reqwest::Client::new()
            .post(format!("{}/test/rotate", self.issuer))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 204);
    }

    pub async fn kids(&self) -> Vec<String> {
        let jwks: Value = reqwest::get(format!("{}/jwks", self.issuer))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Follows the provider's pages from `authorization_url` as a browser would, signing in as
    /// `login` through its form: the address it finally sends the browser to (the client's
    /// redirect URI with `code` and `state`, or `error`).
    pub async fn log_in(&self, authorization_url: &str, login: &str) -> String {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_store(true)
            .build()
            .unwrap();
        let mut next = authorization_url.to_owned();
        for _ in 0..10 {
            let resp = client.get(&next).send().await.unwrap();
            if resp.status() == 200 {
                let page = resp.text().await.unwrap();
                let action = page
                    .split("action=\"")
                    .nth(1)
                    .and_then(|s| s.split('"').next())
                    .unwrap_or_else(|| panic!("no login form in {page}"));
                let resp = client
                    .post(format!("{}{action}", self.issuer))
                    .form(&[("login", login)])
                    .send()
                    .await
                    .unwrap();
                next = self.absolute(&resp);
            } else {
                next = self.absolute(&resp);
            }
            if !next.starts_with(&self.issuer) {
                return next;
            }
        }
        panic!("the provider kept redirecting");
    }

    fn absolute(&self, resp: &reqwest::Response) -> String {
        assert!(
            resp.status().is_redirection(),
            "the provider answered {}",
            resp.status()
        );
        let location = resp.headers()["location"].to_str().unwrap();
        if location.starts_with('/') {
            format!("{}{location}", self.issuer)
        } else {
            location.to_owned()
        }
    }
}

impl Drop for OidcPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
