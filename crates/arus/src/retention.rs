//! How long `arus serve` keeps what grows, and the hourly pruning that applies it.

use std::sync::Arc;
use std::time::Duration;

use arus_domain::retention::Retention;
use arus_domain::store::Store;
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

/// Prunes by `policy` once an hour (the first time a minute after the start).
pub(crate) async fn prune_forever(store: Arc<dyn Store>, policy: Retention) {
    let start = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut tick = tokio::time::interval_at(start, Duration::from_secs(3600));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match store.prune(policy, chrono::Utc::now()).await {
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
