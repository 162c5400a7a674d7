//! K15 What a car needs by when: the energy it wants and when it leaves, said by an ISO 15118
//! car (2.0.1 NotifyEVChargingNeeds) or, for any car, by the operator (a fleet knows when its
//! vans leave; a driver's app asks). Load management plans that energy into the hours before
//! the departure ([`crate::plan`]) and serves it first.
//!
//! Needs are recorded with their transaction, so a restart does not lose them, and published
//! as a [`crate::events::Event::ChargingNeeds`] that load management follows.
//!
//! # Invariants
//!
//! - Needs are bounded before they are recorded: no negative or non-finite energy or current,
//!   a minimum no higher than the maximum.
//! - Needs belong to a transaction going on: none is recorded for one that ended, and those of
//!   a transaction that ends are closed (`status` `ended`), so only open ones are restored.
//! - The latest said wins, whoever said it (the car or the operator).

use serde::{Deserialize, Serialize};

use crate::Time;
use crate::events::{Event, EventBus};
use crate::store::{RecordKind, RecordQuery, Store, StoreError, StoredRecord, Write};

/// Who says needs that an ISO 15118 car said.
pub const CAR: &str = "car";

/// The status of needs whose transaction goes on.
const OPEN: &str = "open";

/// The status of needs whose transaction ended.
const ENDED: &str = "ended";

/// What a car needs, as it or the operator said it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Wanted {
    /// When it leaves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub departure: Option<Time>,
    /// The energy it wants from now, Wh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy_wh: Option<f64>,
    /// The most current per phase it takes (AC), A.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_current_a: Option<f64>,
    /// The least current per phase it charges with (AC), A.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_current_a: Option<f64>,
}

impl Wanted {
    /// The needs bounded: negative or non-finite values dropped, the minimum no higher than
    /// the maximum.
    pub fn bounded(self) -> Wanted {
        let sane = |x: Option<f64>| x.filter(|v| v.is_finite() && *v >= 0.0);
        let max_current_a = sane(self.max_current_a);
        Wanted {
            departure: self.departure,
            energy_wh: sane(self.energy_wh),
            max_current_a,
            min_current_a: sane(self.min_current_a)
                .map(|m| max_current_a.map_or(m, |max| m.min(max))),
        }
    }
}

/// Needs as recorded with their transaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Told {
    /// The station.
    pub station_id: String,
    /// The EVSE.
    pub evse_id: u32,
    /// The transaction.
    pub transaction_id: String,
    /// The transaction's energy when they were said, Wh (the energy wanted is counted from
    /// there).
    pub transaction_energy_wh: f64,
    /// What is needed.
    #[serde(flatten)]
    pub wanted: Wanted,
    /// Who said it: `car` (ISO 15118) or the API token's name.
    pub said_by: String,
    /// When.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: Time,
}

impl Told {
    /// The needs as load management counts them.
    pub fn needs(&self) -> crate::observed::Needs {
        crate::observed::Needs {
            departure: self.wanted.departure,
            energy_wh: self.wanted.energy_wh,
            energy_then_wh: self.transaction_energy_wh,
            max_current_a: self.wanted.max_current_a,
            min_current_a: self.wanted.min_current_a,
        }
    }

    fn record(&self, status: &str) -> Write {
        Write::PutRecord(Box::new(StoredRecord {
            kind: RecordKind::Needs,
            id: key(&self.station_id, &self.transaction_id),
            seq: 0,
            station_id: Some(self.station_id.clone()),
            tag: Some(self.transaction_id.clone()),
            status: Some(status.to_string()),
            at: self.at,
            body: serde_json::to_string(self).unwrap_or_default(),
        }))
    }
}

fn key(station_id: &str, transaction_id: &str) -> String {
    format!("{station_id}\u{1f}{transaction_id}")
}

/// Which transaction needs are said for.
#[derive(Debug, Clone, Copy)]
pub enum For<'a> {
    /// The one going on at this EVSE (what an ISO 15118 car names).
    Evse(u32),
    /// This one.
    Transaction(&'a str),
}

/// Records what a car needs for its transaction going on and publishes it; `None` when no
/// such transaction goes on.
pub async fn tell(
    store: &dyn Store,
    events: &EventBus,
    station_id: &str,
    which: For<'_>,
    wanted: Wanted,
    said_by: &str,
) -> Result<Option<Told>, StoreError> {
    let open = crate::smart_charging::ongoing(store, station_id).await?;
    let tx = open.into_iter().find(|t| match which {
        For::Evse(evse) => t.evse_id == Some(evse),
        For::Transaction(id) => t.transaction_id == id,
    });
    let Some((tx, evse_id)) = tx.and_then(|t| Some((t.clone(), t.evse_id?))) else {
        return Ok(None);
    };
    let told = Told {
        station_id: station_id.to_string(),
        evse_id,
        transaction_id: tx.transaction_id.clone(),
        transaction_energy_wh: tx.energy_wh.unwrap_or(0.0),
        wanted: wanted.bounded(),
        said_by: said_by.to_string(),
        at: chrono::Utc::now(),
    };
    store.commit(vec![told.record(OPEN)]).await?;
    let w = told.wanted;
    events.publish(|| Event::ChargingNeeds {
        station_id: told.station_id.clone(),
        evse_id,
        transaction_id: told.transaction_id.clone(),
        transaction_energy_wh: told.transaction_energy_wh,
        departure: w.departure,
        energy_wh: w.energy_wh,
        max_current_a: w.max_current_a,
        min_current_a: w.min_current_a,
        said_by: told.said_by.clone(),
    });
    Ok(Some(told))
}

/// The needs said for a transaction, if any.
pub async fn of_transaction(
    store: &dyn Store,
    station_id: &str,
    transaction_id: &str,
) -> Result<Option<Told>, StoreError> {
    Ok(store
        .record(RecordKind::Needs, &key(station_id, transaction_id))
        .await?
        .and_then(|r| serde_json::from_str(&r.body).ok()))
}

/// The needs of the transactions going on (as last recorded), for load management at start.
pub async fn open(store: &dyn Store) -> Result<Vec<Told>, StoreError> {
    let mut q = RecordQuery::of(RecordKind::Needs, 100_000);
    q.status = Some(OPEN.to_string());
    Ok(store
        .records(q)
        .await?
        .into_iter()
        .filter_map(|r| serde_json::from_str(&r.body).ok())
        .collect())
}

/// Closes the needs of a transaction that ended, if it had any.
pub async fn ended(
    store: &dyn Store,
    station_id: &str,
    transaction_id: &str,
) -> Result<(), StoreError> {
    if let Some(told) = of_transaction(store, station_id, transaction_id).await? {
        store.commit(vec![told.record(ENDED)]).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn value() -> impl Strategy<Value = Option<f64>> {
        prop_oneof![
            Just(None),
            Just(Some(f64::NAN)),
            Just(Some(f64::INFINITY)),
            (-100.0f64..100.0).prop_map(Some),
        ]
    }

    proptest! {
        /// Whatever is said, what is recorded is sane.
        #[test]
        fn needs_are_bounded(energy in value(), max in value(), min in value()) {
            let w = Wanted { departure: None, energy_wh: energy, max_current_a: max, min_current_a: min }.bounded();
            for v in [w.energy_wh, w.max_current_a, w.min_current_a].into_iter().flatten() {
                prop_assert!(v.is_finite() && v >= 0.0);
            }
            if let (Some(lo), Some(hi)) = (w.min_current_a, w.max_current_a) {
                prop_assert!(lo <= hi);
            }
            // What was sane is kept as it was.
            if let Some(e) = energy.filter(|e| e.is_finite() && *e >= 0.0) {
                prop_assert_eq!(w.energy_wh, Some(e));
            }
        }
    }

    #[test]
    fn told_needs_round_trip_and_count_from_the_energy_then() {
        let told = Told {
            station_id: "CS".into(),
            evse_id: 1,
            transaction_id: "T1".into(),
            transaction_energy_wh: 1500.0,
            wanted: Wanted {
                departure: Some(chrono::DateTime::UNIX_EPOCH),
                energy_wh: Some(20_000.0),
                max_current_a: Some(16.0),
                min_current_a: None,
            },
            said_by: "fleet".into(),
            at: chrono::DateTime::UNIX_EPOCH,
        };
        let json = serde_json::to_string(&told).unwrap_or_default();
        assert!(json.contains("\"energyWh\":20000.0"), "{json}");
        assert_eq!(serde_json::from_str::<Told>(&json).ok(), Some(told.clone()));
        let n = told.needs();
        assert_eq!((n.energy_then_wh, n.energy_wh), (1500.0, Some(20_000.0)));
    }
}
