//! The opening handshake (RFC 6455 §4.2) seen from the server.
//!
//! [`Request::parse`] reads the HTTP request head; [`Request::is_upgrade`] says whether it asks
//! for a WebSocket; [`accept_key`], [`negotiate_deflate`] and [`switching_protocols`] build the
//! answer. Authentication and the choice of subprotocol are the caller's: only it knows its
//! stations and versions.

use base64::Engine as _;
use sha1::{Digest, Sha1};

/// The most header lines a request may have.
const MAX_HEADERS: usize = 48;

/// A parsed HTTP request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method (`GET`).
    pub method: String,
    /// The request target as sent (path and query, percent-encoded).
    pub target: String,
    /// Header names (lower-cased) and values, in order.
    pub headers: Vec<(String, String)>,
}

/// Why a request head could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// Not an HTTP/1.1 request head.
    #[error("malformed HTTP request")]
    Malformed,
    /// Header values must be text.
    #[error("header value is not UTF-8")]
    NotUtf8,
}

impl Request {
    /// Parses a request head from the start of `buf`. `Ok(None)`: not complete yet.
    /// `Ok(Some((request, n)))`: the head took the first `n` bytes.
    pub fn parse(buf: &[u8]) -> Result<Option<(Request, usize)>, HandshakeError> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        let n = match req.parse(buf) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(_) => return Err(HandshakeError::Malformed),
        };
        let headers = req
            .headers
            .iter()
            .map(|h| {
                std::str::from_utf8(h.value)
                    .map(|v| (h.name.to_ascii_lowercase(), v.trim().to_string()))
                    .map_err(|_| HandshakeError::NotUtf8)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some((
            Request {
                method: req.method.unwrap_or_default().to_string(),
                target: req.path.unwrap_or_default().to_string(),
                headers,
            },
            n,
        )))
    }

    /// The first value of header `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// All values of header `name`, split at commas (for list-valued headers).
    pub fn header_list(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect()
    }

    /// The path part of the target, without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }

    /// Whether this is a WebSocket opening handshake: `GET`, `Upgrade: websocket`,
    /// `Connection: upgrade`, version 13 and a key.
    pub fn is_upgrade(&self) -> bool {
        self.method == "GET"
            && self
                .header_list("upgrade")
                .iter()
                .any(|v| v.eq_ignore_ascii_case("websocket"))
            && self
                .header_list("connection")
                .iter()
                .any(|v| v.eq_ignore_ascii_case("upgrade"))
            && self.header("sec-websocket-version") == Some("13")
            && self.header("sec-websocket-key").is_some()
    }

    /// The subprotocols the client offers, in its order of preference.
    pub fn protocols(&self) -> Vec<&str> {
        self.header_list("sec-websocket-protocol")
    }
}

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key` (RFC 6455 §4.2.2).
pub fn accept_key(key: &str) -> String {
    let mut h = Sha1::new();
    h.update(key.trim().as_bytes());
    h.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    base64::engine::general_purpose::STANDARD.encode(h.finalize())
}

/// The outcome of permessage-deflate negotiation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deflate {
    /// The `Sec-WebSocket-Extensions` value to answer with.
    pub response: String,
    /// Whether the server may compress what it sends: only with a 15-bit window, as the
    /// compressor has no smaller one.
    pub compress_outbound: bool,
}

/// Accepts the first permessage-deflate offer in a `Sec-WebSocket-Extensions` header whose
/// parameters are valid (RFC 7692 §7.1), always with both `no_context_takeover` parameters (a
/// server may add `client_no_context_takeover` to any acceptance, §7.1.1.2). `None`: no
/// acceptable offer; the connection goes on uncompressed.
pub fn negotiate_deflate(offers: &[&str]) -> Option<Deflate> {
    'offer: for offer in offers {
        let mut parts = offer.split(';').map(str::trim);
        if parts.next() != Some("permessage-deflate") {
            continue;
        }
        let mut server_bits: Option<u8> = None;
        let mut seen: Vec<&str> = Vec::new();
        for p in parts {
            let (name, value) = match p.split_once('=') {
                Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
                None => (p, None),
            };
            if seen.contains(&name) {
                continue 'offer;
            }
            seen.push(name);
            match (name, value) {
                ("server_no_context_takeover" | "client_no_context_takeover", None) => {}
                ("client_max_window_bits", None) => {}
                ("client_max_window_bits", Some(v)) => match v.parse::<u8>() {
                    Ok(8..=15) => {}
                    _ => continue 'offer,
                },
                ("server_max_window_bits", Some(v)) => match v.parse::<u8>() {
                    Ok(b @ 8..=15) => server_bits = Some(b),
                    _ => continue 'offer,
                },
                _ => continue 'offer,
            }
        }
        let mut response = String::from(
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
        );
        if let Some(b) = server_bits {
            response.push_str(&format!("; server_max_window_bits={b}"));
        }
        return Some(Deflate {
            response,
            compress_outbound: server_bits.is_none_or(|b| b == 15),
        });
    }
    None
}

/// The `101 Switching Protocols` response.
pub fn switching_protocols(key: &str, protocol: Option<&str>, extensions: Option<&str>) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n",
        accept_key(key)
    );
    if let Some(p) = protocol {
        r.push_str(&format!("Sec-WebSocket-Protocol: {p}\r\n"));
    }
    if let Some(e) = extensions {
        r.push_str(&format!("Sec-WebSocket-Extensions: {e}\r\n"));
    }
    r.push_str("\r\n");
    r.into_bytes()
}

/// A plain HTTP error response that closes the connection.
pub fn error_response(
    status: u16,
    reason: &str,
    extra_headers: &[(&str, &str)],
    body: &str,
) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (n, v) in extra_headers {
        r.push_str(&format!("{n}: {v}\r\n"));
    }
    r.push_str("\r\n");
    r.push_str(body);
    r.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of RFC 6455 §1.3.
    #[test]
    fn accept_key_of_the_rfc_example() {
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn parses_an_upgrade() {
        let raw = b"GET /ocpp/CS%20001?x=1 HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ocpp2.0.1, ocpp1.6\r\n\r\n[2,";
        let (req, n) = Request::parse(raw).expect("valid").expect("complete");
        assert_eq!(&raw[n..], b"[2,");
        assert!(req.is_upgrade());
        assert_eq!(req.path(), "/ocpp/CS%20001");
        assert_eq!(req.protocols(), vec!["ocpp2.0.1", "ocpp1.6"]);
        assert_eq!(Request::parse(&raw[..20]).expect("valid"), None);
        assert!(Request::parse(b"\x00\x01garbage\r\n\r\n").is_err());
    }

    #[test]
    fn deflate_offers() {
        let d =
            negotiate_deflate(&["permessage-deflate; client_max_window_bits"]).expect("accepted");
        assert_eq!(
            d.response,
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
        );
        assert!(d.compress_outbound);
        let d = negotiate_deflate(&["permessage-deflate; server_max_window_bits=10"])
            .expect("accepted");
        assert!(d.response.ends_with("server_max_window_bits=10"));
        assert!(!d.compress_outbound);
        // A bad first offer falls back to the next.
        let d = negotiate_deflate(&[
            "permessage-deflate; server_max_window_bits=99",
            "permessage-deflate",
        ]);
        assert!(d.is_some());
        assert_eq!(negotiate_deflate(&["x-webkit-deflate-frame"]), None);
        assert_eq!(
            negotiate_deflate(&["permessage-deflate; unknown_param"]),
            None
        );
    }
}
