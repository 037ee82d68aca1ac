//! authgate: a stateless JWT authentication service.
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod breach;
pub mod captcha;
pub mod cli;
pub mod crypto;
pub mod db;
pub mod domain;
pub mod error;
pub mod hashing_pool;
pub mod http;
pub mod metrics;
pub mod notify;
pub mod proxy;
pub mod rate_limit;
pub mod routes;
pub mod service;
pub mod settings;
pub mod startup;
pub mod telemetry;
pub mod tokens;
