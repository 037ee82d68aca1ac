use super::Invalid;

/// A one-time code as typed: exactly six ASCII digits (surrounding spaces ignored). `Debug`
/// never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct OneTimeCode(String);

pub const CODE_DIGITS: usize = 6;

impl OneTimeCode {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let trimmed = raw.trim();
        if trimmed.len() != CODE_DIGITS || !trimmed.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Invalid::new("invalid_code", "the code must be 6 digits"));
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// A fresh code from the operating system's CSPRNG, uniform over 000000..=999999
    /// (rejection sampling: no modulo bias).
    pub fn generate() -> Self {
        const RANGE: u32 = 1_000_000;
        const LIMIT: u32 = u32::MAX - (u32::MAX % RANGE);
        loop {
            let n = u32::from_le_bytes(crate::crypto::random_bytes::<4>());
            if n < LIMIT {
                return Self(format!("{:06}", n % RANGE));
            }
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for OneTimeCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OneTimeCode([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn six_digits_only() {
        assert_eq!(OneTimeCode::parse(" 012345 ").unwrap().expose(), "012345");
        for bad in ["", "12345", "1234567", "12a456", "１２３４５６", "12 456"] {
            assert!(OneTimeCode::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn generated_codes_are_six_digits_and_vary() {
        let codes: std::collections::HashSet<String> = (0..50)
            .map(|_| OneTimeCode::generate().expose().to_owned())
            .collect();
        assert!(codes.iter().all(|c| OneTimeCode::parse(c).is_ok()));
        assert!(
            codes.len() > 45,
            "50 codes from a CSPRNG should hardly repeat"
        );
        assert!(!format!("{:?}", OneTimeCode::generate())
            .chars()
            .any(|c| c.is_ascii_digit()));
    }
}
