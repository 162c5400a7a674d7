//! G Availability: making the station, an EVSE or a connector operative or inoperative
//! (G03, G04).

use serde::{Deserialize, Serialize};

use super::status_command;

/// Parameters of an availability change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChangeAvailability {
    /// Operative (true) or inoperative.
    pub operative: bool,
    /// The EVSE; without it, the whole station.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evse_id: Option<u32>,
    /// The connector of the EVSE (2.0.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector_id: Option<u32>,
}

status_command! {
    /// What a station answered to an availability change.
    ChangeAvailability => ChangeAvailabilityOutcome,
    /// The answer to an availability change (ChangeAvailabilityStatusEnumType; 1.6
    /// AvailabilityStatus).
    ChangeAvailabilityStatus { Accepted, Rejected, Scheduled }
}
