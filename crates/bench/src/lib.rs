//! Benchmarks of Arus against its peers.
//!
//! # Layout
//!
//! - [`echo`]: a bare WebSocket echo server with the same I/O model as Arus's gateway: the
//!   physical limit of the machine for a WebSocket round trip.
//! - [`runner`]: starts each server pinned to one CPU and the simulator pinned to the other,
//!   runs the scenarios (idle memory, connect storm, steady throughput, latency at a fixed
//!   rate), reads the server's CPU time and memory from `/proc`, and reports each figure raw,
//!   per server CPU-second, and as a ratio of Arus to each peer.

pub mod echo;
pub mod runner;
