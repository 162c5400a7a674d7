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

impl Electrical {
    /// What an operator registered of a station: of a maximum in A and one in W, the one that
    /// binds in `unit`.
    pub fn of(e: &crate::provisioning::Electrical, unit: ChargingRateUnit) -> Electrical {
        let voltage = e.voltage_v.unwrap_or(DEFAULT_VOLTAGE);
        let max = e
            .max_current_a
            .map(|a| (a, ChargingRateUnit::A))
            .into_iter()
            .chain(e.max_power_w.map(|w| (w, ChargingRateUnit::W)))
            .map(|(value, unit)| Limit {
                value,
                unit,
                phases: None,
            })
            .min_by(|a, b| {
                let v = |l| convert(l, unit, voltage).value;
                v(*a).total_cmp(&v(*b))
            });
        Electrical { max, voltage }
    }
}

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
    let open = ongoing(store, station_id).await?;
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

/// The transactions going on at a station (orphans left out).
pub async fn ongoing(
    store: &dyn Store,
    station_id: &str,
) -> Result<Vec<crate::store::TransactionRow>, StoreError> {
    store
        .transactions(crate::store::TransactionQuery {
            station_id: Some(station_id.to_string()),
            ongoing: Some(true),
            orphan: Some(false),
            before: None,
            limit: 1000,
        })
        .await
}

/// Prepares a command that installs a profile with what only the store knows, or says why it
/// would be rejected:
///
/// - a TxProfile needs a transaction going on at its EVSE (1.6 §3.13.1; 2.0.1 K01.FR.09) and
///   names it: Arus fills in its id when the operator did not (2.0.1 K01.FR.03), and refuses
///   one naming another transaction (K01.FR.33);
/// - no two profiles of the same purpose on the same EVSE share a stack level (K01.FR.06; for
///   TxProfiles, the same transaction, K01.FR.39): a profile with another id would be
///   rejected by a 2.0.1 station while both are valid, and would silently replace the other on
///   a 1.6 one (§3.13.2), so the operator reuses that profile's id or clears it first. (2.0.1
///   allows the same level for validity periods that do not overlap; Arus keeps one profile
///   per level, as 1.6 stations do, so that its record is the same for both versions.)
/// - a profile is not changed sooner than its station's model allows
///   ([`crate::quirks::ModelQuirks::min_rewrite_interval_s`]).
pub async fn prepare(
    store: &dyn Store,
    station_id: &str,
    command: &mut Command,
) -> Result<(), String> {
    let Command::SetChargingProfile(c) = command else {
        return Ok(());
    };
    let p = &mut c.charging_profile;
    // A failing store: the station will answer for itself.
    let Ok(held) = store.charging_profiles(station_id).await else {
        return Ok(());
    };
    if p.purpose == ChargingProfilePurpose::Tx && c.evse_id > 0 {
        let Ok(going) = ongoing(store, station_id).await else {
            return Ok(());
        };
        let here = going
            .into_iter()
            .find(|t| t.evse_id == Some(c.evse_id))
            .map(|t| t.transaction_id);
        match (&p.transaction_id, here) {
            (_, None) => {
                return Err(format!(
                    "a TxProfile needs a transaction going on at EVSE {}: there is none (1.6 \
                     §3.13.1; 2.0.1 K01.FR.09)",
                    c.evse_id
                ));
            }
            (None, Some(t)) => p.transaction_id = Some(t),
            (Some(named), Some(t)) if *named != t => {
                return Err(format!(
                    "the transaction going on at EVSE {} is {t}, not {named} (2.0.1 K01.FR.33)",
                    c.evse_id
                ));
            }
            _ => {}
        }
    }
    let clash = held.iter().find(|h| {
        let o = &h.charging_profile;
        o.id != p.id
            && o.purpose == p.purpose
            && o.stack_level == p.stack_level
            && h.evse_id == c.evse_id
            && (p.purpose != ChargingProfilePurpose::Tx || o.transaction_id == p.transaction_id)
    });
    // A model that wears out its flash: the operator's profile is not changed more often than
    // its record allows (load management keeps its own pace, and its decreases always go; the
    // same profile sent again, to a station that lost it, changes nothing).
    if p.id < crate::load::RESERVED_IDS_FROM
        && let Some(earlier) = held.iter().find(|h| {
            h.charging_profile.id == p.id && h.evse_id == c.evse_id && h.charging_profile != *p
        })
        && let Ok(Some(q)) = crate::quirks::of_station(store, station_id).await
        && let Some(interval) = q.min_rewrite_interval_s
    {
        let since = (chrono::Utc::now() - earlier.installed_at)
            .num_seconds()
            .max(0);
        if since < i64::from(interval) {
            return Err(format!(
                "profile {} was written {since} s ago: {} {} stations are rewritten at most every \
                 {interval} s, to spare their flash (its station model's record); try again in \
                 {} s",
                p.id,
                q.vendor,
                q.model,
                i64::from(interval) - since
            ));
        }
    }
    if let Some(h) = clash {
        return Err(format!(
            "profile {} already has stack level {} for {} on EVSE {}: reuse its id to replace \
             it, or clear it first (2.0.1 K01.FR.06, K01.FR.39; 1.6 §3.13.2)",
            h.charging_profile.id,
            p.stack_level,
            p.purpose.as_str(),
            c.evse_id
        ));
    }
    Ok(())
}
