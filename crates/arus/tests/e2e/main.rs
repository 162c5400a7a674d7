//! End-to-end tests: the real `arus` binary, real WebSockets and HTTP on loopback, on both
//! storage backends. Station frames come from tokio-tungstenite (an implementation Arus does
//! not share), and every answer Arus sends is checked against the official OCA schema with the
//! independent `jsonschema` validator.

mod common;

mod api;
mod bad_input;
mod cli;
mod durability;
mod handshake;
mod hardening;
mod limits;
mod liveness;
mod ocpp16;
mod ocpp201;
mod sim;
