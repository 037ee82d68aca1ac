use unicode_normalization::UnicodeNormalization as _;

use super::Invalid;

/// An email address normalised for lookup: trimmed, Unicode NFC, lower-cased. Syntax is checked
/// loosely on purpose (one `@`, a dotted domain, no spaces or control characters): the only real
/// proof of an address is a mail that arrives.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

const MAX_LEN: usize = 254;

impl Email {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let normalized: String = raw.trim().nfc().collect::<String>().to_lowercase();
        let bad = |why: &str| Invalid::new("invalid_email", format!("email {why}"));
        if normalized.is_empty() {
            return Err(bad("is required"));
        }
        if normalized.len() > MAX_LEN {
            return Err(bad("is longer than 254 bytes"));
        }
        if normalized
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || is_invisible(c))
        {
            return Err(bad("contains spaces, control or invisible characters"));
        }
        let Some((local, domain)) = normalized.rsplit_once('@') else {
            return Err(bad("must contain @"));
        };
        if local.is_empty() || local.len() > 64 || local.contains('@') {
            return Err(bad("has an invalid part before @"));
        }
        let labels_ok = domain.split('.').count() >= 2
            && domain.split('.').all(|l| {
                !l.is_empty() && !l.starts_with('-') && !l.ends_with('-') && l.len() <= 63
            })
            && !domain.contains(['[', ']', '(', ')', ',', ';', ':', '<', '>', '"', '\\']);
        if !labels_ok {
            return Err(bad("has an invalid domain"));
        }
        Ok(Self(normalized))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Zero-width and direction-changing characters make two different addresses look alike.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}')
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_space_and_unicode_form() {
        let a = Email::parse("  Alice@Example.COM ").unwrap();
        assert_eq!(a.as_str(), "alice@example.com");
        // "é" precomposed vs "e" + combining acute accent.
        let nfc = Email::parse("jos\u{e9}@example.com").unwrap();
        let nfd = Email::parse("jose\u{301}@example.com").unwrap();
        assert_eq!(nfc, nfd);
    }

    #[test]
    fn refuses_malformed_addresses() {
        for raw in [
            "",
            "   ",
            "no-at-sign",
            "@example.com",
            "a@",
            "a@b",
            "a b@example.com",
            "a@exa mple.com",
            "a@@example.com",
            "a@example..com",
            "a\u{200B}@example.com",
            "a@-example.com",
            "a\u{0}@example.com",
        ] {
            assert!(Email::parse(raw).is_err(), "{raw:?} should be refused");
        }
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(65))).is_err());
        assert!(Email::parse(&format!("a@{}.com", "b".repeat(260))).is_err());
    }
}
