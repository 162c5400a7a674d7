//! N Diagnostics: uploading a log (N01; 1.6 GetDiagnostics and the security extension's
//! GetLog) and a customer's information (N09, N10). The station's status notifications and
//! customer information parts follow the request id.

use serde::{Deserialize, Serialize};

use super::{Answer, CertificateHash, IdTokenType, Spec, ocpp_enum, status_outcome};
use crate::Time;
use crate::notices::NoticeKind;

ocpp_enum! {
    /// Which log (LogEnumType).
    LogType {
        /// The diagnostics log (1.6 GetDiagnostics).
        DiagnosticsLog,
        /// The security log.
        SecurityLog,
    }
}

/// Parameters of a log upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GetLog {
    /// Which log.
    pub log: LogType,
    /// Where to upload it.
    pub location: String,
    /// The oldest entry wanted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub oldest: Option<Time>,
    /// The latest entry wanted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub latest: Option<Time>,
    /// How often to retry the upload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    /// Seconds between retries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_interval_s: Option<u32>,
    /// The request id the status notifications carry; assigned when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<i64>,
}

ocpp_enum! {
    /// The answer to a log upload (LogStatusEnumType; a 1.6 GetDiagnostics has no status and
    /// counts as `Accepted`).
    LogStatus { Accepted, Rejected, AcceptedCanceled }
}

/// What a station answered to a log upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GetLogOutcome {
    /// What the station answered.
    pub status: LogStatus,
    /// The reason it gave, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The name of the file it will upload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
}

impl Answer for GetLogOutcome {
    fn status(&self) -> Option<&'static str> {
        Some(self.status.as_str())
    }
}

impl Spec for GetLog {
    type Outcome = GetLogOutcome;

    fn follow_up(&self) -> Option<(NoticeKind, Option<i64>)> {
        Some((NoticeKind::LogStatus, self.request_id))
    }

    fn complete(&mut self, next_id: &mut dyn FnMut() -> i64) {
        super::assign(&mut self.request_id, next_id);
    }
}

/// Parameters of a customer information request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CustomerInformation {
    /// Send what is kept.
    pub report: bool,
    /// Delete what is kept.
    pub clear: bool,
    /// The customer, by an identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_identifier: Option<String>,
    /// Or by id token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// The id token's type (default `ISO14443`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_type: Option<IdTokenType>,
    /// Or by certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<CertificateHash>,
    /// The request id the notifications carry; assigned when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<i64>,
}

status_outcome! {
    /// What a station answered to a customer information request.
    CustomerInformationOutcome,
    /// The answer to a customer information request (CustomerInformationStatusEnumType).
    CustomerInformationStatus { Accepted, Rejected, Invalid }
}

impl Spec for CustomerInformation {
    type Outcome = CustomerInformationOutcome;

    fn follow_up(&self) -> Option<(NoticeKind, Option<i64>)> {
        Some((NoticeKind::CustomerInformation, self.request_id))
    }

    fn complete(&mut self, next_id: &mut dyn FnMut() -> i64) {
        super::assign(&mut self.request_id, next_id);
    }

    fn check(&self) -> Result<(), String> {
        if self.customer_identifier.is_none()
            && self.id_token.is_none()
            && self.certificate.is_none()
        {
            return Err(
                "name the customer: `customerIdentifier`, `idToken` or `certificate` (N09.FR.09)"
                    .into(),
            );
        }
        if !self.report && !self.clear {
            return Err("`report` or `clear` (or both) must be true".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customer_information_needs_a_customer() {
        // N09.FR.09: one of customerIdentifier, idToken or customerCertificate.
        let mut c = CustomerInformation {
            report: true,
            clear: false,
            customer_identifier: None,
            id_token: None,
            id_token_type: None,
            certificate: None,
            request_id: None,
        };
        assert!(c.check().is_err());
        c.id_token = Some("AB12".into());
        assert_eq!(c.check(), Ok(()));
        c.report = false;
        assert!(c.check().is_err(), "neither report nor clear");
    }
}
