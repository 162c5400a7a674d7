//! G Availability in each version: ChangeAvailability (1.6 by connector, 0 for the station;
//! 2.0.1 by EVSE and connector, none for the station).

use arus_domain::commands::*;
use arus_ocpp::{v16, v201};

use super::{Link, ToStation, convert, evse, int, reason};

convert!(status_16: v16::AvailabilityStatus => ChangeAvailabilityStatus { Accepted, Rejected, Scheduled });
convert!(status: v201::ChangeAvailabilityStatusEnum => ChangeAvailabilityStatus {
    Accepted, Rejected, Scheduled
});

impl ToStation for ChangeAvailability {
    async fn send(&self, link: &Link<'_>) -> Result<ChangeAvailabilityOutcome, SendError> {
        if link.version == arus_ocpp::Version::V16 {
            let a = link
                .call(&v16::ChangeAvailabilityRequest {
                    connector_id: self.evse_id.map(int).unwrap_or(0),
                    r#type: if self.operative {
                        v16::AvailabilityType::Operative
                    } else {
                        v16::AvailabilityType::Inoperative
                    },
                })
                .await?;
            return Ok(ChangeAvailabilityOutcome {
                status: status_16(a.status),
                reason: None,
            });
        }
        let a = link
            .call(&v201::ChangeAvailabilityRequest {
                custom_data: None,
                evse: self.evse_id.map(|e| evse(e, self.connector_id)),
                operational_status: if self.operative {
                    v201::OperationalStatusEnum::Operative
                } else {
                    v201::OperationalStatusEnum::Inoperative
                },
            })
            .await?;
        Ok(ChangeAvailabilityOutcome {
            status: status(a.status),
            reason: reason(a.status_info),
        })
    }
}
