//! H Reservation in each version: ReserveNow (1.6 by connector, 0 for any; 2.0.1 by EVSE,
//! none for any) and CancelReservation.

use arus_domain::commands::*;
use arus_ocpp::{v16, v201};

use super::{Link, ToStation, convert, id_token, int, reason, time};

convert!(status_16: v16::ReservationStatus => ReserveNowStatus {
    Accepted, Faulted, Occupied, Rejected, Unavailable
});
convert!(status: v201::ReserveNowStatusEnum => ReserveNowStatus {
    Accepted, Faulted, Occupied, Rejected, Unavailable
});
convert!(cancel_16: v16::CancelReservationStatus => CancelReservationStatus { Accepted, Rejected });
convert!(cancel: v201::CancelReservationStatusEnum => CancelReservationStatus { Accepted, Rejected });

/// A connector type as 2.0.1 spells it (`cCCS2`, `s309-1P-16A`...).
fn connector_type(name: &str) -> Result<v201::ConnectorEnum, SendError> {
    serde::Deserialize::deserialize(
        serde::de::value::StrDeserializer::<serde::de::value::Error>::new(name),
    )
    .map_err(|_| {
        SendError::Invalid(format!(
            "`connectorType` {name} is not a 2.0.1 connector type"
        ))
    })
}

impl ToStation for ReserveNow {
    async fn send(&self, link: &Link<'_>) -> Result<ReserveNowOutcome, SendError> {
        if link.version == arus_ocpp::Version::V16 {
            let a = link
                .call(&v16::ReserveNowRequest {
                    connector_id: self.evse_id.map(int).unwrap_or(0),
                    expiry_date: time(&self.expiry),
                    id_tag: self.id_token.clone(),
                    parent_id_tag: self.group_id_token.clone(),
                    reservation_id: self.reservation_id,
                })
                .await?;
            return Ok(ReserveNowOutcome {
                status: status_16(a.status),
                reason: None,
            });
        }
        let a = link
            .call(&v201::ReserveNowRequest {
                custom_data: None,
                id: self.reservation_id,
                expiry_date_time: time(&self.expiry),
                connector_type: self
                    .connector_type
                    .as_deref()
                    .map(connector_type)
                    .transpose()?,
                id_token: id_token(&self.id_token, self.id_token_type, IdTokenType::ISO14443),
                evse_id: self.evse_id.filter(|e| *e > 0).map(int),
                group_id_token: self
                    .group_id_token
                    .as_ref()
                    .map(|g| id_token(g, None, IdTokenType::Central)),
            })
            .await?;
        Ok(ReserveNowOutcome {
            status: status(a.status),
            reason: reason(a.status_info),
        })
    }
}

impl ToStation for CancelReservation {
    async fn send(&self, link: &Link<'_>) -> Result<CancelReservationOutcome, SendError> {
        if link.version == arus_ocpp::Version::V16 {
            let a = link
                .call(&v16::CancelReservationRequest {
                    reservation_id: self.reservation_id,
                })
                .await?;
            return Ok(CancelReservationOutcome {
                status: cancel_16(a.status),
                reason: None,
            });
        }
        let a = link
            .call(&v201::CancelReservationRequest {
                custom_data: None,
                reservation_id: self.reservation_id,
            })
            .await?;
        Ok(CancelReservationOutcome {
            status: cancel(a.status),
            reason: reason(a.status_info),
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn connector_types_are_read_in_the_specification_spelling() {
        assert_eq!(
            super::connector_type("cCCS2").ok(),
            Some(arus_ocpp::v201::ConnectorEnum::CCCS2)
        );
        assert_eq!(
            super::connector_type("s309-1P-16A").ok(),
            Some(arus_ocpp::v201::ConnectorEnum::S3091P16A)
        );
        assert!(super::connector_type("CCS2").is_err());
    }
}
