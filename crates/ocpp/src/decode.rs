//! Decoding a payload by version and action name, as it comes off the wire.
//!
//! A frame names its action as a string; the generated modules decode by their own `Action`
//! enumeration. This module joins the two once, for every version: [`decode_request`] and
//! [`decode_response`] check a payload against the named action's schema, and each version's
//! `Request::decode_named` / `Response::decode_named` return the typed message for callers that
//! want it.
//!
//! # Invariants
//!
//! - An action name the version does not have is [`DecodeError::UnknownAction`], never a
//!   schema violation, so the caller can tell "not implemented" from "invalid".
//! - A payload that breaks its schema is [`DecodeError::Invalid`], which keeps the
//!   [`Violation`] as its source, so the specification's error code can still be chosen
//!   ([`DecodeError::code`]).

use crate::Version;
use crate::rpc::ErrorCode;
use crate::validate::Violation;

/// Why a payload did not decode as the named action's request or response.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    /// The version has no action of this name.
    #[error("no action {action} in OCPP {version}")]
    UnknownAction {
        /// The version asked for.
        version: Version,
        /// The name as it came.
        action: String,
    },
    /// The payload breaks a rule of the action's schema.
    #[error("{action}: {violation}")]
    Invalid {
        /// The version asked for.
        version: Version,
        /// The action whose schema was broken.
        action: String,
        /// The rule broken, and where.
        #[source]
        violation: Violation,
    },
}

impl DecodeError {
    /// The error code the version's specification names for this failure: `NotImplemented` for
    /// an unknown action, else the code of the broken rule ([`ErrorCode::for_violation`]).
    pub fn code(&self) -> ErrorCode {
        match self {
            DecodeError::UnknownAction { .. } => ErrorCode::NotImplemented,
            DecodeError::Invalid {
                version, violation, ..
            } => ErrorCode::for_violation(violation, *version),
        }
    }

    /// The broken schema rule, when the action was known.
    pub fn violation(&self) -> Option<&Violation> {
        match self {
            DecodeError::UnknownAction { .. } => None,
            DecodeError::Invalid { violation, .. } => Some(violation),
        }
    }

    pub(crate) fn unknown(version: Version, action: &str) -> DecodeError {
        DecodeError::UnknownAction {
            version,
            action: action.to_string(),
        }
    }

    pub(crate) fn invalid(version: Version, action: &str) -> impl FnOnce(Violation) -> DecodeError {
        move |violation| DecodeError::Invalid {
            version,
            action: action.to_string(),
            violation,
        }
    }
}

/// Checks `payload` against the schema of `action`'s request in `version`.
pub fn decode_request(version: Version, action: &str, payload: &str) -> Result<(), DecodeError> {
    match version {
        Version::V16 => crate::v16::Request::decode_named(action, payload).map(drop),
        Version::V201 => crate::v201::Request::decode_named(action, payload).map(drop),
        Version::V21 => crate::v21::Request::decode_named(action, payload).map(drop),
    }
}

/// Checks `payload` against the schema of `action`'s response in `version`.
pub fn decode_response(version: Version, action: &str, payload: &str) -> Result<(), DecodeError> {
    match version {
        Version::V16 => crate::v16::Response::decode_named(action, payload).map(drop),
        Version::V201 => crate::v201::Response::decode_named(action, payload).map(drop),
        Version::V21 => crate::v21::Response::decode_named(action, payload).map(drop),
    }
}

/// The `decode_named` functions of one version's `Request` and `Response`.
macro_rules! decode_named {
    ($module:ident, $version:expr) => {
        impl crate::$module::Request {
            /// Decodes the request of the action named `action` (see [`crate::decode`]).
            pub fn decode_named(
                action: &str,
                payload: &str,
            ) -> Result<crate::$module::Request, crate::DecodeError> {
                let a = crate::$module::Action::from_name(action)
                    .ok_or_else(|| crate::DecodeError::unknown($version, action))?;
                crate::$module::Request::decode(a, payload)
                    .map_err(crate::DecodeError::invalid($version, action))
            }
        }

        impl crate::$module::Response {
            /// Decodes the response of the action named `action` (see [`crate::decode`]);
            /// `None` for an action without one.
            pub fn decode_named(
                action: &str,
                payload: &str,
            ) -> Result<Option<crate::$module::Response>, crate::DecodeError> {
                let a = crate::$module::Action::from_name(action)
                    .ok_or_else(|| crate::DecodeError::unknown($version, action))?;
                crate::$module::Response::decode(a, payload)
                    .map_err(crate::DecodeError::invalid($version, action))
            }
        }
    };
}

decode_named!(v16, Version::V16);
decode_named!(v201, Version::V201);
decode_named!(v21, Version::V21);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::Rule;

    #[test]
    fn a_valid_payload_decodes_in_each_version() {
        assert_eq!(decode_request(Version::V16, "Heartbeat", "{}"), Ok(()));
        assert_eq!(decode_request(Version::V201, "Heartbeat", "{}"), Ok(()));
        assert_eq!(decode_request(Version::V21, "Heartbeat", "{}"), Ok(()));
        let answer = r#"{"currentTime":"2026-01-01T00:00:00.000Z"}"#;
        for v in [Version::V16, Version::V201, Version::V21] {
            assert_eq!(decode_response(v, "Heartbeat", answer), Ok(()), "{v}");
        }
    }

    #[test]
    fn the_typed_message_comes_back() {
        let r = crate::v16::Request::decode_named("Reset", r#"{"type":"Soft"}"#).expect("valid");
        assert_eq!(r.action(), crate::v16::Action::Reset);
        let r = crate::v201::Response::decode_named("Reset", r#"{"status":"Scheduled"}"#)
            .expect("valid")
            .expect("Reset has a response");
        assert_eq!(r.action(), crate::v201::Action::Reset);
    }

    #[test]
    fn an_unknown_action_is_told_apart_from_an_invalid_payload() {
        // TransactionEvent is 2.0.1, not 1.6; names are case-sensitive.
        for (version, action) in [(Version::V16, "TransactionEvent"), (Version::V201, "reset")] {
            let e = decode_request(version, action, "{}").expect_err("unknown");
            assert_eq!(
                e,
                DecodeError::UnknownAction {
                    version,
                    action: action.into()
                }
            );
            assert_eq!(e.code(), ErrorCode::NotImplemented);
            assert!(e.violation().is_none());
            assert!(std::error::Error::source(&e).is_none());
        }
        let e = decode_response(Version::V201, "NoSuchThing", "{}").expect_err("unknown");
        assert!(matches!(e, DecodeError::UnknownAction { .. }));
    }

    #[test]
    fn an_invalid_payload_keeps_its_violation_as_source() {
        let e = decode_request(Version::V201, "Reset", r#"{"type":"Sometime"}"#)
            .expect_err("not in the enumeration");
        assert!(matches!(
            e.violation().map(|v| &v.rule),
            Some(Rule::Enum(_))
        ));
        assert_eq!(e.code(), ErrorCode::PropertyConstraintViolation);
        let source = std::error::Error::source(&e).expect("a source");
        assert!(source.downcast_ref::<Violation>().is_some());
        assert!(e.to_string().starts_with("Reset: "), "{e}");
    }

    #[test]
    fn error_codes_follow_the_version() {
        // A missing required property: 1.6 says ProtocolError, 2.0.1 OccurrenceConstraintViolation.
        let e = decode_request(Version::V16, "Reset", "{}").expect_err("type is required");
        assert_eq!(e.code(), ErrorCode::ProtocolError);
        let e = decode_request(Version::V201, "Reset", "{}").expect_err("type is required");
        assert_eq!(e.code(), ErrorCode::OccurrenceConstraintViolation);
        let e = decode_response(Version::V16, "Reset", r#"{"status":1}"#).expect_err("a string");
        assert_eq!(e.code(), ErrorCode::TypeConstraintViolation);
    }
}
