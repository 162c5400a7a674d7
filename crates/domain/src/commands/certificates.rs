//! M ISO 15118 certificate management, and the station's root certificates of A Security:
//! installing (M05), listing (M03) and deleting (M04) certificates.

use serde::{Deserialize, Serialize};

use super::{Answer, CertificateHash, Spec, ocpp_enum, status_command, status_outcome};

ocpp_enum! {
    /// The kinds of certificate a station keeps (2.0.1 GetCertificateIdUseEnumType; 1.6
    /// CertificateUse spells the CSMS's root `CentralSystemRootCertificate`).
    CertificateUse {
        /// An ISO 15118 V2G root.
        V2GRootCertificate,
        /// A mobility operator root.
        MORootCertificate,
        /// The CSMS's root (1.6 `CentralSystemRootCertificate`).
        #[serde(alias = "CentralSystemRootCertificate")]
        CSMSRootCertificate,
        /// The V2G certificate chain (listing only).
        V2GCertificateChain,
        /// The manufacturer's root.
        ManufacturerRootCertificate,
    }
}

/// Parameters of a certificate installation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InstallCertificate {
    /// What it is (not `V2GCertificateChain`, which is not installed this way).
    pub kind: CertificateUse,
    /// The PEM.
    pub certificate: String,
}

status_outcome! {
    /// What a station answered to an installation.
    InstallCertificateOutcome,
    /// The answer to an installation (InstallCertificateStatusEnumType; 1.6
    /// CertificateStatusEnumType).
    InstallCertificateStatus { Accepted, Rejected, Failed }
}

impl Spec for InstallCertificate {
    type Outcome = InstallCertificateOutcome;

    fn check(&self) -> Result<(), String> {
        if self.kind == CertificateUse::V2GCertificateChain {
            return Err("a V2G certificate chain is not installed with InstallCertificate".into());
        }
        Ok(())
    }
}

/// Parameters of a certificate listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GetInstalledCertificates {
    /// Only these kinds (all when empty).
    #[serde(default)]
    pub kinds: Vec<CertificateUse>,
}

ocpp_enum! {
    /// The answer to a listing (GetInstalledCertificateStatusEnumType; 1.6
    /// GetInstalledCertificateStatusEnumType).
    GetInstalledCertificateStatus { Accepted, NotFound }
}

/// An installed certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InstalledCertificate {
    /// What it is.
    pub kind: CertificateUse,
    /// Its hashes.
    pub hash: CertificateHash,
    /// The hashes of the certificates below it in a V2G chain (2.0.1).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<CertificateHash>,
}

/// What a station answered to a listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GetInstalledCertificatesOutcome {
    /// `NotFound` when no certificate of the kinds asked for is installed.
    pub status: GetInstalledCertificateStatus,
    /// The reason it gave, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The certificates.
    pub certificates: Vec<InstalledCertificate>,
}

impl Answer for GetInstalledCertificatesOutcome {
    fn status(&self) -> Option<&'static str> {
        Some(self.status.as_str())
    }
}

impl Spec for GetInstalledCertificates {
    type Outcome = GetInstalledCertificatesOutcome;
}

/// Parameters of a certificate deletion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeleteCertificate {
    /// The certificate.
    pub certificate: CertificateHash,
}

status_command! {
    /// What a station answered to a deletion.
    DeleteCertificate => DeleteCertificateOutcome,
    /// The answer to a deletion (DeleteCertificateStatusEnumType, both versions).
    DeleteCertificateStatus { Accepted, Failed, NotFound }
}
