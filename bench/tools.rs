//! Helpers for the benchmark (`bench/run.py`), built with the same dependencies as authgate:
//!
//! - `ceiling ADDR TOKEN_FILE [WORKERS [DISTINCT]]`: the reference servers the benchmark measures
//!   against, in one actix-web process (same worker count as authgate unless WORKERS is given,
//!   0 = the default): `GET /plain` (bare handler), `POST /cookie` (204 + a cookie),
//!   `GET /ed25519` (verifies one Ed25519 JWT per request, jsonwebtoken, no cache), `GET /hs256`.
//!   It writes the tokens the `/ed25519` and `/hs256` routes expect, and with DISTINCT also
//!   DISTINCT different Ed25519 tokens to `TOKEN_FILE.distinct`, shaped like authgate's access
//!   tokens (same claims and header, so the same length), so the distinct-token run and its
//!   ceiling use the same load script over as many tokens of the same size.
//! - `bcrypt COST SECONDS`: verifies on one thread for SECONDS and prints verifications/second.
//! - `mint DATABASE_URL COUNT FILE`: signs COUNT distinct access tokens with authgate's current
//!   key (read from its database like a replica would), one per line, for the distinct-token run.
//! - `signin-cost BASE ORIGIN SECONDS CONNECTIONS`: what one sign-in costs against a running
//!   authgate (RP ID `localhost`, ORIGIN among its WebAuthn origins): a password sign-in
//!   (`signin/`) and a passkey sign-in (`signin/passkey/options/`, the software authenticator of
//!   the tests signing, `signin/passkey/`), each for SECONDS over CONNECTIONS concurrent loops;
//!   prints one JSON object with sign-ins/s and p50/p99 ms per kind. wrk cannot sign an
//!   assertion, so this client drives both, and the password figure is its control.

use std::io::Write as _;
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::json;

struct Keys {
    ed: DecodingKey,
    hs: DecodingKey,
}

fn bearer(req: &HttpRequest) -> &str {
    req.headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
}

fn check(req: &HttpRequest, key: &DecodingKey, alg: Algorithm) -> HttpResponse {
    let mut v = Validation::new(alg);
    v.set_audience(&["bench"]);
    match jsonwebtoken::decode::<serde_json::Value>(bearer(req), key, &v) {
        Ok(_) => HttpResponse::NoContent().finish(),
        Err(_) => HttpResponse::Unauthorized().finish(),
    }
}

/// Claims and header of the shape authgate signs (`tokens::access`), for a ceiling token of the
/// same length as the distinct-token run's.
fn authgate_shaped(i: usize, exp: i64) -> (Header, serde_json::Value) {
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(uuid::Uuid::new_v4().to_string());
    header.typ = Some("at+jwt".into());
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "iss": "http://localhost:8080", "aud": "bench",
        "sub": format!("00000000-0000-4000-8000-{i:012}"), "iat": now, "nbf": now, "exp": exp,
        "jti": uuid::Uuid::new_v4().to_string(), "sid": "bench",
        "email": "bench@example.com", "email_verified": true, "amr": ["pwd"], "aal": "aal1",
        "roles": [],
    });
    (header, claims)
}

async fn ceiling(
    addr: &str,
    token_file: &str,
    workers: usize,
    distinct: usize,
) -> std::io::Result<()> {
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let doc = aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8(&rng)
        .map_err(|_| std::io::Error::other("keygen"))?;
    let pair = aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8(doc.as_ref())
        .map_err(|_| std::io::Error::other("key"))?;
    use aws_lc_rs::signature::KeyPair as _;
    let x = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        pair.public_key().as_ref(),
    );
    let claims =
        json!({"sub": "bench", "aud": "bench", "exp": chrono::Utc::now().timestamp() + 86_400});
    let ed_token = jsonwebtoken::encode(
        &Header::new(Algorithm::EdDSA),
        &claims,
        &EncodingKey::from_ed_der(doc.as_ref()),
    )
    .map_err(std::io::Error::other)?;
    let secret = b"0123456789abcdef0123456789abcdef";
    let hs_token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret),
    )
    .map_err(std::io::Error::other)?;
    std::fs::write(token_file, format!("{ed_token}\n{hs_token}\n"))?;
    if distinct > 0 {
        let key = EncodingKey::from_ed_der(doc.as_ref());
        let exp = chrono::Utc::now().timestamp() + 86_400;
        let mut out =
            std::io::BufWriter::new(std::fs::File::create(format!("{token_file}.distinct"))?);
        for i in 0..distinct {
            let (header, claims) = authgate_shaped(i, exp);
            let token =
                jsonwebtoken::encode(&header, &claims, &key).map_err(std::io::Error::other)?;
            writeln!(out, "{token}")?;
        }
        out.flush()?;
    }
    let keys = web::Data::new(Keys {
        ed: DecodingKey::from_ed_components(&x).map_err(std::io::Error::other)?,
        hs: DecodingKey::from_secret(secret),
    });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(keys.clone())
            .route(
                "/plain",
                web::get().to(|| async { HttpResponse::Ok().body("ok") }),
            )
            .route(
                "/cookie",
                web::post().to(|| async {
                    HttpResponse::NoContent()
                        .insert_header(("set-cookie", "session=abc; HttpOnly; Secure; Path=/"))
                        .finish()
                }),
            )
            .route(
                "/ed25519",
                web::get().to(|req: HttpRequest, k: web::Data<Keys>| async move {
                    check(&req, &k.ed, Algorithm::EdDSA)
                }),
            )
            .route(
                "/hs256",
                web::get().to(|req: HttpRequest, k: web::Data<Keys>| async move {
                    check(&req, &k.hs, Algorithm::HS256)
                }),
            )
    })
    .disable_signals();
    let server = if workers > 0 {
        server.workers(workers)
    } else {
        server
    };
    server.bind(addr)?.run().await
}

fn bcrypt_rate(cost: u32, seconds: u64) {
    let hash = bcrypt::hash("bench password", cost).unwrap_or_default();
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_secs(seconds) {
        let _ = bcrypt::verify("bench password", &hash);
        n += 1;
    }
    println!("{:.2}", n as f64 / start.elapsed().as_secs_f64());
}

fn mint(db_url: &str, count: usize, file: &str) -> anyhow::Result<()> {
    let url = authgate::settings::DatabaseUrl::parse(db_url).map_err(anyhow::Error::msg)?;
    let pool = authgate::db::build_pool(&url, 1, Duration::from_secs(5));
    let sealer = authgate::crypto::sealing::Sealer::new(None)?;
    let keys =
        authgate::tokens::KeyStore::new(authgate::settings::JwtAlgorithm::EdDsa, None, sealer);
    let mut conn = pool.get()?;
    keys.load(&mut conn)?;
    let issuer = authgate::tokens::access::TokenIssuer::new(
        "http://localhost:8080".into(),
        "authgate".into(),
        Duration::from_secs(3600),
        0,
    );
    let mut out = std::io::BufWriter::new(std::fs::File::create(file)?);
    for i in 0..count {
        let (token, _) = issuer.sign(
            &keys,
            authgate::tokens::access::Issue {
                user_id: &format!("00000000-0000-4000-8000-{i:012}"),
                session_id: "bench",
                email: "bench@example.com",
                email_verified: true,
                amr: vec!["pwd".into()],
                aal: "aal1",
                roles: vec![],
            },
        )?;
        writeln!(out, "{token}")?;
    }
    Ok(())
}

#[path = "../tests/api/authenticator.rs"]
#[allow(dead_code)]
mod authenticator;

/// One sign-in of the kind named, against `base`: password or passkey.
async fn one_sign_in(
    client: &reqwest::Client,
    base: &str,
    email: &str,
    key: Option<&tokio::sync::Mutex<authenticator::SoftAuthenticator>>,
) -> anyhow::Result<()> {
    let status = match key {
        None => client
            .post(format!("{base}/api/v1/auth/signin/"))
            .json(&json!({"login": email, "password": "correct horse battery"}))
            .send()
            .await?
            .status(),
        Some(key) => {
            let options: serde_json::Value = client
                .post(format!("{base}/api/v1/auth/signin/passkey/options/"))
                .json(&json!({}))
                .send()
                .await?
                .json()
                .await?;
            let credential = key.lock().await.get(&options["publicKey"]);
            client
                .post(format!("{base}/api/v1/auth/signin/passkey/"))
                .json(&json!({"credential": credential, "state": options["state"]}))
                .send()
                .await?
                .status()
        }
    };
    anyhow::ensure!(status.as_u16() == 204, "sign-in answered {status}");
    Ok(())
}

/// Sign-ins per second and latency percentiles of one kind, `connections` loops for `seconds`.
async fn sign_in_rate(
    base: &str,
    emails: &[String],
    keys: Option<&[std::sync::Arc<tokio::sync::Mutex<authenticator::SoftAuthenticator>>]>,
    seconds: u64,
    connections: usize,
) -> anyhow::Result<serde_json::Value> {
    let client = reqwest::Client::new();
    let until = Instant::now() + Duration::from_secs(seconds);
    let mut loops = Vec::new();
    for i in 0..connections {
        let (client, base, email) = (client.clone(), base.to_owned(), emails[i].clone());
        let key = keys.map(|k| k[i].clone());
        loops.push(tokio::spawn(async move {
            let mut took = Vec::new();
            while Instant::now() < until {
                let started = Instant::now();
                one_sign_in(&client, &base, &email, key.as_deref()).await?;
                took.push(started.elapsed().as_secs_f64() * 1000.0);
            }
            anyhow::Ok(took)
        }));
    }
    let mut all = Vec::new();
    for l in loops {
        all.extend(l.await??);
    }
    all.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        all.get(((all.len() as f64 - 1.0) * p) as usize)
            .copied()
            .unwrap_or(0.0)
    };
    Ok(json!({
        "per_second": all.len() as f64 / seconds as f64,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "count": all.len(),
    }))
}

/// A fresh account signed up through the API: its address and access token.
async fn bench_account(
    client: &reqwest::Client,
    base: &str,
    kind: &str,
    i: usize,
) -> anyhow::Result<(String, String)> {
    let email = format!(
        "bench-{kind}-{}-{i}@example.com",
        uuid::Uuid::new_v4().simple()
    );
    let signup = client
        .post(format!("{base}/api/v1/auth/signup/"))
        .json(&json!({"email": email, "password": "correct horse battery", "name": "Bench"}))
        .send()
        .await?;
    anyhow::ensure!(
        signup.status().as_u16() == 201,
        "sign-up answered {}",
        signup.status()
    );
    let access = signup
        .cookies()
        .find(|c| c.name() == "access_token")
        .map(|c| c.value().to_owned())
        .ok_or_else(|| anyhow::anyhow!("no access cookie"))?;
    Ok((email, access))
}

/// Password and passkey sign-ins measured the same way against `base`.
async fn sign_in_cost(
    base: &str,
    origin: &str,
    seconds: u64,
    connections: usize,
) -> anyhow::Result<()> {
    let client = reqwest::Client::builder().cookie_store(true).build()?;
    let (mut emails, mut keys) = (Vec::new(), Vec::new());
    for i in 0..connections {
        let (email, access) = bench_account(&client, base, "passkey", i).await?;
        let options: serde_json::Value = client
            .post(format!("{base}/api/v1/auth/mfa/passkeys/register/options/"))
            .bearer_auth(&access)
            .json(&json!({"password": "correct horse battery"}))
            .send()
            .await?
            .json()
            .await?;
        let mut key = authenticator::SoftAuthenticator::new(origin);
        let credential = key.create(&options["publicKey"]);
        let registered = client
            .post(format!("{base}/api/v1/auth/mfa/passkeys/register/"))
            .bearer_auth(&access)
            .json(&json!({"credential": credential, "state": options["state"]}))
            .send()
            .await?;
        anyhow::ensure!(
            registered.status().as_u16() == 201,
            "registration answered {}",
            registered.status()
        );
        emails.push(email);
        keys.push(std::sync::Arc::new(tokio::sync::Mutex::new(key)));
    }
    // With a passkey the password alone asks for the second factor: measure passwords on
    // accounts of their own.
    let mut plain = Vec::new();
    for i in 0..connections {
        plain.push(bench_account(&client, base, "password", i).await?.0);
    }
    let password = sign_in_rate(base, &plain, None, seconds, connections).await?;
    let passkey = sign_in_rate(base, &emails, Some(&keys), seconds, connections).await?;
    println!("{}", json!({"password": password, "passkey": passkey}));
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("ceiling") if (4..=6).contains(&args.len()) => {
            let number = |i: usize| args.get(i).map_or(Ok(0), |a| a.parse());
            ceiling(&args[2], &args[3], number(4)?, number(5)?).await?
        }
        Some("bcrypt") if args.len() == 4 => bcrypt_rate(args[2].parse()?, args[3].parse()?),
        Some("mint") if args.len() == 5 => mint(&args[2], args[3].parse()?, &args[4])?,
        Some("signin-cost") if args.len() == 6 => {
            sign_in_cost(&args[2], &args[3], args[4].parse()?, args[5].parse()?).await?
        }
        _ => anyhow::bail!("usage: bench-tools ceiling ADDR TOKEN_FILE [WORKERS [DISTINCT]] | bcrypt COST SECONDS | mint DATABASE_URL COUNT FILE | signin-cost BASE ORIGIN SECONDS CONNECTIONS"),
    }
    Ok(())
}
