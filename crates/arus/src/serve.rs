//! `arus serve`: opens the store, makes sure an admin API token exists, and runs the gateway
//! and the API on one listener until SIGINT or SIGTERM.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use arus_domain::events::EventBus;
use arus_domain::provisioning::RegistrationStatus;
use arus_domain::store::{ApiTokenRecord, Role, Store, Write};
use arus_domain::{Csms, CsmsConfig};
use arus_gateway::{Gateway, GatewayConfig};
use clap::Args;

/// Settings of `arus serve`; each also reads an environment variable.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on, for stations and the API alike.
    #[arg(long, env = "ARUS_LISTEN", default_value = "0.0.0.0:8180")]
    listen: String,
    /// The database: a file path or sqlite://PATH (SQLite, the default), or postgres://...
    #[arg(long, env = "ARUS_DATABASE_URL", default_value = "sqlite://arus.db")]
    database: String,
    /// Let stations that are not registered connect without credentials (they are registered
    /// when they first connect).
    #[arg(long, env = "ARUS_ALLOW_UNKNOWN_STATIONS")]
    allow_unknown_stations: bool,
    /// How boots of stations registered by connecting are answered: Accepted, Pending or
    /// Rejected.
    #[arg(long, env = "ARUS_UNKNOWN_STATION_POLICY", default_value = "Accepted")]
    unknown_station_policy: String,
    /// The heartbeat interval given to accepted stations, in seconds.
    #[arg(long, env = "ARUS_HEARTBEAT_INTERVAL", default_value_t = 300)]
    heartbeat_interval: u32,
    /// After how many seconds a Pending or Rejected station boots again.
    #[arg(long, env = "ARUS_BOOT_RETRY_INTERVAL", default_value_t = 30)]
    boot_retry_interval: u32,
    /// The largest message a station may send, in bytes.
    #[arg(long, env = "ARUS_MAX_MESSAGE_SIZE", default_value_t = 1 << 20)]
    max_message_size: usize,
    /// Seconds between WebSocket pings to a station (0: none).
    #[arg(long, env = "ARUS_PING_INTERVAL", default_value_t = 30)]
    ping_interval: u64,
    /// Seconds a CSMS-initiated request waits for the station's answer.
    #[arg(long, env = "ARUS_CALL_TIMEOUT", default_value_t = 30)]
    call_timeout: u64,
    /// Seconds a station may take to read what is sent to it before it is disconnected.
    #[arg(long, env = "ARUS_WRITE_TIMEOUT", default_value_t = 30)]
    write_timeout: u64,
    /// Load management: the least time, in seconds, between two raises of one EVSE's limit
    /// (decreases are never held back). Longer spares stations' flash; shorter follows cars
    /// more closely.
    #[arg(long, env = "ARUS_LOAD_MIN_INTERVAL", default_value_t = 10.0, value_parser = positive_seconds)]
    load_min_interval: f64,
    /// Load management: seconds raises at a site wait after a limit there was lowered, so
    /// that the cars have followed it (IEC 61851-1 gives an EV 5 s).
    #[arg(long, env = "ARUS_LOAD_SETTLE", default_value_t = 5.0, value_parser = positive_seconds)]
    load_settle: f64,
    /// Load management: a raise smaller than this, in A, is not sent.
    #[arg(long, env = "ARUS_LOAD_HYSTERESIS", default_value_t = 1.0, value_parser = non_negative)]
    load_hysteresis: f64,
    /// Load management: seconds after a station boots or connects, or is sent profiles, until
    /// it is asked for its composite schedule to verify what it applied (a station that lost
    /// or ignores its profiles is found, and its model's quirk learnt); 0: never.
    #[arg(long, env = "ARUS_LOAD_VERIFY_AFTER", default_value_t = 30.0, value_parser = seconds_or_zero)]
    load_verify_after: f64,
    /// Do not negotiate permessage-deflate compression.
    #[arg(long, env = "ARUS_NO_COMPRESSION")]
    no_compression: bool,
    /// Days the frame log keeps frames.
    #[arg(long, env = "ARUS_FRAME_LOG_DAYS", default_value_t = 7)]
    frame_log_days: u32,
    /// The most frames the frame log keeps in all.
    #[arg(long, env = "ARUS_FRAME_LOG_MAX", default_value_t = 10_000_000)]
    frame_log_max: u64,
    /// How many recent events are kept in memory for live-stream clients that reconnect
    /// (`Last-Event-ID`).
    #[arg(long, env = "ARUS_EVENT_JOURNAL", default_value_t = 65_536)]
    event_journal: usize,
    /// Milliseconds before a failed webhook delivery is tried again (doubling each time, at
    /// most an hour).
    #[arg(long, env = "ARUS_WEBHOOK_RETRY_MS", default_value_t = 5_000)]
    webhook_retry_ms: u64,
    /// Attempts before a webhook delivery is kept as dead.
    #[arg(long, env = "ARUS_WEBHOOK_ATTEMPTS", default_value_t = 10)]
    webhook_attempts: u32,
    /// Internal networks webhooks may be sent to (CIDRs or addresses, comma-separated, such as
    /// `127.0.0.0/8,10.1.0.0/16`); targets on loopback, private, link-local and other internal
    /// addresses outside them are refused.
    #[arg(long, env = "ARUS_WEBHOOK_ALLOW_NETWORKS", default_value = "")]
    webhook_allow_networks: String,
    /// Log format: text or json.
    #[arg(long, env = "ARUS_LOG_FORMAT", default_value = "text")]
    log_format: String,
    /// Also run simulated stations against this server (a live demo: stations charging,
    /// faulting, going offline), registered with their id tokens.
    #[arg(long)]
    demo: bool,
    /// How many simulated stations the demo runs.
    #[arg(long, default_value_t = 30)]
    demo_stations: u32,
    #[command(flatten)]
    limits: crate::limits::LimitArgs,
    #[command(flatten)]
    retention: crate::retention::RetentionArgs,
}

pub(crate) fn run(args: ServeArgs) -> anyhow::Result<()> {
    init_logging(&args.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("arus")
        .build()
        .context("starting the runtime")?;
    runtime.block_on(serve(args))
}

fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ARUS_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let store = arus_store::open(&args.database)
        .await
        .with_context(|| format!("opening the database {}", redact(&args.database)))?;
    ensure_admin_token(store.as_ref()).await?;
    let unknown_station_policy = RegistrationStatus::parse(&args.unknown_station_policy)
        .context("--unknown-station-policy must be Accepted, Pending or Rejected")?;
    let csms = Arc::new(
        Csms::new(
            store.clone(),
            EventBus::new(args.event_journal),
            CsmsConfig {
                heartbeat_interval_s: args.heartbeat_interval,
                boot_retry_interval_s: args.boot_retry_interval,
                unknown_station_policy,
                max_vendor_data: args.limits.max_vendor_data,
            },
        )
        .await?,
    );
    let gateway = Gateway::new(
        csms.clone(),
        args.limits.apply(GatewayConfig {
            allow_unknown_stations: args.allow_unknown_stations,
            max_message_bytes: args.max_message_size,
            ping_interval: Duration::from_secs(args.ping_interval),
            call_timeout: Duration::from_secs(args.call_timeout),
            write_timeout: Duration::from_secs(args.write_timeout),
            compression: !args.no_compression,
            ..GatewayConfig::default()
        }),
    );
    // Operators read on capacity of their own: the station path keeps `store`'s.
    let operator_store = store.operator_view();
    let commander = arus_domain::commander::Commander::new(
        operator_store.clone(),
        gateway.clone(),
        csms.events().clone(),
    );
    commander.recover().await;
    tokio::spawn(commander.clone().run_background());
    // Load management: the sites' capacity divided live and sent as charging profiles.
    let load = Arc::new(arus_domain::load::LoadShared::default());
    tokio::spawn(
        arus_domain::load::LoadManager::new(
            operator_store.clone(),
            commander.clone(),
            csms.events().clone(),
            arus_domain::load::LoadConfig {
                hysteresis_a: args.load_hysteresis,
                min_interval: Duration::from_secs_f64(args.load_min_interval),
                settle: Duration::from_secs_f64(args.load_settle),
                verify_after: Duration::from_secs_f64(args.load_verify_after),
                ..arus_domain::load::LoadConfig::default()
            },
            load.clone(),
        )
        .run(),
    );
    let webhooks = arus_webhooks::Webhooks::new(
        operator_store.clone(),
        csms.events().clone(),
        arus_webhooks::Config {
            base_delay: Duration::from_millis(args.webhook_retry_ms),
            max_attempts: args.webhook_attempts,
            allowed_networks: arus_webhooks::target::parse_networks(&args.webhook_allow_networks)
                .map_err(|e| anyhow::anyhow!("--webhook-allow-networks: {e}"))?,
            ..arus_webhooks::Config::default()
        },
    )
    .await?;
    tokio::spawn(webhooks.clone().run());
    let api = arus_api::router(arus_api::ApiState {
        csms: csms.clone(),
        store: operator_store.clone(),
        link: gateway.clone(),
        commander,
        webhooks,
        command_wait: Duration::from_secs(args.call_timeout + 5),
        revocations: arus_api::Revocations::default(),
        load,
    });
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, database = %redact(&args.database), "arus is ready: stations connect to ws://{addr}/ocpp/{{stationId}}");
    tokio::spawn(prune_frames(
        operator_store.clone(),
        args.frame_log_days,
        args.frame_log_max,
    ));
    tokio::spawn(crate::retention::prune_forever(
        operator_store.clone(),
        gateway.clone(),
        args.retention.policy(),
    ));
    if args.demo {
        demo(store.as_ref(), addr, args.demo_stations).await?;
    }
    arus_gateway::front::serve(gateway.clone(), listener, api, shutdown_signal()).await;
    // Give sessions a moment to send their Close frames.
    for _ in 0..20 {
        if arus_domain::link::StationLink::connected(gateway.as_ref()) == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tracing::info!("stopped");
    Ok(())
}

/// The demo: registers simulated stations and their tokens, and starts them against this server.
async fn demo(store: &dyn Store, addr: std::net::SocketAddr, count: u32) -> anyhow::Result<()> {
    use arus_domain::authorization::{AuthorizationStatus, IdTokenRecord};
    let mut group = arus_sim::Group::new("DEMO", count, arus_sim::Mode::Realistic);
    group.speed = 60.0;
    group.session_gap = (Duration::from_secs(120), Duration::from_secs(1800));
    group.ramp = Duration::from_secs(5);
    group.offline_rate = 0.05;
    group.tokens = (1..=5)
        .map(|n| format!("DEMO-{n}"))
        .chain(["DEMO-BLOCKED".into()])
        .collect();
    let now = chrono::Utc::now();
    let mut writes: Vec<Write> = (0..count)
        .map(|n| Write::PutStation {
            id: group.station_id(n),
            password_hash: None,
            boot_policy: RegistrationStatus::Accepted,
            self_registered: false,
            at: now,
        })
        .collect();
    for t in &group.tokens {
        writes.push(Write::PutIdToken(IdTokenRecord {
            id_token: t.clone(),
            kind: "ISO14443".into(),
            status: if t.ends_with("BLOCKED") {
                AuthorizationStatus::Blocked
            } else {
                AuthorizationStatus::Accepted
            },
            group_id_token: Some("DEMO-FLEET".into()),
            expiry_date: None,
            // The simulated drivers share the demo cards.
            concurrent_use: true,
        }));
    }
    store.commit(writes).await?;
    let port = addr.port();
    let scenario = arus_sim::Scenario {
        url: format!("ws://127.0.0.1:{port}/ocpp"),
        duration: None,
        groups: vec![group],
    };
    let options = arus_sim::RunOptions {
        progress: false,
        ..arus_sim::RunOptions::default()
    };
    tokio::spawn(arus_sim::run(scenario, options, std::future::pending()));
    tracing::info!(
        stations = count,
        "demo: simulated stations are connecting (an hour passes in a minute); see /api/v1/stations and /api/v1/transactions"
    );
    Ok(())
}

/// Hides the password of a database URL.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// `ARUS_API_TOKEN` becomes an admin token; without it, the first start makes one and prints it
/// once. Only hashes are stored.
async fn ensure_admin_token(store: &dyn Store) -> anyhow::Result<()> {
    let now = chrono::Utc::now();
    if let Ok(token) = std::env::var("ARUS_API_TOKEN")
        && !token.is_empty()
    {
        let hash = arus_api::token_hash(&token);
        match store.api_token(&hash).await? {
            // A revoked token stays revoked: restarting must not bring it back.
            Some(t) if t.revoked_at.is_some() => tracing::error!(
                "ARUS_API_TOKEN was revoked and stays so; set another token or use an admin token"
            ),
            Some(_) => {}
            None => {
                store
                    .commit(vec![Write::PutApiToken(ApiTokenRecord {
                        name: "ARUS_API_TOKEN".into(),
                        hash,
                        role: Role::Admin,
                        created_at: now,
                        revoked_at: None,
                    })])
                    .await?
            }
        }
        return Ok(());
    }
    if store.api_token_count().await? > 0 {
        return Ok(());
    }
    let token = arus_api::new_token().map_err(|p| anyhow::anyhow!(p.detail))?;
    store
        .commit(vec![Write::PutApiToken(ApiTokenRecord {
            name: "initial admin".into(),
            hash: arus_api::token_hash(&token),
            role: Role::Admin,
            created_at: now,
            revoked_at: None,
        })])
        .await?;
    println!("Admin API token (shown only this once, keep it): {token}");
    Ok(())
}

async fn prune_frames(store: Arc<dyn Store>, days: u32, max: u64) {
    let mut tick = tokio::time::interval(Duration::from_secs(600));
    loop {
        tick.tick().await;
        let before = chrono::Utc::now() - chrono::Duration::days(days.into());
        match store.prune_frames(before, max).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(frames = n, "pruned the frame log"),
            Err(e) => tracing::warn!(error = %e, "pruning the frame log failed"),
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}

fn positive_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 86_400.0 => Ok(v),
        _ => Err(format!("`{s}`: a number of seconds above 0, at most 86400")),
    }
}

fn seconds_or_zero(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v == 0.0 => Ok(v),
        _ => positive_seconds(s),
    }
}

fn non_negative(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=1000.0).contains(&v) => Ok(v),
        _ => Err(format!("`{s}`: a number from 0 to 1000")),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact("postgres://arus:secret@db:5432/arus"),
            "postgres://arus:***@db:5432/arus"
        );
        assert_eq!(redact("sqlite://arus.db"), "sqlite://arus.db");
    }
}
