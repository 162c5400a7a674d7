//! P Data transfer in each version: DataTransfer (1.6 carries a string: other data goes as
//! its JSON text).

use arus_domain::commands::*;
use arus_ocpp::{v16, v201};

use super::{Link, ToStation, convert, reason};

convert!(status_16: v16::DataTransferStatus => DataTransferStatus {
    Accepted, Rejected, UnknownMessageId, UnknownVendorId
});
convert!(status: v201::DataTransferStatusEnum => DataTransferStatus {
    Accepted, Rejected, UnknownMessageId, UnknownVendorId
});

impl ToStation for DataTransfer {
    async fn send(&self, link: &Link<'_>) -> Result<DataTransferOutcome, SendError> {
        if link.version == arus_ocpp::Version::V16 {
            let data = self.data.as_ref().map(|d| match d {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            });
            let a = link
                .call(&v16::DataTransferRequest {
                    vendor_id: self.vendor_id.clone(),
                    message_id: self.message_id.clone(),
                    data,
                })
                .await?;
            return Ok(DataTransferOutcome {
                status: status_16(a.status),
                reason: None,
                data: a.data.map(serde_json::Value::String),
            });
        }
        let a = link
            .call(&v201::DataTransferRequest {
                custom_data: None,
                message_id: self.message_id.clone(),
                data: self.data.clone(),
                vendor_id: self.vendor_id.clone(),
            })
            .await?;
        Ok(DataTransferOutcome {
            status: status(a.status),
            reason: reason(a.status_info),
            data: a.data,
        })
    }
}
