//! HTTP concerns shared by the routes: the canonical request path, cookies, the
//! authenticated-user extractor, the client IP, the request guard (CSRF, JSON-only bodies), the
//! captcha gate and the response hygiene headers.

pub mod admin;
pub mod auth;
pub mod canonical;
pub mod captcha;
pub mod client_ip;
pub mod cookies;
pub mod error;
pub mod guard;
pub mod hygiene;
pub mod identity;
pub mod json;
pub mod rate_limit;
pub mod request_span;

pub use auth::{Authenticated, MaybeAuthenticated};
pub use client_ip::ClientInfo;
pub use json::Json;
