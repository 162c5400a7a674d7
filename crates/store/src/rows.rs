//! Conversions shared by both backends: the JSON kept in text columns.

use arus_domain::metering::MeterValue;
use arus_domain::provisioning::BootInfo;
use arus_domain::store::StoredTransaction;
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

/// A transaction rebuilt from its row: `fold`, `csms_number`, `orphan`, `revision` as
/// [`crate::sql::TRANSACTION`] reads them.
pub(crate) fn stored_transaction(
    station_id: String,
    transaction_id: String,
    fold_text: &str,
    csms_number: Option<i64>,
    orphan: bool,
    revision: i64,
) -> StoredTransaction {
    StoredTransaction {
        tx: Transaction {
            station_id,
            transaction_id,
            fold: fold(fold_text),
        },
        csms_assigned: csms_number.is_some(),
        orphan,
        revision,
    }
}

/// What a write folded from an older revision becomes: the stored fold joined with the
/// write's. Returns the merged transaction.
pub(crate) fn merged(stored: StoredTransaction, ours: &Transaction) -> Transaction {
    let mut tx = stored.tx;
    tx.fold.merge(&ours.fold);
    tracing::warn!(
        station_id = %tx.station_id,
        transaction_id = %tx.transaction_id,
        revision = stored.revision,
        "a transaction was written from an older state; the two were merged"
    );
    tx
}
