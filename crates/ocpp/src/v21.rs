//! OCPP 2.1.
//!
//! The types come from the OCA 2.1 schemas, named as in [`crate::v201`]. 2.1 is not a superset of
//! 2.0.1: shared names may differ in shape, so nothing is shared between the two modules.

#[rustfmt::skip]
mod messages;

pub use messages::*;
