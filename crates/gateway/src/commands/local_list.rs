//! D Local authorization list in each version: SendLocalList and GetLocalListVersion.

use arus_domain::commands::*;
use arus_ocpp::{v16, v201};

use super::{Link, ToStation, convert, id_token, reason, time};

convert!(update_16: UpdateType => v16::UpdateType { Full, Differential });
convert!(update: UpdateType => v201::UpdateEnum { Full, Differential });
convert!(status_16: v16::UpdateStatus => SendLocalListStatus {
    Accepted, Failed, NotSupported, VersionMismatch
});
convert!(status: v201::SendLocalListStatusEnum => SendLocalListStatus {
    Accepted, Failed, VersionMismatch
});
convert!(authorization: AuthorizationStatus => v201::AuthorizationStatusEnum {
    Accepted, Blocked, ConcurrentTx, Expired, Invalid, NoCredit, NotAllowedTypeEVSE,
    NotAtThisLocation, NotAtThisTime, Unknown,
});

/// A status in 1.6's words: 1.6 has only the first five of 2.0.1's.
fn authorization_16(s: AuthorizationStatus) -> Result<v16::AuthorizationStatus, SendError> {
    use AuthorizationStatus as A;
    use v16::AuthorizationStatus as W;
    Ok(match s {
        A::Accepted => W::Accepted,
        A::Blocked => W::Blocked,
        A::Expired => W::Expired,
        A::Invalid => W::Invalid,
        A::ConcurrentTx => W::ConcurrentTx,
        other => {
            return Err(SendError::Invalid(format!(
                "the status {} is not in OCPP 1.6",
                other.as_str()
            )));
        }
    })
}

fn entry_16(e: &LocalListEntry) -> Result<v16::AuthorizationData, SendError> {
    Ok(v16::AuthorizationData {
        id_tag: e.id_token.clone(),
        id_tag_info: match e.status {
            Some(s) => Some(v16::IdTagInfo {
                expiry_date: e.expiry_date.as_ref().map(time),
                parent_id_tag: e.group_id_token.clone(),
                status: authorization_16(s)?,
            }),
            None => None,
        },
    })
}

fn entry(e: &LocalListEntry) -> v201::AuthorizationData {
    v201::AuthorizationData {
        custom_data: None,
        id_token: id_token(&e.id_token, e.id_token_type, IdTokenType::ISO14443),
        id_token_info: e.status.map(|s| v201::IdTokenInfo {
            custom_data: None,
            status: authorization(s),
            cache_expiry_date_time: e.expiry_date.as_ref().map(time),
            charging_priority: None,
            language1: None,
            evse_id: None,
            group_id_token: e
                .group_id_token
                .as_ref()
                .map(|g| id_token(g, None, IdTokenType::Central)),
            language2: None,
            personal_message: None,
        }),
    }
}

impl ToStation for SendLocalList {
    async fn send(&self, link: &Link<'_>) -> Result<SendLocalListOutcome, SendError> {
        if link.version == arus_ocpp::Version::V16 {
            let list = self
                .entries
                .iter()
                .map(entry_16)
                .collect::<Result<_, _>>()?;
            let a = link
                .call(&v16::SendLocalListRequest {
                    list_version: self.version,
                    local_authorization_list: Some(list),
                    update_type: update_16(self.update),
                })
                .await?;
            return Ok(SendLocalListOutcome {
                status: status_16(a.status),
                reason: None,
            });
        }
        let a = link
            .call(&v201::SendLocalListRequest {
                custom_data: None,
                local_authorization_list: (!self.entries.is_empty())
                    .then(|| self.entries.iter().map(entry).collect()),
                version_number: self.version,
                update_type: update(self.update),
            })
            .await?;
        Ok(SendLocalListOutcome {
            status: status(a.status),
            reason: reason(a.status_info),
        })
    }
}

impl ToStation for GetLocalListVersion {
    async fn send(&self, link: &Link<'_>) -> Result<GetLocalListVersionOutcome, SendError> {
        let version = if link.version == arus_ocpp::Version::V16 {
            link.call(&v16::GetLocalListVersionRequest {})
                .await?
                .list_version
        } else {
            link.call(&v201::GetLocalListVersionRequest { custom_data: None })
                .await?
                .version_number
        };
        Ok(GetLocalListVersionOutcome { version })
    }
}
