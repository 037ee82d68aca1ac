//! Security notices (ASVS 5.0 V6.3.5, V6.3.7): a mail to the account's verified address after a
//! change to how it signs in, when its sign-in lockout reaches a new step, and when wrong TOTP
//! codes after a passed first factor lock its second factor. They go through
//! the outbox like every mail (same sender, same retries) as [`super::KIND_NOTICE`] rows, which
//! the per-recipient code limits do not count. They say what happened, when, and from which IP
//! and user agent; never a code, password or token. `AUTHGATE_NOTIFY_SECURITY_CHANGES` turns
//! them off.

use std::time::Duration;

use crate::db::{users::UserRow, DbConnection};
use crate::domain::ClientInfo;
use crate::notify::{self, templates, Template};
use crate::state::AppState;

/// How long the old address can undo an email change.
pub const REVERT_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// What changed, as the notice says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change<'a> {
    PasswordChanged,
    PasswordReset,
    /// The address the account moved to; the notice goes to the old one and shows the new one
    /// partly masked.
    EmailChanged {
        new_email: &'a str,
        /// The link (with its code) that undoes the change, valid for a few days.
        revert_link: &'a str,
        revert_code: &'a str,
    },
    /// An email change was undone from the old address; told to the address it had moved to.
    EmailChangeReverted {
        /// The address the account has again.
        restored_email: &'a str,
    },
    TotpEnabled,
    TotpRemoved,
    /// A recovery code stood in for the authenticator at sign-in.
    RecoveryCodeUsed,
    RecoveryCodesReplaced,
    /// An operator removed TOTP and the recovery codes (the owner had lost both).
    SecondFactorReset,
    /// An operator set a new password.
    PasswordSetByOperator,
    /// The account and everything about it was deleted. Queued as a farewell (erased from the
    /// outbox once sent), so it goes out after the account is gone.
    AccountDeleted,
    PhoneBound,
    PhoneRemoved,
    PasskeyAdded,
    PasskeyRenamed,
    PasskeyRemoved,
    /// A passkey's signature counter went backwards: a copy of it may exist.
    PasskeyCloned,
}

impl Change<'_> {
    fn sentence(self) -> &'static str {
        match self {
            Self::PasswordChanged => "your password was changed",
            Self::PasswordReset => "your password was reset with a code sent by email",
            Self::EmailChanged { .. } => "your email address was changed",
            Self::EmailChangeReverted { .. } => {
                "the change of your email address was undone from the previous address; every session was signed out"
            }
            Self::TotpEnabled => "two-factor authentication (TOTP) was turned on",
            Self::TotpRemoved => "two-factor authentication (TOTP) was turned off",
            Self::SecondFactorReset => {
                "an administrator turned off two-factor authentication (TOTP, passkeys and recovery codes) and signed out every session"
            }
            Self::PasswordSetByOperator => {
                "an administrator set a new password and signed out every session"
            }
            Self::RecoveryCodeUsed => {
                "a recovery code was used instead of your authenticator app to sign in"
            }
            Self::RecoveryCodesReplaced => {
                "a new set of recovery codes was created; the previous codes no longer work"
            }
            Self::AccountDeleted => "your account was deleted, with everything stored about it",
            Self::PhoneBound => "a phone number was added for SMS sign-in",
            Self::PhoneRemoved => "the phone number for SMS sign-in was removed",
            Self::PasskeyAdded => "a passkey was added to your account",
            Self::PasskeyRenamed => "one of your passkeys was renamed",
            Self::PasskeyRemoved => "a passkey was removed from your account",
            Self::PasskeyCloned => {
                "a sign-in with one of your passkeys was refused because its signature counter went backwards, which happens when a copy of the passkey is used; if you did not copy it, remove it and add a new one"
            }
        }
    }
}

/// Queues the notice of `change` to `user`'s address, in the caller's transaction, when notices
/// are on and the address is verified (an unverified address may not be the owner's); and the
/// webhook event the change is ([`super::webhooks::of_change`]), whatever the notices. `user` is
/// the row before the change (for an email change, the old address).
pub fn queue_change(
    state: &AppState,
    conn: &mut DbConnection,
    user: &UserRow,
    client: &ClientInfo,
    change: Change<'_>,
) -> diesel::QueryResult<()> {
    // The webhook event of the same change, whether or not a notice goes out.
    if let Some(event) = super::webhooks::of_change(user, change) {
        super::webhooks::queue(state, conn, event)?;
    }
    if !state.settings.notifies_security_changes() || !user.email_verified {
        return Ok(());
    }
    let (mut revert_link, mut revert_code) = ("", "");
    let (template, masked) = match change {
        Change::EmailChanged {
            new_email,
            revert_link: link,
            revert_code: code,
        } => {
            (revert_link, revert_code) = (link, code);
            (Template::EmailChanged, mask_email(new_email))
        }
        Change::AccountDeleted => (Template::AccountDeleted, String::new()),
        _ => (Template::SecurityChange, String::new()),
    };
    let context = Context::of(client);
    let mail = state.templates.render(
        template,
        &[
            ("product", &state.settings.product_name),
            ("email", &user.email),
            ("new_email", &masked),
            ("change", change.sentence()),
            ("when", &context.when),
            ("ip", &context.ip),
            ("user_agent", &context.user_agent),
            ("revert_link", revert_link),
            ("revert_code", revert_code),
            ("revert_expires_in", &templates::human_duration(REVERT_TTL)),
        ],
    );
    let kind = if change == Change::AccountDeleted {
        notify::KIND_FAREWELL
    } else {
        notify::KIND_NOTICE
    };
    notify::queue_mail_of_kind(state, conn, kind, &user.email, &mail).map(drop)
}

/// Which lock a suspicious-attempt notice reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lock {
    /// The sign-in lockout after wrong passwords reached a new step.
    SignIn,
    /// Wrong TOTP codes after the first factor passed (a partially successful sign-in).
    SecondFactor,
}

/// Queues the notice that `user`'s sign-in (or its second factor) is locked for `lock` after
/// wrong attempts, the last one from `client`, when notices are on and the address is verified.
pub fn queue_lock(
    state: &AppState,
    conn: &mut DbConnection,
    user: &UserRow,
    client: &ClientInfo,
    which: Lock,
    lock: Duration,
) -> diesel::QueryResult<()> {
    if !state.settings.notifies_security_changes() || !user.email_verified || user.disabled {
        return Ok(());
    }
    let template = match which {
        Lock::SignIn => Template::SigninLocked,
        Lock::SecondFactor => Template::TotpLocked,
    };
    let context = Context::of(client);
    let lock = templates::human_duration(lock);
    let mail = state.templates.render(
        template,
        &[
            ("product", &state.settings.product_name),
            ("email", &user.email),
            ("lock", &lock),
            ("when", &context.when),
            ("ip", &context.ip),
            ("user_agent", &context.user_agent),
        ],
    );
    notify::queue_mail_of_kind(state, conn, notify::KIND_NOTICE, &user.email, &mail).map(drop)
}

/// When and from where, as printable text.
struct Context {
    when: String,
    ip: String,
    user_agent: String,
}

/// At most this many characters of a user agent go into a mail.
const USER_AGENT_CHARS: usize = 160;

impl Context {
    fn of(client: &ClientInfo) -> Self {
        let user_agent: String = client
            .user_agent
            .as_deref()
            .unwrap_or("")
            .chars()
            .filter(|c| !c.is_control())
            .take(USER_AGENT_CHARS)
            .collect();
        Self {
            when: crate::db::now().format("%Y-%m-%d %H:%M UTC").to_string(),
            ip: client.ip_string().unwrap_or_else(|| "unknown".into()),
            user_agent: if user_agent.trim().is_empty() {
                "unknown".into()
            } else {
                user_agent
            },
        }
    }
}

/// `newname@example.com` → `ne***@example.com`: enough for the owner to recognise an address,
/// not enough to hand a stranger who reads the old mailbox the new one.
pub fn mask_email(email: &str) -> String {
    let (local, domain) = email.rsplit_once('@').unwrap_or((email, ""));
    let shown: String = local
        .chars()
        .take(if local.chars().count() > 4 { 2 } else { 1 })
        .collect();
    if domain.is_empty() {
        format!("{shown}***")
    } else {
        format!("{shown}***@{domain}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_addresses_keep_the_domain_and_a_hint_of_the_name() {
        assert_eq!(mask_email("newname@example.com"), "ne***@example.com");
        assert_eq!(mask_email("bob@example.com"), "b***@example.com");
        assert_eq!(mask_email("a@b.c"), "a***@b.c");
    }

    #[test]
    fn user_agents_are_cut_and_stripped_of_control_characters() {
        let client = ClientInfo {
            ip: None,
            user_agent: Some(format!("evil\r\nBcc: x{}", "a".repeat(500))),
            actor: None,
        };
        let c = Context::of(&client);
        assert!(!c.user_agent.contains('\n') && !c.user_agent.contains('\r'));
        assert_eq!(c.user_agent.chars().count(), USER_AGENT_CHARS);
        assert_eq!(c.ip, "unknown");
        let none = Context::of(&ClientInfo::default());
        assert_eq!(none.user_agent, "unknown");
    }
}
