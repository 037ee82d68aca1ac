//! Request paths, with no I/O and no HTTP framework: the one canonical spelling every decision
//! is made on, the path patterns of the proxy settings, which paths are authgate's own, and the
//! sign-in redirect of proxy mode. Settings parse their path rules with it, so it imports nothing
//! from the crate.

pub mod canonical;
pub mod rules;

pub use canonical::{canonical, Refusal};
pub use rules::{is_own_path, PathPattern};
