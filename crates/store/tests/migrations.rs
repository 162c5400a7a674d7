//! Databases made by earlier versions open and migrate: their history is built here the way the
//! code of that time wrote it (its bookkeeping table, its numbers and names, the text of each
//! migration), with a station in it, and then opened by this version.
//!
//! Until both backends shared one numbering, PostgreSQL counted `records` as 4 and `device
//! model` as 5 (it had nothing for SQLite's 4, `meter values settle in batches`). SQLite's
//! numbering did not change.

use arus_domain::device_model::DeviceVariable;
use arus_domain::store::{Store, Write};
use arus_store::OpenError;
use arus_store::testing::{postgres_migration, sqlite_migration};
use chrono::{DateTime, Utc};

/// PostgreSQL's history before the numbering was shared: (version, name).
const OLD_POSTGRES: &[(i64, &str)] = &[
    (1, "initial schema"),
    (2, "batched frame log"),
    (3, "lighter meter value indexes"),
    (4, "records"),
    (5, "device model"),
];

/// The history this version keeps, on both backends; SQLite's was always numbered so.
const NOW: &[(i64, &str)] = &[
    (1, "initial schema"),
    (2, "batched frame log"),
    (3, "lighter meter value indexes"),
    (4, "meter values settle in batches"),
    (5, "records"),
    (6, "device model"),
    (7, "transaction revisions and orphans"),
    (8, "meter values recognised once"),
    (9, "concurrent use of id tokens"),
    (10, "self-registered stations"),
    (11, "charging profiles"),
];

fn now() -> Vec<(i64, String)> {
    NOW.iter().map(|(v, n)| (*v, n.to_string())).collect()
}

/// The number the migration `name` has now (its text is the one it always had).
fn number_now(name: &str) -> i64 {
    match NOW.iter().find(|(_, n)| *n == name) {
        Some((v, _)) => *v,
        None => panic!("no migration `{name}`"),
    }
}

fn t(s: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(1_700_000_000 + s, 0).expect("valid")
}

/// The store works on every table, and the station made before the upgrade is there.
async fn works(store: &dyn Store) {
    assert!(
        store.station("OLD").await.expect("read").is_some(),
        "the station made before the upgrade is kept"
    );
    store
        .commit(vec![Write::PutVariables {
            station_id: "OLD".into(),
            variables: vec![DeviceVariable::named(
                "",
                "HeartbeatInterval",
                Some("60".into()),
            )],
            at: t(1),
        }])
        .await
        .expect("the device model table works");
    assert_eq!(
        store
            .variables("OLD", None, None)
            .await
            .expect("read")
            .len(),
        1
    );
    store
        .commit(vec![Write::PutRecord(Box::new(
            arus_domain::store::StoredRecord {
                kind: arus_domain::store::RecordKind::Command,
                seq: 0,
                id: "c1".into(),
                station_id: Some("OLD".into()),
                tag: None,
                status: Some("Accepted".into()),
                at: t(2),
                body: "{}".into(),
            },
        ))])
        .await
        .expect("the records table works");
}

async fn postgres_history(url: &str) -> Vec<(i64, String)> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    client
        .query(
            "SELECT version, name FROM schema_migrations ORDER BY version",
            &[],
        )
        .await
        .expect("history")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

/// A PostgreSQL database as the old code left it after applying its first `n` migrations.
async fn old_postgres(n: usize) -> Option<String> {
    let url = arus_store::testing::postgres_database("arus_migrations").await?;
    let (mut client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)",
        )
        .await
        .expect("bookkeeping");
    for (version, name) in &OLD_POSTGRES[..n] {
        let tx = client.transaction().await.expect("begin");
        tx.batch_execute(postgres_migration(number_now(name)))
            .await
            .expect("old migration");
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, now())",
            &[version, name],
        )
        .await
        .expect("bookkeeping");
        tx.commit().await.expect("commit");
    }
    client
        .batch_execute(
            "INSERT INTO stations (id, boot_policy, created_at) VALUES ('OLD', 'Accepted', now())",
        )
        .await
        .expect("a station");
    Some(url)
}

/// Opens the PostgreSQL database at `url` (failing with `what`), finds this version's history
/// in it and the store working.
async fn postgres_opens_up_to_date(url: &str, what: &str) {
    let store = arus_store::open(url).await.expect(what);
    assert_eq!(postgres_history(url).await, now());
    works(store.as_ref()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_with_the_old_numbering_is_renumbered_not_migrated_again() {
    let Some(url) = old_postgres(OLD_POSTGRES.len()).await else {
        return;
    };
    // Opening applied `device model` (old 5) again, or skipped it, would fail or lose the table.
    postgres_opens_up_to_date(&url, "the old database opens").await;
    // And again: nothing left to do.
    postgres_opens_up_to_date(&url, "opens again").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_with_the_old_numbering_gets_the_migrations_it_lacks() {
    // Up to `records` (old 4): `device model` is still to apply, as 6.
    let Some(url) = old_postgres(4).await else {
        return;
    };
    postgres_opens_up_to_date(&url, "the old database opens").await;
}

fn sqlite_history(path: &std::path::Path) -> Vec<(i64, String)> {
    let c = rusqlite::Connection::open(path).expect("open");
    let mut stmt = c
        .prepare("SELECT version, name FROM schema_migrations ORDER BY version")
        .expect("prepare");
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("history")
        .collect::<rusqlite::Result<_>>()
        .expect("rows")
}

/// An SQLite file as the old code left it after applying `history`.
fn old_sqlite(dir: &tempfile::TempDir, history: &[(i64, &str)]) -> std::path::PathBuf {
    let path = dir.path().join("arus.db");
    let mut c = rusqlite::Connection::open(&path).expect("open");
    c.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
    )
    .expect("bookkeeping");
    for (version, name) in history {
        let tx = c.transaction().expect("begin");
        tx.execute_batch(sqlite_migration(number_now(name)))
            .expect("old migration");
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, '2024-01-01T00:00:00.000000Z')",
            rusqlite::params![version, name],
        )
        .expect("bookkeeping");
        tx.commit().expect("commit");
    }
    c.execute(
        "INSERT INTO stations (id, boot_policy, created_at) VALUES ('OLD', 'Accepted', '2024-01-01T00:00:00.000000Z')",
        [],
    )
    .expect("a station");
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_made_before_opens_without_migrating_again() {
    for applied in [3, NOW.len()] {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = old_sqlite(&dir, &NOW[..applied]);
        let store = arus_store::open(path.to_str().expect("utf-8"))
            .await
            .expect("the old file opens");
        assert_eq!(sqlite_history(&path), now(), "after {applied}");
        works(store.as_ref()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_history_this_version_does_not_know_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    // The old PostgreSQL numbering is not SQLite's: on SQLite, `records` as 4 is foreign.
    let mut foreign = NOW[..3].to_vec();
    foreign.push((4, "records"));
    let path = old_sqlite(&dir, &foreign);
    match arus_store::open(path.to_str().expect("utf-8")).await {
        Err(OpenError::History(m)) => {
            assert_eq!((m.version, m.found.as_str()), (4, "records"));
            assert_eq!(m.expected, "meter values settle in batches");
        }
        Err(e) => panic!("refused for another reason: {e}"),
        Ok(_) => panic!("a foreign history opens"),
    }
}
