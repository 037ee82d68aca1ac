use super::Invalid;

/// A phone number normalised to E.164 (`+` and digits). Only international numbers are
/// accepted: there is no default country to guess a national number's prefix from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone(String);

impl Phone {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let invalid = || {
            Invalid::new(
                "invalid_phone",
                "phone must be a valid number in international form, e.g. +14155550123",
            )
        };
        let raw = raw.trim();
        if raw.len() > 40 || !raw.starts_with('+') {
            return Err(invalid());
        }
        let number = phonenumber::parse(None, raw).map_err(|_| invalid())?;
        if !phonenumber::is_valid(&number) {
            return Err(invalid());
        }
        Ok(Self(
            number.format().mode(phonenumber::Mode::E164).to_string(),
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_normalised_to_e164() {
        assert_eq!(
            Phone::parse(" +1 (415) 555-2671 ").unwrap().as_str(),
            "+14155552671"
        );
        assert_eq!(
            Phone::parse("+44 20 7946 0958").unwrap().as_str(),
            "+442079460958"
        );
        for bad in [
            "",
            "4155552671",
            "+1 555",
            "+999 1234567",
            "hello",
            "+1415555267112345",
        ] {
            assert_eq!(
                Phone::parse(bad).unwrap_err().code,
                "invalid_phone",
                "{bad:?}"
            );
        }
    }
}
