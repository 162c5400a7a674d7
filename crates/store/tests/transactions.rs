//! Transactions and meter values in the store, on both backends (see `store.rs` for how the
//! backends are chosen): folds written and merged, orphans, retries recognised, meter values
//! kept once and read back in order.

use arus_domain::authorization::IdToken;
use arus_domain::metering::{MeterValue, Sample};
use arus_domain::store::{StartKey, StoreError, TransactionQuery, Write};
use arus_domain::transactions::{EventKind, Transaction, TransactionEvent, apply};
use chrono::{DateTime, Utc};

fn t(s: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(1_700_000_000 + s, 123_456_000).expect("valid")
}

use arus_store::testing::TestDatabase as Backend;

/// A 1.6 start on connector 1 with the token `TAG` at 100 Wh.
fn tag_start() -> arus_domain::csms::StartRequest {
    arus_domain::csms::StartRequest {
        connector_id: 1,
        id_token: IdToken {
            value: "TAG".into(),
            kind: None,
        },
        meter_start_wh: 100.0,
        timestamp: t(0),
        reservation_id: None,
    }
}

arus_store::both_backends!(
    retried_meter_values_are_recorded_once,
    transactions_round_trip_and_list_newest_first,
    stale_transaction_writes_are_merged,
    orphans_are_kept_apart,
    retried_writes_change_nothing,
    meter_values_read_the_same_before_and_after_they_settle,
    meter_values_sent_again_are_stored_once,
    a_faulty_job_fails_alone,
);

/// Issue 10, fault 4: meter values sent again where the domain's memory of recent values
/// cannot help (after a restart; in a repeated 1.6 StopTransaction's transactionData; the
/// same values twice in one commit) are recognised by the store and kept once, in and
/// outside transactions.
async fn meter_values_sent_again_are_stored_once(b: &Backend) {
    use arus_domain::events::EventBus;
    use arus_domain::transactions::TransactionIds;
    use arus_domain::{Csms, CsmsConfig};
    let s = b.open().await;
    let value = |at: i64, wh: f64| MeterValue {
        timestamp: t(at),
        samples: vec![Sample {
            value: Some(wh),
            ..Sample::default()
        }],
    };
    let in_tx = vec![value(30, 250.0), value(40, 300.0)];
    let outside = vec![value(35, 7.0)];
    let mut tx = String::new();
    // Twice, with a new domain service each time: a restart forgets the recent digests.
    for _restart in 0..2 {
        let csms = Csms::new(s.clone(), EventBus::new(16), CsmsConfig::default())
            .await
            .expect("csms");
        let mut st = csms
            .connected("CS-RE".into(), "1.6", TransactionIds::Csms)
            .await
            .expect("connected");
        let started = csms
            .start_transaction(&mut st, tag_start())
            .await
            .expect("started");
        tx = started.transaction_number.to_string();
        csms.meter_values(&mut st, 1, Some(tx.clone()), in_tx.clone())
            .await
            .expect("recorded");
        csms.meter_values(&mut st, 1, None, outside.clone())
            .await
            .expect("recorded");
        // The stop, with its transactionData, sent twice on one connection.
        for _ in 0..2 {
            let stop = TransactionEvent {
                meter_stop_wh: Some(400.0),
                meter_values: vec![value(50, 400.0)],
                ..TransactionEvent::new(EventKind::Ended, tx.clone(), t(50))
            };
            csms.transaction_event(&mut st, stop)
                .await
                .expect("stopped");
        }
    }
    // One commit holding the same value twice.
    s.commit(vec![Write::MeterValues {
        station_id: "CS-RE".into(),
        evse_id: 2,
        transaction_id: None,
        values: vec![value(60, 1.0), value(60, 1.0)],
        received_at: Utc::now(),
    }])
    .await
    .expect("commit");
    let read = s.meter_values("CS-RE", &tx).await.expect("read");
    assert_eq!(
        read,
        vec![value(30, 250.0), value(40, 300.0), value(50, 400.0)]
    );
    // 3 of the transaction, 1 outside it on EVSE 1, 1 on EVSE 2.
    assert_eq!(b.stored_meter_values("CS-RE").await, 5);
    let back = s
        .transaction("CS-RE", &tx)
        .await
        .expect("read")
        .expect("found");
    assert_eq!(back.tx.energy_wh(), Some(300.0));
}

fn event(kind: EventKind, tx: &str, seq: Option<u32>, at: i64, wh: f64) -> TransactionEvent {
    TransactionEvent {
        seq_no: seq,
        evse_id: Some(1),
        connector_id: Some(1),
        id_token: Some(IdToken {
            value: "TAG".into(),
            kind: None,
        }),
        meter_values: vec![MeterValue {
            timestamp: t(at),
            samples: vec![Sample {
                value: Some(wh),
                ..Sample::default()
            }],
        }],
        ..TransactionEvent::new(kind, tx.into(), t(at))
    }
}

fn put(tx: &Transaction, number: Option<i64>) -> Write {
    put_based_on(tx, number, 0)
}

fn put_based_on(tx: &Transaction, number: Option<i64>, based_on: i64) -> Write {
    Write::PutTransaction {
        tx: Box::new(tx.clone()),
        csms_number: number,
        orphan: false,
        based_on,
        at: Utc::now(),
    }
}

/// Issue 10, fault 3: two writers that folded from the same stored state (a replaced
/// connection still committing while the new one goes on) both count: the second write is
/// merged into the row, not written over it.
async fn stale_transaction_writes_are_merged(b: &Backend) {
    let s = b.open().await;
    let (started, _) = apply(
        None,
        "CS1",
        &event(EventKind::Started, "M", Some(0), 0, 1000.0),
    );
    s.commit(vec![put(&started, None)]).await.expect("commit");
    let base = s
        .transaction("CS1", "M")
        .await
        .expect("read")
        .expect("found");
    assert_eq!(base.revision, 1);
    // Two writers fold different events into the state at revision 1.
    let (reading, _) = apply(
        Some(base.tx.clone()),
        "CS1",
        &event(EventKind::Updated, "M", Some(1), 30, 4000.0),
    );
    let (ended, _) = apply(
        Some(base.tx.clone()),
        "CS1",
        &event(EventKind::Ended, "M", Some(2), 60, 6000.0),
    );
    s.commit(vec![put_based_on(&reading, None, 1)])
        .await
        .expect("commit");
    s.commit(vec![put_based_on(&ended, None, 1)])
        .await
        .expect("the stale write is merged, not refused");
    let after = s
        .transaction("CS1", "M")
        .await
        .expect("read")
        .expect("found");
    assert_eq!(after.revision, 3);
    let mut all = started.clone();
    for ev in [
        event(EventKind::Updated, "M", Some(1), 30, 4000.0),
        event(EventKind::Ended, "M", Some(2), 60, 6000.0),
    ] {
        all = apply(Some(all), "CS1", &ev).0;
    }
    assert_eq!(after.tx, all, "both writers' events are in the row");
    assert!(after.tx.fold.seen.contains(1) && after.tx.fold.seen.contains(2));
    let row = s
        .transactions(TransactionQuery {
            station_id: Some("CS1".into()),
            limit: 1,
            ..TransactionQuery::default()
        })
        .await
        .expect("list");
    assert_eq!(
        row[0].energy_wh,
        Some(5000.0),
        "the columns follow the merge"
    );
    assert!(row[0].stopped_at.is_some());
    // Two stale writes in one group are merged too.
    let (late, _) = apply(
        Some(base.tx.clone()),
        "CS1",
        &event(EventKind::Updated, "M", Some(3), 50, 5500.0),
    );
    s.commit(vec![
        put_based_on(&late, None, 1),
        put_based_on(&base.tx, None, 2),
    ])
    .await
    .expect("commit");
    let last = s
        .transaction("CS1", "M")
        .await
        .expect("read")
        .expect("found");
    assert!(last.tx.fold.seen.contains(3) && last.tx.stopped_at().is_some());
    assert_eq!(last.revision, 5);
}

/// Issue 10, fault 5: an orphan (a 1.6 message naming an id the CSMS never gave) is kept
/// apart: listed as such, and not as a transaction going on.
async fn orphans_are_kept_apart(b: &Backend) {
    let s = b.open().await;
    let (orphan, _) = apply(
        None,
        "CS9",
        &event(EventKind::Ended, "424242", None, 0, 50.0),
    );
    let (live, _) = apply(None, "CS9", &event(EventKind::Started, "5", None, 10, 0.0));
    s.commit(vec![
        Write::PutTransaction {
            tx: Box::new(orphan.clone()),
            csms_number: None,
            orphan: true,
            based_on: 0,
            at: Utc::now(),
        },
        put(&live, Some(5)),
    ])
    .await
    .expect("commit");
    let stored = s
        .transaction("CS9", "424242")
        .await
        .expect("read")
        .expect("found");
    assert!(stored.orphan && !stored.csms_assigned);
    let list = |orphan, ongoing| {
        let s = s.clone();
        async move {
            s.transactions(TransactionQuery {
                station_id: Some("CS9".into()),
                orphan,
                ongoing,
                limit: 10,
                ..TransactionQuery::default()
            })
            .await
            .expect("list")
            .into_iter()
            .map(|r| (r.transaction_id, r.orphan))
            .collect::<Vec<_>>()
        }
    };
    assert_eq!(list(Some(true), None).await, vec![("424242".into(), true)]);
    assert_eq!(list(Some(false), None).await, vec![("5".into(), false)]);
    assert_eq!(list(None, Some(true)).await, vec![("5".into(), false)]);
}

async fn transactions_round_trip_and_list_newest_first(b: &Backend) {
    let s = b.open().await;
    let (a, _) = apply(
        None,
        "CS1",
        &event(EventKind::Started, "A", Some(0), 0, 100.0),
    );
    let (a, _) = apply(
        Some(a),
        "CS1",
        &event(EventKind::Ended, "A", Some(1), 60, 600.0),
    );
    let (bb, _) = apply(
        None,
        "CS1",
        &event(EventKind::Started, "7", None, 120, 50.0),
    );
    let (c, _) = apply(
        None,
        "CS2",
        &event(EventKind::Started, "C", Some(0), 30, 0.0),
    );
    s.commit(vec![put(&a, None), put(&bb, Some(7)), put(&c, None)])
        .await
        .expect("commit");
    let back = s
        .transaction("CS1", "A")
        .await
        .expect("read")
        .expect("found");
    assert_eq!(back.tx, a);
    assert!(!back.csms_assigned && !back.orphan);
    assert!(
        s.transaction("CS1", "7")
            .await
            .expect("read")
            .expect("found")
            .csms_assigned
    );
    assert_eq!(s.max_csms_number().await.expect("read"), 7);
    let all = s
        .transactions(TransactionQuery {
            limit: 10,
            ..TransactionQuery::default()
        })
        .await
        .expect("list");
    // Newest first by arrival, so that pages stay stable while transactions arrive.
    let ids: Vec<_> = all.iter().map(|r| r.transaction_id.as_str()).collect();
    assert_eq!(ids, vec!["C", "7", "A"]);
    let cs1 = s
        .transactions(TransactionQuery {
            station_id: Some("CS1".into()),
            limit: 1,
            ..TransactionQuery::default()
        })
        .await
        .expect("list");
    assert_eq!(cs1.len(), 1);
    assert_eq!(cs1[0].transaction_id, "7");
    let next = s
        .transactions(TransactionQuery {
            station_id: Some("CS1".into()),
            before: Some(cs1[0].seq),
            limit: 10,
            ..TransactionQuery::default()
        })
        .await
        .expect("list");
    let ids: Vec<_> = next.iter().map(|r| r.transaction_id.as_str()).collect();
    assert_eq!(
        ids,
        vec!["A"],
        "the next page holds only the older transaction"
    );
    let ongoing = s
        .transactions(TransactionQuery {
            ongoing: Some(true),
            limit: 10,
            ..TransactionQuery::default()
        })
        .await
        .expect("list");
    let ids: Vec<_> = ongoing.iter().map(|r| r.transaction_id.as_str()).collect();
    assert_eq!(ids, vec!["C", "7"]);
    let a_row = all.iter().find(|r| r.transaction_id == "A").expect("A");
    assert_eq!(a_row.energy_wh, Some(500.0));
    assert_eq!(a_row.meter_start_wh, Some(100.0));
    assert_eq!(a_row.meter_stop_wh, Some(600.0));
    assert_eq!(a_row.stop_reason.as_deref(), Some("Local"));
    assert_eq!(a_row.id_token.as_deref(), Some("TAG"));
    // 1.6: a StartTransaction sent again is found by its content (given as a key, or part by
    // part).
    let start = StartKey {
        station_id: "CS1".into(),
        connector_id: 1,
        id_token: "TAG".into(),
        started_at: t(120),
        meter_start_wh: 50.0,
    };
    let found = s.find_start(start.clone()).await.expect("read");
    assert_eq!(found.as_deref(), Some("7"));
    let later = StartKey {
        started_at: t(121),
        ..start
    };
    assert_eq!(s.find_start(later).await.expect("read"), None);
}

async fn retried_writes_change_nothing(b: &Backend) {
    let s = b.open().await;
    let ev = event(EventKind::Updated, "A", Some(3), 10, 100.0);
    let values = Write::MeterValues {
        station_id: "CS1".into(),
        evse_id: 1,
        transaction_id: Some("A".into()),
        values: ev.meter_values.clone(),
        received_at: Utc::now(),
    };
    let history = Write::TransactionEvent {
        station_id: "CS1".into(),
        event: Box::new(ev),
        received_at: Utc::now(),
    };
    for _ in 0..3 {
        s.commit(vec![history.clone()])
            .await
            .expect("a retry is accepted");
    }
    s.commit(vec![values]).await.expect("commit");
    assert_eq!(
        s.transaction_events("CS1", "A").await.expect("read").len(),
        1
    );
    let mv = s.meter_values("CS1", "A").await.expect("read");
    assert_eq!(mv.len(), 1);
    assert_eq!(mv[0].samples[0].value, Some(100.0));
    // Signed meter data and values that are not numbers are kept verbatim.
    let signed = MeterValue {
        timestamp: t(11),
        samples: vec![
            Sample {
                raw: Some("AP;0;3;ALCV3ABBBISHFA2RVHTZ5N7BAIEWNFDWG2WTMZDI".into()),
                format: Some("SignedData".into()),
                ..Sample::default()
            },
            Sample {
                value: Some(0.0),
                signed: Some(arus_domain::metering::SignedMeterValue {
                    signed_meter_data: "T0NNRnx7IkZWIjoiMS4wIn0=".into(),
                    signing_method: "ECDSA-secp256r1-SHA256".into(),
                    encoding_method: "OCMF".into(),
                    public_key: "3059301306072A8648CE3D".into(),
                }),
                ..Sample::default()
            },
        ],
    };
    s.commit(vec![Write::MeterValues {
        station_id: "CS1".into(),
        evse_id: 1,
        transaction_id: Some("S".into()),
        values: vec![signed.clone()],
        received_at: Utc::now(),
    }])
    .await
    .expect("commit");
    assert_eq!(
        s.meter_values("CS1", "S").await.expect("read"),
        vec![signed]
    );
    // 1.6 events have no seqNo: the same kind at the same time is the same event.
    let mut stop = event(EventKind::Ended, "B", None, 20, 5.0);
    stop.meter_stop_wh = Some(5.0);
    for _ in 0..2 {
        s.commit(vec![Write::TransactionEvent {
            station_id: "CS1".into(),
            event: Box::new(stop.clone()),
            received_at: Utc::now(),
        }])
        .await
        .expect("a retry is accepted");
    }
    let events = s.transaction_events("CS1", "B").await.expect("read");
    assert_eq!(events, vec![stop]);
}

/// The domain recognises meter values sent again (the station did not get the answer) and the
/// store keeps them once.
async fn retried_meter_values_are_recorded_once(b: &Backend) {
    use arus_domain::events::EventBus;
    use arus_domain::{Csms, CsmsConfig};
    let s = b.open().await;
    let csms = Csms::new(s.clone(), EventBus::new(16), CsmsConfig::default())
        .await
        .expect("csms");
    let mut st = csms
        .connected(
            "CS-MV".into(),
            "1.6",
            arus_domain::transactions::TransactionIds::Csms,
        )
        .await
        .expect("connected");
    let start = tag_start();
    let tx = csms
        .start_transaction(&mut st, start)
        .await
        .expect("started")
        .transaction_number
        .to_string();
    let values = vec![MeterValue {
        timestamp: t(30),
        samples: vec![Sample {
            value: Some(250.0),
            ..Sample::default()
        }],
    }];
    for _ in 0..3 {
        csms.meter_values(&mut st, 1, Some(tx.clone()), values.clone())
            .await
            .expect("recorded");
    }
    assert_eq!(s.meter_values("CS-MV", &tx).await.expect("read"), values);
    let back = s
        .transaction("CS-MV", &tx)
        .await
        .expect("read")
        .expect("found");
    assert_eq!(back.tx.energy_wh(), Some(150.0));
}

/// Meter values committed over more than one settling turn (SQLite moves them in batches into
/// the indexed table) read back complete, in time order, with none doubled, now and after the
/// store is reopened.
async fn meter_values_read_the_same_before_and_after_they_settle(b: &Backend) {
    use arus_domain::metering::{MeterValue, Sample};
    let value = |i: i64| MeterValue {
        timestamp: t(i),
        samples: vec![Sample {
            value: Some(i as f64),
            ..Sample::default()
        }],
    };
    let write = |values: Vec<MeterValue>| Write::MeterValues {
        station_id: "CS-SETTLE".into(),
        evse_id: 1,
        transaction_id: Some("T".into()),
        values,
        received_at: Utc::now(),
    };
    let expected: Vec<MeterValue> = (0..6).map(value).collect();
    {
        let s = b.open().await;
        // Arrival order is not time order: the reads sort by time.
        s.commit(vec![write(vec![value(3), value(4)])])
            .await
            .expect("commit");
        s.commit(vec![write(vec![value(0)])]).await.expect("commit");
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        // This commit is followed by a settling turn; the next one lands in the recent table.
        s.commit(vec![write(vec![value(1)])]).await.expect("commit");
        s.commit(vec![write(vec![value(5), value(2)])])
            .await
            .expect("commit");
        assert_eq!(
            s.meter_values("CS-SETTLE", "T").await.expect("read"),
            expected
        );
        assert!(
            s.meter_values("CS-SETTLE", "U")
                .await
                .expect("read")
                .is_empty()
        );
    }
    let s = b.open().await;
    assert_eq!(
        s.meter_values("CS-SETTLE", "T").await.expect("read"),
        expected
    );
}

async fn a_faulty_job_fails_alone(b: &Backend) {
    let s = b.open().await;
    let (x, _) = apply(None, "CS1", &event(EventKind::Started, "X", None, 0, 0.0));
    let (y, _) = apply(None, "CS1", &event(EventKind::Started, "Y", None, 0, 0.0));
    let (z, _) = apply(None, "CS1", &event(EventKind::Started, "Z", None, 0, 0.0));
    s.commit(vec![put(&x, Some(1))]).await.expect("commit");
    // Y reuses X's number, which is unique; Z, committed at the same time, must not suffer.
    let (ry, rz) = tokio::join!(
        s.commit(vec![put(&y, Some(1))]),
        s.commit(vec![put(&z, Some(2))])
    );
    let Err(conflict) = ry else {
        panic!("the reused number is refused")
    };
    assert!(
        matches!(conflict, StoreError::Conflict { .. }),
        "{conflict:?}"
    );
    // The database's own error is kept, and its words are in the text.
    assert!(
        std::error::Error::source(&conflict).is_some(),
        "{conflict:?}"
    );
    assert!(
        conflict.to_string().to_lowercase().contains("unique"),
        "{conflict}"
    );
    rz.expect("the other job commits");
    assert!(s.transaction("CS1", "Z").await.expect("read").is_some());
    assert!(s.transaction("CS1", "Y").await.expect("read").is_none());
}
