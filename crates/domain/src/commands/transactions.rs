//! E Transactions: asking a station about a transaction's queued messages (E14).

use serde::{Deserialize, Serialize};

use super::{Answer, Spec};

/// Parameters of a transaction status question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GetTransactionStatus {
    /// The transaction; without it, whether any messages are queued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
}

/// What a station answered about a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GetTransactionStatusOutcome {
    /// Whether the transaction is still going (absent when no transaction was named).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ongoing: Option<bool>,
    /// Whether messages wait to be delivered.
    pub messages_in_queue: bool,
}

impl Answer for GetTransactionStatusOutcome {
    fn status(&self) -> Option<&'static str> {
        None
    }
}

impl Spec for GetTransactionStatus {
    type Outcome = GetTransactionStatusOutcome;
}
