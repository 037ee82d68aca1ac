//! Connections, the pool and migrations. One diesel codebase serves SQLite and PostgreSQL: the
//! backend is picked at runtime from the URL scheme, and queries are written once against
//! [`DbConnection`].
//!
//! Lookups by a unique key end in `get_result`, not `first`: `first` adds `LIMIT ?`, and the
//! bundled SQLite (3.50, built with STAT4) marks a statement whose LIMIT is a bound parameter
//! for re-preparation at every execution, which cost about a quarter of a refresh's CPU.

pub mod admin_keys;
pub mod codes;
pub mod events;
pub mod identities;
pub mod invites;
pub mod keys;
pub mod outbox;
pub mod passkeys;
pub mod recovery_codes;
pub mod retention;
pub mod roles;
pub mod schema;
pub mod sessions;
pub mod throttle;
pub mod users;

use std::time::Duration;

use anyhow::Context as _;
use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::settings::DatabaseUrl;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgresql");

/// Per-connection SQLite settings: WAL so readers never block the writer, a busy timeout so
/// writers queue instead of failing, and foreign keys (off by default in SQLite). The busy
/// timeout comes first: `journal_mode` takes a lock, and without the timeout a connection opened
/// while another one writes failed at once with "database is locked" (found by schemathesis).
const SQLITE_PRAGMAS: &str = "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; \
    PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;";

#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgresql(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

/// Runs a query on the backend's own connection type. Through the multi-backend connection
/// diesel renders every query's SQL text to find its cached prepared statement (it has no
/// static id there); on the backend's own connection it finds it by the query's type. For
/// the hot paths (refresh, session and user lookups by key): on SQLite the rendering cost
/// about a sixth of a refresh's CPU.
macro_rules! on_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::DbConnection::Postgresql($c) => $body,
            $crate::db::DbConnection::Sqlite($c) => $body,
        }
    };
}
pub(crate) use on_backend;

pub type Pool = r2d2::Pool<ConnectionManager>;
pub type PooledConnection = r2d2::PooledConnection<ConnectionManager>;
pub type PoolError = r2d2::PoolError;

/// Opens connections for the backend the URL names, reporting the real error (diesel's derived
/// `establish` tries every backend and hides why PostgreSQL failed).
#[derive(Debug)]
pub struct ConnectionManager {
    url: DatabaseUrl,
}

impl ManageConnection for ConnectionManager {
    type Connection = DbConnection;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<DbConnection, r2d2::Error> {
        match &self.url {
            DatabaseUrl::Postgres(url) => diesel::PgConnection::establish(url)
                .map(DbConnection::Postgresql)
                .map_err(r2d2::Error::ConnectionError),
            DatabaseUrl::Sqlite(path) => {
                let mut conn = diesel::SqliteConnection::establish(path)
                    .map_err(r2d2::Error::ConnectionError)?;
                conn.batch_execute(SQLITE_PRAGMAS)
                    .map_err(r2d2::Error::QueryError)?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), r2d2::Error> {
        conn.batch_execute("SELECT 1")
            .map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        use diesel::r2d2::R2D2Connection as _;
        match conn {
            DbConnection::Postgresql(c) => c.is_broken(),
            DbConnection::Sqlite(c) => c.is_broken(),
        }
    }
}

/// Builds the pool without requiring the database to be up: the service starts, `/readyz`
/// says 503, and requests get 503 until the database answers.
pub fn build_pool(url: &DatabaseUrl, size: u32, timeout: Duration) -> Pool {
    pool_builder(size, timeout).build_unchecked(ConnectionManager { url: url.clone() })
}

/// [`build_pool`], counting every connection checkout in `checkouts`: the service's own pool,
/// so an operator (and a test) can see which paths touch the database at all.
pub fn build_counted_pool(
    url: &DatabaseUrl,
    size: u32,
    timeout: Duration,
    checkouts: prometheus::IntCounter,
) -> Pool {
    pool_builder(size, timeout)
        .event_handler(Box::new(CountCheckouts(checkouts)))
        .build_unchecked(ConnectionManager { url: url.clone() })
}

/// The pool refreshes run on. On SQLite, one connection of their own: SQLite drops a
/// connection's whole page cache whenever another connection has committed since its last read,
/// and every refresh commits. Spread over the shared pool, nearly every refresh found its cache
/// void and read each B-tree it walks (the session's, its user's) from the file again, which at
/// millions of rows is twice the page reads of a small database. On a connection only they
/// commit on, those pages stay cached. Writes queue for one writer on SQLite anyway, so the one
/// connection costs little beyond the reads that now wait for it. On PostgreSQL, none: refreshes
/// use the shared pool.
pub fn build_refresh_pool(
    url: &DatabaseUrl,
    timeout: Duration,
    checkouts: prometheus::IntCounter,
) -> Option<Pool> {
    match url {
        DatabaseUrl::Sqlite(_) => Some(build_counted_pool(url, 1, timeout, checkouts)),
        DatabaseUrl::Postgres(_) => None,
    }
}

fn pool_builder(size: u32, timeout: Duration) -> r2d2::Builder<ConnectionManager> {
    r2d2::Pool::builder()
        .max_size(size)
        .min_idle(Some(1))
        .connection_timeout(timeout)
        .test_on_check_out(false)
}

#[derive(Debug)]
struct CountCheckouts(prometheus::IntCounter);

impl r2d2::HandleEvent for CountCheckouts {
    fn handle_checkout(&self, _: r2d2::event::CheckoutEvent) {
        self.0.inc();
    }
}

/// Applies pending migrations for whichever backend the connection is.
///
/// Replicas starting together on PostgreSQL take turns under a session advisory lock: the first
/// applies the migrations, the others wait for it and then find nothing pending. On SQLite the
/// whole run is one `BEGIN IMMEDIATE` transaction (each migration a savepoint inside it): the
/// file's write lock is the lock, and a second process waits through `busy_timeout` instead of
/// reading the list of pending migrations before the first has applied them.
pub fn run_migrations(conn: &mut DbConnection) -> anyhow::Result<Vec<String>> {
    let names = |applied: Vec<diesel::migration::MigrationVersion<'_>>| {
        applied.into_iter().map(|v| v.to_string()).collect()
    };
    let applied: Result<Vec<String>, _> = match conn {
        DbConnection::Sqlite(c) => {
            c.immediate_transaction(|c| c.run_pending_migrations(SQLITE_MIGRATIONS).map(names))
        }
        DbConnection::Postgresql(c) => {
            diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))
                .execute(c)
                .context("waiting for the migration lock")?;
            let applied = c.run_pending_migrations(POSTGRES_MIGRATIONS).map(names);
            // Released with the session too, should this fail.
            let _ = diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))
                .execute(c);
            applied
        }
    };
    applied
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("applying migrations")
}

/// The advisory lock key of migrations: "authgate" in ASCII, as a 64-bit integer.
const MIGRATION_LOCK: i64 = 0x6175_7468_6761_7465;

static SQLITE_WRITER: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A transaction that writes. On SQLite it begins with `BEGIN IMMEDIATE`, taking the write lock
/// up front: a deferred transaction that reads and then writes fails with "database is locked"
/// under concurrency instead of waiting. On PostgreSQL it is an ordinary transaction; callers
/// lock the rows they read with [`lock_for_update`]-style queries. Called inside another write
/// transaction, it is a savepoint of that one.
pub fn write_transaction<T, E>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    match conn {
        DbConnection::Postgresql(_) => conn.transaction(f),
        DbConnection::Sqlite(c) => {
            // Inside a caller's write transaction already (a service composed of others, such
            // as an admin's patch): a savepoint in it, under the lock the caller holds.
            if AnsiTransactionManager::transaction_manager_status_mut(c)
                .transaction_depth()
                .ok()
                .flatten()
                .is_some()
            {
                return conn.transaction(f);
            }
            // One writer at a time inside this process: queued on a mutex, writers wait without
            // SQLite's busy-handler sleeps (which grow to 100 ms per retry under contention).
            // Other processes on the same file still queue through busy_timeout.
            let _writer = SQLITE_WRITER
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?;
            let result = f(conn);
            let DbConnection::Sqlite(c) = conn else {
                unreachable!("the connection's backend cannot change inside a transaction")
            };
            match result {
                Ok(value) => {
                    if let Err(e) = AnsiTransactionManager::commit_transaction(c) {
                        let _ = AnsiTransactionManager::rollback_transaction(c);
                        return Err(e.into());
                    }
                    Ok(value)
                }
                Err(e) => {
                    AnsiTransactionManager::rollback_transaction(c)?;
                    Err(e)
                }
            }
        }
    }
}

/// One statement that writes, atomic on its own. On PostgreSQL it runs as it is, without
/// `BEGIN`/`COMMIT` around it: two round trips fewer, half of a refresh's four (the rotation
/// is one such statement). On SQLite it is a [`write_transaction`] (one writer, `BEGIN IMMEDIATE`):
/// an autocommit write there starts as a read and can fail to upgrade instead of waiting.
pub fn write_statement<T, E>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    match conn {
        DbConnection::Postgresql(_) => f(conn),
        DbConnection::Sqlite(_) => write_transaction(conn, f),
    }
}

/// Cheap liveness probe for `/readyz`.
pub fn ping(conn: &mut DbConnection) -> QueryResult<()> {
    conn.batch_execute("SELECT 1")
}

/// The current time as stored: UTC, microsecond precision (PostgreSQL keeps no more, so values
/// read back compare equal on both backends).
pub fn now() -> chrono::NaiveDateTime {
    let now = chrono::Utc::now().naive_utc();
    now.with_nanosecond_trunc()
}

trait TruncMicros {
    fn with_nanosecond_trunc(self) -> Self;
}

impl TruncMicros for chrono::NaiveDateTime {
    fn with_nanosecond_trunc(self) -> Self {
        use chrono::Timelike as _;
        let micros = self.nanosecond() / 1_000 * 1_000;
        self.with_nanosecond(micros).unwrap_or(self)
    }
}

impl From<PoolError> for crate::error::ApiError {
    fn from(_: PoolError) -> Self {
        crate::error::ApiError::Unavailable("database")
    }
}
