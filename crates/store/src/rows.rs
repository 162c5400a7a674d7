//! Conversions shared by both backends: the JSON kept in text columns.

use arus_domain::metering::MeterValue;
use arus_domain::provisioning::BootInfo;
use arus_domain::store::{StoredTransaction, TransactionRow};
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

/// The digest of a meter value's stored samples, by which (with its station, transaction or
/// EVSE, and time) a value sent again is recognised: 64-bit FNV-1a of the text, written here
/// because it must not change between versions (it is stored), which a general-purpose hasher
/// does not promise.
pub(crate) fn samples_digest(samples: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in samples.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h as i64
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
/// write's. Returns the merged transaction, its row, and the stored revision it replaces.
pub(crate) fn merged(
    stored: StoredTransaction,
    ours: &Transaction,
    csms_number: Option<i64>,
) -> (Transaction, TransactionRow, i64) {
    let mut tx = stored.tx;
    tx.fold.merge(&ours.fold);
    tracing::warn!(
        station_id = %tx.station_id,
        transaction_id = %tx.transaction_id,
        revision = stored.revision,
        "a transaction was written from an older state; the two were merged"
    );
    let assigned = stored.csms_assigned || csms_number.is_some();
    let row = TransactionRow::of(&tx, assigned, stored.orphan);
    (tx, row, stored.revision)
}

/// A stored charging profile; `None` for a row Arus cannot read back (never one it wrote).
pub(crate) fn stored_profile(
    evse_id: i64,
    source: String,
    profile: &str,
    installed_at: arus_domain::Time,
) -> Option<arus_domain::store::StoredProfile> {
    Some(arus_domain::store::StoredProfile {
        evse_id: u32::try_from(evse_id).ok()?,
        source,
        installed_at,
        charging_profile: serde_json::from_str(profile).ok()?,
    })
}

#[cfg(test)]
mod tests {
    /// The digest is stored: it must stay what it is (the FNV-1a test vectors).
    #[test]
    fn the_samples_digest_does_not_change() {
        assert_eq!(super::samples_digest("") as u64, 0xcbf2_9ce4_8422_2325);
        assert_eq!(super::samples_digest("a") as u64, 0xaf63_dc4c_8601_ec8c);
        assert_eq!(
            super::samples_digest("foobar") as u64,
            0x8594_4171_f739_67e8
        );
    }
}
