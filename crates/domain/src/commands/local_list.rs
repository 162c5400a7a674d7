//! D Local authorization list management: sending the list (D01) and asking its version (D02).

use serde::{Deserialize, Serialize};

use super::{Answer, AuthorizationStatus, IdTokenType, Spec, ocpp_enum, status_command};
use crate::Time;

/// An entry of the local authorization list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LocalListEntry {
    /// The id token.
    pub id_token: String,
    /// Its type (2.0.1; default `ISO14443`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_type: Option<IdTokenType>,
    /// Its status; without it, a differential update removes the entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<AuthorizationStatus>,
    /// When it expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub expiry_date: Option<Time>,
    /// Its group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id_token: Option<String>,
}

ocpp_enum! {
    /// How the local list changes (UpdateEnumType; 1.6 UpdateType).
    UpdateType {
        /// The list becomes exactly this.
        Full,
        /// The entries are added, changed or removed.
        Differential,
    }
}

/// Parameters of a local list update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SendLocalList {
    /// The list's new version.
    pub version: i64,
    /// Full or differential.
    pub update: UpdateType,
    /// The entries.
    #[serde(default)]
    pub entries: Vec<LocalListEntry>,
}

status_command! {
    /// What a station answered to a list update.
    SendLocalList => SendLocalListOutcome,
    /// The answer to a list update (SendLocalListStatusEnumType; 1.6 UpdateStatus adds
    /// `NotSupported`).
    SendLocalListStatus { Accepted, Failed, VersionMismatch, NotSupported }
}

/// Ask the local list's version; no parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GetLocalListVersion {}

/// What a station answered about its list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GetLocalListVersionOutcome {
    /// The list's version (0: no list; 1.6 -1: not supported).
    pub version: i64,
}

impl Answer for GetLocalListVersionOutcome {
    fn status(&self) -> Option<&'static str> {
        None
    }
}

impl Spec for GetLocalListVersion {
    type Outcome = GetLocalListVersionOutcome;
}
