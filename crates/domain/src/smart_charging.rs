//! K Smart charging in the domain: what Arus knows a station holds, and the composite schedule
//! it computes from that.
//!
//! # Invariants
//!
//! - A profile is recorded as installed only when the station accepted it (SetChargingProfile,
//!   or a remote start carrying it), and removed only when the station accepted its clearing
//!   or, for a TxProfile, when its transaction ended (see `Csms::record_event`).
//! - The composite schedule Arus computes is `arus_schedules::composite` over exactly what the
//!   store holds; it never asks the station.

use crate::Time;
use crate::commands::{
    ChargingProfilePurpose, ChargingRateUnit, ClearChargingProfileStatus, Command, Installed,
    Outcome, RequestStartStopStatus,
};
use crate::store::{ProfileCriteria, Store, StoreError, Write};

pub use arus_schedules::composite::{Binding, CompositePeriod, Limit, convert};

/// Who set a profile Arus installed.
pub const CSMS: &str = "CSMS";

/// The writes that record what an accepted command changed in a station's profiles.
pub fn effects(station_id: &str, command: &Command, outcome: &Outcome, at: Time) -> Vec<Write> {
    let put = |installed: Installed| Write::PutChargingProfile {
        station_id: station_id.to_string(),
        installed: Box::new(installed),
        source: CSMS.into(),
        at,
    };
    match (command, outcome) {
        (Command::SetChargingProfile(c), Outcome::SetChargingProfile(o))
            if o.status == crate::commands::ChargingProfileStatus::Accepted =>
        {
            vec![put(Installed {
                evse_id: c.evse_id,
                profile: c.charging_profile.clone(),
            })]
        }
        (Command::RemoteStart(c), Outcome::RemoteStart(o))
            if o.status == RequestStartStopStatus::Accepted =>
        {
            match (&c.charging_profile, c.evse_id) {
                (Some(p), Some(evse)) => vec![put(Installed {
                    evse_id: evse,
                    profile: p.clone(),
                })],
                _ => Vec::new(),
            }
        }
        (Command::ClearChargingProfile(c), Outcome::ClearChargingProfile(o))
            if o.status == ClearChargingProfileStatus::Accepted =>
        {
            vec![Write::ClearChargingProfiles {
                station_id: station_id.to_string(),
                criteria: ProfileCriteria {
                    id: c.id,
                    evse_id: c.evse_id,
                    purpose: c.purpose,
                    stack_level: c.stack_level,
                },
            }]
        }
        _ => Vec::new(),
    }
}

/// The electrical facts of a station the composite schedule needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Electrical {
    /// The station's own maximum, if known.
    pub max: Option<arus_schedules::composite::Limit>,
    /// The nominal voltage, phase to neutral.
    pub voltage: f64,
}

/// The nominal voltage when none is set: 230 V (IEC 60038, Europe and most of Asia).
pub const DEFAULT_VOLTAGE: f64 = 230.0;

/// The composite schedule Arus computes for a station from the profiles it holds and its
/// transactions going on.
pub async fn composite(
    store: &dyn Store,
    station_id: &str,
    electrical: Electrical,
    evse_id: u32,
    start: Time,
    duration_s: i64,
    unit: ChargingRateUnit,
) -> Result<Vec<arus_schedules::composite::CompositePeriod>, StoreError> {
    let profiles = store.charging_profiles(station_id).await?;
    let open = store
        .transactions(crate::store::TransactionQuery {
            station_id: Some(station_id.to_string()),
            ongoing: Some(true),
            orphan: Some(false),
            before: None,
            limit: 1000,
        })
        .await?;
    let station = arus_schedules::composite::Station {
        profiles: profiles
            .into_iter()
            .map(|p| Installed {
                evse_id: p.evse_id,
                profile: p.charging_profile,
            })
            .collect(),
        transactions: open
            .into_iter()
            .filter_map(|t| {
                Some(arus_schedules::composite::Ongoing {
                    evse_id: t.evse_id?,
                    started: t.started_at?,
                    transaction_id: t.transaction_id,
                })
            })
            .collect(),
        max: electrical.max,
        voltage: electrical.voltage,
    };
    Ok(arus_schedules::composite::composite(
        &station,
        &arus_schedules::composite::Window {
            evse_id,
            start,
            duration_s,
            unit,
        },
    ))
}

/// Whether a transaction is going on at `evse_id` of the station: what a TxProfile needs
/// before it is sent (1.6 §3.13.1: the station discards it otherwise).
pub async fn transaction_at(
    store: &dyn Store,
    station_id: &str,
    evse_id: u32,
) -> Result<bool, StoreError> {
    let open = store
        .transactions(crate::store::TransactionQuery {
            station_id: Some(station_id.to_string()),
            ongoing: Some(true),
            orphan: Some(false),
            before: None,
            limit: 1000,
        })
        .await?;
    Ok(open.iter().any(|t| t.evse_id == Some(evse_id)))
}

/// The transaction check of a command that installs a TxProfile, which needs the store:
/// `Err` with the reason when it would be rejected.
pub async fn check_transaction(
    store: &dyn Store,
    station_id: &str,
    command: &Command,
) -> Result<(), String> {
    let Command::SetChargingProfile(c) = command else {
        return Ok(());
    };
    if c.charging_profile.purpose != ChargingProfilePurpose::Tx || c.evse_id == 0 {
        return Ok(());
    }
    match transaction_at(store, station_id, c.evse_id).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(format!(
            "a TxProfile needs a transaction going on at EVSE {}: there is none (1.6 §3.13.1; the \
             station would discard it)",
            c.evse_id
        )),
        // The station will answer for itself.
        Err(_) => Ok(()),
    }
}
