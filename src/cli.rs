//! The subcommands: `serve` (the default), `migrate`, `healthcheck`, and the operator's `keys`,
//! `users` and `invites`.
//!
//! The settings are flags of `serve` (and of `authgate` itself, which serves when no subcommand
//! is given). The other subcommands take only their own arguments, plus the one or two settings
//! an operator points them with (`--database-url`, `--listen`): they read every other setting
//! from the environment, as `serve` does, so their help stays short.

use std::ffi::OsString;
use std::io::{Read as _, Write as _};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{FromArgMatches as _, Parser, Subcommand};

use crate::error::ApiError;
use crate::settings::Settings;
use crate::startup::Application;
use crate::state::AppState;

#[derive(Debug, Parser)]
#[command(
    name = "authgate",
    version,
    about,
    long_about = None,
    args_conflicts_with_subcommands = true,
    after_help = "Without a subcommand authgate serves, with the settings above. The other \
                  subcommands read the same settings from the same AUTHGATE_* variables."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The settings the command runs with. [`parse`] fills them in for every subcommand; a bare
    /// `Cli::parse_from` only for `authgate [SETTINGS]` (no subcommand).
    #[command(flatten)]
    pub settings: Settings,
}

/// Said under the help of every subcommand but `serve`: where its other settings come from.
const SETTINGS_NOTE: &str = "Every other setting (keys, pepper, encryption key, mail, ...) is \
read from its AUTHGATE_* environment variable, or for a secret from the file named by \
AUTHGATE_*_FILE, exactly as `serve` reads it: `authgate serve --help` lists them all, \
docs/configuration.md describes them.";

#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Run the HTTP service (the default).
    Serve(Box<Settings>),
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
    /// Turn off TOTP and the recovery codes of a user who lost both, and end every session; the
    /// owner is mailed a notice.
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

/// The settings each subcommand other than `serve` takes as flags (by the name of its first
/// word): the same argument as `serve`'s, with its variable, default and help. Everything else
/// it reads from the environment.
fn own_settings(subcommand: &str) -> &'static [&'static str] {
    match subcommand {
        "healthcheck" => &["listen"],
        "migrate" | "keys" | "users" | "invites" => &["database_url"],
        _ => &[],
    }
}

/// The command tree as `authgate` shows and parses it: the derived one, with each operator
/// subcommand given copies of the few settings it takes as flags ([`own_settings`]) and a note
/// on where the rest come from.
pub fn command() -> clap::Command {
    let cmd = <Cli as clap::CommandFactory>::command();
    let settings: Vec<clap::Arg> = cmd.get_arguments().cloned().collect();
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|c| c.get_name().to_owned())
        .filter(|n| n != "serve" && n != "settings-reference")
        .collect();
    names.into_iter().fold(cmd, |cmd, name| {
        let own: Vec<clap::Arg> = settings
            .iter()
            .filter(|a| own_settings(&name).contains(&a.get_id().as_str()))
            .cloned()
            .collect();
        cmd.mut_subcommand(&name, |sub| operator_command(sub, &own))
    })
}

/// `cmd` and its subcommands, each leaf with the settings `own` as flags, and every one ending
/// its help with [`SETTINGS_NOTE`].
fn operator_command(cmd: clap::Command, own: &[clap::Arg]) -> clap::Command {
    let cmd = cmd.after_help(SETTINGS_NOTE);
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|c| c.get_name().to_owned())
        .collect();
    if names.is_empty() {
        return cmd.args(own.iter().cloned());
    }
    names.into_iter().fold(cmd, |cmd, name| {
        cmd.mut_subcommand(name, |sub| operator_command(sub, own))
    })
}

/// Why the command line or the environment was refused.
#[derive(Debug)]
pub enum Refusal {
    /// One line to print after `error: `; exit status 2, as clap's own errors.
    Line(String),
    /// Clap's own report (and `--help`, `--version`), printed by `clap::Error::exit`.
    Clap(clap::Error),
}

/// The command line and environment of this process, parsed: exits on `--help`, `--version`
/// and with status 2 on a bad argument or setting, naming the variable or flag it came from.
pub fn parse() -> Cli {
    let args: Vec<OsString> = std::env::args_os().collect();
    match parse_from(args, |name| std::env::var_os(name)) {
        Ok(cli) => cli,
        Err(Refusal::Line(message)) => {
            eprintln!("error: {message}");
            std::process::exit(2);
        }
        Err(Refusal::Clap(e)) => e.exit(),
    }
}

/// [`parse`] over given arguments and environment (the environment is also read by clap itself
/// for the `AUTHGATE_*` variables; `env` answers for the `_FILE` forms and error messages).
/// `settings` is what the command runs with: for `serve` its flags, environment and files; for
/// another subcommand the environment and files, overridden by the setting flags it takes.
pub fn parse_from(
    args: Vec<OsString>,
    env: impl Fn(&str) -> Option<OsString>,
) -> Result<Cli, Refusal> {
    let cmd = with_secret_files(command(), &env).map_err(Refusal::Line)?;
    let refused = |e: clap::Error| match naming_the_source(&e, &args, &env) {
        Some(line) => Refusal::Line(line),
        None => Refusal::Clap(e),
    };
    let matches = cmd.clone().try_get_matches_from(&args).map_err(&refused)?;
    let mut cli = Cli::from_arg_matches(&matches).map_err(Refusal::Clap)?;
    match &cli.command {
        None => {}
        Some(Command::Serve(settings)) => cli.settings = (**settings).clone(),
        Some(_) => {
            // The setting flags the subcommand was given, as `authgate [SETTINGS]` would take
            // them: the one definition parses them, with the environment for the rest.
            let mut leaf = &matches;
            while let Some((_, sub)) = leaf.subcommand() {
                leaf = sub;
            }
            let mut synthetic: Vec<OsString> = vec!["authgate".into()];
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                let (Some(long), Ok(Some(values))) = (arg.get_long(), leaf.try_get_raw(id)) else {
                    continue;
                };
                if leaf.value_source(id) != Some(ValueSource::CommandLine) {
                    continue;
                }
                for value in values {
                    let mut flag = OsString::from(format!("--{long}="));
                    flag.push(value);
                    synthetic.push(flag);
                }
            }
            let matches = cmd.try_get_matches_from(synthetic).map_err(&refused)?;
            cli.settings = Settings::from_arg_matches(&matches).map_err(Refusal::Clap)?;
        }
    }
    Ok(cli)
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
    // "`migrate`, `keys` ... take `--database-url`", from `own_settings`.
    let mut own: Vec<(String, Vec<String>)> = Vec::new();
    for sub in ["migrate", "keys", "users", "invites", "healthcheck"] {
        let flags: Vec<String> = own_settings(sub)
            .iter()
            .map(|id| format!("`--{}`", id.replace('_', "-")))
            .collect();
        let flags = flags.join(", ");
        match own.iter_mut().find(|(f, _)| *f == flags) {
            Some((_, subs)) => subs.push(format!("`{sub}`")),
            None => own.push((flags, vec![format!("`{sub}`")])),
        }
    }
    let own: Vec<String> = own
        .into_iter()
        .map(|(flags, subs)| {
            let verb = if subs.len() == 1 { "takes" } else { "take" };
            format!("{} {verb} {flags}", subs.join(", "))
        })
        .collect();
    let mut out = format!(
        "# Configuration reference\n\n\
         <!-- Generated from the command-line definitions by \
         `cargo run -q -- settings-reference > docs/configuration.md`; do not edit by hand: a \
         test fails when this file is stale. -->\n\n\
         Every setting is read, in this order, from a flag of `authgate serve` (or of `authgate` \
         alone, which serves: `authgate --listen 0.0.0.0:8080`), from its environment variable \
         `AUTHGATE_<NAME>`, and for the secret settings from a file named by `<VARIABLE>_FILE` \
         (how Kubernetes and Docker hand secrets over; one trailing newline is dropped; setting \
         both the variable and its `_FILE` is refused); otherwise it takes its default. The \
         other subcommands read the same variables and files and take as flags only their own \
         arguments and the setting that points them ({}). Durations are written like `500ms`, \
         `15m`, `24h`, `30d`. A value that does not parse stops authgate with one line naming \
         the variable, file or flag it came from (exit status 2); a combination that cannot \
         work, with one line naming the variables (exit status 1). `authgate serve --help` shows \
         the same, grouped the same way.\n",
        own.join("; ")
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

/// For a value clap refused that did not come from a flag on the command line: one line naming
/// the `AUTHGATE_*` variable it came from, or the `_FILE` variable naming the file it was read
/// from. A secret's value is not repeated. `None` for any other error (clap's own words then
/// name the flag).
fn naming_the_source(
    e: &clap::Error,
    args: &[OsString],
    env: impl Fn(&str) -> Option<OsString>,
) -> Option<String> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if !matches!(
        e.kind(),
        ErrorKind::ValueValidation | ErrorKind::InvalidValue
    ) {
        return None;
    }
    let ContextValue::String(invalid) = e.get(ContextKind::InvalidArg)? else {
        return None;
    };
    let long = invalid.split_whitespace().next()?.strip_prefix("--")?;
    let cmd = <Cli as clap::CommandFactory>::command();
    let arg = cmd.get_arguments().find(|a| a.get_long() == Some(long))?;
    let variable = arg.get_env()?.to_str()?.to_owned();
    let invalid_value = match e.get(ContextKind::InvalidValue) {
        Some(ContextValue::String(v)) => Some(v.as_str()),
        _ => None,
    };
    // The flag when it was given this value (`--flag value` or `--flag=value`); the variable
    // when it holds it (a subcommand's own `--database-url` does not hide a bad variable).
    let flag = format!("--{long}");
    let given = |a: &OsString, b: Option<&OsString>| match a.to_str() {
        Some(a) if a == flag => b.and_then(|b| b.to_str()).map(str::to_owned),
        Some(a) => a.strip_prefix(&format!("{flag}=")).map(str::to_owned),
        None => None,
    };
    let on_command_line = (0..args.len()).any(|i| {
        given(&args[i], args.get(i + 1))
            .is_some_and(|v| invalid_value.is_none_or(|invalid| v == invalid))
    });
    let in_variable = env(&variable)
        .is_some_and(|v| invalid_value.is_none_or(|invalid| v.to_str() == Some(invalid)));
    let source = if in_variable {
        variable
    } else if on_command_line {
        return None;
    } else if env(&format!("{variable}_FILE")).is_some() {
        format!("the file named by {variable}_FILE")
    } else {
        return None;
    };
    let value = match invalid_value {
        Some(v) if !arg.is_hide_env_values_set() => format!(" '{v}'"),
        _ => String::new(),
    };
    let reason = match e.get(ContextKind::ValidValue) {
        Some(ContextValue::Strings(valid)) => format!("expected one of {}", valid.join(", ")),
        _ => {
            // clap's own sentence after the flag it named.
            let rendered = e.render().to_string();
            let first = rendered.lines().next().unwrap_or_default().to_owned();
            first
                .split_once(&format!("'{invalid}': "))
                .map(|(_, r)| r.to_owned())
                .unwrap_or_else(|| "not a valid value".to_owned())
        }
    };
    Some(format!("invalid value{value} for {source}: {reason}"))
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

/// `cmd` with the contents of every `<VAR>_FILE` that is set (one trailing newline dropped, as
/// `echo` and editors leave one) as the default of its setting, wherever in the tree that
/// setting is an argument: below a flag and the variable (which cannot both be set), above the
/// built-in default, and never shown by `--help`. Setting both `<VAR>` and `<VAR>_FILE`, or an
/// unreadable file, is an error naming the variable.
pub fn with_secret_files(
    mut cmd: clap::Command,
    env: impl Fn(&str) -> Option<OsString>,
) -> Result<clap::Command, String> {
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
        // Clap keeps defaults as `&'static str`: one copy per secret file, once per process,
        // which lives as long as the settings holding it would anyway.
        let value: &'static str = Box::leak(value.to_owned().into_boxed_str());
        cmd = default_everywhere(cmd, flag.trim_start_matches("--"), value);
    }
    Ok(cmd)
}

/// `cmd` with `value` as the hidden default of the argument `--long` in it and its subcommands.
fn default_everywhere(cmd: clap::Command, long: &str, value: &'static str) -> clap::Command {
    let ids: Vec<clap::Id> = cmd
        .get_arguments()
        .filter(|a| a.get_long() == Some(long))
        .map(|a| a.get_id().clone())
        .collect();
    let cmd = ids.into_iter().fold(cmd, |cmd, id| {
        cmd.mut_arg(id, |a| a.default_value(value).hide_default_value(true))
    });
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|c| c.get_name().to_owned())
        .collect();
    names.into_iter().fold(cmd, |cmd, name| {
        cmd.mut_subcommand(name, |sub| default_everywhere(sub, long, value))
    })
}

pub async fn run(cli: Cli) -> ExitCode {
    let settings = cli.settings;
    match cli.command {
        // `parse` put serve's settings in `cli.settings`.
        None | Some(Command::Serve(_)) => {
            crate::telemetry::init(settings.log_format, &settings.log);
            report(serve(settings).await)
        }
        Some(Command::Migrate) => {
            crate::telemetry::init(settings.log_format, &settings.log);
            report(migrate(&settings))
        }
        Some(Command::Healthcheck) => healthcheck(&settings),
        Some(Command::SettingsReference) => {
            print!("{}", configuration_markdown());
            ExitCode::SUCCESS
        }
        Some(Command::Keys { action }) => {
            crate::telemetry::init(settings.log_format, "warn");
            report(keys(&settings, action))
        }
        Some(Command::Users { json, action }) => {
            crate::telemetry::init(settings.log_format, "warn");
            report(users(&settings, action, json).await)
        }
        Some(Command::Invites { json, action }) => {
            crate::telemetry::init(settings.log_format, "warn");
            report(invites(&settings, action, json))
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
            };
            let (input, hash) =
                crate::service::run::hash_new_password(&state, input, |i| &i.password).await?;
            let shown = input.email.as_str().to_owned();
            let user = crate::service::run::blocking(&state, move |_, conn| {
                crate::service::accounts::create(conn, &input, &hash)
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
            let ended = rescue::set_disabled(&state, &mut conn, &user, true).map_err(api)?;
            emit(
                json,
                json!({"email": user.email, "disabled": true, "sessions_ended": ended}),
                || format!("disabled {}; {ended} session(s) ended", user.email),
            );
        }
        UsersAction::Enable { email } => {
            let mut conn = connection()?;
            let user = find_user(&mut conn, &email)?;
            rescue::set_disabled(&state, &mut conn, &user, false).map_err(api)?;
            emit(
                json,
                json!({"email": user.email, "disabled": false}),
                || format!("enabled {}", user.email),
            );
        }
        UsersAction::ResetMfa { email } => {
            let mut conn = connection()?;
            let user = find_user(&mut conn, &email)?;
            let ended = rescue::reset_mfa(&state, &mut conn, &user).map_err(api)?;
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
            let ended =
                rescue::set_password(&state, &mut *connection()?, &user, &hash).map_err(api)?;
            emit(
                json,
                json!({"email": user.email, "sessions_ended": ended}),
                || format!("password of {} set; {ended} session(s) ended", user.email),
            );
        }
        UsersAction::RevokeSessions { email } => {
            let mut conn = connection()?;
            let user = find_user(&mut conn, &email)?;
            let ended = rescue::revoke_sessions(&state, &mut conn, &user).map_err(api)?;
            emit(
                json,
                json!({"email": user.email, "sessions_ended": ended}),
                || format!("{ended} session(s) of {} ended", user.email),
            );
        }
        UsersAction::Delete { email } => {
            let mut conn = connection()?;
            let user = find_user(&mut conn, &email)?;
            rescue::delete(&state, &mut conn, &user).map_err(api)?;
            emit(json, json!({"email": user.email, "deleted": true}), || {
                format!("deleted {} and everything about it", user.email)
            });
        }
    }
    Ok(())
}

fn invites(settings: &Settings, action: InvitesAction, json: bool) -> anyhow::Result<()> {
    use serde_json::json;
    let mut conn = admin_connection(settings)?;
    let t = |v: Option<chrono::NaiveDateTime>| v.map(crate::service::users::rfc3339);
    match action {
        InvitesAction::Create { uses, expires } => {
            if uses == 0 {
                anyhow::bail!("--uses must be at least 1");
            }
            let (code, row) = crate::service::invites::create(&mut conn, uses, expires)?;
            emit(
                json,
                json!({"code": code, "uses": uses, "expires_at": t(row.expires_at)}),
                || code.clone(),
            );
            if !json {
                eprintln!(
                    "invitation code for {uses} signup(s), expires {}; only its hash is stored",
                    t(row.expires_at).unwrap_or_else(|| "never".into())
                );
            }
        }
        InvitesAction::List => {
            let rows = crate::db::invites::all(&mut conn)?;
            let prefix = |h: &str| h[..16.min(h.len())].to_owned();
            let values: Vec<serde_json::Value> = rows
                .iter()
                .map(|r| {
                    json!({
                        "hash_prefix": prefix(&r.code_hash),
                        "uses": r.uses,
                        "max_uses": r.max_uses,
                        "expires_at": t(r.expires_at),
                        "created_at": t(Some(r.created_at)),
                    })
                })
                .collect();
            emit(json, serde_json::Value::Array(values), || {
                let mut out = format!(
                    "{:<16} {:<6} {:<8} {:<24} {:<24}",
                    "HASH", "USES", "MAX", "EXPIRES", "CREATED"
                );
                for r in &rows {
                    out.push_str(&format!(
                        "\n{:<16} {:<6} {:<8} {:<24} {:<24}",
                        prefix(&r.code_hash),
                        r.uses,
                        r.max_uses,
                        t(r.expires_at).unwrap_or_else(|| "never".into()),
                        t(Some(r.created_at)).unwrap_or_default()
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

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    /// Every argument of every command says what it is for (help and version aside), and every
    /// setting sits under a topic heading.
    #[test]
    fn every_flag_has_a_description_and_every_setting_a_heading() {
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

    /// `authgate serve --help` and `authgate --help` list every setting; the other subcommands
    /// their own arguments, the setting that points them, and where the rest come from.
    #[test]
    fn subcommands_show_only_their_own_flags() {
        let cmd = command();
        let settings =
            |c: &clap::Command| c.get_arguments().filter(|a| a.get_env().is_some()).count();
        let all = settings(&cmd);
        assert!(all > 80, "{all}");
        assert_eq!(settings(cmd.find_subcommand("serve").expect("serve")), all);
        let leaf = |path: &[&str]| {
            path.iter()
                .try_fold(&cmd, |c, name| c.find_subcommand(name))
                .unwrap_or_else(|| panic!("{path:?}"))
                .clone()
        };
        let create = leaf(&["users", "create"]);
        let own: Vec<&str> = create
            .get_arguments()
            .filter_map(|a| a.get_long())
            .collect();
        assert_eq!(own, ["email", "name", "verified", "database-url"]);
        for (path, setting) in [
            (&["migrate"][..], "database-url"),
            (&["keys", "rotate"], "database-url"),
            (&["keys", "list"], "database-url"),
            (&["users", "disable"], "database-url"),
            (&["invites", "create"], "database-url"),
            (&["healthcheck"], "listen"),
        ] {
            let mut sub = leaf(path);
            let flags: Vec<&str> = sub
                .get_arguments()
                .filter(|a| a.get_env().is_some())
                .filter_map(|a| a.get_long())
                .collect();
            assert_eq!(flags, [setting], "{path:?}");
            let help = sub.render_help().to_string();
            assert!(help.contains("`authgate serve --help`"), "{path:?}: {help}");
            assert!(help.lines().count() < 30, "{path:?}: {help}");
        }
    }

    #[test]
    fn a_subcommand_takes_the_settings_that_point_it_as_flags_and_no_others() {
        let cli = parse_from(
            os(&[
                "authgate",
                "migrate",
                "--database-url",
                "postgres://db.example/authgate",
            ]),
            |_| None,
        )
        .expect("parses");
        assert_eq!(
            cli.settings.database_url,
            crate::settings::DatabaseUrl::Postgres("postgres://db.example/authgate".into())
        );
        let cli = parse_from(
            os(&["authgate", "serve", "--listen", "127.0.0.1:9"]),
            |_| None,
        )
        .expect("parses");
        assert_eq!(
            cli.settings.listen.port(),
            9,
            "serve's flags are the settings"
        );
        let cli =
            parse_from(os(&["authgate", "--listen", "127.0.0.1:9"]), |_| None).expect("parses");
        assert!(cli.command.is_none());
        assert_eq!(cli.settings.listen.port(), 9, "authgate alone serves");
        for refused in [
            &["authgate", "migrate", "--listen", "127.0.0.1:9"][..],
            &["authgate", "--listen", "127.0.0.1:9", "migrate"],
        ] {
            assert!(
                matches!(parse_from(os(refused), |_| None), Err(Refusal::Clap(_))),
                "{refused:?}"
            );
        }
    }

    #[test]
    fn a_bad_value_is_reported_under_the_variable_or_file_it_came_from() {
        let err = command()
            .try_get_matches_from(["authgate", "--access-token-ttl", "soon"])
            .expect_err("not a duration");
        let in_variable =
            |n: &str| (n == "AUTHGATE_ACCESS_TOKEN_TTL").then(|| OsString::from("soon"));
        let message =
            naming_the_source(&err, &os(&["authgate", "migrate"]), in_variable).expect("named");
        assert!(
            message.starts_with("invalid value 'soon' for AUTHGATE_ACCESS_TOKEN_TTL: expected"),
            "{message}"
        );
        for flagged in [
            &["authgate", "--access-token-ttl=soon"][..],
            &["authgate", "serve", "--access-token-ttl", "soon"],
        ] {
            assert_eq!(
                naming_the_source(&err, &os(flagged), |_| None),
                None,
                "from a flag, clap's own words name the flag"
            );
        }

        let err = command()
            .try_get_matches_from(["authgate", "--password-pepper", "short"])
            .expect_err("too short");
        let in_file = |n: &str| {
            (n == "AUTHGATE_PASSWORD_PEPPER_FILE").then(|| OsString::from("/run/secrets/pepper"))
        };
        let message = naming_the_source(&err, &os(&["authgate"]), in_file).expect("named");
        assert_eq!(
            message,
            "invalid value for the file named by AUTHGATE_PASSWORD_PEPPER_FILE: must be at least 16 characters",
            "a secret's value is not repeated"
        );

        let err = command()
            .try_get_matches_from(["authgate", "--jwt-algorithm", "none"])
            .expect_err("not an algorithm");
        let in_variable = |n: &str| (n == "AUTHGATE_JWT_ALGORITHM").then(|| OsString::from("none"));
        let message = naming_the_source(&err, &os(&["authgate"]), in_variable).expect("named");
        assert!(
            message.starts_with(
                "invalid value 'none' for AUTHGATE_JWT_ALGORITHM: expected one of EdDSA"
            ),
            "{message}"
        );
    }

    #[test]
    fn a_secret_file_is_read_by_every_subcommand_and_both_forms_at_once_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let pepper = dir.path().join("pepper");
        std::fs::write(&pepper, "correct-horse-battery-staple\n").unwrap();
        let file = |name: &str| {
            (name == "AUTHGATE_PASSWORD_PEPPER_FILE").then(|| pepper.clone().into_os_string())
        };
        for args in [
            &["authgate"][..],
            &["authgate", "serve"],
            &["authgate", "migrate"],
            &[
                "authgate",
                "users",
                "list",
                "--database-url",
                "sqlite://x.db",
            ],
            &["authgate", "keys", "rotate"],
        ] {
            let cli = parse_from(os(args), file).expect("parses");
            assert_eq!(
                cli.settings
                    .password_pepper
                    .as_ref()
                    .map(|s| s.expose().to_owned()),
                Some("correct-horse-battery-staple".to_owned()),
                "{args:?}"
            );
        }
        let cli = parse_from(
            os(&[
                "authgate",
                "serve",
                "--password-pepper",
                "from-the-command-line",
            ]),
            file,
        )
        .expect("parses");
        assert_eq!(
            cli.settings.password_pepper.map(|s| s.expose().to_owned()),
            Some("from-the-command-line".to_owned()),
            "a flag wins over the file"
        );
        let help = with_secret_files(command(), file)
            .unwrap()
            .render_long_help()
            .to_string();
        assert!(!help.contains("correct-horse"), "help never shows a secret");

        let both = |name: &str| match name {
            "AUTHGATE_PASSWORD_PEPPER" => Some(OsString::from("x")),
            _ => file(name),
        };
        let Err(Refusal::Line(both)) = parse_from(os(&["authgate"]), both) else {
            panic!("both forms at once are refused");
        };
        assert!(
            both.contains("AUTHGATE_PASSWORD_PEPPER and AUTHGATE_PASSWORD_PEPPER_FILE"),
            "{both}"
        );
        let missing =
            |n: &str| (n == "AUTHGATE_JWT_SECRET_FILE").then(|| "/nonexistent/secret".into());
        let Err(Refusal::Line(missing)) = parse_from(os(&["authgate", "migrate"]), missing) else {
            panic!("an unreadable file is refused");
        };
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

    /// docs/configuration.md is what `authgate settings-reference` prints from the definitions:
    /// a setting added, renamed or redescribed without regenerating it fails here.
    #[test]
    fn configuration_reference_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/configuration.md");
        let on_disk = std::fs::read_to_string(path).unwrap_or_default();
        let generated = configuration_markdown();
        if on_disk != generated {
            let (old, new): (Vec<&str>, Vec<&str>) =
                (on_disk.lines().collect(), generated.lines().collect());
            let at = (0..old.len().max(new.len()))
                .find(|&i| old.get(i) != new.get(i))
                .unwrap_or_default();
            panic!(
                "docs/configuration.md is stale; regenerate it with \
                 `cargo run -q -- settings-reference > docs/configuration.md`.\n\
                 First difference, line {}:\n- {}\n+ {}",
                at + 1,
                old.get(at).unwrap_or(&"(end of file)"),
                new.get(at).unwrap_or(&"(end of output)"),
            );
        }
    }

    #[test]
    fn cli_is_well_formed() {
        command().debug_assert();
    }
}
