//! Outbound clients: every conversation authgate starts with a service it does not run. The
//! breached-password range API, the captcha providers, the SMS and event webhooks (one signing scheme), identity providers and SMTP. Each takes the
//! settings and the shared HTTP client it needs and answers in its own error type or
//! `ApiError`; none knows about requests or the app state.

pub mod breach;
pub mod captcha;
pub mod oidc;
pub mod sms;
pub mod smtp;
pub mod webhook;
