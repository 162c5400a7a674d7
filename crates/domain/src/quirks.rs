//! What Arus knows of a station model's smart charging: real chargers are uneven (they forget
//! profiles when they reboot, reject profiles on EVSE 0, wear out their flash when profiles are
//! rewritten too often), and the sending of profiles respects what is recorded here per model
//! (vendor and model as the station reports them at boot).
//!
//! Records are set by operators (`/api/v1/station-models`) or learnt from what stations do
//! ([`crate::verify`] finds profiles lost or ignored; load management finds EVSE 0 refused and
//! composite schedules that cannot be asked for).
//!
//! # Invariants
//!
//! - A model without a record is assumed to follow the specification.
//! - A quirk is learnt only from what a station answered, never from a silence (a timeout, a
//!   lost connection), and each learnt quirk keeps its evidence: which station, when, what.
//! - A record an operator marked `fixed` is never changed by learning.

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
    /// It accepts profiles and does not apply them (its composite schedule allows more than
    /// it was sent, even after they were sent again): load management cannot steer it, so
    /// what its cars draw is given to them and the others share the rest.
    #[serde(default)]
    pub ignores_profiles: bool,
    /// It cannot be asked for its composite schedule (it answers GetCompositeSchedule with
    /// NotImplemented or NotSupported): what it applied is not verified.
    #[serde(default)]
    pub no_composite_schedule: bool,
    /// Set by an operator: learning leaves this record alone.
    #[serde(default)]
    pub fixed: bool,
    /// What was learnt of the model, and from which station (the latest few).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub learnt: Vec<Evidence>,
}

/// How many pieces of evidence a record keeps.
const EVIDENCE_KEPT: usize = 10;

/// A quirk learnt from a station.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Evidence {
    /// The quirk (`forgetsProfiles`, `ignoresProfiles`, `noEvseZero`, `noCompositeSchedule`).
    pub quirk: Quirk,
    /// The station it was seen on.
    pub station_id: String,
    /// When.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: crate::Time,
    /// What was seen, for people.
    pub detail: String,
}

crate::names::named_enum! {
/// The quirks that are learnt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Quirk {
    /// Profiles lost at a boot or reconnection.
    ForgetsProfiles = "forgetsProfiles",
    /// Profiles accepted and not applied.
    IgnoresProfiles = "ignoresProfiles",
    /// Profiles on EVSE 0 rejected.
    NoEvseZero = "noEvseZero",
    /// GetCompositeSchedule not implemented.
    NoCompositeSchedule = "noCompositeSchedule",
}
}

impl ModelQuirks {
    /// The record's id.
    pub fn key(vendor: &str, model: &str) -> String {
        format!("{vendor}\u{1f}{model}")
    }

    /// Whether the record has the quirk.
    pub fn has(&self, quirk: Quirk) -> bool {
        match quirk {
            Quirk::ForgetsProfiles => self.forgets_profiles,
            Quirk::IgnoresProfiles => self.ignores_profiles,
            Quirk::NoEvseZero => self.no_evse_zero,
            Quirk::NoCompositeSchedule => self.no_composite_schedule,
        }
    }

    /// The record with `evidence` learnt: its quirk set and the evidence kept (the latest
    /// [`EVIDENCE_KEPT`]); `None` when the record is fixed or already has the quirk.
    pub fn learning(mut self, evidence: Evidence) -> Option<ModelQuirks> {
        if self.fixed || self.has(evidence.quirk) {
            return None;
        }
        match evidence.quirk {
            Quirk::ForgetsProfiles => self.forgets_profiles = true,
            Quirk::IgnoresProfiles => self.ignores_profiles = true,
            Quirk::NoEvseZero => self.no_evse_zero = true,
            Quirk::NoCompositeSchedule => self.no_composite_schedule = true,
        }
        self.learnt.push(evidence);
        let over = self.learnt.len().saturating_sub(EVIDENCE_KEPT);
        self.learnt.drain(..over);
        Some(self)
    }
}

/// One change of the records at a time: learning reads a record and writes it back, and must
/// not overwrite what an operator recorded meanwhile.
static WRITING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Records a model's quirks as an operator gives them (replacing what was recorded).
pub async fn record(store: &dyn Store, q: &ModelQuirks) -> Result<(), StoreError> {
    let _one = WRITING.lock().await;
    store.commit(vec![put(q)]).await
}

/// Learns a quirk of a station's model (as it reported it at its last boot) from what the
/// station did; returns whether the record changed (not when it is fixed, already had the
/// quirk, or the station never booted).
pub async fn learn(
    store: &dyn Store,
    station_id: &str,
    quirk: Quirk,
    detail: String,
) -> Result<bool, StoreError> {
    let Some(boot) = store.station(station_id).await?.and_then(|s| s.boot) else {
        return Ok(false);
    };
    let _one = WRITING.lock().await;
    let known = of(store, &boot.vendor, &boot.model)
        .await?
        .unwrap_or_else(|| ModelQuirks {
            vendor: boot.vendor.clone(),
            model: boot.model.clone(),
            ..ModelQuirks::default()
        });
    let evidence = Evidence {
        quirk,
        station_id: station_id.to_string(),
        at: chrono::Utc::now(),
        detail,
    };
    let Some(learnt) = known.learning(evidence) else {
        return Ok(false);
    };
    tracing::warn!(station = %station_id, vendor = %boot.vendor, model = %boot.model, quirk = quirk.as_str(), "learnt a quirk of the station's model");
    store.commit(vec![put(&learnt)]).await?;
    Ok(true)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(quirk: Quirk, n: usize) -> Evidence {
        Evidence {
            quirk,
            station_id: format!("CS{n}"),
            at: chrono::DateTime::UNIX_EPOCH,
            detail: String::new(),
        }
    }

    #[test]
    fn a_quirk_is_learnt_once_and_never_over_an_operators_record() {
        let q = ModelQuirks::default();
        let learnt = q.learning(seen(Quirk::IgnoresProfiles, 1));
        let Some(learnt) = learnt else {
            panic!("nothing learnt")
        };
        assert!(learnt.ignores_profiles && learnt.has(Quirk::IgnoresProfiles));
        assert!(!learnt.forgets_profiles && !learnt.no_evse_zero && !learnt.no_composite_schedule);
        assert_eq!(learnt.learnt, vec![seen(Quirk::IgnoresProfiles, 1)]);
        // Known already: the record stays as it is.
        assert_eq!(
            learnt.clone().learning(seen(Quirk::IgnoresProfiles, 2)),
            None
        );
        // An operator's record is left alone, whatever a station does.
        let fixed = ModelQuirks {
            fixed: true,
            ..ModelQuirks::default()
        };
        assert_eq!(fixed.learning(seen(Quirk::NoEvseZero, 1)), None);
    }

    #[test]
    fn each_quirk_sets_its_own_flag_and_the_evidence_kept_is_the_latest() {
        let mut q = ModelQuirks::default();
        for (n, quirk) in Quirk::ALL.iter().enumerate() {
            q = q.learning(seen(*quirk, n)).unwrap_or_default();
            assert!(q.has(*quirk), "{quirk:?}");
        }
        assert!(Quirk::ALL.iter().all(|k| q.has(*k)));
        // The evidence list is bounded.
        let mut q = ModelQuirks::default();
        for n in 0..EVIDENCE_KEPT + 5 {
            q.learnt.push(seen(Quirk::NoEvseZero, n));
        }
        let q = q
            .learning(seen(Quirk::ForgetsProfiles, 99))
            .unwrap_or_default();
        assert_eq!(q.learnt.len(), EVIDENCE_KEPT);
        assert_eq!(q.learnt.last().map(|e| e.station_id.as_str()), Some("CS99"));
    }
}
