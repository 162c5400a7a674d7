//! A sans-IO WebSocket server codec: RFC 6455 framing and handshake, with RFC 7692
//! permessage-deflate.
//!
//! # Why its own
//!
//! OCPP 2.0.1 and 2.1 require the CSMS to support permessage-deflate, and Arus must keep an idle
//! station connection under a few KiB. The maintained Rust WebSocket crates either lack
//! permessage-deflate (tungstenite, tokio-websockets, fastwebsockets) or keep a zlib stream per
//! connection (hundreds of KiB each). This crate negotiates `server_no_context_takeover` and
//! `client_no_context_takeover`, so every message is compressed on its own and one compressor and
//! one decompressor per thread serve all connections; and it owns no buffer while a connection is
//! idle.
//!
//! # Layout
//!
//! - [`handshake`]: parsing the upgrade request, choosing the subprotocol and extension, writing
//!   the `101 Switching Protocols` response.
//! - [`frame`]: the frame decoder ([`Decoder`]), which reassembles messages, answers nothing
//!   itself and reports protocol faults with the close code RFC 6455 §7.4.1 names; and the
//!   encoder functions for server frames.
//! - [`deflate`]: per-message compression with thread-local codec state.
//!
//! # Invariants
//!
//! - Frames from the client must be masked; server frames never are (RFC 6455 §5.1).
//! - No message longer than the configured limit is ever buffered, compressed or not: a frame
//!   header announcing more is refused before its payload is read, and inflation stops at the
//!   limit.
//! - Text messages are valid UTF-8 when delivered.

pub mod deflate;
pub mod frame;
pub mod handshake;

pub use frame::{CloseCode, Decoder, Event, WsError};
