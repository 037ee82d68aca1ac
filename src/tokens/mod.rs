//! Access tokens (JWT), the signing keys behind them, and opaque refresh tokens.

pub mod access;
pub mod cache;
pub mod keys;
pub mod refresh;
pub mod revocation;

pub use access::{AccessClaims, TokenError};
pub use keys::KeyStore;
