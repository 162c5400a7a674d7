//! Commands in each version's words: every version-neutral command of
//! [`arus_domain::commands`] becomes the generated request types of the station's OCPP version,
//! goes out through the typed call path ([`Gateway::call`]), and its answer, decoded into the
//! generated response type, becomes the command's typed outcome.
//!
//! # Layout
//!
//! One module per functional block, named as the domain's: each implements [`ToStation`] for
//! the block's commands. The dispatch over [`Command`] is generated from
//! [`arus_domain::for_each_command!`], so a command without a mapping does not compile.
//!
//! # Invariants
//!
//! - Requests are built from the generated types and validated against their schema before
//!   they leave; answers are decoded against the response schema before they are read. No
//!   OCPP JSON is written or read by hand here.
//! - A command the station's version cannot express fails with
//!   [`SendError::Unsupported`] before anything is sent; one whose values the version cannot
//!   carry (a 1.6 transaction id that is not a number) with [`SendError::Invalid`].

use std::future::Future;

use arus_domain::Time;
use arus_domain::commands::*;
use arus_ocpp::{Call, Timestamp, Version};

use crate::Gateway;

mod authorization;
mod availability;
mod certificates;
mod data_transfer;
mod diagnostics;
mod firmware;
mod local_list;
mod provisioning;
mod remote_control;
mod reservation;
mod smart_charging;

pub(crate) use smart_charging::profile_from;
mod transactions;

/// The way to one connected station, in its version.
pub(crate) struct Link<'a> {
    gateway: &'a Gateway,
    station: &'a str,
    /// The version the station speaks (1.6 or 2.0.1).
    pub version: Version,
}

impl Link<'_> {
    /// Sends one request and waits for its answer.
    pub async fn call<C: Call + Sync>(&self, request: &C) -> Result<C::Response, SendError> {
        self.gateway.call(self.station, request).await
    }
}

/// A command the gateway can put in each version's words.
pub(crate) trait ToStation: Spec {
    /// Sends the command's requests and folds the answers into its outcome.
    fn send(
        &self,
        link: &Link<'_>,
    ) -> impl Future<Output = Result<Self::Outcome, SendError>> + std::marker::Send;
}

macro_rules! dispatch {
    ($($variant:ident($request:ty => $outcome:ty) $name:literal $summary:literal;)*) => {
        /// Sends a command through the station's link in its version.
        async fn dispatch(link: &Link<'_>, command: &Command) -> Result<Outcome, SendError> {
            match command {
                $(Command::$variant(c) => ToStation::send(c, link).await.map(Outcome::$variant),)*
            }
        }
    };
}

arus_domain::for_each_command!(dispatch);

/// Sends a command to a connected station in its version and returns its outcome.
pub(crate) async fn send(
    gateway: &Gateway,
    station_id: &str,
    command: &Command,
) -> Result<Outcome, SendError> {
    let version = gateway
        .registry
        .version(station_id)
        .ok_or(SendError::NotConnected)?;
    if version == Version::V21 {
        return Err(SendError::Unsupported(
            "commands to OCPP 2.1 stations are not supported yet".into(),
        ));
    }
    let link = Link {
        gateway,
        station: station_id,
        version,
    };
    dispatch(&link, command).await
}

/// The error for something a version does not have.
fn unsupported(what: &str, version: Version) -> SendError {
    SendError::Unsupported(format!("{what} is not in OCPP {version}"))
}

/// An id the commander assigns before sending (request ids, remote start ids).
fn assigned(id: Option<i64>, what: &str) -> Result<i64, SendError> {
    id.ok_or_else(|| SendError::Invalid(format!("the command has no {what}")))
}

/// A time on the wire.
fn time(t: &Time) -> Timestamp {
    Timestamp::from(*t)
}

/// A count or id the domain keeps unsigned, as the schemas' integer.
fn int(n: u32) -> i64 {
    i64::from(n)
}

/// An id the station sent, as the domain's (a negative one is not an id).
fn id(n: i64) -> Option<u32> {
    u32::try_from(n).ok()
}

/// 2.0.1's statusInfo as one reason.
fn reason(info: Option<arus_ocpp::v201::StatusInfo>) -> Option<String> {
    info.map(|i| arus_domain::commands::reason(&i.reason_code, i.additional_info.as_deref()))
}

/// Defines `fn $name(value: From) -> To` for two enumerations that share the variants listed.
/// The match is exhaustive over `From`, so a value added to it without a counterpart does
/// not compile.
macro_rules! convert {
    ($name:ident: $from:ty => $to:ty { $($v:ident),* $(,)? }) => {
        fn $name(value: $from) -> $to {
            match value {
                $(<$from>::$v => <$to>::$v,)*
            }
        }
    };
}
use convert;

/// Like `convert!` for a target that has only some of the source's values: the values listed
/// (`From as To` where the names differ) map across, the rest give `None`.
macro_rules! convert_some {
    ($name:ident: $from:ty => $to:ty { $($v:ident $(as $w:ident)?),* $(,)? }) => {
        fn $name(value: $from) -> Option<$to> {
            #[allow(unreachable_patterns)]
            Some(match value {
                $(<$from>::$v => $crate::commands::convert_some!(@to $to, $v $($w)?),)*
                _ => return None,
            })
        }
    };
    (@to $to:ty, $v:ident) => { <$to>::$v };
    (@to $to:ty, $v:ident $w:ident) => { <$to>::$w };
}
use convert_some;

convert!(hash_algorithm: HashAlgorithm => arus_ocpp::v201::HashAlgorithmEnum { SHA256, SHA384, SHA512 });
convert!(hash_algorithm_16: HashAlgorithm => arus_ocpp::v16::HashAlgorithmEnum { SHA256, SHA384, SHA512 });
convert!(hash_algorithm_of: arus_ocpp::v201::HashAlgorithmEnum => HashAlgorithm { SHA256, SHA384, SHA512 });
convert!(hash_algorithm_of_16: arus_ocpp::v16::HashAlgorithmEnum => HashAlgorithm { SHA256, SHA384, SHA512 });

/// A certificate's hash data (2.0.1).
fn hash_data(h: &CertificateHash) -> arus_ocpp::v201::CertificateHashData {
    arus_ocpp::v201::CertificateHashData {
        custom_data: None,
        hash_algorithm: hash_algorithm(h.hash_algorithm),
        issuer_name_hash: h.issuer_name_hash.clone(),
        issuer_key_hash: h.issuer_key_hash.clone(),
        serial_number: h.serial_number.clone(),
    }
}

/// A certificate's hash data (1.6).
fn hash_data_16(h: &CertificateHash) -> arus_ocpp::v16::CertificateHashData {
    arus_ocpp::v16::CertificateHashData {
        hash_algorithm: hash_algorithm_16(h.hash_algorithm),
        issuer_name_hash: h.issuer_name_hash.clone(),
        issuer_key_hash: h.issuer_key_hash.clone(),
        serial_number: h.serial_number.clone(),
    }
}

/// An id token in 2.0.1's words, of the given type or the default.
fn id_token(
    token: &str,
    kind: Option<IdTokenType>,
    default: IdTokenType,
) -> arus_ocpp::v201::IdToken {
    use arus_ocpp::v201::IdTokenEnum as W;
    arus_ocpp::v201::IdToken {
        custom_data: None,
        additional_info: None,
        id_token: token.to_string(),
        r#type: match kind.unwrap_or(default) {
            IdTokenType::Central => W::Central,
            IdTokenType::eMAID => W::EMAID,
            IdTokenType::ISO14443 => W::ISO14443,
            IdTokenType::ISO15693 => W::ISO15693,
            IdTokenType::KeyCode => W::KeyCode,
            IdTokenType::Local => W::Local,
            IdTokenType::MacAddress => W::MacAddress,
            IdTokenType::NoAuthorization => W::NoAuthorization,
        },
    }
}

/// An EVSE and connector in 2.0.1's words.
fn evse(id: u32, connector: Option<u32>) -> arus_ocpp::v201::EVSE {
    arus_ocpp::v201::EVSE {
        custom_data: None,
        id: int(id),
        connector_id: connector.map(int),
    }
}
