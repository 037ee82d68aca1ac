use super::Invalid;

/// A role name: a lower-case identifier (`a-z`, digits, `_`, `-`, starting with a letter, at
/// most 64 characters), so it travels unchanged in a token, a comma-separated header and a
/// path rule.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Role(String);

impl Role {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if !crate::settings::is_role_name(raw) {
            return Err(Invalid::new(
                "invalid_role",
                "a role is a lower-case name: a letter, then letters, digits, `_` or `-` (64 at most)",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_lower_case_identifiers() {
        for ok in ["admin", "billing-read", "team_7"] {
            assert_eq!(Role::parse(ok).unwrap().as_str(), ok);
        }
        for bad in [
            "",
            "Admin",
            "7team",
            "a,b",
            "a b",
            "rôle",
            "-x",
            &"a".repeat(65),
        ] {
            assert!(Role::parse(bad).is_err(), "{bad:?}");
        }
    }
}
