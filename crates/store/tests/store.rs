//! One test suite, run on both backends: SQLite (a temporary file) and PostgreSQL (a fresh
//! database on the server named by `ARUS_TEST_POSTGRES_URL`, which `scripts/test` starts), each
//! test on a database of its own (`arus_store::testing`).
//!
//! Without `ARUS_TEST_POSTGRES_URL` the PostgreSQL half fails, unless
//! `ARUS_TEST_SKIP_POSTGRES=1` says to leave it out on purpose.

use std::sync::Arc;

use arus_domain::authorization::{AuthorizationStatus, IdTokenRecord};
use arus_domain::availability::{ConnectorStatus, StatusReport};
use arus_domain::notices::{Notice, NoticeKind};
use arus_domain::provisioning::{BootInfo, RegistrationStatus};
use arus_domain::store::{
    ApiTokenRecord, Direction, RecordKind, RecordQuery, Role, Store, StoredRecord, Write,
};
use chrono::{DateTime, Duration, SubsecRound, Utc};

fn t(s: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(1_700_000_000 + s, 123_456_000).expect("valid")
}

use arus_store::testing::TestDatabase as Backend;

arus_store::both_backends!(
    stations_and_boots,
    connector_status_keeps_the_newest,
    id_tokens_ignore_case_and_prefer_the_type,
    committed_data_survives_reopening,
    concurrent_commits_are_grouped,
    api_tokens,
    frame_log_is_bounded,
    pruning_many_frame_rows_keeps_the_newest,
    records_page_by_insertion_and_filter,
    notices_follow_their_request,
    device_variables_are_replaced_by_their_key,
    a_requeued_command_settles_its_waiters,
);

async fn device_variables_are_replaced_by_their_key(b: &Backend) {
    use arus_domain::device_model::DeviceVariable;
    let s = b.open().await;
    let mut evse = DeviceVariable::named("EVSE", "Power", Some("11000".into()));
    evse.evse_id = Some(1);
    evse.attribute = "MaxSet".into();
    evse.mutability = Some("ReadWrite".into());
    evse.characteristics = serde_json::json!({"dataType": "decimal", "unit": "W"});
    let key = DeviceVariable::named("", "HeartbeatInterval", Some("300".into()));
    s.commit(vec![Write::PutVariables {
        station_id: "CS1".into(),
        variables: vec![evse.clone(), key],
        at: t(0),
    }])
    .await
    .expect("commit");
    // A later value replaces the earlier; what it does not say (mutability) is kept.
    let mut later = DeviceVariable::named("EVSE", "Power", Some("22000".into()));
    later.evse_id = Some(1);
    later.attribute = "MaxSet".into();
    s.commit(vec![Write::PutVariables {
        station_id: "CS1".into(),
        variables: vec![later],
        at: t(5),
    }])
    .await
    .expect("commit");
    let all = s.variables("CS1", None, None).await.expect("read");
    assert_eq!(all.len(), 2);
    let (power, at) = all
        .iter()
        .find(|(v, _)| v.variable == "Power")
        .expect("power");
    assert_eq!(power.value.as_deref(), Some("22000"));
    assert_eq!(power.mutability.as_deref(), Some("ReadWrite"));
    assert_eq!(power.characteristics["unit"], "W");
    assert_eq!((power.evse_id, power.connector_id), (Some(1), None));
    assert_eq!(*at, t(5).trunc_subsecs(6));
    let only = s
        .variables("CS1", Some(String::new()), None)
        .await
        .expect("read");
    assert_eq!(only.len(), 1);
    assert_eq!(only[0].0.variable, "HeartbeatInterval");
    assert!(
        s.variables("CS2", None, None)
            .await
            .expect("read")
            .is_empty()
    );
}

fn record(kind: RecordKind, id: &str, station: &str, status: &str, tag: Option<&str>) -> Write {
    Write::PutRecord(Box::new(StoredRecord {
        kind,
        id: id.into(),
        seq: 0,
        station_id: Some(station.into()),
        tag: tag.map(Into::into),
        status: Some(status.into()),
        at: t(0),
        body: format!("{{\"id\":\"{id}\",\"status\":\"{status}\"}}"),
    }))
}

async fn records_page_by_insertion_and_filter(b: &Backend) {
    let s = b.open().await;
    s.commit(vec![
        record(RecordKind::Command, "a", "CS1", "pending", Some("k1")),
        record(RecordKind::Command, "b", "CS2", "queued", None),
        record(RecordKind::Command, "c", "CS1", "queued", None),
        record(RecordKind::Audit, "a", "CS1", "200", None),
    ])
    .await
    .expect("commit");
    // A replacement keeps the record's place.
    s.commit(vec![record(
        RecordKind::Command,
        "a",
        "CS1",
        "answered",
        Some("k1"),
    )])
    .await
    .expect("commit");
    let ids = |v: Vec<StoredRecord>| v.into_iter().map(|r| r.id).collect::<Vec<_>>();
    let all = s
        .records(RecordQuery::of(RecordKind::Command, 10))
        .await
        .expect("list");
    assert_eq!(ids(all.clone()), vec!["c", "b", "a"]);
    assert!(all[2].body.contains("answered"));
    let mut q = RecordQuery::of(RecordKind::Command, 10);
    q.before = Some(all[0].seq);
    assert_eq!(ids(s.records(q).await.expect("page")), vec!["b", "a"]);
    let mut q = RecordQuery::of(RecordKind::Command, 10);
    q.station_id = Some("CS1".into());
    q.oldest_first = true;
    assert_eq!(ids(s.records(q).await.expect("station")), vec!["a", "c"]);
    let mut q = RecordQuery::of(RecordKind::Command, 10);
    q.status = Some("queued".into());
    assert_eq!(ids(s.records(q).await.expect("status")), vec!["c", "b"]);
    let mut q = RecordQuery::of(RecordKind::Command, 10);
    q.tag = Some("k1".into());
    assert_eq!(ids(s.records(q).await.expect("tag")), vec!["a"]);
    let one = s
        .record(RecordKind::Audit, "a")
        .await
        .expect("read")
        .expect("found");
    assert_eq!(one.status.as_deref(), Some("200"));
    assert!(
        s.record(RecordKind::Bulk, "a")
            .await
            .expect("read")
            .is_none()
    );
}

async fn notices_follow_their_request(b: &Backend) {
    let s = b.open().await;
    let notice = |request_id: Option<i64>, status: &str, at: i64| Write::Notice {
        station_id: "CS1".into(),
        notice: Box::new(Notice {
            kind: NoticeKind::FirmwareStatus,
            at: t(at),
            request_id,
            status: Some(status.into()),
            details: serde_json::json!({}),
        }),
        received_at: t(at),
    };
    s.commit(vec![
        notice(Some(5), "Downloading", 1),
        notice(Some(6), "Downloading", 2),
        notice(Some(5), "Installed", 3),
        notice(None, "Idle", 4),
    ])
    .await
    .expect("commit");
    let got = s
        .notices("CS1", NoticeKind::FirmwareStatus, Some(5), t(5))
        .await
        .expect("read");
    let statuses: Vec<_> = got.iter().filter_map(|(_, n)| n.status.clone()).collect();
    assert_eq!(statuses, vec!["Downloading", "Installed"]);
    let got = s
        .notices("CS1", NoticeKind::FirmwareStatus, None, t(4))
        .await
        .expect("read");
    assert_eq!(
        got.len(),
        1,
        "without a request id, those received since the time"
    );
    let got = s
        .notices("CS1", NoticeKind::FirmwareStatus, Some(5), t(0))
        .await
        .expect("read");
    assert_eq!(
        got.len(),
        3,
        "notices without a request id (1.6) since the command count as its own"
    );
}

async fn stations_and_boots(b: &Backend) {
    let s = b.open().await;
    assert_eq!(s.station("CS1").await.expect("read"), None);
    s.commit(vec![Write::PutStation {
        id: "CS1".into(),
        password_hash: Some("$argon2id$v=19$...".into()),
        boot_policy: RegistrationStatus::Pending,
        self_registered: false,
        at: t(0),
    }])
    .await
    .expect("commit");
    s.commit(vec![
        Write::StationConnected {
            id: "CS1".into(),
            protocol: "2.0.1".into(),
            at: t(1),
        },
        Write::Boot {
            id: "CS1".into(),
            info: Box::new(BootInfo {
                vendor: "Acme".into(),
                model: "Fast 50".into(),
                serial_number: Some("SN-1".into()),
                ..BootInfo::default()
            }),
            registration: RegistrationStatus::Pending,
            at: t(2),
        },
    ])
    .await
    .expect("commit");
    let st = s.station("CS1").await.expect("read").expect("exists");
    assert_eq!(st.boot_policy, RegistrationStatus::Pending);
    assert_eq!(st.registration, Some(RegistrationStatus::Pending));
    assert_eq!(st.protocol.as_deref(), Some("2.0.1"));
    assert_eq!(st.boot.as_ref().map(|b| b.model.as_str()), Some("Fast 50"));
    assert_eq!(st.password_hash.as_deref(), Some("$argon2id$v=19$..."));
    assert_eq!(st.booted_at, Some(t(2).trunc_subsecs(6)));
    // Registering again changes the password and policy, not the history.
    s.commit(vec![Write::PutStation {
        id: "CS1".into(),
        password_hash: None,
        boot_policy: RegistrationStatus::Accepted,
        self_registered: false,
        at: t(3),
    }])
    .await
    .expect("commit");
    let st = s.station("CS1").await.expect("read").expect("exists");
    assert_eq!(st.boot_policy, RegistrationStatus::Accepted);
    assert_eq!(st.password_hash, None);
    assert_eq!(st.registration, Some(RegistrationStatus::Pending));
    assert_eq!(s.stations().await.expect("list").len(), 1);
}

fn report(evse: u32, status: ConnectorStatus, at: i64) -> Write {
    Write::ConnectorStatus {
        station_id: "CS1".into(),
        report: Box::new(StatusReport {
            evse_id: evse,
            connector_id: 1,
            status,
            error_code: Some("NoError".into()),
            info: None,
            vendor_id: None,
            vendor_error_code: None,
            timestamp: t(at),
        }),
    }
}

async fn connector_status_keeps_the_newest(b: &Backend) {
    let s = b.open().await;
    s.commit(vec![
        report(1, ConnectorStatus::Charging, 10),
        report(2, ConnectorStatus::Available, 10),
    ])
    .await
    .expect("commit");
    // An older report replayed late does not overwrite the newer one.
    s.commit(vec![report(1, ConnectorStatus::Preparing, 5)])
        .await
        .expect("commit");
    s.commit(vec![report(2, ConnectorStatus::Faulted, 11)])
        .await
        .expect("commit");
    let c = s.connectors("CS1").await.expect("read");
    let statuses: Vec<_> = c.iter().map(|c| (c.evse_id, c.status)).collect();
    assert_eq!(
        statuses,
        vec![
            (1, ConnectorStatus::Charging),
            (2, ConnectorStatus::Faulted)
        ]
    );
}

async fn id_tokens_ignore_case_and_prefer_the_type(b: &Backend) {
    let s = b.open().await;
    let rec = |kind: &str, status| {
        Write::PutIdToken(IdTokenRecord {
            id_token: "04AbCd".into(),
            kind: kind.into(),
            status,
            group_id_token: Some("G1".into()),
            expiry_date: Some(t(100)),
            concurrent_use: kind == "KeyCode",
        })
    };
    s.commit(vec![
        rec("ISO14443", AuthorizationStatus::Accepted),
        rec("KeyCode", AuthorizationStatus::Blocked),
    ])
    .await
    .expect("commit");
    let found = s
        .id_token("04ABCD", Some("KeyCode"))
        .await
        .expect("read")
        .expect("found");
    assert_eq!(found.status, AuthorizationStatus::Blocked);
    let found = s
        .id_token("04abcd", Some("ISO14443"))
        .await
        .expect("read")
        .expect("found");
    assert_eq!(found.status, AuthorizationStatus::Accepted);
    assert_eq!(found.group_id_token.as_deref(), Some("G1"));
    assert_eq!(found.expiry_date, Some(t(100).trunc_subsecs(6)));
    // 1.6 has no types: any will do.
    assert!(s.id_token("04ABCD", None).await.expect("read").is_some());
    assert!(s.id_token("nope", None).await.expect("read").is_none());
}

async fn committed_data_survives_reopening(b: &Backend) {
    {
        let s = b.open().await;
        s.commit(vec![Write::PutStation {
            id: "KEEP".into(),
            password_hash: None,
            boot_policy: RegistrationStatus::Accepted,
            self_registered: false,
            at: t(0),
        }])
        .await
        .expect("commit");
    }
    let s = b.open().await;
    assert!(s.station("KEEP").await.expect("read").is_some());
}

async fn concurrent_commits_are_grouped(b: &Backend) {
    let s = b.open().await;
    let mut tasks = Vec::new();
    for i in 0..300 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.commit(vec![report(i, ConnectorStatus::Available, 1)])
                .await
        }));
    }
    for task in tasks {
        task.await.expect("joined").expect("committed");
    }
    assert_eq!(s.connectors("CS1").await.expect("read").len(), 300);
}

async fn api_tokens(b: &Backend) {
    let s = b.open().await;
    assert_eq!(s.api_token_count().await.expect("count"), 0);
    assert!(s.api_tokens().await.expect("list").is_empty());
    let rec = ApiTokenRecord {
        name: "ops".into(),
        hash: "ab".repeat(32),
        role: Role::Operator,
        created_at: t(0),
        revoked_at: None,
    };
    s.commit(vec![Write::PutApiToken(rec.clone())])
        .await
        .expect("commit");
    let back = s.api_token(&rec.hash).await.expect("read").expect("found");
    assert_eq!(back.role, Role::Operator);
    assert_eq!(back.revoked_at, None);
    s.commit(vec![Write::PutApiToken(ApiTokenRecord {
        revoked_at: Some(t(5)),
        ..rec.clone()
    })])
    .await
    .expect("commit");
    let back = s.api_token(&rec.hash).await.expect("read").expect("found");
    assert_eq!(back.revoked_at, Some(t(5).trunc_subsecs(6)));
    assert_eq!(s.api_token_count().await.expect("count"), 1);
    let all = s.api_tokens().await.expect("list");
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].name, "ops");
}

async fn frame_log_is_bounded(b: &Backend) {
    let s = b.open().await;
    let now = Utc::now();
    // Frames are written in batches, about once a second: three batches, the first old.
    let mut n = 0;
    for (count, age_days) in [(5, 30), (10, 0), (10, 0)] {
        for _ in 0..count {
            s.append(vec![Write::Frame {
                station_id: "CS1".into(),
                direction: if n % 2 == 0 {
                    Direction::In
                } else {
                    Direction::Out
                },
                at: now - Duration::days(age_days),
                text: format!("[2,\"{n}\",\"Heartbeat\",{{}}]"),
            }]);
            n += 1;
        }
        wait_for_frames(s.as_ref(), n).await;
    }
    let frames = s.frames("CS1", 100).await.expect("read");
    assert_eq!(frames.len(), 25);
    assert!(frames[0].text.contains("\"24\""), "newest first");
    assert_eq!(frames[0].direction, Direction::In);
    assert_eq!(s.frames("CS1", 7).await.expect("read").len(), 7);
    // Older than a week goes (5), then whole batches beyond 15 frames in all (10).
    let pruned = s
        .prune_frames(now - Duration::days(7), 15)
        .await
        .expect("prune");
    assert_eq!(pruned, 15);
    let frames = s.frames("CS1", 100).await.expect("read");
    assert_eq!(frames.len(), 10);
    assert!(frames.iter().all(|f| f.at > now - Duration::days(1)));
    assert!(
        frames[9].text.contains("\"15\""),
        "the newest batch is kept"
    );
}

/// Pruning deletes in chunks (so the writer never waits long): thousands of rows go, the
/// newest `keep` frames stay.
async fn pruning_many_frame_rows_keeps_the_newest(b: &Backend) {
    let s = b.open().await;
    let now = Utc::now();
    for chunk in 0..5 {
        let writes = (0..1000)
            .map(|i| Write::Frame {
                station_id: "CS2".into(),
                direction: Direction::In,
                at: now,
                text: format!("[2,\"{}\",\"Heartbeat\",{{}}]", chunk * 1000 + i),
            })
            .collect();
        s.commit(writes).await.expect("commit");
    }
    assert_eq!(s.frames("CS2", 10_000).await.expect("read").len(), 5000);
    let pruned = s
        .prune_frames(now - Duration::days(7), 500)
        .await
        .expect("prune");
    assert_eq!(pruned, 4500);
    let left = s.frames("CS2", 10_000).await.expect("read");
    assert_eq!(left.len(), 500);
    assert!(left[0].text.contains("\"4999\""), "the newest is kept");
    assert!(left[499].text.contains("\"4500\""), "{}", left[499].text);
}

async fn wait_for_frames(s: &dyn Store, n: usize) {
    for _ in 0..100 {
        if s.frames("CS1", 1000).await.expect("read").len() >= n {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{n} frames were not written within 5 s");
}

/// A station link whose station is connected when a command is submitted but gone when it is
/// sent: the command goes back to the queue.
struct Flaky {
    connected: std::sync::atomic::AtomicBool,
}

impl arus_domain::link::StationLink for Flaky {
    fn connection(&self, _: &str) -> Option<arus_domain::link::Connection> {
        self.connected
            .load(std::sync::atomic::Ordering::SeqCst)
            .then(|| arus_domain::link::Connection {
                protocol: "2.0.1".into(),
                since: Utc::now(),
            })
    }

    fn connected(&self) -> usize {
        usize::from(self.connected.load(std::sync::atomic::Ordering::SeqCst))
    }

    fn connected_ids(&self) -> Vec<String> {
        if self.connected.load(std::sync::atomic::Ordering::SeqCst) {
            vec!["CS9".into()]
        } else {
            Vec::new()
        }
    }

    fn send<'a>(
        &'a self,
        _: &'a str,
        _: &'a arus_domain::commands::Command,
    ) -> arus_domain::link::Sent<'a> {
        // The station left just before the command went out.
        self.connected
            .store(false, std::sync::atomic::Ordering::SeqCst);
        Box::pin(async { Err(arus_domain::commands::SendError::NotConnected) })
    }
}

/// Whoever waits for a command is told when it goes back to the queue, and again when it
/// expires there; a bulk operation waiting on it ends.
async fn a_requeued_command_settles_its_waiters(b: &Backend) {
    use arus_domain::commander::{Commander, Submission};
    use arus_domain::commands::{ClearCache, Command, CommandStatus};
    use arus_domain::events::EventBus;
    let s = b.open().await;
    s.commit(vec![Write::PutStation {
        id: "CS9".into(),
        password_hash: None,
        boot_policy: RegistrationStatus::Accepted,
        self_registered: false,
        at: Utc::now(),
    }])
    .await
    .expect("commit");
    let link = Arc::new(Flaky {
        connected: std::sync::atomic::AtomicBool::new(true),
    });
    let commander = Commander::new(s.clone(), link.clone(), EventBus::new(64));
    let submitted = commander
        .submit(Submission {
            station_id: "CS9".into(),
            command: Command::ClearCache(ClearCache {}),
            requested_by: "test".into(),
            idempotency_key: None,
            queue_until: Some(Utc::now() + Duration::milliseconds(300)),
            bulk_id: None,
        })
        .await
        .expect("submitted");
    let done = submitted.done.expect("under way");
    let back = tokio::time::timeout(std::time::Duration::from_secs(5), done)
        .await
        .expect("the waiter is told")
        .expect("with the record");
    assert_eq!(back.status, CommandStatus::Queued);
    assert_eq!(back.sent_at, None);
    // Waiting on it now, then letting it expire: told again.
    let id = back.id.clone();
    let me = commander.clone();
    let waiting =
        tokio::spawn(async move { me.wait(&id, std::time::Duration::from_secs(5)).await });
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    commander.release("CS9").await.expect("release");
    let expired = waiting
        .await
        .expect("joined")
        .expect("read")
        .expect("found");
    assert_eq!(expired.status, CommandStatus::Expired);
    // A bulk operation over the same station ends instead of waiting for ever.
    link.connected
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let bulk = commander
        .bulk(
            vec!["CS9".into()],
            Command::ClearCache(ClearCache {}),
            1,
            Some(3600),
            "test".into(),
        )
        .await
        .expect("started");
    for _ in 0..100 {
        let row = s
            .record(RecordKind::Bulk, &bulk.id)
            .await
            .expect("read")
            .expect("found");
        if row.status.as_deref() == Some("done") {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the bulk operation did not end");
}
