//! How long `arus serve` keeps what grows, and the hourly pruning that applies it.

use std::sync::Arc;
use std::time::Duration;

use arus_domain::link::StationLink;
use arus_domain::retention::Retention;
use arus_domain::store::{Store, StoreError, Write};
use clap::Args;

/// Days each kind of data is kept (0: for ever); each also reads an environment variable.
#[derive(Debug, Args)]
pub(crate) struct RetentionArgs {
    /// Days meter values outside transactions are kept.
    #[arg(long, env = "ARUS_RETAIN_METER_VALUES_DAYS", default_value_t = 90)]
    retain_meter_values_days: u32,
    /// Days transactions are kept after they ended, with their events and meter values
    /// (billing data: 0, for ever, unless set).
    #[arg(long, env = "ARUS_RETAIN_TRANSACTIONS_DAYS", default_value_t = 0)]
    retain_transactions_days: u32,
    /// Days notices (status and security events, firmware and log progress, vendor data) are
    /// kept.
    #[arg(long, env = "ARUS_RETAIN_NOTICES_DAYS", default_value_t = 365)]
    retain_notices_days: u32,
    /// Days finished commands and bulk operations are kept.
    #[arg(long, env = "ARUS_RETAIN_COMMANDS_DAYS", default_value_t = 90)]
    retain_commands_days: u32,
    /// Days audit entries are kept.
    #[arg(long, env = "ARUS_RETAIN_AUDIT_DAYS", default_value_t = 365)]
    retain_audit_days: u32,
    /// Days finished webhook deliveries are kept.
    #[arg(
        long,
        env = "ARUS_RETAIN_WEBHOOK_DELIVERIES_DAYS",
        default_value_t = 30
    )]
    retain_webhook_deliveries_days: u32,
    /// Days a station that registered itself may stay unheard of (and without any transaction)
    /// before it is removed.
    #[arg(
        long,
        env = "ARUS_RETAIN_SELF_REGISTERED_STATIONS_DAYS",
        default_value_t = 30
    )]
    retain_self_registered_stations_days: u32,
}

fn days(n: u32) -> Option<Duration> {
    (n > 0).then(|| Duration::from_secs(u64::from(n) * 24 * 3600))
}

impl RetentionArgs {
    /// The policy.
    pub(crate) fn policy(&self) -> Retention {
        Retention {
            meter_values_outside_transactions: days(self.retain_meter_values_days),
            transactions: days(self.retain_transactions_days),
            notices: days(self.retain_notices_days),
            commands: days(self.retain_commands_days),
            audit: days(self.retain_audit_days),
            webhook_deliveries: days(self.retain_webhook_deliveries_days),
            self_registered_stations: days(self.retain_self_registered_stations_days),
        }
    }
}

/// Prunes by `policy` once an hour (the first time a minute after the start). Stations
/// connected at that moment are marked as seen first, so that a self-registered station that
/// has stayed connected for longer than its retention is never taken for one that went away.
pub(crate) async fn prune_forever(
    store: Arc<dyn Store>,
    link: Arc<dyn StationLink>,
    policy: Retention,
) {
    let start = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut tick = tokio::time::interval_at(start, Duration::from_secs(3600));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = chrono::Utc::now();
        if let Err(e) = mark_connected_seen(store.as_ref(), link.as_ref(), now).await {
            tracing::warn!(error = %e, "pruning postponed: connected stations could not be marked as seen");
            continue;
        }
        match store.prune(policy, now).await {
            Ok(p) if p.total() == 0 => {}
            Ok(p) => tracing::info!(
                meter_values = p.meter_values_outside_transactions,
                transactions = p.transactions,
                transaction_rows = p.transaction_rows,
                notices = p.notices,
                commands = p.commands,
                audit = p.audit,
                webhook_deliveries = p.webhook_deliveries,
                stations = p.stations,
                "pruned by the retention policy"
            ),
            Err(e) => tracing::warn!(error = %e, "pruning by the retention policy failed"),
        }
    }
}

/// Writes that every connected station was seen at `now`, in batches, and waits for them.
pub(crate) async fn mark_connected_seen(
    store: &dyn Store,
    link: &dyn StationLink,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), StoreError> {
    let ids = link.connected_ids();
    for chunk in ids.chunks(1000) {
        let writes = chunk
            .iter()
            .map(|id| Write::StationSeen {
                id: id.clone(),
                at: now,
            })
            .collect();
        store.commit(writes).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arus_domain::link::{Connection, Sent};
    use arus_domain::provisioning::RegistrationStatus;

    /// A link on which the given stations are connected.
    struct Connected(Vec<String>);

    impl StationLink for Connected {
        fn connection(&self, id: &str) -> Option<Connection> {
            self.0.iter().any(|c| c == id).then(|| Connection {
                protocol: "1.6".into(),
                since: chrono::Utc::now(),
            })
        }

        fn connected(&self) -> usize {
            self.0.len()
        }

        fn connected_ids(&self) -> Vec<String> {
            self.0.clone()
        }

        fn send<'a>(&'a self, _: &'a str, _: &'a arus_domain::commands::Command) -> Sent<'a> {
            Box::pin(async { Err(arus_domain::commands::SendError::NotConnected) })
        }
    }

    /// A self-registered station that has stayed connected longer than its retention (its
    /// last_seen_at dates from its connection) is kept; one that went away is removed.
    async fn connected_stations_are_not_pruned(b: &arus_store::testing::TestDatabase) {
        let s = b.open().await;
        let connected_at = chrono::Utc::now() - chrono::Duration::days(60);
        let mut writes = Vec::new();
        for id in ["STAYED", "WENT"] {
            writes.push(Write::PutStation {
                id: id.into(),
                password_hash: None,
                boot_policy: RegistrationStatus::Accepted,
                self_registered: true,
                at: connected_at,
            });
            writes.push(Write::StationSeen {
                id: id.into(),
                at: connected_at,
            });
        }
        s.commit(writes).await.expect("commit");
        let link = Connected(vec!["STAYED".into()]);
        let now = chrono::Utc::now();
        mark_connected_seen(s.as_ref(), &link, now)
            .await
            .expect("marked");
        let pruned = s.prune(Retention::default(), now).await.expect("pruned");
        assert_eq!(pruned.stations, 1);
        assert!(s.station("STAYED").await.expect("read").is_some());
        assert!(s.station("WENT").await.expect("read").is_none());
    }

    arus_store::both_backends!(connected_stations_are_not_pruned);
}
