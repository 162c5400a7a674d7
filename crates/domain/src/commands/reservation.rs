//! H Reservation: reserving an EVSE or any (H01), and cancelling a reservation (H02). The
//! station's later ReservationStatusUpdate follows the reservation's id.

use serde::{Deserialize, Serialize};

use super::{IdTokenType, Spec, status_command, status_outcome};
use crate::Time;
use crate::notices::NoticeKind;

/// Parameters of a reservation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReserveNow {
    /// The reservation's id.
    pub reservation_id: i64,
    /// The EVSE (1.6: the connector; 0 or absent: any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evse_id: Option<u32>,
    /// Until when.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub expiry: Time,
    /// For whom.
    pub id_token: String,
    /// Its type (2.0.1; default `ISO14443`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_type: Option<IdTokenType>,
    /// Or anyone of this group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id_token: Option<String>,
    /// The connector type wanted (2.0.1 ConnectorEnumType: `cCCS1`, `cCCS2`, `cType2`...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector_type: Option<String>,
}

status_outcome! {
    /// What a station answered to a reservation.
    ReserveNowOutcome,
    /// The answer to a reservation (ReserveNowStatusEnumType; 1.6 ReservationStatus).
    ReserveNowStatus { Accepted, Faulted, Occupied, Rejected, Unavailable }
}

impl Spec for ReserveNow {
    type Outcome = ReserveNowOutcome;

    fn follow_up(&self) -> Option<(NoticeKind, Option<i64>)> {
        Some((NoticeKind::ReservationStatus, Some(self.reservation_id)))
    }
}

/// Parameters of a cancellation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CancelReservation {
    /// The reservation.
    pub reservation_id: i64,
}

status_command! {
    /// What a station answered to a cancellation.
    CancelReservation => CancelReservationOutcome,
    /// The answer to a cancellation (CancelReservationStatusEnumType; 1.6
    /// CancelReservationStatus).
    CancelReservationStatus { Accepted, Rejected }
}
