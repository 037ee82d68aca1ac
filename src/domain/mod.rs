//! Request values parsed once into types that can only hold valid data.

mod avatar;
mod client;
mod code;
mod email;
mod name;
mod password;
mod password_policy;
mod phone;
mod role;

pub use avatar::Avatar;
pub use client::ClientInfo;
pub use code::OneTimeCode;
pub use email::Email;
pub use name::DisplayName;
pub use password::Password;
pub use password_policy::{PasswordPolicy, Weakness};
pub use phone::Phone;
pub use role::Role;

/// Why a value was refused: the error code and a sentence for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub code: &'static str,
    pub message: String,
}

impl Invalid {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl From<Invalid> for crate::error::ApiError {
    fn from(i: Invalid) -> Self {
        crate::error::ApiError::Validation {
            code: i.code,
            message: i.message,
        }
    }
}
