//! C. Authorization: id tokens and the rule that answers Authorize (and the idTokenInfo /
//! idTagInfo of transaction messages).
//!
//! Id tokens are compared case-insensitively (1.6 CiString20Type; 2.0.1 IdTokenType's
//! description), through [`token_key`].

use serde::{Deserialize, Serialize};

use crate::Time;

/// An id token as a station presents it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IdToken {
    /// The token's value (RFID UID, key code, eMAID...). 2.0.1 `NoAuthorization` tokens are
    /// empty.
    pub value: String,
    /// The token's type (2.0.1 `ISO14443`, `Central`, ...); `None` from 1.6, which has no types.
    pub kind: Option<String>,
}

/// The lookup key of a token value: ASCII case folded.
pub fn token_key(value: &str) -> String {
    value.to_ascii_lowercase()
}

crate::names::named_enum! {
/// The status of a token: the union of 1.6's AuthorizationStatus and 2.0.1's
/// AuthorizationStatusEnumType. Adapters map what a version lacks to `Invalid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AuthorizationStatus {
    /// Allowed to charge.
    Accepted,
    /// Blocked by the operator.
    Blocked,
    /// Its validity ended.
    Expired,
    /// Unknown or not valid.
    Invalid,
    /// Already in another transaction.
    ConcurrentTx,
    /// 2.0.1: no credit left.
    NoCredit,
    /// 2.0.1: not allowed for this EVSE type.
    NotAllowedTypeEVSE,
    /// 2.0.1: not allowed at this location.
    NotAtThisLocation,
    /// 2.0.1: not allowed at this time.
    NotAtThisTime,
    /// 2.0.1: unknown.
    Unknown,
}
}

/// An id token as the operator registered it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdTokenRecord {
    /// The value, as registered (lookups ignore case).
    pub id_token: String,
    /// Its type (`ISO14443`, `Central`, `eMAID`, `KeyCode`, ...).
    #[serde(rename = "type")]
    pub kind: String,
    /// Its status.
    pub status: AuthorizationStatus,
    /// The group it belongs to (1.6 parentIdTag, 2.0.1 groupIdToken): tokens of one group may
    /// stop each other's transactions.
    pub group_id_token: Option<String>,
    /// When it stops being valid.
    pub expiry_date: Option<Time>,
    /// It may be in more than one transaction at once (a fleet card shared by drivers); when
    /// not, and neither is its group's, a start while it is in another transaction is answered
    /// `ConcurrentTx`.
    #[serde(default)]
    pub concurrent_use: bool,
}

/// The answer about a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// The status.
    pub status: AuthorizationStatus,
    /// The token's group, if it has one.
    pub group_id_token: Option<String>,
    /// The token's expiry, if it has one.
    pub expiry_date: Option<Time>,
}

/// The authorization rule: unknown tokens are Invalid; a registered token has its status,
/// except that an Accepted token past its expiry date is Expired.
pub fn authorize(record: Option<&IdTokenRecord>, now: Time) -> Authorization {
    let Some(r) = record else {
        return Authorization {
            status: AuthorizationStatus::Invalid,
            group_id_token: None,
            expiry_date: None,
        };
    };
    let status = match (r.status, r.expiry_date) {
        (AuthorizationStatus::Accepted, Some(exp)) if exp <= now => AuthorizationStatus::Expired,
        (s, _) => s,
    };
    Authorization {
        status,
        group_id_token: r.group_id_token.clone(),
        expiry_date: r.expiry_date,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, Utc};

    fn record(status: AuthorizationStatus, expiry: Option<Time>) -> IdTokenRecord {
        IdTokenRecord {
            id_token: "04A2B3C4".into(),
            kind: "ISO14443".into(),
            status,
            group_id_token: Some("FLEET".into()),
            expiry_date: expiry,
            concurrent_use: false,
        }
    }

    /// TC_C_02_CSMS: unknown tokens are Invalid.
    #[test]
    fn unknown_is_invalid() {
        assert_eq!(
            authorize(None, Utc::now()).status,
            AuthorizationStatus::Invalid
        );
    }

    /// TC_C_06_CSMS, TC_C_07_CSMS, TC_C_39_CSMS.
    #[test]
    fn registered_tokens() {
        let now = Utc::now();
        let a = authorize(Some(&record(AuthorizationStatus::Accepted, None)), now);
        assert_eq!(a.status, AuthorizationStatus::Accepted);
        assert_eq!(a.group_id_token.as_deref(), Some("FLEET"));
        let blocked = record(AuthorizationStatus::Blocked, None);
        assert_eq!(
            authorize(Some(&blocked), now).status,
            AuthorizationStatus::Blocked
        );
        let past = record(
            AuthorizationStatus::Accepted,
            Some(now - Duration::hours(1)),
        );
        assert_eq!(
            authorize(Some(&past), now).status,
            AuthorizationStatus::Expired
        );
        let future = record(
            AuthorizationStatus::Accepted,
            Some(now + Duration::hours(1)),
        );
        assert_eq!(
            authorize(Some(&future), now).status,
            AuthorizationStatus::Accepted
        );
    }

    #[test]
    fn keys_ignore_case() {
        assert_eq!(token_key("04a2B3"), token_key("04A2b3"));
    }
}
