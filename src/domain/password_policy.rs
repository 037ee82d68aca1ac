//! Rules for a password being set (sign-up, change, reset, admin CLI), never for one presented at
//! sign-in: ASVS 5.0 6.2.4 (common passwords) and 6.2.11 (context-specific words). The breached
//! password check (6.2.12) needs the network and lives in `crate::clients::breach`.
//!
//! The password itself is stored exactly as typed (6.2.8); only these comparisons see it NFKC
//! normalised and lower-cased, so `ＰＡＳＳＷＯＲＤ１` or `PassWord1` is caught like `password1`.

use std::collections::HashSet;
use std::sync::LazyLock;

use unicode_normalization::UnicodeNormalization as _;

use super::password::MIN_CHARS;
use super::{Email, Invalid, Password};

/// The 8,346 entries of 8 characters or more (ASCII) from Django 5.2.8's
/// `django/contrib/auth/common-passwords.txt.gz` (20,000 common passwords by Royce Williams,
/// lower-cased; Django is BSD-3-Clause, PyPI wheel `Django-5.2.8-py3-none-any.whl`). Shorter entries
/// are refused by the length rule anyway; 8 mojibake lines were dropped.
static COMMON: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("common-passwords.txt")
        .lines()
        .filter(|l| !l.is_empty())
        .collect()
});

/// The product's own name is always a context word (6.2.11).
pub const PRODUCT_WORD: &str = "authgate";

/// Context words shorter than this are ignored: three letters match too much by chance.
pub const MIN_WORD_CHARS: usize = 4;

/// Kratos' identifier-similarity thresholds: a password within this edit distance of the email
/// address, or sharing a common substring longer than this share of its length, is refused.
const MIN_EMAIL_DISTANCE: usize = 5;
const MAX_EMAIL_SUBSTRING_RATIO: f64 = 0.5;

/// Which rule a new password broke; the message tells the user what to change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weakness {
    Common,
    Context,
    Breached,
}

impl Weakness {
    pub fn message(self) -> &'static str {
        match self {
            Self::Common => "this password is on the list of the most common passwords; choose another one (a few unrelated words make a good password)",
            Self::Context => "this password is too close to your email address or to the name of this service; choose one that does not contain them",
            Self::Breached => "this password has appeared in a known data breach (Have I Been Pwned) and is no longer safe; choose another one",
        }
    }

    /// Label for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Common => "common",
            Self::Context => "context",
            Self::Breached => "breached",
        }
    }
}

impl From<Weakness> for Invalid {
    fn from(w: Weakness) -> Self {
        Invalid::new("weak_password", w.message())
    }
}

/// The local rules, built once from the settings (the configured context words).
#[derive(Debug, Clone)]
pub struct PasswordPolicy {
    /// Normalised context words that hold for every account (product names, configured words).
    words: Vec<String>,
}

impl PasswordPolicy {
    /// `product_name` is `AUTHGATE_PRODUCT_NAME`; `extra` is `AUTHGATE_PASSWORD_CONTEXT_WORDS`.
    pub fn new(product_name: &str, extra: &[String]) -> Self {
        let mut words = Vec::new();
        for w in [PRODUCT_WORD, product_name]
            .into_iter()
            .chain(extra.iter().map(String::as_str))
        {
            push_word(&mut words, w);
        }
        Self { words }
    }

    /// Checks a new password for the account `email`: common first, then context.
    pub fn check(&self, password: &Password, email: &Email) -> Result<(), Weakness> {
        let typed = normalise(password.expose());
        if is_common(&typed) {
            return Err(Weakness::Common);
        }
        let email = normalise(email.as_str());
        let mut words = self.words.clone();
        for w in email_words(&email) {
            push_word(&mut words, w);
        }
        if mostly_context_words(&typed, &words) || too_similar(&email, &typed) {
            return Err(Weakness::Context);
        }
        Ok(())
    }
}

fn normalise(s: &str) -> String {
    s.nfkc().collect::<String>().to_lowercase()
}

fn push_word(words: &mut Vec<String>, raw: &str) {
    let w = normalise(raw.trim());
    if w.chars().count() >= MIN_WORD_CHARS && !words.contains(&w) {
        words.push(w);
    }
}

/// In the list as typed (surrounding blanks aside) or reversed, also once l33t digits and symbols
/// are read back as letters on both sides (`p4$$w0rd`, `tru5tno1`; a `1` read as `i`, then `l`).
fn is_common(typed: &str) -> bool {
    let t = typed.trim();
    let reversed: String = t.chars().rev().collect();
    let listed = |c: &str| {
        COMMON.contains(c)
            || ['i', 'l']
                .iter()
                .any(|one| COMMON_PLAIN.contains(&plain(c, *one)))
    };
    listed(t) || listed(&reversed)
}

/// The list with l33t read back as letters, both ways of reading `1`.
static COMMON_PLAIN: LazyLock<HashSet<String>> = LazyLock::new(|| {
    COMMON
        .iter()
        .flat_map(|p| [plain(p, 'i'), plain(p, 'l')])
        .collect()
});

fn plain(s: &str, one: char) -> String {
    s.chars().map(|c| unleet(c, one)).collect()
}

fn unleet(c: char, one: char) -> char {
    match c {
        '4' | '@' => 'a',
        '3' => 'e',
        '1' => one,
        '!' => 'i',
        '0' => 'o',
        '5' | '$' => 's',
        '7' | '+' => 't',
        other => other,
    }
}

/// The local part, its pieces between `.`, `+`, `-`, `_`, and each label of the domain.
fn email_words(email: &str) -> Vec<&str> {
    let (local, domain) = email.rsplit_once('@').unwrap_or((email, ""));
    let mut words = vec![local];
    words.extend(local.split(['.', '+', '-', '_']));
    words.extend(domain.split('.'));
    words
}

/// True when the password contains a context word and, with every occurrence of every context
/// word taken out, fewer than `MIN_CHARS` characters remain: the word is most of the password.
fn mostly_context_words(typed: &str, words: &[String]) -> bool {
    let chars: Vec<char> = typed.chars().collect();
    let mut covered = vec![false; chars.len()];
    let mut found = false;
    for word in words {
        let w: Vec<char> = word.chars().collect();
        if w.is_empty() {
            continue;
        }
        for (start, window) in chars.windows(w.len()).enumerate() {
            if window == w.as_slice() {
                found = true;
                covered[start..start + w.len()].fill(true);
            }
        }
    }
    found && covered.iter().filter(|c| !**c).count() < MIN_CHARS
}

/// Ory Kratos' identifier similarity: edit distance, and the longest common substring as a share
/// of the password.
fn too_similar(email: &str, typed: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (email.chars().collect(), typed.chars().collect());
    if b.is_empty() {
        return false;
    }
    levenshtein(&a, &b) < MIN_EMAIL_DISTANCE
        || longest_common_substring(&a, &b) as f64 / b.len() as f64 > MAX_EMAIL_SUBSTRING_RATIO
}

fn levenshtein(a: &[char], b: &[char]) -> usize {
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

fn longest_common_substring(a: &[char], b: &[char]) -> usize {
    let mut prev = vec![0usize; b.len() + 1];
    let mut cur = vec![0usize; b.len() + 1];
    let mut best = 0;
    for ca in a {
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = if ca == cb { prev[j] + 1 } else { 0 };
            best = best.max(cur[j + 1]);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> PasswordPolicy {
        PasswordPolicy::new(
            "authgate",
            &["Acme Corp".into(), "globex".into(), "ibm".into()],
        )
    }

    fn check(password: &str, email: &str) -> Result<(), Weakness> {
        policy().check(
            &Password::parse(password.into()).unwrap(),
            &Email::parse(email).unwrap(),
        )
    }

    #[test]
    fn the_list_holds_thousands_of_passwords_that_pass_the_length_rule() {
        assert!(COMMON.len() >= 3000, "{}", COMMON.len());
        assert!(COMMON.iter().all(|p| p.chars().count() >= MIN_CHARS));
        assert!(COMMON.iter().all(|p| *p == p.to_lowercase()));
    }

    #[test]
    fn common_passwords_are_refused_in_any_case_width_l33t_or_reversed() {
        for p in [
            "P4$$w0rd",
            "s3cur!ty",
            "tru5tno1",
            "b4s3b4ll",
            "llabesab",
            "password",
            "password123",
            "PassWord1",
            "ＰＡＳＳＷＯＲＤ１",
            "iloveyou",
            "qwertyuiop",
            "1q2w3e4r5t",
            "321drowssap",
            " sunshine ",
        ] {
            assert_eq!(check(p, "ada@example.com"), Err(Weakness::Common), "{p}");
        }
    }

    #[test]
    fn uncommon_passwords_pass() {
        for p in [
            "correct horse battery staple",
            "vivid-otter-lantern",
            "Tr0ub4dor&3xk",
            "éééééééé",
        ] {
            assert_eq!(check(p, "ada@example.com"), Ok(()), "{p}");
        }
    }

    #[test]
    fn a_context_word_that_is_most_of_the_password_is_refused() {
        for p in [
            "authgate2024!",
            "MyAuthGatePass",
            "acme corp 2024",
            "GLOBEX-globex",
            "lovelace1815!",
            "lovelace.example!",
            "ada.lovelace99",
        ] {
            assert_eq!(
                check(p, "ada.lovelace@example.com"),
                Err(Weakness::Context),
                "{p}"
            );
        }
    }

    #[test]
    fn a_context_word_with_enough_else_around_it_passes() {
        for p in [
            "authgate keeps my otters warm",
            "lovelace wrote the first program",
            "ibm1234!",
        ] {
            assert_eq!(check(p, "ada.lovelace@example.com"), Ok(()), "{p}");
        }
    }

    #[test]
    fn a_password_close_to_the_email_is_refused() {
        for p in [
            "ada.lovelace@example.com",
            "ada.lovelace@example.org",
            "ADA.LOVELACE@EXAMPLE",
            "xy-lovelace@exam",
        ] {
            assert_eq!(
                check(p, "ada.lovelace@example.com"),
                Err(Weakness::Context),
                "{p}"
            );
        }
        // A short local part is no word, but the whole address still is.
        assert_eq!(check("jo@ex.io!!", "jo@ex.io"), Err(Weakness::Context));
        assert_eq!(check("jo is not here", "jo@ex.io"), Ok(()));
    }

    #[test]
    fn short_or_blank_words_are_ignored() {
        let p = PasswordPolicy::new("  ", &["ab".into(), String::new(), " Acme ".into()]);
        assert_eq!(p.words, vec!["authgate".to_owned(), "acme".to_owned()]);
    }

    #[test]
    fn distances() {
        let c = |s: &str| s.chars().collect::<Vec<_>>();
        assert_eq!(levenshtein(&c("kitten"), &c("sitting")), 3);
        assert_eq!(levenshtein(&c(""), &c("abc")), 3);
        assert_eq!(longest_common_substring(&c("xabcdy"), &c("zzabcd")), 4);
        assert_eq!(longest_common_substring(&c("abc"), &c("xyz")), 0);
    }
}
