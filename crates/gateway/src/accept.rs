//! The OCPP opening handshake (OCPP-J 1.6 §3, OCPP 2.0.1 part 4 §3).
//!
//! In order: the station id from the path (percent-decoded); the station must be registered
//! unless unknown stations are allowed (else 404, part 4 §3.2); HTTP Basic credentials if it has
//! a password (else 401, security profile 1; 429 after too many failed logins, 503 when password
//! checks queue too long, both with `Retry-After`); the subprotocol, the newest OCPP version both sides
//! speak; permessage-deflate if offered (required of a CSMS by part 4 §3.3). With no version in
//! common the handshake completes without a subprotocol and the connection is closed at once
//! (part 4 §3.2, OCPP-J 1.6 §3.2).
//!
//! An OCPP 2.0.1 identity has at most 48 characters (part 4 §3.1.1); 1.6 sets no limit. A
//! longer id is therefore not offered 2.0.1: it gets 1.6 if the station speaks it, and is
//! refused with 400 and the reason if 2.0.1 was its only common version.

use std::net::SocketAddr;
use std::sync::Arc;

use arus_domain::StationId;
use arus_ocpp::Version;
use arus_ws::frame::{CloseCode, encode_close};
use arus_ws::handshake::{self, Request};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::Gateway;
use crate::auth::Verdict;
use crate::front::OCPP_PREFIX;

/// The versions Arus speaks, newest first.
const VERSIONS: [Version; 2] = [Version::V201, Version::V16];

/// Longest station id accepted, in bytes.
const MAX_ID: usize = 255;

/// Longest OCPP 2.0.1 identity, in characters (part 4 §3.1.1).
const MAX_ID_201: usize = 48;

/// The realm of the Basic challenge.
const CHALLENGE: &str = "Basic realm=\"Arus OCPP\", charset=\"UTF-8\"";

async fn refuse(stream: &mut TcpStream, status: u16, reason: &str, body: &str) {
    let extra: &[(&str, &str)] = match status {
        401 => &[("WWW-Authenticate", CHALLENGE)],
        429 | 503 => &[("Retry-After", "60")],
        _ => &[],
    };
    let _ = stream
        .write_all(&handshake::error_response(status, reason, extra, body))
        .await;
    let _ = stream.shutdown().await;
}

/// Decodes `%XX` escapes; `None` if they are malformed or the result is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_ID && !id.chars().any(|c| c.is_control() || c == '/')
}

/// The newest version both sides speak that allows the station's id, with the spelling the
/// client used.
fn choose_version<'a>(offered: &[&'a str], id: &str) -> Option<(Version, &'a str)> {
    let long = id.chars().count() > MAX_ID_201;
    VERSIONS
        .iter()
        .filter(|v| !(long && **v == Version::V201))
        .find_map(|v| {
            offered
                .iter()
                .find(|o| Version::from_subprotocol(o) == Some(*v))
                .map(|o| (*v, *o))
        })
}

/// A station through the handshake, ready for its session.
pub(crate) struct Accepted {
    pub stream: TcpStream,
    pub id: StationId,
    pub version: Version,
    /// `Some(compress outbound)` when permessage-deflate was negotiated.
    pub deflate: Option<bool>,
    /// The session's registration, taken before the station was told it is accepted.
    pub claim: crate::registry::Claim,
}

/// Runs the handshake; `None` when the station was refused (and told so). Everything the
/// handshake needed is dropped before the session starts, which keeps idle sessions small.
pub(crate) async fn handshake(
    gateway: &Gateway,
    mut stream: TcpStream,
    peer: SocketAddr,
    req: Request,
) -> Option<Accepted> {
    let m = arus_telemetry::metrics();
    if !req.is_upgrade() {
        m.error("handshake");
        refuse(
            &mut stream,
            400,
            "Bad Request",
            "stations connect with a WebSocket upgrade",
        )
        .await;
        return None;
    }
    let raw = req.path()[OCPP_PREFIX.len()..].trim_end_matches('/');
    let Some(id) = percent_decode(raw).filter(|id| valid_id(id)) else {
        m.error("handshake");
        refuse(&mut stream, 400, "Bad Request", "invalid station id").await;
        return None;
    };
    let record = match gateway.csms().store().station(&id).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(station = %id, error = %e, "station lookup failed");
            m.error("store");
            refuse(&mut stream, 503, "Service Unavailable", "try again later").await;
            return None;
        }
    };
    let password_hash = match record {
        None if !gateway.config().allow_unknown_stations => {
            tracing::warn!(station = %id, %peer, "unknown station refused");
            m.error("unknown_station");
            refuse(&mut stream, 404, "Not Found", "unknown station").await;
            return None;
        }
        None => None,
        Some(r) => r.password_hash,
    };
    if let Some(phc) = password_hash {
        let credentials = req
            .header("authorization")
            .and_then(crate::auth::parse_basic);
        let verdict = match credentials {
            Some((user, password)) if user == id || user == raw => {
                gateway.auth.verify(&id, peer.ip(), &phc, &password).await
            }
            _ => Verdict::Invalid,
        };
        match verdict {
            Verdict::Valid => {}
            Verdict::Invalid => {
                tracing::warn!(station = %id, %peer, "authentication failed");
                m.error("auth");
                refuse(&mut stream, 401, "Unauthorized", "authentication failed").await;
                return None;
            }
            Verdict::Throttled(t) => {
                static REPORT: crate::limits::Sparse = crate::limits::Sparse::new();
                if let Some(since) = REPORT.due() {
                    tracing::warn!(station = %id, %peer, limit = t.label(), refused_since_last_report = since, "login refused: too many failed logins");
                }
                m.auth_refused(t.label());
                let why = "too many failed logins: try again later";
                refuse(&mut stream, 429, "Too Many Requests", why).await;
                return None;
            }
            Verdict::Busy => {
                static REPORT: crate::limits::Sparse = crate::limits::Sparse::new();
                if let Some(since) = REPORT.due() {
                    tracing::warn!(station = %id, %peer, refused_since_last_report = since, "login refused: password checks queued too long");
                }
                m.auth_refused("queue_timeout");
                refuse(&mut stream, 503, "Service Unavailable", "try again later").await;
                return None;
            }
        }
    }
    let Some(key) = req.header("sec-websocket-key") else {
        refuse(&mut stream, 400, "Bad Request", "missing Sec-WebSocket-Key").await;
        return None;
    };
    let offered = req.protocols();
    let chosen = choose_version(&offered, &id);
    if chosen.is_none() && choose_version(&offered, "").is_some() {
        tracing::warn!(station = %id, %peer, "station id too long for OCPP 2.0.1");
        m.error("handshake");
        let why = "an OCPP 2.0.1 station id has at most 48 characters";
        refuse(&mut stream, 400, "Bad Request", why).await;
        return None;
    }
    let deflate = if gateway.config().compression && chosen.is_some() {
        handshake::negotiate_deflate(&req.header_list("sec-websocket-extensions"))
    } else {
        None
    };
    let response = handshake::switching_protocols(
        key,
        chosen.map(|c| c.1),
        deflate.as_ref().map(|d| d.response.as_str()),
    );
    // Registered before the station hears it is accepted: a station that connects again at
    // once must find this session registered, or it could be replaced by it.
    let id: StationId = Arc::from(id.as_str());
    let claim = chosen.map(|(version, _)| gateway.registry.claim(&id, version));
    if stream.write_all(&response).await.is_err() {
        if let Some(c) = claim {
            gateway.registry.unregister(&id, c.generation);
            c.link.finish();
        }
        return None;
    }
    let (Some((version, _)), Some(claim)) = (chosen, claim) else {
        tracing::warn!(station = %id, ?offered, "no common OCPP version");
        m.error("subprotocol");
        let mut close = Vec::new();
        encode_close(
            &mut close,
            CloseCode::PROTOCOL,
            "no common OCPP version: this server speaks ocpp2.0.1 and ocpp1.6",
        );
        let _ = stream.write_all(&close).await;
        let _ = stream.shutdown().await;
        return None;
    };
    tracing::info!(station = %id, %peer, version = %version, compressed = deflate.is_some(), "station connected");
    Some(Accepted {
        stream,
        id,
        version,
        deflate: deflate.map(|d| d.compress_outbound),
        claim,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert_eq!(percent_decode("RDAM%20123").as_deref(), Some("RDAM 123"));
        assert_eq!(percent_decode("RDAM%7C123").as_deref(), Some("RDAM|123"));
        assert_eq!(percent_decode("bad%2"), None);
        assert_eq!(percent_decode("bad%zz"), None);
        assert!(valid_id("CS-001"));
        assert!(!valid_id(""));
        assert!(!valid_id("a/b"));
    }

    #[test]
    fn newest_common_version() {
        assert_eq!(
            choose_version(&["ocpp1.6", "ocpp2.0.1"], "CS1").map(|c| c.0),
            Some(Version::V201)
        );
        assert_eq!(
            choose_version(&["ocpp2.1", "ocpp1.6"], "CS1").map(|c| c.0),
            Some(Version::V16)
        );
        assert_eq!(choose_version(&["ocpp1.5", "ocpp2.1"], "CS1"), None);
        assert_eq!(choose_version(&[], "CS1"), None);
    }

    /// Part 4 §3.1.1: a 2.0.1 identity has at most 48 characters; 1.6 has no limit.
    #[test]
    fn ids_longer_than_48_characters_do_not_get_201() {
        let at_limit = "x".repeat(48);
        let over = "x".repeat(49);
        let both = ["ocpp2.0.1", "ocpp1.6"];
        assert_eq!(
            choose_version(&both, &at_limit).map(|c| c.0),
            Some(Version::V201)
        );
        assert_eq!(
            choose_version(&both, &over).map(|c| c.0),
            Some(Version::V16)
        );
        assert_eq!(choose_version(&["ocpp2.0.1"], &over), None);
        // Characters, not bytes.
        assert_eq!(
            choose_version(&["ocpp2.0.1"], &"é".repeat(48)).map(|c| c.0),
            Some(Version::V201)
        );
    }
}
