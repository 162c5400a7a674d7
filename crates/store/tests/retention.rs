//! Retention (issue fault 15), on both backends: what each policy deletes and what it keeps.
//! Billing data stays unless the operator asks; unfinished records and stations an operator
//! registered always stay.

use arus_domain::authorization::IdToken;
use arus_domain::metering::{MeterValue, Sample};
use arus_domain::notices::{Notice, NoticeKind};
use arus_domain::provisioning::RegistrationStatus;
use arus_domain::retention::Retention;
use arus_domain::store::{RecordKind, RecordQuery, StoredRecord, Write};
use arus_domain::transactions::{EventKind, TransactionEvent, apply};
use chrono::{DateTime, Duration, Utc};

use arus_store::testing::TestDatabase as Backend;

arus_store::both_backends!(retention_deletes_what_its_policy_names);

/// 400 days before "now": older than every default period.
fn old() -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(1_700_000_000, 0).expect("valid")
}

fn now() -> DateTime<Utc> {
    old() + Duration::days(400)
}

fn recent() -> DateTime<Utc> {
    now() - Duration::days(1)
}

fn station(id: &str, self_registered: bool) -> Write {
    Write::PutStation {
        id: id.into(),
        password_hash: None,
        boot_policy: RegistrationStatus::Accepted,
        self_registered,
        at: old(),
    }
}

fn reading(at: DateTime<Utc>, wh: f64) -> MeterValue {
    MeterValue {
        timestamp: at,
        samples: vec![Sample {
            value: Some(wh),
            ..Sample::default()
        }],
    }
}

fn meter_values(station: &str, tx: Option<&str>, at: DateTime<Utc>) -> Write {
    Write::MeterValues {
        station_id: station.into(),
        evse_id: 1,
        transaction_id: tx.map(Into::into),
        values: vec![reading(at, 1000.0)],
        received_at: at,
    }
}

/// The writes of a transaction started at `at`, ended a minute later if `ended`.
fn transaction(station: &str, id: &str, at: DateTime<Utc>, ended: bool) -> Vec<Write> {
    let mut kinds = vec![EventKind::Started];
    if ended {
        kinds.push(EventKind::Ended);
    }
    let mut tx = None;
    let mut writes = Vec::new();
    for (seq, kind) in kinds.into_iter().enumerate() {
        let ev = TransactionEvent {
            seq_no: Some(seq as u32),
            evse_id: Some(1),
            connector_id: Some(1),
            id_token: Some(IdToken {
                value: "TAG".into(),
                kind: None,
            }),
            ..TransactionEvent::new(kind, id.into(), at + Duration::minutes(seq as i64))
        };
        tx = Some(apply(tx, station, &ev).0);
        writes.push(Write::TransactionEvent {
            station_id: station.into(),
            event: Box::new(ev),
            received_at: at,
        });
    }
    writes.push(meter_values(station, Some(id), at));
    if let Some(tx) = tx {
        writes.push(Write::PutTransaction {
            tx: Box::new(tx),
            csms_number: None,
            orphan: false,
            based_on: 0,
            at,
        });
    }
    writes
}

fn notice(station: &str, at: DateTime<Utc>) -> Write {
    Write::Notice {
        station_id: station.into(),
        notice: Box::new(Notice {
            kind: NoticeKind::SecurityEvent,
            at,
            request_id: None,
            status: Some("FirmwareUpdated".into()),
            details: serde_json::Value::Null,
        }),
        received_at: at,
    }
}

fn record(kind: RecordKind, id: &str, status: Option<&str>, at: DateTime<Utc>) -> Write {
    Write::PutRecord(Box::new(StoredRecord {
        kind,
        id: id.into(),
        seq: 0,
        station_id: Some("CS1".into()),
        tag: None,
        status: status.map(Into::into),
        at,
        body: "{}".into(),
    }))
}

async fn record_ids(s: &dyn arus_domain::store::Store, kind: RecordKind) -> Vec<String> {
    let mut ids: Vec<String> = s
        .records(RecordQuery::of(kind, 100))
        .await
        .expect("records")
        .into_iter()
        .map(|r| r.id)
        .collect();
    ids.sort();
    ids
}

async fn retention_deletes_what_its_policy_names(b: &Backend) {
    let s = b.open().await;
    let mut writes = vec![
        station("CS1", false),
        station("SELF-GONE", true),
        station("SELF-CHARGED", true),
        station("SELF-BACK", true),
        station("ADOPTED", true),
        // Registered through the API afterwards: adopted.
        station("ADOPTED", false),
        Write::StationSeen {
            id: "SELF-BACK".into(),
            at: recent(),
        },
        meter_values("CS1", None, old()),
        meter_values("CS1", None, recent()),
        notice("CS1", old()),
        notice("CS1", recent()),
        record(RecordKind::Command, "cmd-old", Some("answered"), old()),
        record(RecordKind::Command, "cmd-queued", Some("queued"), old()),
        record(RecordKind::Command, "cmd-new", Some("answered"), recent()),
        record(RecordKind::Bulk, "bulk-old", Some("done"), old()),
        record(RecordKind::Audit, "audit-old", None, old()),
        record(RecordKind::Audit, "audit-new", None, recent()),
        record(RecordKind::Delivery, "dlv-old", Some("delivered"), old()),
        record(RecordKind::Delivery, "dlv-pending", Some("pending"), old()),
        record(RecordKind::Webhook, "hook", None, old()),
    ];
    writes.extend(transaction("CS1", "ENDED", old(), true));
    writes.extend(transaction("CS1", "GOING-ON", old(), false));
    writes.extend(transaction("SELF-CHARGED", "T", old(), true));
    s.commit(writes).await.expect("commit");
    assert_eq!(b.stored_meter_values("CS1").await, 4);

    // The defaults: billing data stays.
    let pruned = s.prune(Retention::default(), now()).await.expect("pruned");
    assert_eq!(pruned.meter_values_outside_transactions, 1);
    assert_eq!((pruned.transactions, pruned.transaction_rows), (0, 0));
    assert_eq!((pruned.notices, pruned.stations), (1, 1));
    assert_eq!(
        (pruned.commands, pruned.audit, pruned.webhook_deliveries),
        (2, 1, 1)
    );
    assert_eq!(
        b.stored_meter_values("CS1").await,
        3,
        "only the old one outside"
    );
    let since = old() - Duration::days(1);
    let notices = s
        .notices("CS1", NoticeKind::SecurityEvent, None, since)
        .await
        .expect("notices");
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].0, recent());
    assert_eq!(
        record_ids(&*s, RecordKind::Command).await,
        ["cmd-new", "cmd-queued"]
    );
    assert!(record_ids(&*s, RecordKind::Bulk).await.is_empty());
    assert_eq!(record_ids(&*s, RecordKind::Audit).await, ["audit-new"]);
    assert_eq!(record_ids(&*s, RecordKind::Delivery).await, ["dlv-pending"]);
    assert_eq!(record_ids(&*s, RecordKind::Webhook).await, ["hook"]);
    for (id, kept) in [
        ("CS1", true),
        ("SELF-GONE", false),
        ("SELF-CHARGED", true),
        ("SELF-BACK", true),
        ("ADOPTED", true),
    ] {
        let found = s.station(id).await.expect("station").is_some();
        assert_eq!(found, kept, "{id}");
    }
    assert!(s.transaction("CS1", "ENDED").await.expect("read").is_some());

    // Asked for: transactions that ended over a year ago go with their events and meter
    // values; one still going on stays.
    let policy = Retention {
        transactions: Some(std::time::Duration::from_secs(365 * 24 * 3600)),
        ..Retention::default()
    };
    let pruned = s.prune(policy, now()).await.expect("pruned");
    assert_eq!(pruned.transactions, 2);
    // Per transaction: two events and a meter value.
    assert_eq!(pruned.transaction_rows, 6);
    assert!(s.transaction("CS1", "ENDED").await.expect("read").is_none());
    assert!(
        s.meter_values("CS1", "ENDED")
            .await
            .expect("read")
            .is_empty()
    );
    let events = s.transaction_events("CS1", "ENDED").await.expect("read");
    assert!(events.is_empty());
    assert!(
        s.transaction("CS1", "GOING-ON")
            .await
            .expect("read")
            .is_some()
    );
    assert_eq!(
        s.meter_values("CS1", "GOING-ON").await.expect("read").len(),
        1
    );
    // Nothing left to prune: a second run deletes nothing.
    assert_eq!(s.prune(policy, now()).await.expect("pruned").total(), 0);
}

/// A self-registered station seen again (its row updated by another connection) while the
/// pruning of stations is under way keeps its connectors and itself: the chunk's statements
/// share one snapshot and the chunk is tried again after the conflict. PostgreSQL only: on
/// SQLite a chunk holds the write lock from its first statement, so nothing can interleave.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_station_seen_while_it_is_pruned_keeps_its_connectors() {
    let Some(db) = Backend::postgres().await else {
        return;
    };
    let s = db.open().await;
    let report = arus_domain::availability::StatusReport {
        evse_id: 1,
        connector_id: 1,
        status: arus_domain::availability::ConnectorStatus::Available,
        error_code: None,
        info: None,
        vendor_id: None,
        vendor_error_code: None,
        timestamp: old(),
    };
    s.commit(vec![
        station("SELF", true),
        Write::ConnectorStatus {
            station_id: "SELF".into(),
            report: Box::new(report),
        },
    ])
    .await
    .expect("commit");
    assert_eq!(s.connectors("SELF").await.expect("read").len(), 1);

    // Another connection marks the station seen and holds its row until told to commit.
    let (other, conn) = tokio_postgres::connect(&db.url(), tokio_postgres::NoTls)
        .await
        .expect("connects");
    tokio::spawn(conn);
    other.batch_execute("BEGIN").await.expect("begins");
    other
        .execute(
            "UPDATE stations SET last_seen_at = $1 WHERE id = 'SELF'",
            &[&Utc::now()],
        )
        .await
        .expect("updates");

    let pruning = tokio::spawn({
        let s = s.clone();
        async move { s.prune(Retention::default(), now()).await }
    });
    // Wait until the pruning is blocked on the station's row: its connectors are gone in its
    // own (uncommitted) view by then.
    let (watch, conn) = tokio_postgres::connect(&db.url(), tokio_postgres::NoTls)
        .await
        .expect("connects");
    tokio::spawn(conn);
    let mut waited = 0;
    loop {
        let row = watch
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
                &[],
            )
            .await
            .expect("reads");
        if row.get::<_, i64>(0) > 0 {
            break;
        }
        waited += 1;
        assert!(waited < 500, "the pruning never reached the station's row");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    other.batch_execute("COMMIT").await.expect("commits");
    let pruned = pruning.await.expect("joins").expect("pruned");
    assert_eq!(pruned.stations, 0);
    assert!(s.station("SELF").await.expect("read").is_some());
    assert_eq!(
        s.connectors("SELF").await.expect("read").len(),
        1,
        "the station seen again keeps its connectors"
    );
}
