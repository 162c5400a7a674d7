//! What the fuzz targets do with their input, one function per target, so that the regression
//! test (`tests/regressions.rs`) replays every input that once failed through exactly the code
//! the fuzzer ran.
//!
//! Each function must not panic on any input, and checks what must hold whatever a peer sends:
//!
//! - [`ws_frames`]: the WebSocket decoder (plain and with permessage-deflate) gives the same
//!   events and the same verdict however the bytes are split into reads.
//! - [`handshake`]: a request head parses or is refused; the header lists and the deflate
//!   offer negotiation take whatever a client writes.
//! - [`ocpp_messages`]: every version's frame parser and every action's decoder take any text;
//!   the CALLERROR Arus would answer with is always a valid frame.

use arus_ocpp::Version;
use arus_ocpp::rpc::{self, Frame};
use arus_ws::frame::{Decoder, Event, WsError};
use arus_ws::handshake::{self, Request};

/// The largest message the decoder keeps (small, so that the fuzzer reaches the limit).
const MAX_MESSAGE: usize = 4096;

/// Feeds `bytes` to a fresh decoder in reads of `chunk` bytes: the events, and the error that
/// ended it, if one did.
fn decode(bytes: &[u8], deflate: bool, chunk: usize) -> (Vec<Event>, Option<WsError>) {
    let mut decoder = Decoder::new(MAX_MESSAGE, deflate);
    let mut events = Vec::new();
    let mut input = bytes.to_vec();
    for piece in input.chunks_mut(chunk.max(1)) {
        if let Err(e) = decoder.feed(piece, &mut events) {
            return (events, Some(e));
        }
    }
    (events, None)
}

/// The first byte chooses permessage-deflate (bit 0) and the size of the reads (the rest); the
/// other bytes are what a client sent after the handshake.
pub fn ws_frames(data: &[u8]) {
    let Some((&flags, bytes)) = data.split_first() else {
        return;
    };
    let deflate = flags & 1 == 1;
    let chunk = usize::from(flags >> 1) + 1;
    let whole = decode(bytes, deflate, bytes.len().max(1));
    let split = decode(bytes, deflate, chunk);
    assert_eq!(
        whole, split,
        "the decoder's result depends on how the bytes were read (reads of {chunk})"
    );
    for e in &whole.0 {
        if let Event::Text(t) = e {
            assert!(
                t.len() <= MAX_MESSAGE,
                "a text message over the limit was kept"
            );
        }
    }
}

/// The input is a request head (and what follows it).
pub fn handshake(data: &[u8]) {
    let Ok(Some((request, used))) = Request::parse(data) else {
        return;
    };
    assert!(used <= data.len(), "the head ends inside the input");
    let _ = request.path();
    let _ = request.is_upgrade();
    let _ = request.protocols();
    if let Some(key) = request.header("sec-websocket-key") {
        let _ = handshake::accept_key(key);
    }
    let offers = request.header_list("sec-websocket-extensions");
    if let Some(d) = handshake::negotiate_deflate(&offers) {
        assert!(
            d.response.starts_with("permessage-deflate"),
            "an extension answer that is not permessage-deflate: {}",
            d.response
        );
    }
}

/// The input is the text of a WebSocket message from a station.
pub fn ocpp_messages(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = rpc::peek(text);
    for version in [Version::V16, Version::V201, Version::V21] {
        let (id, code, description, details) = match rpc::parse(text, version) {
            Ok(Frame::Call {
                id,
                action,
                payload,
            }) => {
                let _ = arus_ocpp::redact::frame(&action, text, &|_, _| true);
                match arus_ocpp::decode_request(version, &action, payload.get()) {
                    Ok(()) => continue,
                    Err(e) => {
                        let details = e
                            .violation()
                            .map_or_else(|| "{}".to_string(), |v| v.error_details());
                        (id.to_string(), e.code(), e.to_string(), details)
                    }
                }
            }
            Ok(Frame::CallResult { payload, .. }) => {
                for action in ["BootNotification", "GetVariables", "TriggerMessage"] {
                    let _ = arus_ocpp::decode_response(version, action, payload.get());
                }
                continue;
            }
            Ok(_) => continue,
            Err(e) => match e.reply(version) {
                Some(r) => (r.id, r.code, r.description, "{}".to_string()),
                None => continue,
            },
        };
        let mut out = String::new();
        rpc::write_error(&mut out, version, &id, code, &description, &details);
        let answer: Result<Vec<serde_json::Value>, _> = serde_json::from_str(&out);
        match answer {
            Ok(a) => assert_eq!(a.len(), 5, "a CALLERROR has five elements: {out}"),
            Err(e) => panic!("the CALLERROR is not JSON ({e}): {out}"),
        }
    }
}
