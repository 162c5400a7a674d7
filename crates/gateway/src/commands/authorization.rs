//! C Authorization in each version: ClearCache.

use arus_domain::commands::*;
use arus_ocpp::{v16, v201};

use super::{Link, ToStation, convert, reason};

convert!(status_16: v16::ClearCacheStatus => ClearCacheStatus { Accepted, Rejected });
convert!(status: v201::ClearCacheStatusEnum => ClearCacheStatus { Accepted, Rejected });

impl ToStation for ClearCache {
    async fn send(&self, link: &Link<'_>) -> Result<ClearCacheOutcome, SendError> {
        if link.version == arus_ocpp::Version::V16 {
            let a = link.call(&v16::ClearCacheRequest {}).await?;
            return Ok(ClearCacheOutcome {
                status: status_16(a.status),
                reason: None,
            });
        }
        let a = link
            .call(&v201::ClearCacheRequest { custom_data: None })
            .await?;
        Ok(ClearCacheOutcome {
            status: status(a.status),
            reason: reason(a.status_info),
        })
    }
}
