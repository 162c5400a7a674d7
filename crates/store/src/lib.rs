//! Storage for Arus: the domain's [`Store`](arus_domain::store::Store) port on SQLite (a file in
//! WAL mode, the embedded default) and on PostgreSQL.
//!
//! # Layout
//!
//! - [`open`]: picks the backend from the database URL and runs the migrations.
//! - `sqlite`: one writer thread owning the write connection, and a small pool of read
//!   connections used from blocking tasks.
//! - `postgres`: one writer task owning a dedicated connection (statements of a group are
//!   pipelined), and a pool of read connections.
//! - `group`: the group commit shared by both: callers queue jobs; the writer takes every job
//!   waiting, applies them in one transaction, commits once, then answers them all.
//! - `framelog`: frames of the frame log wait in memory and are written as one row per station
//!   per second.
//! - `sql`: every statement, written once where the dialects agree (translated to SQLite's
//!   placeholders at compile time), and the few each dialect writes its own way.
//! - `migrations`: one numbered history of the schema for both backends (`migrations/`, a file
//!   per step written in PostgreSQL's words, SQLite's column types put in at compile time; a
//!   file per backend where the dialects differ in more), applied in order at start.
//! - [`testing`] (feature `test-support`): throwaway databases for tests on both backends.
//!
//! # Invariants
//!
//! - A commit resolves `Ok` only once its writes are durable: SQLite runs with
//!   `synchronous=FULL` (WAL survives power loss only so), PostgreSQL with `synchronous_commit`
//!   on.
//! - A write that fails does not fail the others of its group: the group is retried job by job,
//!   and only the faulty job is answered with an error.
//! - Every write is idempotent (upserts and unique keys), so a retried message changes nothing;
//!   meter values are the exception: they carry no key, and the domain recognises their retries.

mod framelog;
mod group;
mod migrations;
mod postgres;
mod prune;
mod rows;
mod sql;
mod sqlite;
#[cfg(feature = "test-support")]
pub mod testing;

use std::sync::Arc;

use arus_domain::store::Store;

pub use migrations::Mismatch as HistoryMismatch;
pub use postgres::tls::TlsSettingsError;

/// Why a store could not be opened. The text shows the whole chain of sources.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The URL names no backend Arus has.
    #[error("unsupported database URL `{0}` (use a file path, sqlite://PATH or postgres://...)")]
    Url(String),
    /// SQLite refused.
    #[error("sqlite: {}", Chain(.0))]
    Sqlite(#[from] rusqlite::Error),
    /// The process could not start the store's workers.
    #[error("cannot start {what}: {}", Chain(.source))]
    Io {
        /// The worker.
        what: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// PostgreSQL refused.
    #[error("postgres: {what}: {}", Chain(.source))]
    Postgres {
        /// What was being done.
        what: &'static str,
        /// PostgreSQL's error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// The PostgreSQL URL's TLS settings cannot be used.
    #[error("postgres: {0}")]
    Tls(#[from] TlsSettingsError),
    /// The pool of PostgreSQL read connections could not be made.
    #[error("postgres: the read pool: {}", Chain(.0))]
    Pool(#[source] deadpool_postgres::BuildError),
    /// The database's migration history is not this program's.
    #[error(transparent)]
    History(#[from] HistoryMismatch),
}

impl OpenError {
    /// The process could not start `what`.
    pub(crate) fn io(what: &'static str, source: std::io::Error) -> OpenError {
        OpenError::Io { what, source }
    }

    /// PostgreSQL refused while doing `what`.
    pub(crate) fn postgres(what: &'static str) -> impl FnOnce(tokio_postgres::Error) -> OpenError {
        move |source| OpenError::Postgres { what, source }
    }
}

/// An error and its sources, separated by `: ` (drivers put the details in the source: the text
/// of a PostgreSQL error alone is `db error`).
struct Chain<'a>(&'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut next = self.0.source();
        while let Some(e) = next {
            write!(f, ": {e}")?;
            next = e.source();
        }
        Ok(())
    }
}

/// Opens the store a URL names and brings its schema up to date:
///
/// - `postgres://...` or `postgresql://...`: PostgreSQL;
/// - `sqlite://PATH`, `sqlite:PATH` or a plain path: an SQLite file (created if missing).
pub async fn open(url: &str) -> Result<Arc<dyn Store>, OpenError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Arc::new(postgres::PgStore::open(url).await?));
    }
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    if path.is_empty() || path.contains("://") {
        return Err(OpenError::Url(url.to_string()));
    }
    Ok(Arc::new(sqlite::SqliteStore::open(path).await?))
}
