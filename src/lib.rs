//! authgate: a stateless JWT authentication service.
//!
//! The modules are floors (docs/architecture.md): each imports only from floors below it, and a
//! test (`tests/api/architecture.rs`) fails on an import that runs upward.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
#![cfg_attr(not(test), warn(clippy::panic))]

pub mod cli;
pub mod clients;
pub mod crypto;
pub mod db;
pub mod domain;
pub mod error;
pub mod http;
pub mod limits;
pub mod metrics;
pub mod notify;
pub mod paths;
pub mod proxy;
pub mod routes;
pub mod runtime;
pub mod service;
pub mod settings;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod templates;
pub mod tokens;
