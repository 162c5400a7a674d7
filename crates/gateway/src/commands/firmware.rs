//! L Firmware management in each version: 1.6 UpdateFirmware (unsigned) or SignedUpdateFirmware
//! (security extension), 2.0.1 UpdateFirmware.

use arus_domain::commands::*;
use arus_ocpp::{v16, v201};

use super::{Link, ToStation, assigned, convert, int, reason, time};

convert!(status_16: v16::UpdateFirmwareStatusEnum => UpdateFirmwareStatus {
    Accepted, Rejected, AcceptedCanceled, InvalidCertificate, RevokedCertificate
});
convert!(status: v201::UpdateFirmwareStatusEnum => UpdateFirmwareStatus {
    Accepted, Rejected, AcceptedCanceled, InvalidCertificate, RevokedCertificate
});

impl ToStation for UpdateFirmware {
    async fn send(&self, link: &Link<'_>) -> Result<UpdateFirmwareOutcome, SendError> {
        let retries = self.retries.map(int);
        let retry_interval = self.retry_interval_s.map(int);
        if link.version == arus_ocpp::Version::V16 {
            let (Some(signing_certificate), Some(signature)) =
                (&self.signing_certificate, &self.signature)
            else {
                // 1.6 UpdateFirmware answers nothing but that it was received.
                link.call(&v16::UpdateFirmwareRequest {
                    location: self.location.clone(),
                    retries,
                    retrieve_date: time(&self.retrieve_at),
                    retry_interval,
                })
                .await?;
                return Ok(UpdateFirmwareOutcome {
                    status: UpdateFirmwareStatus::Accepted,
                    reason: None,
                });
            };
            let a = link
                .call(&v16::SignedUpdateFirmwareRequest {
                    retries,
                    retry_interval,
                    request_id: assigned(self.request_id, "requestId")?,
                    firmware: v16::Firmware {
                        location: self.location.clone(),
                        retrieve_date_time: time(&self.retrieve_at),
                        install_date_time: self.install_at.as_ref().map(time),
                        signing_certificate: signing_certificate.clone(),
                        signature: signature.clone(),
                    },
                })
                .await?;
            return Ok(UpdateFirmwareOutcome {
                status: status_16(a.status),
                reason: None,
            });
        }
        let a = link
            .call(&v201::UpdateFirmwareRequest {
                custom_data: None,
                retries,
                retry_interval,
                request_id: assigned(self.request_id, "requestId")?,
                firmware: v201::Firmware {
                    custom_data: None,
                    location: self.location.clone(),
                    retrieve_date_time: time(&self.retrieve_at),
                    install_date_time: self.install_at.as_ref().map(time),
                    signing_certificate: self.signing_certificate.clone(),
                    signature: self.signature.clone(),
                },
            })
            .await?;
        Ok(UpdateFirmwareOutcome {
            status: status(a.status),
            reason: reason(a.status_info),
        })
    }
}
