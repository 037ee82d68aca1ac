use super::Invalid;

/// An avatar: an https URL with a host, at most 2048 bytes, no spaces or control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Avatar(String);

const MAX_BYTES: usize = 2048;

impl Avatar {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let bad = |why: &str| Invalid::new("invalid_avatar", format!("avatar {why}"));
        let url = raw.trim();
        if url.len() > MAX_BYTES {
            return Err(bad("must be at most 2048 bytes"));
        }
        let Some(rest) = url.strip_prefix("https://") else {
            return Err(bad("must be an https:// URL"));
        };
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if host.is_empty() || host.contains('@') {
            return Err(bad("must name a host"));
        }
        if url
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '<' | '>' | '\\'))
        {
            return Err(bad("contains characters not allowed in a URL"));
        }
        Ok(Self(url.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_urls_only() {
        assert!(Avatar::parse("https://cdn.example.com/a.png").is_ok());
        for bad in [
            "http://cdn.example.com/a.png",
            "javascript:alert(1)",
            "https://",
            "https:///a.png",
            "https://user@evil.example/a.png",
            "https://cdn.example.com/a b.png",
            "https://cdn.example.com/\"onerror=x",
        ] {
            assert!(Avatar::parse(bad).is_err(), "{bad:?}");
        }
        let long = format!("https://cdn.example.com/{}", "a".repeat(2048));
        assert!(Avatar::parse(&long).is_err());
    }
}
