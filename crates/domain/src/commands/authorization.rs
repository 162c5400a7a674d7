//! C Authorization: clearing the station's authorization cache (C11).

use serde::{Deserialize, Serialize};

use super::{Spec, ocpp_enum, status_outcome};

/// Clear the authorization cache; no parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClearCache {}

ocpp_enum! {
    /// The answer to ClearCache (ClearCacheStatusEnumType, both versions).
    ClearCacheStatus { Accepted, Rejected }
}

status_outcome! {
    /// What a station answered to ClearCache.
    ClearCacheOutcome(ClearCacheStatus)
}

impl Spec for ClearCache {
    type Outcome = ClearCacheOutcome;
}
