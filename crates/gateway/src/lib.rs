//! The station side of Arus: the WebSocket server that charging stations connect to.
//!
//! # Layout
//!
//! - [`front`]: the listener. Each TCP connection's first request decides its fate: a WebSocket
//!   upgrade to `/ocpp/{stationId}` becomes a station session; anything else is handed to the
//!   HTTP service (the operator API).
//! - [`auth`]: security profile 1 (HTTP Basic, per-station argon2id password hashes).
//! - `accept`: the OCPP opening handshake: station lookup, credentials, subprotocol and
//!   permessage-deflate negotiation.
//! - `session`: one task per connected station: reads frames, answers CALLs through the
//!   adapters, sends CSMS-initiated CALLs one at a time, pings, and logs every frame.
//! - [`limits`]: what one client may take: connections in all and per address, failed logins,
//!   CALLs per second per station.
//! - `registry`: who is connected; a second connection of a station replaces the first.
//! - `commands`: the operator's version-neutral commands in each version's requests, and the
//!   answers folded back into one outcome.
//! - `v16`, `v201`: the protocol adapters, turning each version's messages into calls of the
//!   domain and the domain's answers into messages. Only these know both OCPP and the domain.
//!
//! # Invariants
//!
//! - A CALLRESULT that acknowledges data is sent only after the domain committed it.
//! - A station's CALLs are answered one at a time, in order; a flood of CALLs only queues behind
//!   itself (and beyond the station's CALL rate, nothing more is read from it until its rate
//!   allows), and a station that does not read its answers is disconnected after the write
//!   timeout, so no station can slow another.
//! - At most one CSMS-initiated CALL is outstanding per station; others wait their turn.
//! - Every frame sent is valid against its schema: answers are validated before they go out and
//!   an answer that would not be is replaced by an `InternalError` CALLERROR.

pub mod auth;
pub mod front;
pub mod limits;

mod accept;
mod adapter;
mod commands;
mod registry;
mod session;
mod v16;
mod v201;

use std::sync::Arc;
use std::time::Duration;

use arus_domain::Csms;
use arus_domain::commands::SendError;
use arus_domain::link::{Connection, StationLink};

/// Settings of the gateway.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Let stations that are not registered connect (without credentials); they are registered
    /// on first connection.
    pub allow_unknown_stations: bool,
    /// The largest message accepted, in bytes (after decompression). A larger one is answered
    /// with a CALLERROR and read past.
    pub max_message_bytes: usize,
    /// How often the CSMS pings an otherwise silent station; zero turns pings off. A station
    /// silent for twice this plus the call timeout is taken for gone.
    pub ping_interval: Duration,
    /// How long a CSMS-initiated CALL waits for its answer.
    pub call_timeout: Duration,
    /// How long writing a frame to a station may take before the station is disconnected as a
    /// slow reader.
    pub write_timeout: Duration,
    /// How long a client has to send its request head.
    pub handshake_timeout: Duration,
    /// How long an API connection kept alive may wait for its next request (head included).
    pub http_idle_timeout: Duration,
    /// Whether to negotiate permessage-deflate (OCPP 2.0.1 requires the CSMS to support it).
    pub compression: bool,
    /// Connections open at once, of every kind (0: no limit).
    pub max_connections: usize,
    /// Connections open at once from one source address (0: no limit).
    pub max_connections_per_address: usize,
    /// How much checking station passwords may take.
    pub auth: auth::AuthLimits,
    /// How fast one station's CALLs are read.
    pub call_rate: limits::CallRate,
    /// The most bytes of one frame kept in the frame log; a longer frame is logged cut.
    pub max_logged_frame: usize,
}

impl Default for GatewayConfig {
    fn default() -> GatewayConfig {
        GatewayConfig {
            allow_unknown_stations: false,
            max_message_bytes: 1 << 20,
            ping_interval: Duration::from_secs(30),
            call_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(10),
            http_idle_timeout: Duration::from_secs(60),
            compression: true,
            max_connections: 100_000,
            max_connections_per_address: 4096,
            auth: auth::AuthLimits::default(),
            call_rate: limits::CallRate {
                per_second: 50.0,
                burst: 100,
            },
            max_logged_frame: 64 * 1024,
        }
    }
}

/// The gateway: the domain service, the settings, and who is connected.
pub struct Gateway {
    csms: Arc<Csms>,
    config: GatewayConfig,
    registry: registry::Registry,
    auth: auth::Verifier,
    connections: Arc<limits::Connections>,
}

impl Gateway {
    /// A gateway over the domain service.
    pub fn new(csms: Arc<Csms>, config: GatewayConfig) -> Arc<Gateway> {
        Arc::new(Gateway {
            csms,
            registry: registry::Registry::default(),
            auth: auth::Verifier::new(config.auth),
            connections: Arc::new(limits::Connections::new(
                config.max_connections,
                config.max_connections_per_address,
            )),
            config,
        })
    }

    /// The domain service.
    pub fn csms(&self) -> &Arc<Csms> {
        &self.csms
    }

    /// The settings.
    pub fn config(&self) -> &GatewayConfig {
        &self.config
    }

    /// Sends a CSMS-initiated CALL to a connected station and waits for its answer (validated
    /// against the response schema). CALLs to one station leave one at a time, in order.
    pub async fn call<C: arus_ocpp::Call>(
        &self,
        station_id: &str,
        request: &C,
    ) -> Result<C::Response, SendError> {
        arus_ocpp::validate::Validate::validate(request)
            .map_err(|v| SendError::InvalidRequest(Arc::new(v)))?;
        let payload =
            serde_json::to_string(request).map_err(|e| SendError::InvalidRequest(Arc::new(e)))?;
        let answer = self
            .registry
            .call(station_id, C::VERSION, C::ACTION_NAME, payload)
            .await?;
        arus_ocpp::validate::decode::<C::Response>(&answer, C::response_schema())
            .map_err(|v| SendError::InvalidResponse(Arc::new(v)))
    }

    /// Closes every station connection (server shutdown): each gets a Close frame 1001.
    pub fn close_all(&self) {
        self.registry.close_all();
    }
}

impl StationLink for Gateway {
    fn connection(&self, station_id: &str) -> Option<Connection> {
        self.registry.connection(station_id)
    }

    fn connected(&self) -> usize {
        self.registry.len()
    }

    fn connected_ids(&self) -> Vec<String> {
        self.registry.ids()
    }

    fn send<'a>(
        &'a self,
        station_id: &'a str,
        command: &'a arus_domain::commands::Command,
    ) -> arus_domain::link::Sent<'a> {
        Box::pin(commands::send(self, station_id, command))
    }
}
