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

    /// A code uniform over 000000..=999999 from `draw`, a source of uniform `u32`s (the
    /// operating system's CSPRNG in `crate::crypto::new_code`): rejection sampling, so no
    /// modulo bias.
    pub fn from_random(mut draw: impl FnMut() -> u32) -> Self {
        const RANGE: u32 = 1_000_000;
        const LIMIT: u32 = u32::MAX - (u32::MAX % RANGE);
        loop {
            let n = draw();
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
    fn draws_at_or_above_the_last_whole_million_are_rejected() {
        let mut draws = [u32::MAX, 4_294_000_000, 1_234_567].into_iter();
        let code = OneTimeCode::from_random(|| draws.next().unwrap());
        assert_eq!(
            code.expose(),
            "234567",
            "two biased draws skipped, then n % 1e6"
        );
        assert_eq!(OneTimeCode::from_random(|| 7).expose(), "000007");
    }
}
