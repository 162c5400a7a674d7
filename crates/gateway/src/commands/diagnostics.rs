//! N Diagnostics in each version: 1.6 GetDiagnostics (the diagnostics log) or GetLog (security
//! extension, the security log), 2.0.1 GetLog; 2.0.1 CustomerInformation.

use arus_domain::commands::*;
use arus_ocpp::{v16, v201};

use super::{
    Link, ToStation, assigned, convert, hash_data, id_token, int, reason, time, unsupported,
};

convert!(status_16: v16::LogStatusEnum => LogStatus { Accepted, Rejected, AcceptedCanceled });
convert!(status: v201::LogStatusEnum => LogStatus { Accepted, Rejected, AcceptedCanceled });
convert!(log_type: LogType => v201::LogEnum { DiagnosticsLog, SecurityLog });
convert!(customer_status: v201::CustomerInformationStatusEnum => CustomerInformationStatus {
    Accepted, Rejected, Invalid
});

impl ToStation for GetLog {
    async fn send(&self, link: &Link<'_>) -> Result<GetLogOutcome, SendError> {
        let retries = self.retries.map(int);
        let retry_interval = self.retry_interval_s.map(int);
        if link.version == arus_ocpp::Version::V16 && self.log == LogType::DiagnosticsLog {
            let a = link
                .call(&v16::GetDiagnosticsRequest {
                    location: self.location.clone(),
                    retries,
                    retry_interval,
                    start_time: self.oldest.as_ref().map(time),
                    stop_time: self.latest.as_ref().map(time),
                })
                .await?;
            // GetDiagnostics has no status: an answer is an acceptance.
            return Ok(GetLogOutcome {
                status: LogStatus::Accepted,
                reason: None,
                filename: a.file_name,
            });
        }
        if link.version == arus_ocpp::Version::V16 {
            let a = link
                .call(&v16::GetLogRequest {
                    log: v16::LogParameters {
                        remote_location: self.location.clone(),
                        oldest_timestamp: self.oldest.as_ref().map(time),
                        latest_timestamp: self.latest.as_ref().map(time),
                    },
                    log_type: v16::LogEnum::SecurityLog,
                    request_id: assigned(self.request_id, "requestId")?,
                    retries,
                    retry_interval,
                })
                .await?;
            return Ok(GetLogOutcome {
                status: status_16(a.status),
                reason: None,
                filename: a.filename,
            });
        }
        let a = link
            .call(&v201::GetLogRequest {
                custom_data: None,
                log: v201::LogParameters {
                    custom_data: None,
                    remote_location: self.location.clone(),
                    oldest_timestamp: self.oldest.as_ref().map(time),
                    latest_timestamp: self.latest.as_ref().map(time),
                },
                log_type: log_type(self.log),
                request_id: assigned(self.request_id, "requestId")?,
                retries,
                retry_interval,
            })
            .await?;
        Ok(GetLogOutcome {
            status: status(a.status),
            reason: reason(a.status_info),
            filename: a.filename,
        })
    }
}

impl ToStation for CustomerInformation {
    async fn send(&self, link: &Link<'_>) -> Result<CustomerInformationOutcome, SendError> {
        if link.version == arus_ocpp::Version::V16 {
            return Err(unsupported("CustomerInformation", link.version));
        }
        let request_id = assigned(self.request_id, "requestId")?;
        let a = link
            .call(&v201::CustomerInformationRequest {
                custom_data: None,
                customer_certificate: self.certificate.as_ref().map(hash_data),
                id_token: self
                    .id_token
                    .as_ref()
                    .map(|t| id_token(t, self.id_token_type, IdTokenType::ISO14443)),
                request_id,
                report: self.report,
                clear: self.clear,
                customer_identifier: self.customer_identifier.clone(),
            })
            .await?;
        Ok(CustomerInformationOutcome {
            status: customer_status(a.status),
            reason: reason(a.status_info),
        })
    }
}
