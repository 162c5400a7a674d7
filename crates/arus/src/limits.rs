//! The limits `arus serve` puts on what one client may take: connections, time to send a
//! request, failed logins, CALLs per second, and the sizes of what is stored.

use std::time::Duration;

use arus_gateway::GatewayConfig;
use arus_gateway::auth::AuthLimits;
use arus_gateway::limits::CallRate;
use clap::Args;

/// File descriptors kept for the database, logs and the like besides connections.
const RESERVED_FILES: u64 = 256;

/// Limits on clients; each also reads an environment variable.
#[derive(Debug, Args)]
pub(crate) struct LimitArgs {
    /// Connections open at once, stations and API clients together (0: no limit other than
    /// the process's file limit, which is raised as far as the system allows).
    #[arg(long, env = "ARUS_MAX_CONNECTIONS", default_value_t = 100_000)]
    max_connections: usize,
    /// Connections open at once from one source address (0: no limit). Raise it when stations
    /// reach Arus through a proxy or a NAT that shows them all under one address.
    #[arg(long, env = "ARUS_MAX_CONNECTIONS_PER_ADDRESS", default_value_t = 4096)]
    max_connections_per_address: usize,
    /// Seconds a new connection has to send its request head.
    #[arg(long, env = "ARUS_HEADER_TIMEOUT", default_value_t = 10)]
    header_timeout: u64,
    /// Seconds an API connection kept alive may wait for its next request.
    #[arg(long, env = "ARUS_HTTP_IDLE_TIMEOUT", default_value_t = 60)]
    http_idle_timeout: u64,
    /// Failed station logins a minute allowed for one station id; beyond, its logins are
    /// refused (429) unchecked, except with the password it last logged in with (0: no limit).
    #[arg(long, env = "ARUS_LOGIN_FAILURES_PER_STATION", default_value_t = 10)]
    login_failures_per_station: u32,
    /// Failed station logins a minute allowed from one address (0: no limit).
    #[arg(long, env = "ARUS_LOGIN_FAILURES_PER_ADDRESS", default_value_t = 60)]
    login_failures_per_address: u32,
    /// Seconds a station login may wait for its password check before it is refused (503).
    #[arg(long, env = "ARUS_LOGIN_QUEUE_TIMEOUT", default_value_t = 10)]
    login_queue_timeout: u64,
    /// CALLs a second one station may send; faster, its messages are read only as the rate
    /// allows (0: no limit).
    #[arg(long, env = "ARUS_STATION_CALL_RATE", default_value_t = 50.0)]
    station_call_rate: f64,
    /// CALLs one station may send at once after a quiet spell.
    #[arg(long, env = "ARUS_STATION_CALL_BURST", default_value_t = 100)]
    station_call_burst: u32,
    /// The most bytes of a DataTransfer's data that are stored; more is cut (and the notice
    /// says how large it was).
    #[arg(long, env = "ARUS_MAX_VENDOR_DATA", default_value_t = 16 * 1024)]
    pub(crate) max_vendor_data: usize,
    /// The most bytes of one frame kept in the frame log; a longer frame is logged cut.
    #[arg(long, env = "ARUS_MAX_LOGGED_FRAME", default_value_t = 64 * 1024)]
    max_logged_frame: usize,
}

impl LimitArgs {
    /// Raises the process's file limit for the connections allowed, and fills in the
    /// gateway's settings. When the system's limit is lower, the connection cap follows it, so
    /// that accepting never fails for want of a file descriptor.
    pub(crate) fn apply(&self, config: GatewayConfig) -> GatewayConfig {
        let wanted = match self.max_connections {
            0 => u64::MAX,
            n => n as u64,
        };
        let limit =
            rlimit::increase_nofile_limit(wanted.saturating_add(RESERVED_FILES)).unwrap_or(1024);
        let room =
            usize::try_from(limit.saturating_sub(RESERVED_FILES).max(1)).unwrap_or(usize::MAX);
        let max_connections = if self.max_connections == 0 || self.max_connections > room {
            if self.max_connections != 0 {
                tracing::warn!(
                    wanted = self.max_connections,
                    allowed = room,
                    "the file limit allows fewer connections than --max-connections"
                );
            }
            room
        } else {
            self.max_connections
        };
        GatewayConfig {
            max_connections,
            max_connections_per_address: self.max_connections_per_address,
            handshake_timeout: Duration::from_secs(self.header_timeout.max(1)),
            http_idle_timeout: Duration::from_secs(self.http_idle_timeout.max(1)),
            auth: AuthLimits {
                queue_timeout: Duration::from_secs(self.login_queue_timeout.max(1)),
                failures_per_station: self.login_failures_per_station,
                failures_per_address: self.login_failures_per_address,
                ..AuthLimits::default()
            },
            call_rate: CallRate {
                per_second: self.station_call_rate.max(0.0),
                burst: self.station_call_burst.max(1),
            },
            max_logged_frame: self.max_logged_frame.max(256),
            ..config
        }
    }
}
