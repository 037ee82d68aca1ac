//! A small SMTP server for the tests: a real protocol peer on a TCP port (EHLO/HELO, optional
//! AUTH PLAIN/LOGIN, MAIL FROM, RCPT TO, DATA with dot-unstuffing, RSET, NOOP, QUIT). It records
//! each message's envelope recipients and data, and can be stopped and started again on the
//! same port to play "SMTP down, then up".

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

#[derive(Debug, Clone)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
    pub at: Instant,
}

impl Received {
    /// The data with quoted-printable undone (soft line breaks joined, `=XX` decoded), which is
    /// how lettre encodes parts with long lines.
    pub fn text(&self) -> String {
        let joined = self.data.replace("=\r\n", "");
        let bytes = joined.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'=' && i + 2 < bytes.len() {
                if let Ok(b) = u8::from_str_radix(&joined[i + 1..i + 3], 16) {
                    out.push(b);
                    i += 3;
                    continue;
                }
            }
            out.push(bytes[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// The 6-digit code after "code: " in the plain-text part.
    pub fn code(&self) -> String {
        let text = self.text();
        let start = text
            .find("code: ")
            .unwrap_or_else(|| panic!("no code in mail:\n{}", self.data))
            + "code: ".len();
        let code: String = text[start..].chars().take(6).collect();
        assert!(
            code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()),
            "not a 6-digit code: {code:?}"
        );
        code
    }

    pub fn subject(&self) -> String {
        self.data
            .lines()
            .find_map(|l| l.strip_prefix("Subject: "))
            .unwrap_or_default()
            .to_owned()
    }
}

#[derive(Default)]
struct Shared {
    messages: Vec<Received>,
    /// While set, a message's data is read but never answered or kept: the conversation hangs
    /// as with a server that stalls mid-delivery.
    stall: bool,
    /// Conversations that reached the end of a message's data.
    data_ends: usize,
    /// Decoded `user\0password` / `user`,`password` pairs presented with AUTH.
    auths: Vec<(String, String)>,
}

pub struct SmtpServer {
    pub port: u16,
    shared: Arc<Mutex<Shared>>,
    task: Option<JoinHandle<()>>,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
    advertise_auth: bool,
}

impl SmtpServer {
    pub async fn start() -> Self {
        Self::start_with(0, false).await
    }

    /// Advertises AUTH PLAIN and LOGIN and accepts any credentials (recording them).
    pub async fn start_with_auth() -> Self {
        Self::start_with(0, true).await
    }

    async fn start_with(port: u16, advertise_auth: bool) -> Self {
        let mut server = Self {
            port,
            shared: Arc::default(),
            task: None,
            conns: Arc::default(),
            advertise_auth,
        };
        server.listen().await;
        server
    }

    async fn listen(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("bind SMTP");
        self.port = listener.local_addr().unwrap().port();
        let shared = self.shared.clone();
        let conns = self.conns.clone();
        let auth = self.advertise_auth;
        self.task = Some(tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let shared = shared.clone();
                let handle = tokio::spawn(async move {
                    let _ = session(stream, shared, auth).await;
                });
                conns.lock().unwrap().push(handle);
            }
        }));
    }

    /// Closes the port and drops every open connection: SMTP is down.
    pub async fn stop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
            let _ = t.await;
        }
        for c in self.conns.lock().unwrap().drain(..) {
            c.abort();
        }
    }

    /// Listens again on the same port, keeping what was received.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.listen().await;
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn messages(&self) -> Vec<Received> {
        self.shared.lock().unwrap().messages.clone()
    }

    /// Makes every later message hang after its data (see [`Shared::stall`]), or stops that.
    pub fn stall(&self, on: bool) {
        self.shared.lock().unwrap().stall = on;
    }

    /// How many messages' data has been sent in full, answered or not.
    pub fn data_ends(&self) -> usize {
        self.shared.lock().unwrap().data_ends
    }

    pub fn auths(&self) -> Vec<(String, String)> {
        self.shared.lock().unwrap().auths.clone()
    }

    pub fn to(&self, rcpt: &str) -> Vec<Received> {
        self.messages()
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t == rcpt))
            .collect()
    }

    /// Waits for the `n`-th (1-based) message to `rcpt`.
    pub async fn wait_for_nth(&self, rcpt: &str, n: usize, timeout: Duration) -> Received {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.to(rcpt);
            if got.len() >= n {
                return got[n - 1].clone();
            }
            assert!(
                Instant::now() < deadline,
                "no mail #{n} to {rcpt} within {timeout:?}; have {} (all: {:?})",
                got.len(),
                self.messages().iter().map(|m| &m.to).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub async fn wait_for(&self, rcpt: &str) -> Received {
        self.wait_for_nth(rcpt, 1, Duration::from_secs(10)).await
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
        if let Ok(mut conns) = self.conns.lock() {
            for c in conns.drain(..) {
                c.abort();
            }
        }
    }
}

fn angle(arg: &str) -> String {
    let s = arg.trim();
    let s = s.split_once(':').map_or(s, |(_, v)| v).trim();
    let s = s.split_whitespace().next().unwrap_or_default();
    s.trim_start_matches('<').trim_end_matches('>').to_owned()
}

fn b64(s: &str) -> String {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

async fn session(
    stream: TcpStream,
    shared: Arc<Mutex<Shared>>,
    advertise_auth: bool,
) -> std::io::Result<()> {
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    w.write_all(b"220 test-smtp ESMTP ready\r\n").await?;
    let (mut from, mut to) = (String::new(), Vec::<String>::new());
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let cmd = line.trim_end_matches(['\r', '\n']);
        let upper = cmd.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") {
            if advertise_auth {
                b"250-test-smtp\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n"
            } else {
                b"250-test-smtp\r\n250 8BITMIME\r\n"
            }
        } else if upper.starts_with("HELO") {
            b"250 test-smtp\r\n"
        } else if upper.starts_with("AUTH PLAIN") {
            let arg = cmd[10..].trim().to_owned();
            let arg = if arg.is_empty() {
                w.write_all(b"334 \r\n").await?;
                let mut l = String::new();
                r.read_line(&mut l).await?;
                l
            } else {
                arg
            };
            let decoded = b64(&arg);
            let mut parts = decoded.split('\0').skip(1);
            let user = parts.next().unwrap_or_default().to_owned();
            let pass = parts.next().unwrap_or_default().to_owned();
            shared.lock().unwrap().auths.push((user, pass));
            b"235 2.7.0 Authentication successful\r\n"
        } else if upper.starts_with("AUTH LOGIN") {
            w.write_all(b"334 VXNlcm5hbWU6\r\n").await?;
            let mut u = String::new();
            r.read_line(&mut u).await?;
            w.write_all(b"334 UGFzc3dvcmQ6\r\n").await?;
            let mut p = String::new();
            r.read_line(&mut p).await?;
            shared.lock().unwrap().auths.push((b64(&u), b64(&p)));
            b"235 2.7.0 Authentication successful\r\n"
        } else if upper.starts_with("MAIL FROM") {
            from = angle(cmd);
            to.clear();
            b"250 OK\r\n"
        } else if upper.starts_with("RCPT TO") {
            to.push(angle(cmd));
            b"250 OK\r\n"
        } else if upper == "DATA" {
            w.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                .await?;
            let mut data = String::new();
            loop {
                let mut l = String::new();
                if r.read_line(&mut l).await? == 0 {
                    return Ok(());
                }
                let content = l.trim_end_matches(['\r', '\n']);
                if content == "." {
                    break;
                }
                let content = content.strip_prefix('.').unwrap_or(content);
                data.push_str(content);
                data.push_str("\r\n");
            }
            let stall = {
                let mut shared = shared.lock().unwrap();
                shared.data_ends += 1;
                shared.stall
            };
            if stall {
                // Never answer: the sender waits until it gives up or dies.
                std::future::pending::<()>().await;
            }
            shared.lock().unwrap().messages.push(Received {
                from: std::mem::take(&mut from),
                to: std::mem::take(&mut to),
                data,
                at: Instant::now(),
            });
            b"250 OK: queued\r\n"
        } else if upper == "RSET" {
            from.clear();
            to.clear();
            b"250 OK\r\n"
        } else if upper == "NOOP" {
            b"250 OK\r\n"
        } else if upper == "QUIT" {
            w.write_all(b"221 Bye\r\n").await?;
            return Ok(());
        } else {
            b"502 Command not implemented\r\n"
        };
        w.write_all(reply).await?;
    }
}
