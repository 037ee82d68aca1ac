//! HTTP concerns shared by the routes: cookies, the authenticated-user extractor, the client IP,
//! the request guard (CSRF, JSON-only bodies) and the captcha gate.

pub mod auth;
pub mod captcha;
pub mod client_ip;
pub mod cookies;
pub mod guard;
pub mod normalize;

pub use auth::{Authenticated, MaybeAuthenticated};
pub use client_ip::ClientInfo;
