//! The subcommands: `serve` (default), `migrate`, `healthcheck`.

use std::io::{Read as _, Write as _};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::error::ApiError;
use crate::settings::Settings;
use crate::startup::Application;
use crate::state::AppState;

#[derive(Debug, Parser)]
#[command(name = "authgate", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub settings: Settings,
}

/// Said under every subcommand's help: its settings are not its flags.
const SETTINGS_NOTE: &str =
    "Settings (database URL, keys, mail, ...) are read from their AUTHGATE_* \
environment variables, or from flags given before the subcommand (`authgate --database-url ... \
migrate`). `authgate --help` lists them all; docs/configuration.md has the reference.";

#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Run the HTTP service (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Exit 0 when the local /readyz answers 200 (for Docker HEALTHCHECK without curl).
    Healthcheck,
    /// Signing keys: list them, or schedule a rotation.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Accounts: create, list, show, disable, enable, and rescue (reset-mfa, set-password,
    /// revoke-sessions, delete). Every change is an audit event named `admin_<action>`.
    Users {
        /// Print JSON instead of text (for scripts).
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        action: UsersAction,
    },
    /// Print the settings reference (docs/configuration.md) as Markdown.
    #[command(hide = true)]
    SettingsReference,
    /// Roles of accounts: grant, revoke, list. A change reaches a session at its next refresh
    /// (`--end-sessions` makes it immediate); audited as `admin_role_granted`/`_revoked`.
    Roles {
        /// Print JSON instead of text (for scripts).
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        action: RolesAction,
    },
    /// Keys for the admin API (`Authorization: Bearer agk_…`): create (prints the key once;
    /// only its hash is stored), list, revoke.
    AdminKeys {
        /// Print JSON instead of text (for scripts).
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        action: AdminKeysAction,
    },
    /// Invitation codes for AUTHGATE_INVITE_ONLY=true: create (prints the code) and list.
    Invites {
        /// Print JSON instead of text (for scripts).
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        action: InvitesAction,
    },
}

#[derive(Debug, Clone, Subcommand)]
pub enum RolesAction {
    /// Give an account a role.
    Grant {
        /// The account's address.
        email: String,
        /// A lower-case role name, e.g. admin.
        role: String,
        /// End the account's sessions, so no token without the role stays in use.
        #[arg(long)]
        end_sessions: bool,
    },
    /// Take a role from an account.
    Revoke {
        /// The account's address.
        email: String,
        /// The role's name.
        role: String,
        /// End the account's sessions, so no token with the role stays in use.
        #[arg(long)]
        end_sessions: bool,
    },
    /// The roles of one account, or every account that has a role.
    List {
        /// The account's address; all accounts with roles when left out.
        email: Option<String>,
    },
}

#[derive(Debug, Clone, Subcommand)]
pub enum UsersAction {
    /// Create an account; the password is read from standard input (first line).
    Create {
        /// The account's address.
        #[arg(long)]
        email: String,
        /// Its display name (default: the address's local part).
        #[arg(long)]
        name: Option<String>,
        /// Mark the address as verified.
        #[arg(long)]
        verified: bool,
    },
    /// Every account with its state.
    List,
    /// One account: its profile, factors, live sessions and recent sign-ins.
    Show {
        /// The account's address.
        email: String,
    },
    /// Disable an account and end every session of it at once.
    Disable {
        /// The account's address.
        #[arg(long)]
        email: String,
    },
    /// Enable a disabled account.
    Enable {
        /// The account's address.
        #[arg(long)]
        email: String,
    },
    /// Remove every second factor (TOTP, passkeys) and the recovery codes of a user who lost
    /// them, and end every session; the owner is mailed a notice.
    ResetMfa {
        /// The account's address.
        email: String,
    },
    /// Set a new password (read from standard input, or asked for without echo on a terminal;
    /// never an argument) under the password policy, and end every session.
    SetPassword {
        /// The account's address.
        email: String,
    },
    /// End every session of an account (refresh fails at once; access tokens within the
    /// revocation-list interval).
    RevokeSessions {
        /// The account's address.
        email: String,
    },
    /// Delete an account and everything about it, as the owner's `DELETE user/` does.
    Delete {
        /// The account's address.
        email: String,
    },
}

#[derive(Debug, Clone, Subcommand)]
pub enum AdminKeysAction {
    /// Create a key and print it (the only time it is shown).
    Create {
        /// `read` (GET only) or `write` (everything).
        #[arg(long, value_parser = ["read", "write"])]
        scope: String,
        /// What the key is for, shown by `list`.
        #[arg(long, default_value = "admin key")]
        name: String,
    },
    /// Every key (never the key itself): id, name, scope, last use, revocation.
    List,
    /// Revoke a key at once.
    Revoke {
        /// The key's id, as `list` shows it.
        id: String,
    },
}

#[derive(Debug, Clone, Subcommand)]
pub enum InvitesAction {
    /// Create a code and print it (only its hash is stored).
    Create {
        /// How many signups the code allows.
        #[arg(long, default_value_t = 1)]
        uses: u32,
        /// Lifetime, e.g. `7d` (default: no expiry).
        #[arg(long, value_parser = crate::settings::values::duration)]
        expires: Option<Duration>,
    },
    /// Every code (hash prefix, uses, expiry).
    List,
}

#[derive(Debug, Clone, Subcommand)]
pub enum KeysAction {
    /// Every stored key with its state (pending, active, retired, expired).
    List,
    /// Publish a new key now; it signs after AUTHGATE_KEY_PUBLISH_DELAY and the current one
    /// retires then, staying published for twice the access-token lifetime.
    Rotate,
}

/// The command tree as `authgate` shows it: the derived one, every subcommand's help ending
/// with where its settings come from.
pub fn command() -> clap::Command {
    fn note(cmd: clap::Command) -> clap::Command {
        let names: Vec<String> = cmd
            .get_subcommands()
            .map(|c| c.get_name().to_owned())
            .collect();
        names.into_iter().fold(cmd, |cmd, name| {
            cmd.mut_subcommand(name, |sub| note(sub.after_help(SETTINGS_NOTE)))
        })
    }
    note(<Cli as clap::CommandFactory>::command())
}

/// Settings parsed from the command line and environment, secrets also from files
/// ([`FILE_SETTINGS`]). A value that does not parse is reported naming where it came from: the
/// environment variable when it was not given as a flag.
pub fn parse() -> Cli {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let args = match args_with_secret_files(args, |name| std::env::var_os(name)) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("error: {message}");
            std::process::exit(2);
        }
    };
    let parsed = command()
        .try_get_matches_from(&args)
        .and_then(|m| <Cli as clap::FromArgMatches>::from_arg_matches(&m));
    match parsed {
        Ok(cli) => cli,
        Err(e) => match naming_the_variable(&e, &args) {
            Some(message) => {
                eprintln!("error: {message}");
                std::process::exit(2);
            }
            None => e.exit(),
        },
    }
}

/// The settings reference, generated from the clap definitions (docs/configuration.md is this
/// text; a test fails when it is stale): every setting under its heading, with its variable,
/// flag, default, accepted values and description.
pub fn configuration_markdown() -> String {
    let cmd = <Cli as clap::CommandFactory>::command();
    let mut headings: Vec<String> = Vec::new();
    let mut rows: std::collections::HashMap<String, Vec<String>> = Default::default();
    let cell = |s: &str| {
        s.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .replace('|', "\\|")
    };
    for arg in cmd.get_arguments() {
        let (Some(env), Some(long)) = (arg.get_env().and_then(|e| e.to_str()), arg.get_long())
        else {
            continue;
        };
        let heading = arg.get_help_heading().unwrap_or("Other").to_owned();
        if !headings.contains(&heading) {
            headings.push(heading.clone());
        }
        let default: Vec<String> = arg
            .get_default_values()
            .iter()
            .filter_map(|v| v.to_str())
            .map(|v| format!("`{v}`"))
            .collect();
        let default = match default.join(", ") {
            d if d.is_empty() || d == "``" => "none".to_owned(),
            d => d,
        };
        let mut help = arg
            .get_long_help()
            .or_else(|| arg.get_help())
            .map(|h| cell(&h.to_string()))
            .unwrap_or_default();
        if !help.ends_with(['.', ')']) {
            help.push('.');
        }
        let values: Vec<String> = arg
            .get_possible_values()
            .iter()
            .filter(|v| !v.is_hide_set())
            .map(|v| format!("`{}`", v.get_name()))
            .collect();
        if !values.is_empty() && !matches!(arg.get_action(), clap::ArgAction::SetTrue) {
            help.push_str(&format!(" One of {}.", values.join(", ")));
        }
        if FILE_SETTINGS.iter().any(|(v, _)| *v == env) {
            help.push_str(&format!(" Also read from the file named by `{env}_FILE`."));
        }
        rows.entry(heading)
            .or_default()
            .push(format!("| `{env}` | `--{long}` | {default} | {help} |"));
    }
    let mut out = String::from(
        "# Configuration reference\n\n\
         <!-- Generated from the command-line definitions by \
         `cargo run -q -- settings-reference > docs/configuration.md`; do not edit by hand: a \
         test fails when this file is stale. -->\n\n\
         Every setting is an environment variable `AUTHGATE_<NAME>` and a command-line flag \
         (given before any subcommand: `authgate --listen 0.0.0.0:8080 serve`); a flag wins over \
         the variable. Secret settings can also be read from a file named by `<VARIABLE>_FILE` \
         (how Kubernetes and Docker hand secrets over; one trailing newline is dropped; setting \
         both forms is refused). Durations are written like `500ms`, `15m`, `24h`, `30d`. The \
         service refuses to start, with one line naming the variable, on a value it cannot use. \
         `authgate --help` shows the same, grouped the same way.\n",
    );
    for heading in headings {
        out.push_str(&format!(
            "\n## {heading}\n\n| variable | flag | default | what it does |\n| --- | --- | --- | --- |\n"
        ));
        for row in rows.remove(&heading).unwrap_or_default() {
            out.push_str(&row);
            out.push('\n');
        }
    }
    out
}

/// For a value clap refused: the same message naming the `AUTHGATE_*` variable it came from,
/// when it did not come from a flag on the command line. `None` for any other error.
fn naming_the_variable(e: &clap::Error, args: &[std::ffi::OsString]) -> Option<String> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if !matches!(
        e.kind(),
        ErrorKind::ValueValidation | ErrorKind::InvalidValue
    ) {
        return None;
    }
    let ContextValue::String(arg) = e.get(ContextKind::InvalidArg)? else {
        return None;
    };
    let long = arg.split_whitespace().next()?.strip_prefix("--")?;
    let cmd = <Cli as clap::CommandFactory>::command();
    let env = cmd
        .get_arguments()
        .find(|a| a.get_long() == Some(long))?
        .get_env()?
        .to_str()?
        .to_owned();
    let flag = format!("--{long}");
    let on_command_line = args.iter().any(|a| {
        a.to_str()
            .is_some_and(|a| a == flag || a.starts_with(&format!("{flag}=")))
    });
    if on_command_line {
        return None;
    }
    let value = match e.get(ContextKind::InvalidValue) {
        Some(ContextValue::String(v)) => v.clone(),
        _ => String::new(),
    };
    // clap's own sentence, with the variable's name where it named the flag.
    let rendered = e.render().to_string();
    let first = rendered.lines().next().unwrap_or_default();
    let reason = first
        .split_once(&format!("'{arg}': "))
        .map(|(_, r)| r.to_owned())
        .unwrap_or_else(|| first.trim_start_matches("error: ").to_owned());
    Some(format!("invalid value '{value}' for {env}: {reason}"))
}

/// The settings that may hold a secret, each also read from a file named by `<VARIABLE>_FILE`
/// (how Kubernetes and Docker hand secrets over), with the flag it sets.
pub const FILE_SETTINGS: &[(&str, &str)] = &[
    ("AUTHGATE_DATABASE_URL", "--database-url"),
    ("AUTHGATE_JWT_SECRET", "--jwt-secret"),
    ("AUTHGATE_PASSWORD_PEPPER", "--password-pepper"),
    ("AUTHGATE_ENCRYPTION_KEY", "--encryption-key"),
    ("AUTHGATE_CAPTCHA_SECRET", "--captcha-secret"),
    ("AUTHGATE_SMTP_URL", "--smtp-url"),
    ("AUTHGATE_SMS_WEBHOOK_SECRET", "--sms-webhook-secret"),
];

/// `args` with `--flag <file contents>` added after the program name for every `<VAR>_FILE`
/// that is set (one trailing newline dropped, as `echo` and editors leave one). The value never
/// reaches the process's real argument list; it goes to the parser only. Setting both `<VAR>`
/// and `<VAR>_FILE`, or an unreadable file, is an error naming the variable.
pub fn args_with_secret_files(
    mut args: Vec<std::ffi::OsString>,
    env: impl Fn(&str) -> Option<std::ffi::OsString>,
) -> Result<Vec<std::ffi::OsString>, String> {
    let mut extra = Vec::new();
    for (variable, flag) in FILE_SETTINGS {
        let file_variable = format!("{variable}_FILE");
        let Some(path) = env(&file_variable) else {
            continue;
        };
        if env(variable).is_some() {
            return Err(format!(
                "{variable} and {file_variable} are both set; set only one"
            ));
        }
        let contents = std::fs::read_to_string(&path).map_err(|e| {
            format!(
                "{file_variable}={}: cannot be read ({e})",
                std::path::Path::new(&path).display()
            )
        })?;
        let value = contents
            .strip_suffix("\r\n")
            .or_else(|| contents.strip_suffix('\n'))
            .unwrap_or(&contents);
        extra.push(std::ffi::OsString::from(*flag));
        extra.push(std::ffi::OsString::from(value));
    }
    let at = usize::from(!args.is_empty());
    args.splice(at..at, extra);
    Ok(args)
}

pub async fn run(cli: Cli) -> ExitCode {
    let settings = cli.settings;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            crate::telemetry::init(settings.log_format, &settings.log);
            report(serve(settings).await)
        }
        Command::Migrate => {
            crate::telemetry::init(settings.log_format, &settings.log);
            report(migrate(&settings))
        }
        Command::Healthcheck => healthcheck(&settings),
        Command::SettingsReference => {
            print!("{}", configuration_markdown());
            ExitCode::SUCCESS
        }
        Command::Keys { action } => {
            crate::telemetry::init(settings.log_format, "warn");
            report(keys(&settings, action))
        }
        Command::Users { json, action } => {
            crate::telemetry::init(settings.log_format, "warn");
            report(users(&settings, action, json).await)
        }
        Command::Invites { json, action } => {
            crate::telemetry::init(settings.log_format, "warn");
            report(invites(&settings, action, json))
        }
        Command::AdminKeys { json, action } => {
            crate::telemetry::init(settings.log_format, "warn");
            report(admin_keys(&settings, action, json))
        }
        Command::Roles { json, action } => {
            crate::telemetry::init(settings.log_format, "warn");
            report(roles(&settings, action, json).await)
        }
    }
}

/// A connection for an admin command, with migrations applied when enabled.
fn admin_connection(settings: &Settings) -> anyhow::Result<crate::db::PooledConnection> {
    settings.check().map_err(anyhow::Error::msg)?;
    let pool = crate::db::build_pool(&settings.database_url, 1, settings.database_timeout);
    let mut conn = pool.get()?;
    if settings.auto_migrate {
        crate::db::run_migrations(&mut conn)?;
    }
    Ok(conn)
}

fn find_user(
    conn: &mut crate::db::DbConnection,
    raw_email: &str,
) -> anyhow::Result<crate::db::users::UserRow> {
    let email = crate::domain::Email::parse(raw_email).map_err(|e| anyhow::anyhow!(e.message))?;
    crate::db::users::find_by_email(conn, email.as_str())?
        .ok_or_else(|| anyhow::anyhow!("no account with the address {}", email.as_str()))
}

/// Prints `value` as JSON, or `text` for people.
fn emit(json: bool, value: serde_json::Value, text: impl FnOnce() -> String) {
    if json {
        println!("{value}");
    } else {
        println!("{}", text());
    }
}

/// A password for an operator's command: the first line of standard input, or asked for
/// without echo when standard input is a terminal. Never an argument (argv is visible to
/// every user of the host).
fn read_password(what: &str) -> anyhow::Result<crate::domain::Password> {
    use std::io::IsTerminal as _;
    let raw = if std::io::stdin().is_terminal() {
        rpassword::prompt_password(format!("{what}: "))?
    } else {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    crate::domain::Password::parse(raw)
        .map_err(|e| anyhow::anyhow!("password from standard input: {}", e.message))
}

fn api(e: ApiError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

async fn users(settings: &Settings, action: UsersAction, json: bool) -> anyhow::Result<()> {
    use crate::db;
    use crate::service::rescue;
    use serde_json::json;
    settings.check().map_err(anyhow::Error::msg)?;
    // The same services as the HTTP routes, on the same state, with one pool of one connection:
    // a pool that could still be opening a connection on a background thread when the command
    // returns would race the process's exit (OpenSSL's teardown under a half-open TLS
    // connection to PostgreSQL crashed it, now and then, with no message).
    let mut one = settings.clone();
    one.database_pool_size = 1;
    let state = std::sync::Arc::new(AppState::from_settings(one).await?);
    let connection = || -> anyhow::Result<crate::db::PooledConnection> { Ok(state.pool.get()?) };
    let operator = crate::domain::ClientInfo::operator();
    match action {
        UsersAction::Create {
            email,
            name,
            verified,
        } => {
            let email =
                crate::domain::Email::parse(&email).map_err(|e| anyhow::anyhow!(e.message))?;
            let password = read_password("Password")?;
            let name = name.unwrap_or_else(|| {
                email
                    .as_str()
                    .split('@')
                    .next()
                    .unwrap_or("user")
                    .to_owned()
            });
            let name =
                crate::domain::DisplayName::parse(&name).map_err(|e| anyhow::anyhow!(e.message))?;
            // The same services as `signup/`: the new-password rules, the hash on the hashing
            // threads, the account written on the blocking pool.
            crate::service::password::check_new(&state, &password, &email)
                .await
                .map_err(|e| anyhow::anyhow!("password from standard input: {e}"))?;
            let input = crate::service::accounts::NewAccount {
                email,
                password,
                name,
                verified,
                has_password: true,
            };
            let (input, hash) =
                crate::service::run::hash_new_password(&state, input, |i| &i.password).await?;
            let shown = input.email.as_str().to_owned();
            let user = crate::service::run::blocking(&state, move |state, conn| {
                crate::service::accounts::create(state, conn, &operator, &input, &hash)
            })
            .await
            .map_err(|e| match e {
                ApiError::EmailTaken => {
                    anyhow::anyhow!("an account with the address {shown} exists")
                }
                e => anyhow::anyhow!("{e}"),
            })?;
            emit(json, json!({"id": user.id, "email": user.email}), || {
                format!("created user {} <{}>", user.id, user.email)
            });
        }
        UsersAction::List => {
            let mut conn = connection()?;
            let users = db::users::all(&mut conn)?;
            let rows: Vec<serde_json::Value> = users
                .iter()
                .map(|u| {
                    json!({
                        "id": u.id,
                        "email": u.email,
                        "email_verified": u.email_verified,
                        "disabled": u.disabled,
                        "totp_enabled": u.totp_secret.is_some(),
                        "created_at": crate::service::users::rfc3339(u.created_at),
                    })
                })
                .collect();
            emit(json, serde_json::Value::Array(rows), || {
                let mut out = format!(
                    "{:<36} {:<32} {:<8} {:<8} {:<5} {:<24}",
                    "ID", "EMAIL", "VERIFIED", "STATUS", "TOTP", "CREATED"
                );
                for u in &users {
                    out.push_str(&format!(
                        "\n{:<36} {:<32} {:<8} {:<8} {:<5} {:<24}",
                        u.id,
                        u.email,
                        if u.email_verified { "yes" } else { "no" },
                        if u.disabled { "disabled" } else { "active" },
                        if u.totp_secret.is_some() { "on" } else { "off" },
                        crate::service::users::rfc3339(u.created_at)
                    ));
                }
                out
            });
        }
        UsersAction::Show { email } => {
            let mut conn = connection()?;
            let user = find_user(&mut conn, &email)?;
            let disabled = user.disabled;
            let view = crate::service::users::view(&state, &mut conn, user).map_err(api)?;
            let mut value = serde_json::to_value(&view)?;
            value["disabled"] = json!(disabled);
            emit(json, value.clone(), || {
                serde_json::to_string_pretty(&value).unwrap_or_default()
            });
        }
        UsersAction::Disable { email } => {
            let mut conn = connection()?;
            let user = find_user(&mut conn, &email)?;
            let ended =
                rescue::set_disabled(&state, &mut conn, &operator, &user, true).map_err(api)?;
            emit(
                json,
                json!({"email": user.email, "disabled": true, "sessions_ended": ended}),
                || format!("disabled {}; {ended} session(s) ended", user.email),
            );
        }
        UsersAction::Enable { email } => {
            let mut conn = connection()?;
            let user = find_user(&mut conn, &email)?;
            rescue::set_disabled(&state, &mut conn, &operator, &user, false).map_err(api)?;
            emit(
                json,
                json!({"email": user.email, "disabled": false}),
                || format!("enabled {}", user.email),
            );
        }
        UsersAction::ResetMfa { email } => {
            let mut conn = connection()?;
            let user = find_user(&mut conn, &email)?;
            let ended = rescue::reset_mfa(&state, &mut conn, &operator, &user).map_err(api)?;
            emit(
                json,
                json!({"email": user.email, "totp_enabled": false, "sessions_ended": ended}),
                || {
                    format!(
                        "two-factor authentication of {} reset; {ended} session(s) ended",
                        user.email
                    )
                },
            );
        }
        UsersAction::SetPassword { email } => {
            let user = find_user(&mut *connection()?, &email)?;
            let password = read_password("New password")?;
            let address =
                crate::domain::Email::parse(&user.email).map_err(|e| anyhow::anyhow!(e.message))?;
            crate::service::password::check_new(&state, &password, &address)
                .await
                .map_err(|e| anyhow::anyhow!("password from standard input: {e}"))?;
            let (_, hash) = crate::service::run::hash_new_password(&state, password, |p| p).await?;
            let ended = rescue::set_password(&state, &mut *connection()?, &operator, &user, &hash)
                .map_err(api)?;
            emit(
                json,
                json!({"email": user.email, "sessions_ended": ended}),
                || format!("password of {} set; {ended} session(s) ended", user.email),
            );
        }
        UsersAction::RevokeSessions { email } => {
            let mut conn = connection()?;
            let user = find_user(&mut conn, &email)?;
            let ended =
                rescue::revoke_sessions(&state, &mut conn, &operator, &user).map_err(api)?;
            emit(
                json,
                json!({"email": user.email, "sessions_ended": ended}),
                || format!("{ended} session(s) of {} ended", user.email),
            );
        }
        UsersAction::Delete { email } => {
            let mut conn = connection()?;
            let user = find_user(&mut conn, &email)?;
            rescue::delete(&state, &mut conn, &operator, &user).map_err(api)?;
            emit(json, json!({"email": user.email, "deleted": true}), || {
                format!("deleted {} and everything about it", user.email)
            });
        }
    }
    Ok(())
}

async fn roles(settings: &Settings, action: RolesAction, json: bool) -> anyhow::Result<()> {
    use serde_json::json;
    settings.check().map_err(anyhow::Error::msg)?;
    // One pool of one connection, as `users` (see there).
    let mut one = settings.clone();
    one.database_pool_size = 1;
    let state = std::sync::Arc::new(AppState::from_settings(one).await?);
    let mut conn = state.pool.get()?;
    let operator = crate::domain::ClientInfo::operator();
    let (email, role, end_sessions, grant) = match action {
        RolesAction::Grant {
            email,
            role,
            end_sessions,
        } => (email, role, end_sessions, true),
        RolesAction::Revoke {
            email,
            role,
            end_sessions,
        } => (email, role, end_sessions, false),
        RolesAction::List { email: Some(email) } => {
            let user = find_user(&mut conn, &email)?;
            let roles = crate::db::roles::for_user(&mut conn, &user.id)?;
            emit(json, json!({"email": user.email, "roles": roles}), || {
                format!("{}: {}", user.email, roles.join(", "))
            });
            return Ok(());
        }
        RolesAction::List { email: None } => {
            let mut by_user: std::collections::BTreeMap<String, Vec<String>> = Default::default();
            for (user_id, role) in crate::db::roles::all(&mut conn)? {
                by_user.entry(user_id).or_default().push(role);
            }
            let mut rows = Vec::new();
            for (user_id, roles) in by_user {
                if let Some(user) = crate::db::users::find_by_id(&mut conn, &user_id)? {
                    rows.push((user.email, roles));
                }
            }
            rows.sort();
            let value = json!(rows
                .iter()
                .map(|(email, roles)| json!({"email": email, "roles": roles}))
                .collect::<Vec<_>>());
            emit(json, value, || {
                rows.iter()
                    .map(|(email, roles)| format!("{email}: {}", roles.join(", ")))
                    .collect::<Vec<_>>()
                    .join("\n")
            });
            return Ok(());
        }
    };
    let role = crate::domain::Role::parse(&role).map_err(|e| anyhow::anyhow!(e.message))?;
    let user = find_user(&mut conn, &email)?;
    let done = crate::service::roles::change(
        &state,
        &mut conn,
        &operator,
        &user,
        &role,
        grant,
        end_sessions,
    )
    .map_err(api)?;
    let roles = crate::db::roles::for_user(&mut conn, &user.id)?;
    let verb = if grant { "granted" } else { "revoked" };
    emit(
        json,
        json!({"email": user.email, "role": role.as_str(), "changed": done.changed,
               "roles": roles, "sessions_ended": done.sessions_ended}),
        || {
            let what = if done.changed {
                format!("{role} {verb}")
            } else {
                format!("nothing to do ({role} was already {verb})")
            };
            format!(
                "{}: {what}; roles now: {}; {} session(s) ended{}",
                user.email,
                roles.join(", "),
                done.sessions_ended,
                if end_sessions {
                    ""
                } else {
                    " (the change reaches each session at its next refresh)"
                }
            )
        },
    );
    Ok(())
}

fn admin_keys(settings: &Settings, action: AdminKeysAction, json: bool) -> anyhow::Result<()> {
    use crate::service::admin_keys::{self, Scope};
    let mut conn = admin_connection(settings)?;
    match action {
        AdminKeysAction::Create { scope, name } => {
            let scope =
                Scope::parse(&scope).ok_or_else(|| anyhow::anyhow!("--scope is read or write"))?;
            if name.trim().is_empty()
                || name.chars().count() > 100
                || name.chars().any(char::is_control)
            {
                anyhow::bail!("--name is 1 to 100 printable characters");
            }
            let (key, view) = admin_keys::create(&mut conn, name.trim(), scope).map_err(api)?;
            let mut value = serde_json::to_value(&view)?;
            value["key"] = serde_json::Value::String(key.clone());
            emit(json, value, || key.clone());
            if !json {
                eprintln!(
                    "admin API key {} ({}, scope {}); shown this once, only its hash is stored",
                    view.id, view.name, view.scope
                );
            }
        }
        AdminKeysAction::List => {
            let views = admin_keys::list(&mut conn).map_err(api)?;
            emit(json, serde_json::to_value(&views)?, || {
                let mut out = format!(
                    "{:<36} {:<6} {:<24} {:<24} {:<24} NAME",
                    "ID", "SCOPE", "CREATED", "LAST USED", "REVOKED"
                );
                for v in &views {
                    out.push_str(&format!(
                        "\n{:<36} {:<6} {:<24} {:<24} {:<24} {}",
                        v.id,
                        v.scope,
                        v.created_at,
                        v.last_used_at.as_deref().unwrap_or("never"),
                        v.revoked_at.as_deref().unwrap_or("-"),
                        v.name
                    ));
                }
                out
            });
        }
        AdminKeysAction::Revoke { id } => {
            if !admin_keys::revoke(&mut conn, &id).map_err(api)? {
                anyhow::bail!("no live admin API key with the id {id}");
            }
            emit(json, serde_json::json!({"id": id, "revoked": true}), || {
                format!("revoked admin API key {id}")
            });
        }
    }
    Ok(())
}

fn invites(settings: &Settings, action: InvitesAction, json: bool) -> anyhow::Result<()> {
    use serde_json::json;
    let mut conn = admin_connection(settings)?;
    match action {
        InvitesAction::Create { uses, expires } => {
            if uses == 0 {
                anyhow::bail!("--uses must be at least 1");
            }
            let (code, view) = crate::service::invites::create(
                &mut conn,
                &crate::domain::ClientInfo::operator(),
                uses,
                expires,
            )?;
            emit(
                json,
                json!({"code": code, "uses": uses, "expires_at": view.expires_at}),
                || code.clone(),
            );
            if !json {
                eprintln!(
                    "invitation code for {uses} signup(s), expires {}; only its hash is stored",
                    view.expires_at.as_deref().unwrap_or("never")
                );
            }
        }
        InvitesAction::List => {
            let views = crate::service::invites::list(&mut conn).map_err(api)?;
            emit(json, serde_json::to_value(&views)?, || {
                let mut out = format!(
                    "{:<16} {:<6} {:<8} {:<24} {:<24}",
                    "HASH", "USES", "MAX", "EXPIRES", "CREATED"
                );
                for v in &views {
                    out.push_str(&format!(
                        "\n{:<16} {:<6} {:<8} {:<24} {:<24}",
                        v.hash_prefix,
                        v.uses,
                        v.max_uses,
                        v.expires_at.as_deref().unwrap_or("never"),
                        v.created_at
                    ));
                }
                out
            });
        }
    }
    Ok(())
}

fn keys(settings: &Settings, action: KeysAction) -> anyhow::Result<()> {
    use crate::tokens::keys;
    settings.check().map_err(anyhow::Error::msg)?;
    let pool = crate::db::build_pool(&settings.database_url, 1, settings.database_timeout);
    let mut conn = pool.get()?;
    if settings.auto_migrate {
        crate::db::run_migrations(&mut conn)?;
    }
    let sealer = crate::crypto::sealing::Sealer::new(settings.encryption_key.as_ref())?;
    match action {
        KeysAction::List => {
            let now = crate::db::now();
            println!(
                "{:<18} {:<6} {:<8} {:<24} {:<24} {:<24} {:<24}",
                "KID", "ALG", "STATUS", "CREATED", "SIGNS FROM", "RETIRES", "EXPIRES"
            );
            let t = |v: Option<chrono::NaiveDateTime>| {
                v.map(crate::service::users::rfc3339)
                    .unwrap_or_else(|| "-".into())
            };
            for row in crate::db::keys::all(&mut conn)? {
                println!(
                    "{:<18} {:<6} {:<8} {:<24} {:<24} {:<24} {:<24}",
                    row.kid,
                    row.algorithm,
                    keys::status(&row, now),
                    t(Some(row.created_at)),
                    t(Some(row.activates_at)),
                    t(row.retired_at),
                    t(row.expires_at)
                );
            }
        }
        KeysAction::Rotate => {
            let row = keys::rotate(
                &mut conn,
                settings.jwt_algorithm,
                &sealer,
                settings.key_publish_delay,
                2 * settings.access_token_ttl,
            )?;
            println!(
                "new {} key {} published; it signs from {} (replicas pick it up within {:?})",
                row.algorithm,
                row.kid,
                crate::service::users::rfc3339(row.activates_at),
                settings.key_reload_interval
            );
        }
    }
    Ok(())
}

fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("authgate: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    tracing::info!(settings = ?settings, "starting");
    let app = Application::build(settings).await?;
    tracing::info!(port = app.port(), "listening");
    let stop = app.shutdown_trigger();
    tokio::spawn(async move {
        match shutdown_signal().await {
            Ok(name) => tracing::info!(signal = name, "shutdown requested"),
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for shutdown signals");
                return;
            }
        }
        stop.await;
    });
    app.run_until_stopped().await?;
    tracing::info!("stopped");
    Ok(())
}

fn migrate(settings: &Settings) -> anyhow::Result<()> {
    settings.check().map_err(anyhow::Error::msg)?;
    let pool = crate::db::build_pool(&settings.database_url, 1, settings.database_timeout);
    let mut conn = pool.get()?;
    let applied = crate::db::run_migrations(&mut conn)?;
    println!("{} migration(s) applied", applied.len());
    Ok(())
}

/// Asks the local `/readyz` with a bare HTTP/1.1 request, so the container image needs no curl.
fn healthcheck(settings: &Settings) -> ExitCode {
    let mut addr = settings.listen;
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            addr = SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), addr.port())
        }
        _ => {}
    }
    let probe = || -> std::io::Result<bool> {
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(3))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        write!(
            stream,
            "GET /readyz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )?;
        let mut head = [0u8; 16];
        let n = stream.read(&mut head)?;
        Ok(head[..n].starts_with(b"HTTP/1.1 200"))
    };
    match probe() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("authgate healthcheck: {addr}/readyz is not ready");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("authgate healthcheck: {addr}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// SIGTERM (Kubernetes, Docker) or SIGINT (Ctrl-C): both drain gracefully.
async fn shutdown_signal() -> std::io::Result<&'static str> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        tokio::select! {
            _ = term.recv() => Ok("SIGTERM"),
            _ = int.recv() => Ok("SIGINT"),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await?;
        Ok("ctrl-c")
    }
}

#[cfg(test)]
mod cli_tests {
    use super::*;

    /// Every argument of every command says what it is for (help and version aside), and every
    /// setting sits under a topic heading.
    #[test]
    fn every_flag_and_argument_has_a_description_and_every_setting_a_heading() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                if arg
                    .get_help()
                    .is_none_or(|h| h.to_string().trim().is_empty())
                {
                    missing.push(format!("{path} {id}: no description"));
                }
                if arg.get_env().is_some() && arg.get_help_heading().is_none() {
                    missing.push(format!("{path} {id}: no heading"));
                }
            }
            for sub in cmd.get_subcommands() {
                if sub.get_about().is_none() {
                    missing.push(format!("{path} {}: no description", sub.get_name()));
                }
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&command(), "authgate", &mut missing);
        assert!(missing.is_empty(), "{missing:#?}");
    }

    /// A subcommand's help lists its own flags, not the service's settings.
    #[test]
    fn subcommands_show_only_their_own_flags() {
        let mut cmd = command();
        let users = cmd.find_subcommand("users").expect("users");
        let create = users.find_subcommand("create").expect("create");
        let own: Vec<&str> = create
            .get_arguments()
            .filter_map(|a| a.get_long())
            .collect();
        assert_eq!(own, ["email", "name", "verified"]);
        assert!(
            cmd.get_arguments()
                .filter(|a| a.get_env().is_some())
                .count()
                > 80
        );
        let migrate = cmd.find_subcommand_mut("migrate").expect("migrate");
        assert!(migrate.get_arguments().all(|a| a.get_env().is_none()));
        let note = migrate.get_after_help().map(|h| h.to_string());
        assert!(
            note.is_some_and(|n| n.contains("AUTHGATE_*")),
            "it says where settings come from"
        );
    }

    #[test]
    fn a_bad_value_from_the_environment_is_reported_under_the_variable() {
        let err = <Cli as clap::CommandFactory>::command()
            .try_get_matches_from(["authgate", "--access-token-ttl", "soon", "migrate"])
            .expect_err("not a duration");
        let from_env: Vec<std::ffi::OsString> = vec!["authgate".into(), "migrate".into()];
        let message = naming_the_variable(&err, &from_env).expect("named");
        assert!(
            message.starts_with("invalid value 'soon' for AUTHGATE_ACCESS_TOKEN_TTL: "),
            "{message}"
        );
        let flagged: Vec<std::ffi::OsString> =
            vec!["authgate".into(), "--access-token-ttl=soon".into()];
        assert_eq!(
            naming_the_variable(&err, &flagged),
            None,
            "from a flag, clap's own words name the flag"
        );
    }

    #[test]
    fn a_secret_file_becomes_its_flag_and_both_forms_at_once_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let pepper = dir.path().join("pepper");
        std::fs::write(&pepper, "correct-horse-battery-staple\n").unwrap();
        let env = |set: &'static [(&'static str, &'static str)]| {
            let pepper = pepper.clone();
            move |name: &str| {
                if name == "AUTHGATE_PASSWORD_PEPPER_FILE" && set.iter().any(|(n, _)| *n == "file")
                {
                    return Some(pepper.clone().into_os_string());
                }
                set.iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| std::ffi::OsString::from(v))
            }
        };
        let args = vec!["authgate".into(), "migrate".into()];
        let out = args_with_secret_files(args.clone(), env(&[("file", "")])).unwrap();
        assert_eq!(
            out,
            [
                "authgate",
                "--password-pepper",
                "correct-horse-battery-staple",
                "migrate"
            ]
            .map(std::ffi::OsString::from)
        );
        let cli = Cli::parse_from(out);
        assert_eq!(
            cli.settings
                .password_pepper
                .as_ref()
                .map(|s| s.expose().to_owned()),
            Some("correct-horse-battery-staple".to_owned())
        );
        assert_eq!(
            args_with_secret_files(args.clone(), env(&[])).unwrap(),
            args
        );
        let both = args_with_secret_files(
            args.clone(),
            env(&[("file", ""), ("AUTHGATE_PASSWORD_PEPPER", "x")]),
        )
        .unwrap_err();
        assert!(
            both.contains("AUTHGATE_PASSWORD_PEPPER and AUTHGATE_PASSWORD_PEPPER_FILE"),
            "{both}"
        );
        let missing = args_with_secret_files(args, |n: &str| {
            (n == "AUTHGATE_JWT_SECRET_FILE").then(|| "/nonexistent/secret".into())
        })
        .unwrap_err();
        assert!(
            missing.starts_with("AUTHGATE_JWT_SECRET_FILE=/nonexistent/secret: cannot be read"),
            "{missing}"
        );
    }

    #[test]
    fn every_secret_setting_can_come_from_a_file() {
        use clap::CommandFactory;
        let cmd = Cli::command();
        for arg in cmd.get_arguments() {
            let hidden = arg.is_hide_env_values_set();
            let env = arg.get_env().and_then(|e| e.to_str()).unwrap_or_default();
            if hidden || env == "AUTHGATE_DATABASE_URL" {
                assert!(
                    FILE_SETTINGS
                        .iter()
                        .any(|(v, f)| *v == env
                            && Some(f.trim_start_matches("--")) == arg.get_long()),
                    "{env} holds a secret but has no _FILE form"
                );
            }
        }
    }

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
