//! L Firmware management: updating a station's firmware (L01, L02; 1.6 UpdateFirmware and the
//! security extension's SignedUpdateFirmware). The station's status notifications follow the
//! request id.

use serde::{Deserialize, Serialize};

use super::{Spec, status_outcome};
use crate::Time;
use crate::notices::NoticeKind;

/// Parameters of a firmware update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpdateFirmware {
    /// Where to download it.
    pub location: String,
    /// When to download it.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub retrieve_at: Time,
    /// When to install it (signed updates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub install_at: Option<Time>,
    /// How often to retry the download.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    /// Seconds between retries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_interval_s: Option<u32>,
    /// The certificate the firmware was signed with (PEM); makes a 1.6 update a
    /// SignedUpdateFirmware.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_certificate: Option<String>,
    /// The firmware's signature (base64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// The request id the status notifications carry; assigned when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<i64>,
}

status_outcome! {
    /// What a station answered to a firmware update.
    UpdateFirmwareOutcome,
    /// The answer to a firmware update (UpdateFirmwareStatusEnumType; a 1.6 UpdateFirmware
    /// has no status and counts as `Accepted`).
    UpdateFirmwareStatus { Accepted, Rejected, AcceptedCanceled, InvalidCertificate, RevokedCertificate }
}

impl Spec for UpdateFirmware {
    type Outcome = UpdateFirmwareOutcome;

    fn follow_up(&self) -> Option<(NoticeKind, Option<i64>)> {
        Some((NoticeKind::FirmwareStatus, self.request_id))
    }

    fn complete(&mut self, next_id: &mut dyn FnMut() -> i64) {
        super::assign(&mut self.request_id, next_id);
    }

    fn check(&self) -> Result<(), String> {
        if self.signature.is_some() != self.signing_certificate.is_some() {
            return Err("`signature` and `signingCertificate` go together".into());
        }
        Ok(())
    }
}
