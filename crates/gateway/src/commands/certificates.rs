//! M Certificate management in each version: InstallCertificate, GetInstalledCertificateIds
//! (1.6 asks one certificate use at a time), DeleteCertificate.

use arus_domain::commands::*;
use arus_ocpp::{Version, v16, v201};

use super::{
    Link, ToStation, convert, hash_algorithm_of, hash_algorithm_of_16, hash_data, hash_data_16,
    reason, unsupported,
};

convert!(install_status_16: v16::InstallCertificateStatusEnum => InstallCertificateStatus {
    Accepted, Failed, Rejected
});
convert!(install_status: v201::InstallCertificateStatusEnum => InstallCertificateStatus {
    Accepted, Failed, Rejected
});
convert!(list_status: v201::GetInstalledCertificateStatusEnum => GetInstalledCertificateStatus {
    Accepted, NotFound
});
convert!(delete_status_16: v16::DeleteCertificateStatusEnum => DeleteCertificateStatus {
    Accepted, Failed, NotFound
});
convert!(delete_status: v201::DeleteCertificateStatusEnum => DeleteCertificateStatus {
    Accepted, Failed, NotFound
});
convert!(use_201: CertificateUse => v201::GetCertificateIdUseEnum {
    V2GRootCertificate, MORootCertificate, CSMSRootCertificate, V2GCertificateChain,
    ManufacturerRootCertificate,
});
convert!(use_of: v201::GetCertificateIdUseEnum => CertificateUse {
    V2GRootCertificate, MORootCertificate, CSMSRootCertificate, V2GCertificateChain,
    ManufacturerRootCertificate,
});

/// A certificate use in 1.6's words: 1.6 knows only the CSMS's and the manufacturer's roots.
fn use_16(kind: CertificateUse) -> Result<v16::CertificateUseEnum, SendError> {
    match kind {
        CertificateUse::CSMSRootCertificate => {
            Ok(v16::CertificateUseEnum::CentralSystemRootCertificate)
        }
        CertificateUse::ManufacturerRootCertificate => {
            Ok(v16::CertificateUseEnum::ManufacturerRootCertificate)
        }
        other => Err(unsupported(other.as_str(), Version::V16)),
    }
}

fn hash_of(h: v201::CertificateHashData) -> CertificateHash {
    CertificateHash {
        hash_algorithm: hash_algorithm_of(h.hash_algorithm),
        issuer_name_hash: h.issuer_name_hash,
        issuer_key_hash: h.issuer_key_hash,
        serial_number: h.serial_number,
    }
}

fn hash_of_16(h: v16::CertificateHashData) -> CertificateHash {
    CertificateHash {
        hash_algorithm: hash_algorithm_of_16(h.hash_algorithm),
        issuer_name_hash: h.issuer_name_hash,
        issuer_key_hash: h.issuer_key_hash,
        serial_number: h.serial_number,
    }
}

impl ToStation for InstallCertificate {
    async fn send(&self, link: &Link<'_>) -> Result<InstallCertificateOutcome, SendError> {
        if link.version == Version::V16 {
            let a = link
                .call(&v16::InstallCertificateRequest {
                    certificate_type: use_16(self.kind)?,
                    certificate: self.certificate.clone(),
                })
                .await?;
            return Ok(InstallCertificateOutcome {
                status: install_status_16(a.status),
                reason: None,
            });
        }
        use v201::InstallCertificateUseEnum as W;
        let certificate_type = match self.kind {
            CertificateUse::V2GRootCertificate => W::V2GRootCertificate,
            CertificateUse::MORootCertificate => W::MORootCertificate,
            CertificateUse::CSMSRootCertificate => W::CSMSRootCertificate,
            CertificateUse::ManufacturerRootCertificate => W::ManufacturerRootCertificate,
            CertificateUse::V2GCertificateChain => {
                return Err(SendError::Invalid(
                    "a V2G certificate chain is not installed with InstallCertificate".into(),
                ));
            }
        };
        let a = link
            .call(&v201::InstallCertificateRequest {
                custom_data: None,
                certificate_type,
                certificate: self.certificate.clone(),
            })
            .await?;
        Ok(InstallCertificateOutcome {
            status: install_status(a.status),
            reason: reason(a.status_info),
        })
    }
}

impl ToStation for GetInstalledCertificates {
    async fn send(&self, link: &Link<'_>) -> Result<GetInstalledCertificatesOutcome, SendError> {
        if link.version == Version::V16 {
            let kinds = if self.kinds.is_empty() {
                vec![
                    CertificateUse::CSMSRootCertificate,
                    CertificateUse::ManufacturerRootCertificate,
                ]
            } else {
                self.kinds.clone()
            };
            let mut certificates = Vec::new();
            for kind in kinds {
                let a = link
                    .call(&v16::GetInstalledCertificateIdsRequest {
                        certificate_type: use_16(kind)?,
                    })
                    .await?;
                certificates.extend(a.certificate_hash_data.into_iter().flatten().map(|h| {
                    InstalledCertificate {
                        kind,
                        hash: hash_of_16(h),
                        children: Vec::new(),
                    }
                }));
            }
            let status = if certificates.is_empty() {
                GetInstalledCertificateStatus::NotFound
            } else {
                GetInstalledCertificateStatus::Accepted
            };
            return Ok(GetInstalledCertificatesOutcome {
                status,
                reason: None,
                certificates,
            });
        }
        let a = link
            .call(&v201::GetInstalledCertificateIdsRequest {
                custom_data: None,
                certificate_type: (!self.kinds.is_empty())
                    .then(|| self.kinds.iter().copied().map(use_201).collect()),
            })
            .await?;
        Ok(GetInstalledCertificatesOutcome {
            status: list_status(a.status),
            reason: reason(a.status_info),
            certificates: a
                .certificate_hash_data_chain
                .into_iter()
                .flatten()
                .map(|c| InstalledCertificate {
                    kind: use_of(c.certificate_type),
                    hash: hash_of(c.certificate_hash_data),
                    children: c
                        .child_certificate_hash_data
                        .into_iter()
                        .flatten()
                        .map(hash_of)
                        .collect(),
                })
                .collect(),
        })
    }
}

impl ToStation for DeleteCertificate {
    async fn send(&self, link: &Link<'_>) -> Result<DeleteCertificateOutcome, SendError> {
        if link.version == Version::V16 {
            let a = link
                .call(&v16::DeleteCertificateRequest {
                    certificate_hash_data: hash_data_16(&self.certificate),
                })
                .await?;
            return Ok(DeleteCertificateOutcome {
                status: delete_status_16(a.status),
                reason: None,
            });
        }
        let a = link
            .call(&v201::DeleteCertificateRequest {
                custom_data: None,
                certificate_hash_data: hash_data(&self.certificate),
            })
            .await?;
        Ok(DeleteCertificateOutcome {
            status: delete_status(a.status),
            reason: reason(a.status_info),
        })
    }
}
