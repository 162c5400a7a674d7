//! OCPP-J for Arus: the only crate that knows the wire format.
//!
//! # Layout
//!
//! - [`rpc`]: the OCPP-J RPC framework: parsing and writing CALL, CALLRESULT and CALLERROR
//!   frames (and 2.1's CALLRESULTERROR and SEND), and the error codes each version names.
//! - [`v16`], [`v201`], [`v21`]: one module per version, each with its generated message types
//!   (`messages.rs`, written by `cargo xtask codegen` from the vendored OCA schemas). 2.1 is not a
//!   superset of 2.0.1, so nothing is shared between them but the framing.
//! - [`validate`]: schema validation. Decoding a payload checks it completely against its schema
//!   (types, required properties, unknown properties, enumerations, lengths, bounds, array sizes,
//!   timestamps) and says which rule was broken, so that the caller can answer with the
//!   specification's error code.
//! - [`decode_request`] and [`decode_response`]: a payload checked by version and action name, as
//!   frames carry them, with a [`DecodeError`] that tells an unknown action from a schema
//!   violation (kept as its source).
//! - [`Timestamp`]: the date-time type of every message; it is written with at most three
//!   fractional digits, as OCPP 2.0.1 requires.
//!
//! # Invariants
//!
//! - A value that decodes is valid against its schema; a value that is encoded from a type that
//!   [`validate::Validate`]s is valid against its schema.
//! - `customData` and other vendor properties survive a decode/encode round trip.
//! - Numbers are `i64` (schema `integer`) and `f64` (schema `number`); serde_json's
//!   `arbitrary_precision` is never turned on.

mod decode;
pub mod redact;
pub mod rpc;
mod timestamp;
pub mod validate;
mod wire;

pub mod v16;
pub mod v201;
pub mod v21;

pub use decode::{DecodeError, decode_request, decode_response};
pub use timestamp::Timestamp;

/// Which side of the connection sends an action's request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Initiator {
    /// The charging station (charge point) sends it to the CSMS.
    Station,
    /// The CSMS (central system) sends it to the station.
    Csms,
    /// Either side may send it (DataTransfer).
    Either,
}

/// A request type with its action and response, implemented by every generated request.
pub trait Call: serde::Serialize + validate::Validate {
    /// The version's action enumeration.
    type Action: Copy + std::fmt::Display;
    /// The response that answers this request.
    type Response: serde::de::DeserializeOwned + serde::Serialize + validate::Validate;
    /// This request's action.
    const ACTION: Self::Action;
    /// The action's name on the wire.
    const ACTION_NAME: &'static str;
    /// The version this request belongs to.
    const VERSION: Version;
    /// The OCA schema of the response, verbatim.
    fn response_schema() -> &'static str;
}

/// The OCPP versions Arus knows, by their WebSocket subprotocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Version {
    /// OCPP 1.6 (JSON), subprotocol `ocpp1.6`.
    V16,
    /// OCPP 2.0.1, subprotocol `ocpp2.0.1`.
    V201,
    /// OCPP 2.1, subprotocol `ocpp2.1`.
    V21,
}

impl Version {
    /// The WebSocket subprotocol name.
    pub const fn subprotocol(self) -> &'static str {
        match self {
            Version::V16 => "ocpp1.6",
            Version::V201 => "ocpp2.0.1",
            Version::V21 => "ocpp2.1",
        }
    }

    /// The version with this subprotocol name (compared case-insensitively, as stations vary).
    pub fn from_subprotocol(name: &str) -> Option<Version> {
        [Version::V16, Version::V201, Version::V21]
            .into_iter()
            .find(|v| v.subprotocol().eq_ignore_ascii_case(name.trim()))
    }

    /// The version as people write it: `1.6`, `2.0.1`, `2.1`.
    pub const fn label(self) -> &'static str {
        match self {
            Version::V16 => "1.6",
            Version::V201 => "2.0.1",
            Version::V21 => "2.1",
        }
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}
