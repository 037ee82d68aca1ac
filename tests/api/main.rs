//! Black-box tests over HTTP. Every database test runs on SQLite and on PostgreSQL, each on a
//! fresh database of its own (see `helpers`).

mod helpers;

mod admin;
mod architecture;
mod authenticator;
mod browser;
mod captcha;
mod consumers;
mod contract;
mod cookies;
mod credentials;
mod docs;
mod edges;
mod erasure;
mod flows;
mod inputs;
mod limits;
mod liveness;
mod mail;
mod mail_logs;
mod manifests;
mod mfa;
mod notices;
mod oidc_peer;
mod operations;
mod passkeys;
mod passwords;
mod peers;
mod persistence;
mod providers;
mod proxy;
mod recovery;
mod refresh;
mod retention;
mod roles;
mod security;
mod shipped_nginx;
mod smtp;
mod storage;
mod tokens;
mod webhooks;
