//! What Arus knows of a station model's smart charging: real chargers are uneven (they forget
//! profiles when they reboot, reject profiles on EVSE 0, wear out their flash when profiles are
//! rewritten too often), and the sending of profiles respects what is recorded here per model
//! (vendor and model as the station reports them at boot).
//!
//! # Invariants
//!
//! - A model without a record is assumed to follow the specification.
//! - Records are set by operators (`/api/v1/station-models`); none is guessed.

use serde::{Deserialize, Serialize};

use crate::store::{RecordKind, Store, StoreError, StoredRecord, Write};

/// A model's smart charging quirks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ModelQuirks {
    /// The vendor, as the station reports it at boot.
    pub vendor: String,
    /// The model.
    pub model: String,
    /// It loses its charging profiles when it reboots: Arus sends again those it installed
    /// (ChargingStationMax and TxDefault profiles) after each boot.
    #[serde(default)]
    pub forgets_profiles: bool,
    /// It rejects profiles on EVSE 0 (1.6: connector 0): a TxDefaultProfile meant for every
    /// EVSE goes to each EVSE instead.
    #[serde(default)]
    pub no_evse_zero: bool,
    /// The least time between two rewrites of one EVSE's load management profile, in seconds
    /// (to spare its flash); Arus's own minimum applies when it is longer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_rewrite_interval_s: Option<u32>,
}

impl ModelQuirks {
    /// The record's id.
    pub fn key(vendor: &str, model: &str) -> String {
        format!("{vendor}\u{1f}{model}")
    }
}

/// The quirks recorded for a model, if any.
pub async fn of(
    store: &dyn Store,
    vendor: &str,
    model: &str,
) -> Result<Option<ModelQuirks>, StoreError> {
    Ok(store
        .record(RecordKind::Model, &ModelQuirks::key(vendor, model))
        .await?
        .and_then(|r| serde_json::from_str(&r.body).ok()))
}

/// The quirks recorded for a station's model (as it reported it at its last boot), if any.
pub async fn of_station(
    store: &dyn Store,
    station_id: &str,
) -> Result<Option<ModelQuirks>, StoreError> {
    let Some(boot) = store.station(station_id).await?.and_then(|s| s.boot) else {
        return Ok(None);
    };
    of(store, &boot.vendor, &boot.model).await
}

/// Every model with quirks recorded.
pub async fn all(store: &dyn Store) -> Result<Vec<ModelQuirks>, StoreError> {
    let mut q = crate::store::RecordQuery::of(RecordKind::Model, 10_000);
    q.oldest_first = true;
    Ok(store
        .records(q)
        .await?
        .into_iter()
        .filter_map(|r| serde_json::from_str(&r.body).ok())
        .collect())
}

/// Records a model's quirks (replacing what was recorded).
pub fn put(q: &ModelQuirks) -> Write {
    Write::PutRecord(Box::new(StoredRecord {
        kind: RecordKind::Model,
        id: ModelQuirks::key(&q.vendor, &q.model),
        seq: 0,
        station_id: None,
        tag: None,
        status: None,
        at: chrono::Utc::now(),
        body: serde_json::to_string(q).unwrap_or_default(),
    }))
}
