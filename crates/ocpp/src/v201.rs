//! OCPP 2.0.1.
//!
//! The types come from the OCA 2.0.1 schemas; a schema definition `FooType` becomes the Rust type
//! `Foo`, and `FooEnumType` becomes `FooEnum`.

#[rustfmt::skip]
mod messages;

pub use messages::*;
