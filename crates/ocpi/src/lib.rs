//! OCPI 2.2.1, the roaming protocol between charge point operators and eMobility service
//! providers: its objects as Rust types, written once from the specification's module texts
//! and tested against every example it ships (`spec-examples/`, verbatim).
//!
//! So far the tariff module's model ([`tariffs`]), the charging periods of CDRs ([`cdrs`]) and
//! the types they use ([`types`]); the
//! transport, the other modules and the CPO role come with the roaming work. Like `arus-ocpp`,
//! this crate knows the wire shape only: the domain reaches OCPI through its own ports.
//!
//! # Invariants
//!
//! - Every example of the specification for these objects parses, passes [`tariffs::Tariff::check`]
//!   (but for the one the specification itself gets wrong), and writes back to the same JSON.
//! - Numbers are exact decimals ([`types::Number`]): `0.1` is one tenth, never a float's
//!   approximation of it, so that prices add up to the cent.

pub mod cdrs;
pub mod tariffs;
pub mod types;
