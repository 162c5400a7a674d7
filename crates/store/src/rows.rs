//! Conversions shared by both backends: the JSON kept in text columns.

use arus_domain::metering::MeterValue;
use arus_domain::provisioning::BootInfo;
use arus_domain::transactions::{Fold, Transaction};

/// The JSON of a value (serializing the domain's own types cannot fail).
pub(crate) fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

/// Reads a fold back; an unreadable one (never written by Arus) becomes an empty fold.
pub(crate) fn fold(text: &str) -> Fold {
    serde_json::from_str(text).unwrap_or_default()
}

/// Reads boot information back.
pub(crate) fn boot(text: Option<String>) -> Option<BootInfo> {
    text.and_then(|t| serde_json::from_str(&t).ok())
}

/// The samples of a meter value, as stored.
pub(crate) fn samples(mv: &MeterValue) -> String {
    json(&mv.samples)
}

/// A transaction rebuilt from its row.
pub(crate) fn transaction(
    station_id: String,
    transaction_id: String,
    fold_text: &str,
) -> Transaction {
    Transaction {
        station_id,
        transaction_id,
        fold: fold(fold_text),
    }
}
