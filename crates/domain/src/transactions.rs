//! E. Transactions: one model for 1.6 StartTransaction / MeterValues / StopTransaction and 2.0.1
//! TransactionEvent.
//!
//! A transaction is the fold of its events ([`apply`]). Stations replay queued events after
//! being offline, out of order, with gaps filled later (TC_E_31_CSMS) and sometimes twice, so the
//! fold does not depend on arrival order: every field is taken from the event that ranks first
//! for it by (timestamp, seqNo), energy from the register readings by time, and a seqNo already
//! seen changes nothing. A property test checks that any order of the same events gives the
//! same transaction.

use serde::{Deserialize, Serialize};

use crate::Time;
use crate::authorization::IdToken;
use crate::metering::{Edge, MeterValue, register_readings};

/// Where an event stands in a transaction's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    /// The first event (1.6 StartTransaction).
    Started,
    /// Anything in between (1.6 MeterValues with a transactionId).
    Updated,
    /// The last event (1.6 StopTransaction).
    Ended,
}

impl EventKind {
    /// The name used in the store and the API.
    pub const fn as_str(self) -> &'static str {
        match self {
            EventKind::Started => "Started",
            EventKind::Updated => "Updated",
            EventKind::Ended => "Ended",
        }
    }
}

/// Something a station reported about a transaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransactionEvent {
    /// Started, Updated or Ended.
    pub kind: EventKind,
    /// The transaction's id as the station knows it.
    pub transaction_id: String,
    /// 2.0.1 sequence number (per transaction, from 0).
    pub seq_no: Option<u32>,
    /// When it happened, by the station's clock.
    pub timestamp: Time,
    /// Why the station sent it (2.0.1 triggerReason).
    pub trigger: Option<String>,
    /// The EVSE, when known.
    pub evse_id: Option<u32>,
    /// The connector, when known.
    pub connector_id: Option<u32>,
    /// The id token presented, if any.
    pub id_token: Option<IdToken>,
    /// Meter values it carries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub meter_values: Vec<MeterValue>,
    /// 1.6 StartTransaction.meterStart (Wh).
    pub meter_start_wh: Option<f64>,
    /// 1.6 StopTransaction.meterStop (Wh).
    pub meter_stop_wh: Option<f64>,
    /// Why it stopped (1.6 reason, 2.0.1 stoppedReason).
    pub stop_reason: Option<String>,
    /// 2.0.1 chargingState.
    pub charging_state: Option<String>,
    /// Sent from the station's offline queue.
    pub offline: bool,
    /// The id of the remote start that began it.
    pub remote_start_id: Option<i64>,
    /// The reservation it used.
    pub reservation_id: Option<i64>,
}

impl TransactionEvent {
    /// An event that says only what it is, of which transaction, and when; the rest is
    /// filled in by whoever reports more.
    pub fn new(kind: EventKind, transaction_id: String, timestamp: Time) -> TransactionEvent {
        TransactionEvent {
            kind,
            transaction_id,
            seq_no: None,
            timestamp,
            trigger: None,
            evse_id: None,
            connector_id: None,
            id_token: None,
            meter_values: Vec::new(),
            meter_start_wh: None,
            meter_stop_wh: None,
            stop_reason: None,
            charging_state: None,
            offline: false,
            remote_start_id: None,
            reservation_id: None,
        }
    }

    /// The event without its meter values (which are recorded on their own), copied without
    /// copying them.
    pub fn without_meter_values(&self) -> TransactionEvent {
        TransactionEvent {
            kind: self.kind,
            transaction_id: self.transaction_id.clone(),
            seq_no: self.seq_no,
            timestamp: self.timestamp,
            trigger: self.trigger.clone(),
            evse_id: self.evse_id,
            connector_id: self.connector_id,
            id_token: self.id_token.clone(),
            meter_values: Vec::new(),
            meter_start_wh: self.meter_start_wh,
            meter_stop_wh: self.meter_stop_wh,
            stop_reason: self.stop_reason.clone(),
            charging_state: self.charging_state.clone(),
            offline: self.offline,
            remote_start_id: self.remote_start_id,
            reservation_id: self.reservation_id,
        }
    }

    /// The event's rank: earlier timestamp first, then lower seqNo.
    fn rank(&self) -> Rank {
        Rank(self.timestamp, self.seq_no.unwrap_or(0))
    }
}

/// The order in which events take precedence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Rank(pub Time, pub u32);

/// A value and the rank of the event it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ranked<T> {
    /// The value.
    pub value: T,
    /// Where it came from.
    pub rank: Rank,
}

/// Keeps the value of the lowest-ranked event.
fn keep_first<T: Clone>(slot: &mut Option<Ranked<T>>, value: &T, rank: Rank) {
    if slot.as_ref().is_none_or(|s| rank < s.rank) {
        *slot = Some(Ranked {
            value: value.clone(),
            rank,
        });
    }
}

/// Keeps the value of the highest-ranked event.
fn keep_last<T: Clone>(slot: &mut Option<Ranked<T>>, value: &T, rank: Rank) {
    if slot.as_ref().is_none_or(|s| rank >= s.rank) {
        *slot = Some(Ranked {
            value: value.clone(),
            rank,
        });
    }
}

/// The set of sequence numbers seen, as sorted, disjoint, inclusive ranges (usually one).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeqSet(pub Vec<(u32, u32)>);

impl SeqSet {
    /// Whether `n` was seen.
    pub fn contains(&self, n: u32) -> bool {
        self.0.iter().any(|&(a, b)| a <= n && n <= b)
    }

    /// Records `n`.
    pub fn insert(&mut self, n: u32) {
        if self.contains(n) {
            return;
        }
        self.0.push((n, n));
        self.0.sort_unstable();
        let mut merged: Vec<(u32, u32)> = Vec::with_capacity(self.0.len());
        for &(a, b) in &self.0 {
            match merged.last_mut() {
                Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        self.0 = merged;
    }
}

/// What the fold keeps: each field with the rank of the event it came from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fold {
    /// The Started event's time.
    pub started: Option<Ranked<Time>>,
    /// The earliest event's time (the start while no Started event arrived).
    pub first_event: Option<Ranked<Time>>,
    /// The first Ended event: its time and reason.
    pub ended: Option<Ranked<(Time, Option<String>)>>,
    /// The EVSE and connector, from the first event that named them.
    pub evse: Option<Ranked<(u32, Option<u32>)>>,
    /// The first id token presented.
    pub id_token: Option<Ranked<IdToken>>,
    /// The last id token that stopped it.
    pub stop_id_token: Option<Ranked<IdToken>>,
    /// The latest charging state.
    pub charging_state: Option<Ranked<String>>,
    /// The remote start id, if it was started remotely.
    pub remote_start_id: Option<i64>,
    /// The reservation, if one was used.
    pub reservation_id: Option<i64>,
    /// The register reading marked Transaction.Begin (or 1.6 meterStart).
    pub begin_wh: Option<Ranked<f64>>,
    /// The register reading marked Transaction.End (or 1.6 meterStop).
    pub end_wh: Option<Ranked<f64>>,
    /// The earliest register reading.
    pub first_wh: Option<Ranked<f64>>,
    /// The latest register reading.
    pub last_wh: Option<Ranked<f64>>,
    /// Sequence numbers seen.
    pub seen: SeqSet,
}

impl Fold {
    /// Joins what another fold of the same transaction saw into this one: the result is the
    /// fold of the events both saw, whichever came first. Two sessions (or a retry racing its
    /// original) that each folded part of the events therefore lose nothing when the store
    /// joins their states.
    pub fn merge(&mut self, other: &Fold) {
        fn first<T: Clone>(slot: &mut Option<Ranked<T>>, other: &Option<Ranked<T>>) {
            if let Some(o) = other {
                keep_first(slot, &o.value, o.rank);
            }
        }
        fn last<T: Clone>(slot: &mut Option<Ranked<T>>, other: &Option<Ranked<T>>) {
            if let Some(o) = other {
                keep_last(slot, &o.value, o.rank);
            }
        }
        first(&mut self.started, &other.started);
        first(&mut self.first_event, &other.first_event);
        first(&mut self.ended, &other.ended);
        first(&mut self.evse, &other.evse);
        first(&mut self.id_token, &other.id_token);
        last(&mut self.stop_id_token, &other.stop_id_token);
        last(&mut self.charging_state, &other.charging_state);
        self.remote_start_id = self.remote_start_id.or(other.remote_start_id);
        self.reservation_id = self.reservation_id.or(other.reservation_id);
        first(&mut self.begin_wh, &other.begin_wh);
        last(&mut self.end_wh, &other.end_wh);
        first(&mut self.first_wh, &other.first_wh);
        last(&mut self.last_wh, &other.last_wh);
        for &(a, b) in &other.seen.0 {
            for n in a..=b {
                self.seen.insert(n);
            }
        }
    }
}

/// A transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct Transaction {
    /// The station.
    pub station_id: String,
    /// Its id as the station knows it.
    pub transaction_id: String,
    /// The fold of its events.
    pub fold: Fold,
}

impl Transaction {
    /// A transaction with no events yet.
    pub fn new(station_id: &str, transaction_id: &str) -> Transaction {
        Transaction {
            station_id: station_id.to_string(),
            transaction_id: transaction_id.to_string(),
            fold: Fold::default(),
        }
    }

    /// When it started: the Started event's time, else the earliest event's.
    pub fn started_at(&self) -> Option<Time> {
        self.fold
            .started
            .as_ref()
            .or(self.fold.first_event.as_ref())
            .map(|r| r.value)
    }

    /// When it stopped, once it did.
    pub fn stopped_at(&self) -> Option<Time> {
        self.fold.ended.as_ref().map(|r| r.value.0)
    }

    /// Why it stopped; a stop without a reason is `Local` (1.6 §7.27 and 2.0.1 E06: the reason
    /// may be left out only when it is Local).
    pub fn stop_reason(&self) -> Option<String> {
        self.fold
            .ended
            .as_ref()
            .map(|r| r.value.1.clone().unwrap_or_else(|| "Local".into()))
    }

    /// The EVSE.
    pub fn evse_id(&self) -> Option<u32> {
        self.fold.evse.as_ref().map(|r| r.value.0)
    }

    /// The connector.
    pub fn connector_id(&self) -> Option<u32> {
        self.fold.evse.as_ref().and_then(|r| r.value.1)
    }

    /// The register at the start: the reading marked as the beginning, else the earliest.
    pub fn meter_start_wh(&self) -> Option<f64> {
        self.fold
            .begin_wh
            .as_ref()
            .or(self.fold.first_wh.as_ref())
            .map(|r| r.value)
    }

    /// The register at the stop, once stopped: the reading marked as the end, else the latest.
    pub fn meter_stop_wh(&self) -> Option<f64> {
        self.fold.ended.as_ref()?;
        self.fold
            .end_wh
            .as_ref()
            .or(self.fold.last_wh.as_ref())
            .map(|r| r.value)
    }

    /// The energy delivered so far (or in all, once stopped), in Wh.
    pub fn energy_wh(&self) -> Option<f64> {
        let start = self.meter_start_wh()?;
        let end = self
            .meter_stop_wh()
            .or(self.fold.last_wh.as_ref().map(|r| r.value))?;
        Some((end - start).max(0.0))
    }

    /// The id token that started (or authorized) it.
    pub fn id_token(&self) -> Option<&IdToken> {
        self.fold.id_token.as_ref().map(|r| &r.value)
    }
}

/// Who gives a station's transactions their ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionIds {
    /// The CSMS numbers them in its answer to the start (1.6 StartTransaction): an id the CSMS
    /// never gave the station names a phantom transaction.
    Csms,
    /// The station names them (2.0.1 TransactionEvent): an unknown id is a transaction whose
    /// first events are still to come.
    Station,
}

/// What applying an event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    /// The event's seqNo was seen before: nothing changed.
    pub duplicate: bool,
    /// The transaction is new.
    pub created: bool,
    /// The transaction has just ended.
    pub ended: bool,
}

/// Folds one event into a transaction (`None`: the first event seen of it).
pub fn apply(
    tx: Option<Transaction>,
    station_id: &str,
    ev: &TransactionEvent,
) -> (Transaction, Applied) {
    let created = tx.is_none();
    let mut tx = tx.unwrap_or_else(|| Transaction::new(station_id, &ev.transaction_id));
    if let Some(n) = ev.seq_no {
        if tx.fold.seen.contains(n) {
            return (
                tx,
                Applied {
                    duplicate: true,
                    created: false,
                    ended: false,
                },
            );
        }
        tx.fold.seen.insert(n);
    }
    let was_ended = tx.fold.ended.is_some();
    let rank = ev.rank();
    let f = &mut tx.fold;
    keep_first(&mut f.first_event, &ev.timestamp, rank);
    match ev.kind {
        EventKind::Started => keep_first(&mut f.started, &ev.timestamp, rank),
        EventKind::Ended => keep_first(&mut f.ended, &(ev.timestamp, ev.stop_reason.clone()), rank),
        EventKind::Updated => {}
    }
    if let Some(evse) = ev.evse_id {
        keep_first(&mut f.evse, &(evse, ev.connector_id), rank);
    }
    if let Some(token) = &ev.id_token {
        keep_first(&mut f.id_token, token, rank);
        let stopping =
            ev.kind == EventKind::Ended || ev.trigger.as_deref() == Some("StopAuthorized");
        if stopping {
            keep_last(&mut f.stop_id_token, token, rank);
        }
    }
    if let Some(state) = &ev.charging_state {
        keep_last(&mut f.charging_state, state, rank);
    }
    if ev.remote_start_id.is_some() {
        f.remote_start_id = ev.remote_start_id;
    }
    if ev.reservation_id.is_some() {
        f.reservation_id = ev.reservation_id;
    }
    let explicit_begin = ev
        .meter_start_wh
        .map(|wh| (ev.timestamp, wh, Some(Edge::Begin)));
    let explicit_end = ev
        .meter_stop_wh
        .map(|wh| (ev.timestamp, wh, Some(Edge::End)));
    let readings = register_readings(&ev.meter_values).map(|r| (r.at, r.wh, r.edge));
    for (at, wh, edge) in explicit_begin
        .into_iter()
        .chain(readings)
        .chain(explicit_end)
    {
        let r = Rank(at, ev.seq_no.unwrap_or(0));
        match edge {
            Some(Edge::Begin) => keep_first(&mut f.begin_wh, &wh, r),
            Some(Edge::End) => keep_last(&mut f.end_wh, &wh, r),
            None => {}
        }
        keep_first(&mut f.first_wh, &wh, r);
        keep_last(&mut f.last_wh, &wh, r);
    }
    let ended = !was_ended && tx.fold.ended.is_some();
    (
        tx,
        Applied {
            duplicate: false,
            created,
            ended,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metering::Sample;
    use chrono::{DateTime, Utc};
    use proptest::prelude::*;

    fn t(s: i64) -> Time {
        DateTime::<Utc>::from_timestamp(1_700_000_000 + s, 0).expect("valid")
    }

    fn reading(at: i64, wh: f64, context: Option<&str>) -> MeterValue {
        MeterValue {
            timestamp: t(at),
            samples: vec![Sample {
                value: Some(wh),
                context: context.map(|c| crate::metering::Label::Owned(c.to_string())),
                ..Sample::default()
            }],
        }
    }

    fn event(kind: EventKind, seq: u32, at: i64) -> TransactionEvent {
        TransactionEvent {
            seq_no: Some(seq),
            ..TransactionEvent::new(kind, "tx-1".into(), t(at))
        }
    }

    /// A whole 2.0.1 session: plug in, authorize, charge, stop.
    fn session() -> Vec<TransactionEvent> {
        let mut start = event(EventKind::Started, 0, 0);
        start.evse_id = Some(1);
        start.connector_id = Some(1);
        start.meter_values = vec![reading(0, 1000.0, Some("Transaction.Begin"))];
        start.charging_state = Some("EVConnected".into());
        let mut auth = event(EventKind::Updated, 1, 10);
        auth.id_token = Some(IdToken {
            value: "TOKEN".into(),
            kind: Some("ISO14443".into()),
        });
        auth.trigger = Some("Authorized".into());
        let mut charging = event(EventKind::Updated, 2, 20);
        charging.charging_state = Some("Charging".into());
        charging.meter_values = vec![reading(20, 1500.0, None)];
        let mut periodic = event(EventKind::Updated, 3, 80);
        periodic.meter_values = vec![reading(80, 4000.0, Some("Sample.Periodic"))];
        let mut end = event(EventKind::Ended, 4, 100);
        end.stop_reason = Some("EVDisconnected".into());
        end.charging_state = Some("Idle".into());
        end.meter_values = vec![reading(100, 5250.0, Some("Transaction.End"))];
        vec![start, auth, charging, periodic, end]
    }

    /// Events are stored without their meter values (stored on their own), and read back
    /// without a `meterValues` field; events stored with them still read.
    #[test]
    fn events_are_kept_without_their_meter_values() {
        for ev in session() {
            let kept = ev.without_meter_values();
            assert!(kept.meter_values.is_empty());
            assert_eq!(
                TransactionEvent {
                    meter_values: ev.meter_values.clone(),
                    ..kept.clone()
                },
                ev
            );
            let text = serde_json::to_string(&kept).expect("serializes");
            assert!(!text.contains("meterValues"), "{text}");
            let back: TransactionEvent = serde_json::from_str(&text).expect("reads back");
            assert_eq!(back, kept);
            let full: TransactionEvent =
                serde_json::from_str(&serde_json::to_string(&ev).expect("serializes"))
                    .expect("reads back");
            assert_eq!(full, ev);
        }
    }

    fn fold_all(events: &[TransactionEvent]) -> Transaction {
        let mut tx = Transaction::new("CS1", "tx-1");
        for ev in events {
            tx = apply(Some(tx), "CS1", ev).0;
        }
        tx
    }

    #[test]
    fn a_whole_session() {
        let tx = fold_all(&session());
        assert_eq!(tx.started_at(), Some(t(0)));
        assert_eq!(tx.stopped_at(), Some(t(100)));
        assert_eq!(tx.meter_start_wh(), Some(1000.0));
        assert_eq!(tx.meter_stop_wh(), Some(5250.0));
        assert_eq!(tx.energy_wh(), Some(4250.0));
        assert_eq!(tx.evse_id(), Some(1));
        assert_eq!(tx.stop_reason().as_deref(), Some("EVDisconnected"));
        assert_eq!(tx.id_token().map(|t| t.value.as_str()), Some("TOKEN"));
        assert_eq!(
            tx.fold.charging_state.as_ref().map(|r| r.value.as_str()),
            Some("Idle")
        );
        assert_eq!(tx.fold.seen, SeqSet(vec![(0, 4)]));
    }

    /// TC_E_31_CSMS: Ended arrives first, the skipped seqNos later; the result is the same.
    #[test]
    fn gaps_filled_after_the_end() {
        let s = session();
        let order = [
            s[0].clone(),
            s[1].clone(),
            s[4].clone(),
            s[2].clone(),
            s[3].clone(),
        ];
        assert_eq!(fold_all(&order), fold_all(&s));
    }

    #[test]
    fn repeated_seq_no_changes_nothing() {
        let s = session();
        let once = fold_all(&s);
        let (again, applied) = apply(Some(once.clone()), "CS1", &s[2]);
        assert!(applied.duplicate);
        assert_eq!(again, once);
    }

    /// 1.6: meterStart and meterStop carry the register; a stop without reason is Local.
    #[test]
    fn one_six_start_stop() {
        let mut start = event(EventKind::Started, 0, 0);
        start.seq_no = None;
        start.meter_start_wh = Some(100.0);
        let mut stop = event(EventKind::Ended, 0, 60);
        stop.seq_no = None;
        stop.meter_stop_wh = Some(2100.0);
        let tx = fold_all(&[start, stop.clone()]);
        assert_eq!(tx.energy_wh(), Some(2000.0));
        assert_eq!(tx.stop_reason().as_deref(), Some("Local"));
        // A repeated StopTransaction leaves it as it was.
        assert_eq!(apply(Some(tx.clone()), "CS1", &stop).0, tx);
    }

    #[test]
    fn seq_sets_merge() {
        let mut s = SeqSet::default();
        for n in [5, 0, 2, 1, 4, 9] {
            s.insert(n);
        }
        assert_eq!(s.0, vec![(0, 2), (4, 5), (9, 9)]);
        s.insert(3);
        assert_eq!(s.0, vec![(0, 5), (9, 9)]);
        assert!(s.contains(9) && !s.contains(8));
    }

    proptest! {
        /// Any arrival order of the same events (with some repeated) folds to the same
        /// transaction.
        #[test]
        fn order_does_not_matter(
            perm in Just((0..5usize).collect::<Vec<_>>()).prop_shuffle(),
            repeats in proptest::collection::vec(0..5usize, 0..4),
        ) {
            let s = session();
            let mut shuffled: Vec<TransactionEvent> = perm.iter().map(|&i| s[i].clone()).collect();
            for r in repeats {
                shuffled.push(s[r].clone());
            }
            prop_assert_eq!(fold_all(&shuffled), fold_all(&s));
        }

        /// Two folds of parts of the events (overlapping or not), merged, are the fold of all
        /// of them: what the store does when two writers folded from the same stored state.
        #[test]
        fn merging_two_partial_folds_is_folding_all(
            perm in Just((0..5usize).collect::<Vec<_>>()).prop_shuffle(),
            cut in 0..=5usize,
            overlap in 0..=2usize,
        ) {
            let s = session();
            let events: Vec<TransactionEvent> = perm.iter().map(|&i| s[i].clone()).collect();
            let (a, b) = (&events[..cut], &events[cut.saturating_sub(overlap)..]);
            let mut merged = fold_all(a);
            let other = fold_all(b);
            merged.fold.merge(&other.fold);
            prop_assert_eq!(&merged.fold, &fold_all(&s).fold);
            // And the other way round.
            let mut reversed = other;
            reversed.fold.merge(&fold_all(a).fold);
            prop_assert_eq!(&reversed.fold, &fold_all(&s).fold);
        }
    }
}
