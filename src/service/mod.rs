//! What the endpoints do, as plain synchronous functions over a connection: no actix here.
//! Handlers run them on the blocking pool.

pub mod accounts;
pub mod admin;
pub mod admin_keys;
pub mod audit;
pub mod codes;
pub mod email;
pub mod erasure;
pub mod export;
pub mod identities;
pub mod invites;
pub mod lockout;
pub mod mfa;
pub mod passkeys;
pub mod password;
pub mod phone;
pub mod profile;
pub mod rescue;
pub mod retention;
pub mod roles;
pub mod run;
pub mod sessions;
pub mod users;
