//! P Data transfer: vendor-specific data sent to a station (P01).

use serde::{Deserialize, Serialize};

use super::{Answer, Spec, ocpp_enum};

/// Parameters of a data transfer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DataTransfer {
    /// The vendor.
    pub vendor_id: String,
    /// The message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// The data (1.6 carries a string: anything else is sent as its JSON text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
}

ocpp_enum! {
    /// The answer to a data transfer (DataTransferStatusEnumType, both versions).
    DataTransferStatus { Accepted, Rejected, UnknownMessageId, UnknownVendorId }
}

/// What a station answered to a data transfer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DataTransferOutcome {
    /// What the station answered.
    pub status: DataTransferStatus,
    /// The reason it gave, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The data it answered with (a string from a 1.6 station).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
}

impl Answer for DataTransferOutcome {
    fn status(&self) -> Option<&'static str> {
        Some(self.status.as_str())
    }
}

impl Spec for DataTransfer {
    type Outcome = DataTransferOutcome;
}
