//! The port through which the API and other modules learn about, and later command, connected
//! stations. The gateway implements it; nothing outside the gateway touches a socket.

use crate::Time;

/// A live connection of a station.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// The OCPP version it speaks, as people write it (`1.6`, `2.0.1`).
    pub protocol: String,
    /// When it connected.
    pub since: Time,
}

/// What is known of connected stations.
pub trait StationLink: Send + Sync {
    /// The station's connection, if it is connected.
    fn connection(&self, station_id: &str) -> Option<Connection>;

    /// How many stations are connected.
    fn connected(&self) -> usize;
}
