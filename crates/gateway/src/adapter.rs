//! What the version adapters share: the outcome of a CALL and the ways to build one.

use arus_domain::csms::StationContext;
use arus_domain::notices::{Notice, NoticeKind};
use arus_domain::{Csms, DomainError, Time};
use arus_ocpp::Version;
use arus_ocpp::rpc::ErrorCode;
use arus_ocpp::validate::{Validate, Violation};
use serde::Serialize;

/// The answer to a CALL.
pub(crate) enum Outcome {
    /// A CALLRESULT with this payload.
    Result(String),
    /// A CALLERROR.
    Error {
        code: ErrorCode,
        description: String,
        /// The errorDetails object.
        details: String,
    },
}

/// Handles a CALL in the session's version; returns the action (for metrics; `unknown` for
/// names the version lacks) and the answer.
pub(crate) async fn handle(
    version: Version,
    csms: &Csms,
    st: &mut StationContext,
    action: &str,
    payload: &str,
) -> (&'static str, Outcome) {
    match version {
        Version::V16 => crate::v16::handle(csms, st, action, payload).await,
        Version::V201 => crate::v201::handle(csms, st, action, payload).await,
        // Not negotiated until its adapter exists.
        Version::V21 => ("unknown", not_implemented(action)),
    }
}

/// Defines a version adapter's `handle`: the checks every CALL passes before the version's
/// `dispatch` sees it (known action, sent by a station, station accepted unless it boots,
/// valid against its schema), the same in every version. Expanded inside the version's
/// module, where `Action`, `Request` and `dispatch` are that version's.
macro_rules! version_handler {
    ($version:expr) => {
        pub(crate) async fn handle(
            csms: &Csms,
            st: &mut StationContext,
            name: &str,
            payload: &str,
        ) -> (&'static str, Outcome) {
            let Some(action) = Action::from_name(name) else {
                return ("unknown", adapter::not_implemented(name));
            };
            let label = action.as_str();
            if action.initiator() == arus_ocpp::Initiator::Csms {
                return (label, adapter::not_supported(label));
            }
            if action != Action::BootNotification && !st.may_send() {
                return (label, adapter::not_accepted());
            }
            let request = match Request::decode(action, payload) {
                Ok(r) => r,
                Err(v) => return (label, adapter::violation(&v, $version)),
            };
            let outcome = dispatch(csms, st, request)
                .await
                .unwrap_or_else(adapter::internal);
            (label, outcome)
        }
    };
}
pub(crate) use version_handler;

/// A notice of what a station reported; `at` is the station's time, else now.
pub(crate) fn notice(
    kind: NoticeKind,
    at: Option<Time>,
    request_id: Option<i64>,
    status: Option<&str>,
    details: serde_json::Value,
) -> Notice {
    Notice {
        kind,
        at: at.unwrap_or_else(chrono::Utc::now),
        request_id,
        status: status.map(String::from),
        details,
    }
}

/// A CALLRESULT, after checking that it is valid against its schema; an answer that is not
/// (a fault of Arus) becomes an InternalError instead of going out.
pub(crate) fn respond<T: Serialize + Validate>(response: &T) -> Outcome {
    if let Err(v) = response.validate() {
        tracing::error!(violation = %v, "an answer failed its schema; sending InternalError");
        return error(
            ErrorCode::InternalError,
            "the CSMS could not build a valid answer".into(),
        );
    }
    match serde_json::to_string(response) {
        Ok(json) => Outcome::Result(json),
        Err(e) => error(ErrorCode::InternalError, e.to_string()),
    }
}

pub(crate) fn error(code: ErrorCode, description: String) -> Outcome {
    Outcome::Error {
        code,
        description,
        details: "{}".into(),
    }
}

/// The CALLERROR for a payload that broke its schema; the details say where.
pub(crate) fn violation(v: &Violation, version: Version) -> Outcome {
    Outcome::Error {
        code: ErrorCode::for_violation(v, version),
        description: v.to_string(),
        details: v.error_details(),
    }
}

/// An action the version does not have (names are case-sensitive).
pub(crate) fn not_implemented(action: &str) -> Outcome {
    error(
        ErrorCode::NotImplemented,
        format!("unknown action `{action}`"),
    )
}

/// An action only the CSMS sends.
pub(crate) fn not_supported(action: &str) -> Outcome {
    error(
        ErrorCode::NotSupported,
        format!("`{action}` is sent by the CSMS, not by a charging station"),
    )
}

/// A request from a station that is Pending or Rejected (1.6 OCPP-J errata §3.8; 2.0.1
/// B02.FR.09, B03.FR.07, TC_B_30_CSMS).
pub(crate) fn not_accepted() -> Outcome {
    error(
        ErrorCode::SecurityError,
        "the station is not accepted: send a BootNotification first".into(),
    )
}

/// A storage failure: nothing was acknowledged, the station will retry.
pub(crate) fn internal(e: DomainError) -> Outcome {
    tracing::error!(error = %e, "request not processed");
    arus_telemetry::metrics().error("store");
    error(
        ErrorCode::InternalError,
        "the CSMS could not store the data; try again".into(),
    )
}

/// A value that the schema allows but the meaning does not (a negative id).
pub(crate) fn invalid_value(what: &str) -> Outcome {
    error(ErrorCode::PropertyConstraintViolation, what.to_string())
}

/// A domain notice's details: the message's content in camelCase JSON.
pub(crate) fn details<T: Serialize>(message: &T) -> serde_json::Value {
    serde_json::to_value(message).unwrap_or(serde_json::Value::Null)
}
