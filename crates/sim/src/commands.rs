//! The simulated station's answers to every CSMS-initiated action of OCPP 1.6 and 2.0.1.
//!
//! A request is decoded into its generated type and validated like Arus does (an invalid one
//! gets the CALLERROR its version names, an unknown action NotImplemented, an action only
//! stations send NotSupported); the answer is built as the generated response type, serialized
//! with serde, and checked against its schema before it goes out (a failure is an
//! InternalError, and logged). Commands that start work (a reset, a remote start, a trigger, a
//! report, a firmware update) leave a [`FollowUp`] for the behaviour loop, which sends the
//! messages that follow.
//!
//! - `charging`: K Smart charging in both versions (the profiles the station holds).
//! - `v16`: the 1.6 answers (with the security extension).
//! - `v201`: the 2.0.1 answers.

mod charging;
#[cfg(test)]
mod tests;
mod v16;
mod v201;

use arus_ocpp::rpc::{self, ErrorCode};
use arus_ocpp::{DecodeError, Version};
use serde::Serialize;

use crate::behaviour::{FollowUp, Phase, StationState};

/// A request refused with a CALLERROR: its code and description.
#[derive(Debug)]
pub(super) struct Refusal {
    code: ErrorCode,
    description: String,
}

impl Refusal {
    /// An action the CSMS may not send (`who` sends it).
    fn sent_by_stations(action: &str, who: &str) -> Refusal {
        Refusal {
            code: ErrorCode::NotSupported,
            description: format!("{action} is sent by {who}"),
        }
    }
}

impl From<DecodeError> for Refusal {
    fn from(e: DecodeError) -> Refusal {
        let description = match &e {
            DecodeError::UnknownAction { action, .. } => format!("unknown action {action}"),
            DecodeError::Invalid { violation, .. } => violation.to_string(),
        };
        Refusal {
            code: e.code(),
            description,
        }
    }
}

/// The answer frame to CSMS CALL `id`.
pub(crate) fn answer(st: &mut StationState, id: &str, action: &str, payload: &str) -> String {
    let outcome = match st.version {
        Version::V16 => arus_ocpp::v16::Request::decode_named(action, payload)
            .map_err(Refusal::from)
            .and_then(|r| v16::answer(st, r))
            .map(|r| serialize(&r)),
        _ => arus_ocpp::v201::Request::decode_named(action, payload)
            .map_err(Refusal::from)
            .and_then(|r| v201::answer(st, r))
            .map(|r| serialize(&r)),
    };
    let mut out = String::new();
    match outcome {
        Ok(Some(text)) => match arus_ocpp::decode_response(st.version, action, &text) {
            Ok(()) => rpc::write_result(&mut out, id, &text),
            Err(e) => {
                tracing::error!(%action, %text, error = %e, "the simulator built an invalid answer");
                internal_error(&mut out, st.version, id);
            }
        },
        Ok(None) => internal_error(&mut out, st.version, id),
        Err(r) => rpc::write_error(&mut out, st.version, id, r.code, &r.description, "{}"),
    }
    out
}

fn serialize(response: &impl Serialize) -> Option<String> {
    serde_json::to_string(response)
        .inspect_err(|e| tracing::error!(error = %e, "an answer did not serialize"))
        .ok()
}

fn internal_error(out: &mut String, version: Version, id: &str) {
    rpc::write_error(
        out,
        version,
        id,
        ErrorCode::InternalError,
        "invalid answer",
        "{}",
    );
}

/// Whether transaction `id` is in progress on one of the station's EVSEs.
fn has_tx(st: &StationState, id: &str) -> bool {
    st.evses
        .iter()
        .any(|e| e.tx.as_ref().is_some_and(|t| t.id == id))
}

/// Whether an operative EVSE (EVSE `wanted`, when given) is idle: a remote start can begin.
fn free_evse(st: &StationState, wanted: Option<i64>) -> bool {
    st.evses.iter().any(|e| {
        e.phase == Phase::Idle && !e.inoperative && wanted.is_none_or(|w| w == i64::from(e.id))
    })
}

/// Makes EVSE `evse` (all of them for none or 0) operative or not, and reports the statuses.
/// True when the change is scheduled: going inoperative while a session is under way.
fn set_availability(st: &mut StationState, evse: Option<u32>, operative: bool) -> bool {
    let mut busy = false;
    for e in st
        .evses
        .iter_mut()
        .filter(|e| evse.is_none_or(|id| id == 0 || id == e.id))
    {
        e.inoperative = !operative;
        busy |= e.phase == Phase::Charging || e.phase == Phase::Plugged;
    }
    st.follow_ups.push_back(FollowUp::Statuses);
    busy && !operative
}
