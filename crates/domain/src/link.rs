//! The port through which the API and other modules learn about and command connected
//! stations. The gateway implements it; nothing outside the gateway touches a socket.

use crate::Time;
use crate::commands::{Command, Outcome, SendError};
use crate::store::BoxFut;

/// A live connection of a station.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// The OCPP version it speaks, as people write it (`1.6`, `2.0.1`).
    pub protocol: String,
    /// When it connected.
    pub since: Time,
}

/// What sending a command comes to: the station's typed answer, or why there is none.
pub type Sent<'a> = BoxFut<'a, Result<Outcome, SendError>>;

/// What is known of connected stations.
pub trait StationLink: Send + Sync {
    /// The station's connection, if it is connected.
    fn connection(&self, station_id: &str) -> Option<Connection>;

    /// How many stations are connected.
    fn connected(&self) -> usize;

    /// The ids of the stations connected now.
    fn connected_ids(&self) -> Vec<String>;

    /// Sends a command in the version the station speaks and waits for the answer. A command
    /// that takes several requests (a 1.6 configuration change per key) sends them in order.
    fn send<'a>(&'a self, station_id: &'a str, command: &'a Command) -> Sent<'a>;
}
