//! The Arus station simulator: from one to tens of thousands of virtual OCPP 1.6 and 2.0.1
//! charging stations, for demos, tests of CSMS commands, soak runs and benchmarks.
//!
//! # Layout
//!
//! - [`scenario`]: what to simulate: groups of stations (how many, which versions, how many
//!   EVSEs, credentials) and what they do ([`scenario::Mode`]), read from a TOML file or flags.
//! - `conn`: one station's WebSocket connection: CALLs with their answers, and the CSMS's CALLs
//!   answered while waiting (CALLs may cross, OCPP-J §4.1.1).
//! - `commands`: the answer to every CSMS-initiated action of both versions, so the simulator
//!   doubles as the station under test for the operations API.
//! - `messages`: the CALLs a station sends, built from the generated request types (and the
//!   benchmark loop's MeterValues template, rendered once from them).
//! - `behaviour`: what a station does: boot, status, sessions with a tapering power curve,
//!   faults, going offline and replaying its queued transaction events; or, for benchmarks, a
//!   closed loop of MeterValues and Heartbeats, or a fixed offered rate.
//! - [`ev`]: the cars: one or three phases, a maximum and minimum current, a battery whose
//!   charging tapers as it fills, a departure time.
//! - `profiles`: the charging profiles a station holds and the limit they put on each EVSE
//!   (the composite schedule it reports and its cars obey).
//! - [`stats`]: counters and a latency histogram shared by all stations, and the summary.
//! - [`run`]: starts the groups, spreads connections over loopback source addresses, shows
//!   progress, and returns the summary. With a [`Shard`] it runs only every n-th station, so
//!   several processes (each with its own open-file limit) can share one scenario;
//!   [`Summary::merge`] adds their summaries up.
//!
//! Messages and answers are built from the generated types of `arus-ocpp` and serialized with
//! serde, so everything the simulator sends is valid by construction and no OCPP property name is
//! written by hand (the benchmark loop fills a template rendered once from the same types, for
//! speed); answers from the CSMS are read into the generated response types.

mod behaviour;
mod commands;
mod conn;
pub mod ev;
mod messages;
mod profiles;
mod rng;
pub mod scenario;
pub mod stats;

mod runner;

pub use runner::{ArgError, RunOptions, Shard, parse_sources, print_progress, run};
pub use scenario::{Group, Mode, Scenario};
pub use stats::{CarSession, Progress, Stats, Summary};
