use super::Invalid;

/// A password as typed: 8 characters at least, 1024 bytes at most, every byte significant.
/// `Debug` never shows it.
#[derive(Clone)]
pub struct Password(String);

pub const MIN_CHARS: usize = 8;
pub const MAX_BYTES: usize = 1024;

impl Password {
    pub fn parse(raw: String) -> Result<Self, Invalid> {
        if raw.chars().count() < MIN_CHARS {
            return Err(Invalid::new(
                "weak_password",
                "password must be at least 8 characters",
            ));
        }
        if raw.len() > MAX_BYTES {
            return Err(Invalid::new(
                "invalid_password",
                "password must be at most 1024 bytes",
            ));
        }
        Ok(Self(raw))
    }

    /// For sign-in: any length the limits allow, so a password set under older rules still works
    /// and the answer does not reveal the policy. Only the upper bound is kept (cost control).
    pub fn parse_for_sign_in(raw: String) -> Result<Self, Invalid> {
        if raw.is_empty() {
            return Err(Invalid::new("invalid_password", "password is required"));
        }
        if raw.len() > MAX_BYTES {
            return Err(Invalid::new(
                "invalid_password",
                "password must be at most 1024 bytes",
            ));
        }
        Ok(Self(raw))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_bounds() {
        assert!(Password::parse("1234567".into()).is_err());
        assert!(Password::parse("12345678".into()).is_ok());
        assert!(
            Password::parse("éééééééé".into()).is_ok(),
            "characters, not bytes, count for the minimum"
        );
        assert!(Password::parse("a".repeat(1024)).is_ok());
        assert!(Password::parse("a".repeat(1025)).is_err());
        assert!(Password::parse_for_sign_in(String::new()).is_err());
        assert!(Password::parse_for_sign_in("short".into()).is_ok());
    }

    #[test]
    fn debug_hides_the_value() {
        let p = Password::parse("hunter2hunter2".into()).unwrap();
        assert!(!format!("{p:?}").contains("hunter2"));
    }
}
