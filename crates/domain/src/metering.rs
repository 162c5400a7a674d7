//! J. Meter values: samples of any measurand, phase, location and unit, with signed meter data
//! kept verbatim; and the reading of the energy register that transactions are billed on.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::Time;

/// A name from a closed set (a measurand, a unit, a phase...): borrowed when the protocol
/// layer has it as a constant, so that recording a reading allocates nothing for it.
pub type Label = Cow<'static, str>;

/// The measurand a sample has when it names none (both versions).
pub const DEFAULT_MEASURAND: &str = "Energy.Active.Import.Register";

/// Meter readings taken at one moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MeterValue {
    /// When they were taken.
    pub timestamp: Time,
    /// The readings.
    pub samples: Vec<Sample>,
}

/// One reading.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sample {
    /// The value as a number, when it is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// The value as the station wrote it, when that is not a plain number (1.6 sends values as
    /// strings; signed 1.6 values are opaque).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
    /// Why it was taken (`Sample.Periodic`, `Transaction.Begin`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<Label>,
    /// 1.6 value format (`Raw`, `SignedData`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<Label>,
    /// What was measured; `None` means [`DEFAULT_MEASURAND`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub measurand: Option<Label>,
    /// The phase; `None` means the total over all phases.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<Label>,
    /// Where it was measured (`Outlet`, `Inlet`, `EV`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<Label>,
    /// The unit; `None` means Wh for energy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<Label>,
    /// 2.0.1 unit multiplier: the value is `value × 10^multiplier` units.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multiplier: Option<i32>,
    /// 2.0.1 signed meter data, kept verbatim.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed: Option<SignedMeterValue>,
}

/// Signed meter data (2.0.1 SignedMeterValueType), kept exactly as received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignedMeterValue {
    /// The signed data, as encoded by the meter.
    pub signed_meter_data: String,
    /// The signing method.
    pub signing_method: String,
    /// The encoding method.
    pub encoding_method: String,
    /// The public key, if sent.
    pub public_key: String,
}

impl Sample {
    /// The reading of the active energy import register in Wh, if this sample is one: measurand
    /// `Energy.Active.Import.Register` (or none), no phase (the total), unit Wh or kWh, with the
    /// 2.0.1 multiplier applied.
    pub fn import_register_wh(&self) -> Option<f64> {
        let measurand = self.measurand.as_deref().unwrap_or(DEFAULT_MEASURAND);
        if measurand != DEFAULT_MEASURAND || self.phase.is_some() {
            return None;
        }
        let scale = match self.unit.as_deref() {
            None | Some("Wh") => 1.0,
            Some("kWh") => 1000.0,
            Some(_) => return None,
        };
        let v = self.value?;
        let m = 10f64.powi(self.multiplier.unwrap_or(0));
        Some(v * scale * m)
    }
}

/// A fingerprint of some meter values: the same readings sent twice have the same digest.
///
/// Kept in memory only, so any good 64-bit hash does: foldhash's quality variant, several times
/// cheaper than SipHash on these short fields (it showed in the steady benchmark's profile).
pub fn digest(values: &[MeterValue]) -> u64 {
    use std::hash::{BuildHasher, Hash, Hasher};
    let mut h = foldhash::quality::FixedState::default().build_hasher();
    for mv in values {
        mv.timestamp.timestamp_micros().hash(&mut h);
        for s in &mv.samples {
            s.value.map(f64::to_bits).hash(&mut h);
            s.raw.hash(&mut h);
            s.context.hash(&mut h);
            s.format.hash(&mut h);
            s.measurand.hash(&mut h);
            s.phase.hash(&mut h);
            s.location.hash(&mut h);
            s.unit.hash(&mut h);
            s.multiplier.hash(&mut h);
            s.signed.as_ref().map(|v| &v.signed_meter_data).hash(&mut h);
        }
    }
    h.finish()
}

/// A reading of the energy import register with its time and context.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RegisterReading {
    /// When it was taken.
    pub at: Time,
    /// Wh.
    pub wh: f64,
    /// Whether its context was `Transaction.Begin` / `Transaction.End`.
    pub edge: Option<Edge>,
}

/// A transaction's first or last reading, as the station marked it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edge {
    /// Context `Transaction.Begin`.
    Begin,
    /// Context `Transaction.End`.
    End,
}

/// The energy register readings among some meter values.
pub fn register_readings(values: &[MeterValue]) -> impl Iterator<Item = RegisterReading> + '_ {
    values.iter().flat_map(|mv| {
        mv.samples.iter().filter_map(move |s| {
            s.import_register_wh().map(|wh| RegisterReading {
                at: mv.timestamp,
                wh,
                edge: match s.context.as_deref() {
                    Some("Transaction.Begin") => Some(Edge::Begin),
                    Some("Transaction.End") => Some(Edge::End),
                    _ => None,
                },
            })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(value: f64, unit: Option<&str>) -> Sample {
        Sample {
            value: Some(value),
            unit: unit.map(|u| Label::Owned(u.to_string())),
            ..Sample::default()
        }
    }

    #[test]
    fn digests_tell_readings_apart() {
        let at = chrono::Utc::now();
        let mv = |v: f64| MeterValue {
            timestamp: at,
            samples: vec![sample(v, None)],
        };
        assert_eq!(digest(&[mv(1.0)]), digest(&[mv(1.0)]));
        assert_ne!(digest(&[mv(1.0)]), digest(&[mv(2.0)]));
    }

    #[test]
    fn register_in_wh() {
        assert_eq!(sample(1234.0, None).import_register_wh(), Some(1234.0));
        assert_eq!(sample(1.5, Some("kWh")).import_register_wh(), Some(1500.0));
        let mut s = sample(15.0, Some("Wh"));
        s.multiplier = Some(2);
        assert_eq!(s.import_register_wh(), Some(1500.0));
        let mut phased = sample(10.0, None);
        phased.phase = Some("L1".into());
        assert_eq!(phased.import_register_wh(), None);
        let mut power = sample(7000.0, Some("W"));
        power.measurand = Some("Power.Active.Import".into());
        assert_eq!(power.import_register_wh(), None);
    }
}
