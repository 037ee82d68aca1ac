use super::Invalid;

/// A display name: trimmed, 1 to 100 characters, no control or invisible formatting characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

const MAX_CHARS: usize = 100;

impl DisplayName {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(Invalid::new("invalid_name", "name is required"));
        }
        if trimmed.chars().count() > MAX_CHARS {
            return Err(Invalid::new(
                "invalid_name",
                "name must be at most 100 characters",
            ));
        }
        if trimmed.chars().any(|c| {
            c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
        }) {
            return Err(Invalid::new(
                "invalid_name",
                "name contains control characters",
            ));
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_and_characters() {
        assert_eq!(
            DisplayName::parse("  Ada Lovelace ").unwrap().as_str(),
            "Ada Lovelace"
        );
        assert!(DisplayName::parse("   ").is_err());
        assert!(DisplayName::parse(&"x".repeat(101)).is_err());
        assert!(DisplayName::parse("a\nb").is_err());
        assert!(DisplayName::parse("evil\u{202E}txt").is_err());
        assert!(DisplayName::parse("李小龍").is_ok());
    }
}
