//! C Authorization: clearing the station's authorization cache (C11).

use serde::{Deserialize, Serialize};

use super::status_command;

/// Clear the authorization cache; no parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClearCache {}

status_command! {
    /// What a station answered to ClearCache.
    ClearCache => ClearCacheOutcome,
    /// The answer to ClearCache (ClearCacheStatusEnumType, both versions).
    ClearCacheStatus { Accepted, Rejected }
}
