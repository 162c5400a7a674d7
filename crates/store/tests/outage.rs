//! The store when its database goes away: PostgreSQL cut off (connections ended and refused,
//! as during a restart) and SQLite on a full disk. In both, nothing is acknowledged that was
//! not committed, the store says why writes fail while they do, and writes commit again by
//! themselves once the database is back, without reopening the store.

use std::time::{Duration, Instant};

use arus_domain::Time;
use arus_domain::notices::{Notice, NoticeKind};
use arus_domain::provisioning::RegistrationStatus;
use arus_domain::store::Write;
use arus_store::testing::{TestDatabase, cut_off_postgres, restore_postgres};

fn station(id: &str) -> Write {
    Write::PutStation {
        id: id.to_string(),
        password_hash: None,
        boot_policy: RegistrationStatus::Accepted,
        self_registered: false,
        at: chrono::Utc::now(),
    }
}

/// Waits up to `limit` for `done`, checking every 50 ms; whether it came.
async fn within(limit: Duration, mut done: impl AsyncFnMut() -> bool) -> bool {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if done().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// Fault 1 of the hardening issue: the writer used to stop for good when its connection
/// closed, so no write committed again until Arus restarted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_writes_resume_by_themselves_after_the_database_returns() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let store = db.open().await;
    store
        .commit(vec![station("BEFORE")])
        .await
        .expect("commits");
    assert_eq!(store.write_problem(), None);

    cut_off_postgres(&db.url()).await;
    // The writer notices the lost connection by itself, with no write to find it.
    assert!(
        within(Duration::from_secs(10), async || store
            .write_problem()
            .is_some())
        .await,
        "the store does not say that writes cannot commit"
    );
    let problem = store.write_problem().unwrap_or_default();
    assert!(problem.contains("PostgreSQL"), "{problem}");
    // While it is gone, writes are refused at once, not acknowledged.
    let started = Instant::now();
    assert!(store.commit(vec![station("DURING")]).await.is_err());
    assert!(started.elapsed() < Duration::from_secs(2));

    restore_postgres(&db.url()).await;
    assert!(
        within(Duration::from_secs(15), async || store
            .commit(vec![station("AFTER")])
            .await
            .is_ok())
        .await,
        "writes do not commit again after the database returned"
    );
    assert_eq!(store.write_problem(), None);
    let ids: Vec<String> = store
        .stations()
        .await
        .expect("reads")
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert!(ids.contains(&"BEFORE".to_string()) && ids.contains(&"AFTER".to_string()));
    assert!(
        !ids.contains(&"DURING".to_string()),
        "a refused write was kept"
    );
}

/// A small file system for a database, filled up and then given room: a tmpfs mount (which
/// needs root, as CI has). Unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size_kib: u32) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_kib}k"), "tmpfs"])
            .arg(dir.path())
            .status()
            .ok()?;
        status.success().then_some(SmallDisk { dir })
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // Lazily: a store still open (a failed test) must not keep the mount.
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

fn notice(n: usize, at: Time) -> Write {
    Write::Notice {
        station_id: "FULL".into(),
        notice: Box::new(Notice {
            kind: NoticeKind::DataTransfer,
            at,
            request_id: None,
            status: Some(n.to_string()),
            details: serde_json::Value::String(format!("{n:06}").repeat(2000)),
        }),
        received_at: at,
    }
}

/// Fault 2: SQLite on a full disk gives clear errors, loses nothing it acknowledged, is not
/// corrupted, and takes writes again once there is room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_on_a_full_disk_refuses_writes_and_resumes_when_there_is_room() {
    let Some(disk) = SmallDisk::mount(6 * 1024) else {
        // Mounting needs root; CI runs as root, so this is a local run without it.
        eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        return;
    };
    // Room is made later by removing this file.
    let filler = disk.dir.path().join("filler");
    std::fs::write(&filler, vec![0u8; 3 << 20]).expect("the filler is written");
    let path = disk.dir.path().join("arus.db");
    let store = arus_store::open(&format!("sqlite://{}", path.display()))
        .await
        .expect("opens");
    let at = chrono::Utc::now();
    let mut acknowledged = Vec::new();
    let mut refused = None;
    for n in 0..2000 {
        match store.commit(vec![notice(n, at)]).await {
            Ok(()) => acknowledged.push(n),
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    let refused = refused.expect("the disk filled up");
    assert!(refused.to_string().contains("disk is full"), "{refused}");
    let problem = store.write_problem().expect("the store says why");
    assert!(problem.contains("disk is full"), "{problem}");
    // More writes are refused, not acknowledged, while the disk stays full.
    assert!(store.commit(vec![notice(9999, at)]).await.is_err());

    std::fs::remove_file(&filler).expect("room is made");
    store
        .commit(vec![notice(10_000, at)])
        .await
        .expect("writes commit again once there is room");
    assert_eq!(store.write_problem(), None);
    let kept: Vec<usize> = store
        .notices(
            "FULL",
            NoticeKind::DataTransfer,
            None,
            at - chrono::Duration::hours(1),
        )
        .await
        .expect("reads")
        .into_iter()
        .filter_map(|(_, n)| n.status?.parse().ok())
        .collect();
    for n in &acknowledged {
        assert!(kept.contains(n), "acknowledged notice {n} is missing");
    }
    assert!(!kept.contains(&9999), "a refused write was kept");
    assert!(kept.contains(&10_000));
    drop(store);
    let check = rusqlite::Connection::open(&path).expect("opens");
    let verdict: String = check
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("checks");
    assert_eq!(verdict, "ok");
}
