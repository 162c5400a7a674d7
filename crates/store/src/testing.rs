//! Throwaway databases for tests that run on both backends (feature `test-support`).
//!
//! Every test gets a database of its own, so tests running at once never see each other's
//! rows: an SQLite file in a temporary directory (gone with the [`TestDatabase`]), or a new
//! database on the PostgreSQL server `ARUS_TEST_POSTGRES_URL` names (`scripts/test` starts one;
//! `scripts/postgres start DIR` prints a URL). PostgreSQL test databases are not dropped: the
//! server is a throwaway too.
//!
//! # Invariants
//!
//! - Without `ARUS_TEST_POSTGRES_URL`, asking for a PostgreSQL database fails the test, unless
//!   `ARUS_TEST_SKIP_POSTGRES=1` says to leave PostgreSQL out on purpose: then it answers
//!   `None` and the test returns without running. A suite can therefore not pass on SQLite
//!   alone by accident.
//! - These helpers panic (with a message saying what to do) when the test environment is
//!   broken: they are for tests only.
//!
//! [`both_backends!`](crate::both_backends) turns async functions taking `&TestDatabase` into
//! one test per backend.

use std::sync::Arc;

use arus_domain::store::Store;

/// The variable naming the PostgreSQL server tests create their databases on, as a URL whose
/// path names a database to connect to (for example `postgres://postgres@127.0.0.1:5432/postgres`).
pub const POSTGRES_URL: &str = "ARUS_TEST_POSTGRES_URL";

/// The variable that, set to `1`, leaves PostgreSQL tests out instead of failing them.
pub const SKIP_POSTGRES: &str = "ARUS_TEST_SKIP_POSTGRES";

/// A fresh, empty database of one backend.
#[derive(Debug)]
pub enum TestDatabase {
    /// `arus.db` in a temporary directory, removed when this is dropped.
    Sqlite(tempfile::TempDir),
    /// The URL of a new database on the test server.
    Postgres(String),
}

impl TestDatabase {
    /// A new SQLite database (the file is created when first opened).
    pub fn sqlite() -> TestDatabase {
        TestDatabase::Sqlite(tempfile::tempdir().expect("a temporary directory"))
    }

    /// A new database on the test PostgreSQL server, named `arus_test_<pid>_<unique>`; `None`
    /// when PostgreSQL is left out on purpose (see the module's invariants).
    pub async fn postgres() -> Option<TestDatabase> {
        postgres_database("arus_test")
            .await
            .map(TestDatabase::Postgres)
    }

    /// The URL `arus_store::open` and `arus serve --database` take.
    pub fn url(&self) -> String {
        match self {
            TestDatabase::Sqlite(dir) => {
                format!("sqlite://{}", dir.path().join("arus.db").display())
            }
            TestDatabase::Postgres(url) => url.clone(),
        }
    }

    /// How many meter values of `station_id` are stored in `meter_values`, each repeat
    /// counted: what an export would hold. On SQLite, opening the store again first moves the
    /// values still waiting in `meter_values_recent` (as every start does).
    pub async fn stored_meter_values(&self, station_id: &str) -> i64 {
        let count = "SELECT COUNT(*) FROM meter_values WHERE station_id = $1";
        match self {
            TestDatabase::Sqlite(dir) => {
                drop(self.open().await);
                let c = rusqlite::Connection::open(dir.path().join("arus.db"))
                    .expect("the test database opens");
                c.query_row(&count.replace('$', "?"), [station_id], |r| r.get(0))
                    .expect("count")
            }
            TestDatabase::Postgres(url) => {
                let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                    .await
                    .expect("the test database is reachable");
                let connection = tokio::spawn(conn);
                let n = client
                    .query_one(count, &[&station_id])
                    .await
                    .expect("count")
                    .get(0);
                drop(client);
                let _ = connection.await;
                n
            }
        }
    }

    /// Opens the database as a store (migrating it), panicking if it cannot.
    pub async fn open(&self) -> Arc<dyn Store> {
        match crate::open(&self.url()).await {
            Ok(store) => store,
            Err(e) => panic!("the test database {} does not open: {e}", self.url()),
        }
    }
}

/// Creates a new database named `<prefix>_<pid>_<unique>` on the server [`POSTGRES_URL`] names
/// and answers its URL; `None` when [`SKIP_POSTGRES`] is `1` and no server is named.
///
/// `prefix` must be a plain SQL identifier (lowercase letters, digits, `_`).
pub async fn postgres_database(prefix: &str) -> Option<String> {
    assert!(
        !prefix.is_empty()
            && prefix
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
        "a database name prefix is lowercase letters, digits and `_`: {prefix:?}"
    );
    let Ok(base) = std::env::var(POSTGRES_URL) else {
        assert!(
            std::env::var(SKIP_POSTGRES).is_ok_and(|v| v == "1"),
            "{POSTGRES_URL} is not set (run scripts/test, or set {SKIP_POSTGRES}=1)"
        );
        return None;
    };
    let (client, conn) = tokio_postgres::connect(&base, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("the test server at {POSTGRES_URL} is not reachable: {e}"));
    let connection = tokio::spawn(conn);
    let name = format!("{prefix}_{}_{}", std::process::id(), unique());
    if let Err(e) = client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
    {
        panic!(
            "the test server does not create a database: {e} ({:?})",
            e.as_db_error()
        );
    }
    drop(client);
    // The connection ends once the client is gone.
    let _ = connection.await;
    let Some((server, _)) = base.rsplit_once('/') else {
        panic!("{POSTGRES_URL} must end in /<database>: {base}");
    };
    Some(format!("{server}/{name}"))
}

/// Runs `sql` on the test server's maintenance database (the one [`POSTGRES_URL`] names).
async fn on_test_server(sql: &str) {
    let base = std::env::var(POSTGRES_URL).unwrap_or_else(|_| panic!("{POSTGRES_URL} is not set"));
    let (client, conn) = tokio_postgres::connect(&base, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("the test server at {POSTGRES_URL} is not reachable: {e}"));
    let connection = tokio::spawn(conn);
    if let Err(e) = client.batch_execute(sql).await {
        panic!(
            "the test server refused {sql:?}: {e} ({:?})",
            e.as_db_error()
        );
    }
    drop(client);
    let _ = connection.await;
}

/// The name of the test database `url` points at.
fn database_name(url: &str) -> &str {
    let name = url.rsplit('/').next().unwrap_or_default();
    assert!(
        name.starts_with("arus_") && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
        "not a test database: {url}"
    );
    name
}

/// Cuts a test database off as a restarting or unreachable server would: every open
/// connection to it ends, and new ones are refused until [`restore_postgres`]. Only this
/// database is affected, so other tests on the server go on.
pub async fn cut_off_postgres(url: &str) {
    let name = database_name(url);
    // Two round trips: a batch is one transaction, and connections made before it commits
    // would still be let in.
    on_test_server(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false")).await;
    on_test_server(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
    ))
    .await;
}

/// Lets connections to a database [`cut_off_postgres`] cut off again.
pub async fn restore_postgres(url: &str) {
    let name = database_name(url);
    on_test_server(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true")).await;
}

/// The text of this program's migration `version` as SQLite runs it, for tests that build a
/// database the way an older program left it. Panics if there is no such migration.
pub fn sqlite_migration(version: i64) -> &'static str {
    migration(version).sqlite
}

/// The text of this program's migration `version` as PostgreSQL runs it (see
/// [`sqlite_migration`]).
pub fn postgres_migration(version: i64) -> &'static str {
    migration(version).postgres
}

fn migration(version: i64) -> &'static crate::migrations::Migration {
    match crate::migrations::MIGRATIONS
        .iter()
        .find(|m| m.version == version)
    {
        Some(m) => m,
        None => panic!("there is no migration {version}"),
    }
}

/// A number unlikely to repeat within a run, for names of test databases and files.
pub fn unique() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    RandomState::new().hash_one((
        std::time::SystemTime::now(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
    ))
}

/// Generates, for each named async function taking `&TestDatabase`, a test on SQLite (in
/// `mod on_sqlite`) and one on PostgreSQL (in `mod on_postgres`), each on a fresh database.
/// The functions must be in the module that invokes the macro.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = $crate::testing::TestDatabase::sqlite();
                    super::$name(&db).await;
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(db) = $crate::testing::TestDatabase::postgres().await {
                        super::$name(&db).await;
                    }
                }
            )*
        }
    };
}
