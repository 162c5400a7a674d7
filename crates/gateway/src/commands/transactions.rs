//! E Transactions in each version: GetTransactionStatus (2.0.1 only).

use arus_domain::commands::*;
use arus_ocpp::v201;

use super::{Link, ToStation, unsupported};

impl ToStation for GetTransactionStatus {
    async fn send(&self, link: &Link<'_>) -> Result<GetTransactionStatusOutcome, SendError> {
        if link.version == arus_ocpp::Version::V16 {
            return Err(unsupported("GetTransactionStatus", link.version));
        }
        let a = link
            .call(&v201::GetTransactionStatusRequest {
                custom_data: None,
                transaction_id: self.transaction_id.clone(),
            })
            .await?;
        Ok(GetTransactionStatusOutcome {
            ongoing: a.ongoing_indicator,
            messages_in_queue: a.messages_in_queue,
        })
    }
}
