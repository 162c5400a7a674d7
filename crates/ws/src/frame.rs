//! WebSocket frames (RFC 6455 §5): a decoder for what a client sends, encoders for what the
//! server sends.

use crate::deflate;

/// Opcodes (RFC 6455 §5.2).
mod op {
    pub const CONTINUATION: u8 = 0x0;
    pub const TEXT: u8 = 0x1;
    pub const BINARY: u8 = 0x2;
    pub const CLOSE: u8 = 0x8;
    pub const PING: u8 = 0x9;
    pub const PONG: u8 = 0xA;
}

/// Close codes (RFC 6455 §7.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: normal closure.
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// 1001: the endpoint is going away (server shutdown, replaced connection).
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// 1002: protocol error.
    pub const PROTOCOL: CloseCode = CloseCode(1002);
    /// 1003: a data type the endpoint cannot accept.
    pub const UNSUPPORTED: CloseCode = CloseCode(1003);
    /// 1007: data inconsistent with the message type (invalid UTF-8 in a text message).
    pub const INVALID_DATA: CloseCode = CloseCode(1007);
    /// 1008: a policy violation.
    pub const POLICY: CloseCode = CloseCode(1008);
    /// 1009: a message too big to process.
    pub const TOO_BIG: CloseCode = CloseCode(1009);
    /// 1011: an unexpected condition in the server.
    pub const INTERNAL: CloseCode = CloseCode(1011);

    /// Whether a peer may send this code in a Close frame (RFC 6455 §7.4.1–7.4.2).
    fn valid_on_wire(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

/// A fault in what the client sent; the connection must be closed with [`WsError::code`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason} (close {})", code.0)]
pub struct WsError {
    /// The close code to send.
    pub code: CloseCode,
    /// Why, for the close frame and the log.
    pub reason: &'static str,
}

fn fault(code: CloseCode, reason: &'static str) -> WsError {
    WsError { code, reason }
}

/// How much of a message that is too big is kept to identify it.
pub const TOO_BIG_PREFIX: usize = 128;

/// What a client sent, one complete message or control frame at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A complete text message.
    Text(String),
    /// A complete binary message (OCPP has none): its length and first bytes.
    Binary {
        /// Its length.
        len: usize,
        /// Its first bytes (up to [`TOO_BIG_PREFIX`]).
        prefix: Vec<u8>,
    },
    /// A ping, to be answered with a pong carrying the same data.
    Ping(Vec<u8>),
    /// A pong.
    Pong,
    /// A close frame, with its code and reason if it had them.
    Close(Option<CloseCode>, String),
    /// A data message longer than the limit, read past without being kept: its size (as far
    /// as known) and its first bytes (up to [`TOO_BIG_PREFIX`], decompressed when possible),
    /// so that the receiver can still tell who sent it and answer.
    TooBig {
        /// Bytes received (the compressed size when compressed).
        size: u64,
        /// The start of the message.
        prefix: Vec<u8>,
    },
}

/// A data message being reassembled from fragments.
#[derive(Debug)]
struct Fragments {
    text: bool,
    compressed: bool,
    data: Vec<u8>,
    /// `Some(bytes so far)` once the message outgrew the limit: only its prefix is kept.
    too_big: Option<u64>,
}

/// A frame whose payload is longer than the limit, being read past.
#[derive(Debug)]
struct Skip {
    /// Payload bytes of this frame still to come.
    remaining: u64,
    mask: [u8; 4],
    /// Position in the masking cycle of the next byte.
    offset: usize,
    /// Whether the frame ends its message.
    fin: bool,
}

/// Decodes the bytes a client sends into [`Event`]s.
///
/// It holds no allocation while no frame is half-received, so an idle connection costs only
/// the struct itself. A message over the limit is never buffered: it is read past, and reported
/// as [`Event::TooBig`].
#[derive(Debug)]
pub struct Decoder {
    max_message: usize,
    deflate: bool,
    /// The start of a frame whose end has not arrived yet.
    carry: Vec<u8>,
    /// A fragmented data message in progress (or one being skipped).
    fragments: Option<Fragments>,
    /// A frame too long to keep, being read past.
    skip: Option<Skip>,
}

impl Decoder {
    /// A decoder that accepts messages of at most `max_message` bytes (after decompression),
    /// compressed ones only if permessage-deflate was negotiated.
    pub fn new(max_message: usize, deflate: bool) -> Decoder {
        Decoder {
            max_message,
            deflate,
            carry: Vec::new(),
            fragments: None,
            skip: None,
        }
    }

    /// True when no frame or message is half-received.
    pub fn is_idle(&self) -> bool {
        self.carry.is_empty() && self.fragments.is_none() && self.skip.is_none()
    }

    /// Decodes freshly read bytes (unmasking them in place), appending complete events to
    /// `out`. Bytes of an incomplete frame are kept for the next call.
    pub fn feed(&mut self, input: &mut [u8], out: &mut Vec<Event>) -> Result<(), WsError> {
        if self.carry.is_empty() {
            let used = self.frames(input, out)?;
            if used < input.len() {
                self.carry.extend_from_slice(&input[used..]);
            }
        } else {
            let mut buf = std::mem::take(&mut self.carry);
            buf.extend_from_slice(input);
            let used = self.frames(&mut buf, out)?;
            if used < buf.len() {
                buf.drain(..used);
                self.carry = buf;
            }
        }
        Ok(())
    }

    /// Decodes whole frames from the start of `buf`; returns how many bytes they took.
    fn frames(&mut self, buf: &mut [u8], out: &mut Vec<Event>) -> Result<usize, WsError> {
        let mut pos = self.skip_payload(buf, 0, out);
        if self.skip.is_some() {
            return Ok(pos);
        }
        while let Some(header) = Header::parse(&buf[pos..])? {
            if header.payload_len > self.max_message as u64 {
                if header.opcode >= 0x8 {
                    return Err(fault(CloseCode::PROTOCOL, "control frame too long"));
                }
                self.start_skip(&header)?;
                pos = self.skip_payload(buf, pos + header.len, out);
                if self.skip.is_some() {
                    return Ok(pos);
                }
                continue;
            }
            let end = pos + header.len + header.payload_len as usize;
            if end > buf.len() {
                break;
            }
            let payload = &mut buf[pos + header.len..end];
            unmask(payload, header.mask, 0);
            self.frame(&header, payload, out)?;
            pos = end;
        }
        Ok(pos)
    }

    /// Begins reading past a data frame longer than the limit.
    fn start_skip(&mut self, h: &Header) -> Result<(), WsError> {
        if h.rsv1 && (!self.deflate || h.opcode == op::CONTINUATION) {
            return Err(fault(CloseCode::PROTOCOL, "unexpected RSV1 bit"));
        }
        match (h.opcode, self.fragments.as_mut()) {
            (op::TEXT | op::BINARY, None) => {
                self.fragments = Some(Fragments {
                    text: h.opcode == op::TEXT,
                    compressed: h.rsv1,
                    data: Vec::new(),
                    too_big: Some(0),
                });
            }
            (op::CONTINUATION, Some(f)) => {
                f.too_big.get_or_insert(f.data.len() as u64);
            }
            (op::CONTINUATION, None) => {
                return Err(fault(CloseCode::PROTOCOL, "continuation without a message"));
            }
            _ => {
                return Err(fault(
                    CloseCode::PROTOCOL,
                    "new message before the previous one ended",
                ));
            }
        }
        self.skip = Some(Skip {
            remaining: h.payload_len,
            mask: h.mask,
            offset: 0,
            fin: h.fin,
        });
        Ok(())
    }

    /// Reads past the skipped frame's payload in `buf[pos..]`, keeping the message's prefix;
    /// returns the position after what it consumed.
    fn skip_payload(&mut self, buf: &mut [u8], pos: usize, out: &mut Vec<Event>) -> usize {
        let Some(skip) = self.skip.as_mut() else {
            return pos;
        };
        let take = skip.remaining.min((buf.len() - pos) as u64) as usize;
        let chunk = &mut buf[pos..pos + take];
        if let Some(f) = self.fragments.as_mut() {
            let room = TOO_BIG_PREFIX.saturating_sub(f.data.len()).min(take);
            if room > 0 {
                unmask(&mut chunk[..room], skip.mask, skip.offset);
                f.data.extend_from_slice(&chunk[..room]);
            }
            if let Some(n) = f.too_big.as_mut() {
                *n += take as u64;
            }
        }
        skip.offset = (skip.offset + take) % 4;
        skip.remaining -= take as u64;
        if skip.remaining == 0 {
            let fin = skip.fin;
            self.skip = None;
            if fin && let Some(f) = self.fragments.take() {
                out.push(too_big(f));
            }
        }
        pos + take
    }

    fn frame(&mut self, h: &Header, payload: &[u8], out: &mut Vec<Event>) -> Result<(), WsError> {
        if h.rsv1 && (!self.deflate || !matches!(h.opcode, op::TEXT | op::BINARY)) {
            return Err(fault(CloseCode::PROTOCOL, "unexpected RSV1 bit"));
        }
        match h.opcode {
            op::TEXT | op::BINARY => {
                if self.fragments.is_some() {
                    return Err(fault(
                        CloseCode::PROTOCOL,
                        "new message before the previous one ended",
                    ));
                }
                let text = h.opcode == op::TEXT;
                if h.fin {
                    out.push(self.message(text, h.rsv1, payload)?);
                } else {
                    self.fragments = Some(Fragments {
                        text,
                        compressed: h.rsv1,
                        data: payload.to_vec(),
                        too_big: None,
                    });
                }
            }
            op::CONTINUATION => {
                let Some(f) = self.fragments.as_mut() else {
                    return Err(fault(CloseCode::PROTOCOL, "continuation without a message"));
                };
                match f.too_big.as_mut() {
                    Some(n) => *n += payload.len() as u64,
                    None if f.data.len() + payload.len() > self.max_message => {
                        f.too_big = Some((f.data.len() + payload.len()) as u64);
                        let room = TOO_BIG_PREFIX
                            .saturating_sub(f.data.len())
                            .min(payload.len());
                        f.data.extend_from_slice(&payload[..room]);
                        f.data.truncate(TOO_BIG_PREFIX);
                        f.data.shrink_to_fit();
                    }
                    None => f.data.extend_from_slice(payload),
                }
                if h.fin
                    && let Some(f) = self.fragments.take()
                {
                    out.push(match f.too_big {
                        Some(_) => too_big(f),
                        None => self.message(f.text, f.compressed, &f.data)?,
                    });
                }
            }
            op::PING => out.push(Event::Ping(payload.to_vec())),
            op::PONG => out.push(Event::Pong),
            op::CLOSE => out.push(close_event(payload)?),
            _ => return Err(fault(CloseCode::PROTOCOL, "unknown opcode")),
        }
        Ok(())
    }

    fn message(&self, text: bool, compressed: bool, data: &[u8]) -> Result<Event, WsError> {
        let bytes = if compressed {
            let mut inflated = Vec::new();
            match deflate::inflate(data, self.max_message, &mut inflated) {
                Ok(()) => inflated,
                Err(e) if e.code == CloseCode::TOO_BIG => {
                    inflated.truncate(TOO_BIG_PREFIX);
                    return Ok(Event::TooBig {
                        size: data.len() as u64,
                        prefix: inflated,
                    });
                }
                Err(e) => return Err(e),
            }
        } else {
            data.to_vec()
        };
        if !text {
            let len = bytes.len();
            let mut prefix = bytes;
            prefix.truncate(TOO_BIG_PREFIX);
            return Ok(Event::Binary { len, prefix });
        }
        String::from_utf8(bytes)
            .map(Event::Text)
            .map_err(|_| fault(CloseCode::INVALID_DATA, "text message is not UTF-8"))
    }
}

/// The event for a message that outgrew the limit; a compressed prefix is inflated as far as
/// it goes.
fn too_big(f: Fragments) -> Event {
    let mut prefix = f.data;
    if f.compressed {
        let mut inflated = Vec::new();
        let _ = deflate::inflate(&prefix, TOO_BIG_PREFIX, &mut inflated);
        inflated.truncate(TOO_BIG_PREFIX);
        prefix = inflated;
    }
    Event::TooBig {
        size: f.too_big.unwrap_or_default(),
        prefix,
    }
}

fn close_event(payload: &[u8]) -> Result<Event, WsError> {
    match payload.len() {
        0 => Ok(Event::Close(None, String::new())),
        1 => Err(fault(CloseCode::PROTOCOL, "close frame of one byte")),
        _ => {
            let code = CloseCode(u16::from_be_bytes([payload[0], payload[1]]));
            if !code.valid_on_wire() {
                return Err(fault(CloseCode::PROTOCOL, "invalid close code"));
            }
            let reason = std::str::from_utf8(&payload[2..])
                .map_err(|_| fault(CloseCode::INVALID_DATA, "close reason is not UTF-8"))?;
            Ok(Event::Close(Some(code), reason.to_string()))
        }
    }
}

/// A parsed frame header.
#[derive(Debug)]
struct Header {
    fin: bool,
    rsv1: bool,
    opcode: u8,
    mask: [u8; 4],
    /// Header length in bytes.
    len: usize,
    payload_len: u64,
}

impl Header {
    /// Parses a client frame header; `None` if `b` does not hold all of it yet.
    fn parse(b: &[u8]) -> Result<Option<Header>, WsError> {
        if b.len() < 2 {
            return Ok(None);
        }
        let fin = b[0] & 0x80 != 0;
        let rsv1 = b[0] & 0x40 != 0;
        if b[0] & 0x30 != 0 {
            return Err(fault(CloseCode::PROTOCOL, "RSV2 or RSV3 set"));
        }
        let opcode = b[0] & 0x0F;
        if b[1] & 0x80 == 0 {
            return Err(fault(CloseCode::PROTOCOL, "client frames must be masked"));
        }
        let (payload_len, mut len) = match b[1] & 0x7F {
            126 => {
                if b.len() < 4 {
                    return Ok(None);
                }
                (u16::from_be_bytes([b[2], b[3]]) as u64, 4)
            }
            127 => {
                if b.len() < 10 {
                    return Ok(None);
                }
                let mut n = [0u8; 8];
                n.copy_from_slice(&b[2..10]);
                (u64::from_be_bytes(n), 10)
            }
            n => (n as u64, 2),
        };
        if opcode >= 0x8 && (!fin || payload_len > 125) {
            return Err(fault(
                CloseCode::PROTOCOL,
                "control frames must be short and whole",
            ));
        }
        if b.len() < len + 4 {
            return Ok(None);
        }
        let mut mask = [0u8; 4];
        mask.copy_from_slice(&b[len..len + 4]);
        len += 4;
        Ok(Some(Header {
            fin,
            rsv1,
            opcode,
            mask,
            len,
            payload_len,
        }))
    }
}

/// Unmasks `payload`, whose first byte is at position `offset` of the masking cycle.
fn unmask(payload: &mut [u8], mask: [u8; 4], offset: usize) {
    let mask = [
        mask[offset % 4],
        mask[(offset + 1) % 4],
        mask[(offset + 2) % 4],
        mask[(offset + 3) % 4],
    ];
    // Eight bytes at a time, then the rest.
    let wide = u64::from_ne_bytes([
        mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3],
    ]);
    let mut chunks = payload.chunks_exact_mut(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        c.copy_from_slice(&(u64::from_ne_bytes(w) ^ wide).to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= mask[i % 4];
    }
}

/// Messages shorter than this go out uncompressed even when compression is on: compressing a
/// heartbeat costs more than it saves.
pub const MIN_COMPRESS: usize = 256;

/// Appends an unfragmented, unmasked server frame.
fn push_frame(out: &mut Vec<u8>, opcode: u8, rsv1: bool, payload: &[u8]) {
    out.push(0x80 | if rsv1 { 0x40 } else { 0 } | opcode);
    match payload.len() {
        n if n < 126 => out.push(n as u8),
        n if n <= u16::MAX as usize => {
            out.push(126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
}

/// Appends a text message, compressed when `compress` and it is worth it.
pub fn encode_text(out: &mut Vec<u8>, text: &str, compress: bool) {
    if compress && text.len() >= MIN_COMPRESS {
        let mut packed = Vec::with_capacity(text.len() / 2);
        deflate::deflate(text.as_bytes(), &mut packed);
        push_frame(out, op::TEXT, true, &packed);
    } else {
        push_frame(out, op::TEXT, false, text.as_bytes());
    }
}

/// Appends a ping.
pub fn encode_ping(out: &mut Vec<u8>, data: &[u8]) {
    push_frame(out, op::PING, false, &data[..data.len().min(125)]);
}

/// Appends a pong answering a ping's data.
pub fn encode_pong(out: &mut Vec<u8>, data: &[u8]) {
    push_frame(out, op::PONG, false, &data[..data.len().min(125)]);
}

/// Appends a close frame; the reason is cut to fit the 125-byte control frame limit.
pub fn encode_close(out: &mut Vec<u8>, code: CloseCode, reason: &str) {
    let mut cut = reason.len().min(123);
    while !reason.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut payload = Vec::with_capacity(2 + cut);
    payload.extend_from_slice(&code.0.to_be_bytes());
    payload.extend_from_slice(&reason.as_bytes()[..cut]);
    push_frame(out, op::CLOSE, false, &payload);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A client frame: masked, optionally compressed.
    fn client_frame(opcode: u8, fin: bool, rsv1: bool, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
        let mut out = vec![if fin { 0x80 } else { 0 } | if rsv1 { 0x40 } else { 0 } | opcode];
        match payload.len() {
            n if n < 126 => out.push(0x80 | n as u8),
            n if n <= 65535 => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    fn decode_all(d: &mut Decoder, bytes: &[u8], chunk: usize) -> Result<Vec<Event>, WsError> {
        let mut out = Vec::new();
        for c in bytes.chunks(chunk.max(1)) {
            d.feed(&mut c.to_vec(), &mut out)?;
        }
        Ok(out)
    }

    #[test]
    fn text_ping_close() {
        let mut bytes = client_frame(
            op::TEXT,
            true,
            false,
            b"[2,\"1\",\"Heartbeat\",{}]",
            [1, 2, 3, 4],
        );
        bytes.extend(client_frame(op::PING, true, false, b"hi", [9, 9, 9, 9]));
        bytes.extend(client_frame(
            op::CLOSE,
            true,
            false,
            &[0x03, 0xE8, b'o', b'k'],
            [0, 1, 0, 1],
        ));
        let mut d = Decoder::new(1024, false);
        let events = decode_all(&mut d, &bytes, 3).expect("valid");
        assert_eq!(
            events,
            vec![
                Event::Text("[2,\"1\",\"Heartbeat\",{}]".into()),
                Event::Ping(b"hi".to_vec()),
                Event::Close(Some(CloseCode::NORMAL), "ok".into()),
            ]
        );
        assert!(d.is_idle());
    }

    #[test]
    fn faults_have_their_close_codes() {
        let cases: Vec<(Vec<u8>, CloseCode)> = vec![
            // Unmasked client frame.
            (vec![0x81, 0x01, b'a'], CloseCode::PROTOCOL),
            // Invalid UTF-8.
            (
                client_frame(op::TEXT, true, false, &[0xFF, 0xFE], [1, 2, 3, 4]),
                CloseCode::INVALID_DATA,
            ),
            // Fragmented control frame.
            (
                client_frame(op::PING, false, false, b"x", [1, 2, 3, 4]),
                CloseCode::PROTOCOL,
            ),
            // Compressed without negotiation.
            (
                client_frame(op::TEXT, true, true, b"x", [1, 2, 3, 4]),
                CloseCode::PROTOCOL,
            ),
            // Continuation without a start.
            (
                client_frame(op::CONTINUATION, true, false, b"x", [1, 2, 3, 4]),
                CloseCode::PROTOCOL,
            ),
            // Reserved opcode.
            (
                client_frame(0x3, true, false, b"x", [1, 2, 3, 4]),
                CloseCode::PROTOCOL,
            ),
            // Close code that may not be sent.
            (
                client_frame(op::CLOSE, true, false, &[0x03, 0xED], [1, 2, 3, 4]),
                CloseCode::PROTOCOL,
            ),
        ];
        for (bytes, code) in cases {
            let mut d = Decoder::new(1024, false);
            let e = decode_all(&mut d, &bytes, 1000).expect_err("fault");
            assert_eq!(e.code, code, "{e}");
        }
    }

    /// A message over the limit is read past, keeping only its start; the next message is
    /// read normally.
    #[test]
    fn messages_over_the_limit_are_skipped() {
        let big = format!(
            "[2,\"big-1\",\"DataTransfer\",{{\"data\":\"{}\"}}]",
            "x".repeat(5000)
        );
        let mut packed = Vec::new();
        deflate::deflate(big.as_bytes(), &mut packed);
        let mut fragmented = Vec::new();
        let parts: Vec<&[u8]> = big.as_bytes().chunks(700).collect();
        for (i, p) in parts.iter().enumerate() {
            let opcode = if i == 0 { op::TEXT } else { op::CONTINUATION };
            fragmented.extend(client_frame(
                opcode,
                i + 1 == parts.len(),
                false,
                p,
                [5, 6, 7, 8],
            ));
        }
        let cases = vec![
            // One frame.
            client_frame(op::TEXT, true, false, big.as_bytes(), [1, 2, 3, 4]),
            // Fragments, each under the limit, together over it.
            fragmented,
            // Compressed: small on the wire, big once inflated.
            client_frame(op::TEXT, true, true, &packed, [9, 9, 1, 2]),
        ];
        let next = b"[2,\"n\",\"Heartbeat\",{}]";
        for (i, mut bytes) in cases.into_iter().enumerate() {
            bytes.extend(client_frame(op::TEXT, true, false, next, [3, 3, 3, 3]));
            for chunk in [1, 13, 100_000] {
                let mut d = Decoder::new(1024, true);
                let events = decode_all(&mut d, &bytes, chunk).expect("valid");
                assert_eq!(events.len(), 2, "case {i}, chunk {chunk}");
                match &events[0] {
                    Event::TooBig { prefix, .. } => {
                        assert!(prefix.starts_with(b"[2,\"big-1\""), "case {i}: {prefix:?}");
                        assert!(prefix.len() <= TOO_BIG_PREFIX);
                    }
                    other => panic!("case {i}: {other:?}"),
                }
                assert_eq!(events[1], Event::Text(String::from_utf8_lossy(next).into()));
                assert!(d.is_idle());
            }
        }
    }

    #[test]
    fn binary_is_reported_not_kept() {
        let bytes = client_frame(op::BINARY, true, false, &[0, 1, 2], [1, 2, 3, 4]);
        let mut d = Decoder::new(1024, false);
        assert_eq!(
            decode_all(&mut d, &bytes, 10).expect("valid"),
            vec![Event::Binary {
                len: 3,
                prefix: vec![0, 1, 2]
            }]
        );
    }

    #[test]
    fn compressed_messages_inflate_and_respect_the_limit() {
        let text = "[2,\"1\",\"MeterValues\",{}]".repeat(40);
        let mut packed = Vec::new();
        deflate::deflate(text.as_bytes(), &mut packed);
        assert!(packed.len() < text.len() / 4);
        let bytes = client_frame(op::TEXT, true, true, &packed, [7, 7, 7, 7]);
        let mut d = Decoder::new(4096, true);
        assert_eq!(
            decode_all(&mut d, &bytes, 7).expect("valid"),
            vec![Event::Text(text.clone())]
        );
        // Small on the wire, too big once inflated: read past, never inflated beyond the limit.
        let mut d = Decoder::new(100, true);
        let events = decode_all(&mut d, &bytes, 64).expect("valid");
        assert!(
            matches!(&events[..], [Event::TooBig { prefix, .. }] if prefix.len() <= TOO_BIG_PREFIX)
        );
    }

    #[test]
    fn server_frames_encode() {
        let mut out = Vec::new();
        encode_text(&mut out, "hi", true);
        assert_eq!(out, vec![0x81, 2, b'h', b'i']);
        out.clear();
        encode_close(&mut out, CloseCode::GOING_AWAY, &"é".repeat(100));
        assert_eq!(out[0], 0x88);
        assert!(out[1] as usize <= 125);
        assert!(std::str::from_utf8(&out[4..]).is_ok());
    }

    proptest! {
        /// Any sequence of messages, fragmented any way and read in chunks of any size, comes
        /// out whole and in order; the decoder holds nothing afterwards.
        #[test]
        fn messages_survive_any_split(
            msgs in proptest::collection::vec(("[a-zé中\"]{0,300}", 1usize..4, any::<bool>()), 1..6),
            chunk in 1usize..200,
            mask in any::<[u8; 4]>(),
        ) {
            let mut bytes = Vec::new();
            for (text, pieces, compress) in &msgs {
                let data = if *compress {
                    let mut p = Vec::new();
                    deflate::deflate(text.as_bytes(), &mut p);
                    p
                } else {
                    text.as_bytes().to_vec()
                };
                let size = data.len().div_ceil(*pieces).max(1);
                let parts: Vec<&[u8]> = if data.is_empty() { vec![&[][..]] } else { data.chunks(size).collect() };
                for (i, part) in parts.iter().enumerate() {
                    let opcode = if i == 0 { op::TEXT } else { op::CONTINUATION };
                    bytes.extend(client_frame(opcode, i + 1 == parts.len(), i == 0 && *compress, part, mask));
                    if i == 0 {
                        // A ping between fragments is allowed.
                        bytes.extend(client_frame(op::PING, true, false, b"p", mask));
                    }
                }
            }
            let mut d = Decoder::new(1 << 20, true);
            let events = decode_all(&mut d, &bytes, chunk).expect("valid");
            let texts: Vec<String> = events.into_iter().filter_map(|e| match e {
                Event::Text(t) => Some(t),
                _ => None,
            }).collect();
            let expected: Vec<String> = msgs.iter().map(|m| m.0.clone()).collect();
            prop_assert_eq!(texts, expected);
            prop_assert!(d.is_idle());
            prop_assert_eq!(d.carry.capacity(), 0);
        }

        /// Arbitrary bytes never panic the decoder.
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut d = Decoder::new(1024, true);
            let _ = decode_all(&mut d, &bytes, 17);
        }
    }
}
