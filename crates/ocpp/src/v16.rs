//! OCPP 1.6 (edition 2, JSON) with the messages of the security extension (the "Improved
//! security for OCPP 1.6-J" white paper: SecurityEventNotification, SignCertificate, signed
//! firmware, logs and certificate management).
//!
//! The types come from the OCA 1.6 schemas; their names follow section 7 ("Types") of the 1.6
//! specification.

#[rustfmt::skip]
mod messages;

pub use messages::*;
