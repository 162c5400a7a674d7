//! OCPI 2.2.1 module CDRs, the part pricing needs so far: a charging period and its dimensions
//! (ChargingPeriod, CdrDimension, CdrDimensionType). The CDR object itself comes with the CDRs.

use serde::{Deserialize, Serialize};

use crate::types::{DateTime, Number};

/// A stretch of a session with one set of conditions (ChargingPeriod): it lasts until the next
/// period starts, the last one until the session ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChargingPeriod {
    /// When it starts.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub start_date_time: DateTime,
    /// What was consumed, and the conditions.
    pub dimensions: Vec<CdrDimension>,
    /// The tariff that applied, if the CDR names several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tariff_id: Option<String>,
}

/// One dimension of a period (CdrDimension).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CdrDimension {
    /// Which.
    #[serde(rename = "type")]
    pub kind: CdrDimensionType,
    /// How much, in the dimension's unit.
    #[cfg_attr(feature = "openapi", schema(value_type = f64))]
    pub volume: Number,
}

/// The dimensions of a period (CdrDimensionType).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum CdrDimensionType {
    /// Average current, A (sessions only).
    Current,
    /// Energy, kWh.
    Energy,
    /// Energy fed back to the grid, kWh (sessions only).
    EnergyExport,
    /// Energy charged, kWh (sessions only).
    EnergyImport,
    /// Sum of the maximum current over all phases, A.
    MaxCurrent,
    /// Sum of the minimum current over all phases, A.
    MinCurrent,
    /// Maximum power, kW.
    MaxPower,
    /// Minimum power, kW.
    MinPower,
    /// Time not charging, hours.
    ParkingTime,
    /// Average power, kW (sessions only).
    Power,
    /// Time reserved, hours.
    ReservationTime,
    /// State of charge, percent (sessions only).
    StateOfCharge,
    /// Time charging, hours.
    Time,
}

impl ChargingPeriod {
    /// The volume of a dimension in this period, if given.
    pub fn volume(&self, kind: CdrDimensionType) -> Option<Number> {
        self.dimensions
            .iter()
            .find(|d| d.kind == kind)
            .map(|d| d.volume)
    }
}
