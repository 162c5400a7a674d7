//! Where deliveries may go: the guard against a subscription that points Arus at its own
//! network (server-side request forgery).
//!
//! A target on a loopback, private, link-local, unique-local, shared (carrier-grade NAT),
//! unspecified, multicast or reserved address is refused unless it lies in a network the
//! operator allowed (`--webhook-allow-networks`). The check is made where the address is
//! known: at subscription for a literal address (and for a name that resolves only to such
//! addresses), and at every delivery on the addresses the name resolves to then
//! ([`GuardedResolver`]), so a name that later resolves elsewhere (DNS rebinding) is refused
//! too. Redirects are never followed (the client's policy), so a public receiver cannot send a
//! delivery on to an internal one.
//!
//! # Invariants
//!
//! - Every connection a delivery makes goes to an address [`permitted`] accepts: names are
//!   resolved only by [`GuardedResolver`], and literal addresses are checked before the request.
//! - IPv4 addresses inside IPv6 (mapped, compatible, NAT64) are judged as the IPv4 address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

pub use ipnet::IpNet;

/// Whether `ip` belongs to a network that is not the public internet.
pub fn internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => internal_v4(v4),
            None => internal_v6(v6),
        },
    }
}

fn internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        // Shared address space (carrier-grade NAT), RFC 6598.
        || (a == 100 && (64..128).contains(&b))
        // IETF protocol assignments, RFC 6890.
        || (a == 192 && b == 0 && c == 0)
        // Benchmarking, RFC 2544.
        || (a == 198 && (b == 18 || b == 19))
        // Reserved, RFC 1112.
        || a >= 240
}

fn internal_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        // Unique local fc00::/7.
        || (first & 0xfe00) == 0xfc00
        // Link-local fe80::/10.
        || (first & 0xffc0) == 0xfe80
        // Site-local fec0::/10 (deprecated, still routed internally by some).
        || (first & 0xffc0) == 0xfec0
        // Documentation 2001:db8::/32.
        || (first == 0x2001 && ip.segments()[1] == 0x0db8)
}

/// The IPv4 address an IPv6 address carries: mapped (`::ffff:a.b.c.d`), compatible
/// (`::a.b.c.d`) or NAT64 (`64:ff9b::a.b.c.d`).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = ip.segments();
    let tail = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    let compatible = s[..6].iter().all(|&x| x == 0) && !ip.is_loopback() && !ip.is_unspecified();
    let nat64 = s[0] == 0x64 && s[1] == 0xff9b && s[2..6].iter().all(|&x| x == 0);
    (compatible || nat64).then_some(tail)
}

/// Whether a delivery may go to `ip`: a public address, or one inside a network the operator
/// allowed.
pub fn permitted(ip: IpAddr, allowed: &[IpNet]) -> bool {
    let v4 = match ip {
        IpAddr::V6(v6) => embedded_v4(v6).map(IpAddr::V4),
        IpAddr::V4(_) => None,
    };
    !internal(ip)
        || allowed
            .iter()
            .any(|n| n.contains(&ip) || v4.is_some_and(|v| n.contains(&v)))
}

/// Parses the operator's list of allowed networks: CIDRs or single addresses, separated by
/// commas or spaces.
pub fn parse_networks(text: &str) -> Result<Vec<IpNet>, String> {
    text.split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("`{s}` is not a network (CIDR) or an address"))
        })
        .collect()
}

/// Why a target is refused, in words for the operator.
pub(crate) fn refusal(host: &str, ip: IpAddr) -> String {
    format!(
        "{host} is {ip}, an internal address: webhooks go there only if the operator allows its network (--webhook-allow-networks)"
    )
}

/// The resolver of the delivery client: resolves names as the system does and keeps only the
/// addresses [`permitted`] accepts; a name with none left fails to resolve, with the reason.
pub(crate) struct GuardedResolver {
    pub allowed: Arc<Vec<IpNet>>,
}

/// A name resolved only to refused addresses.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Refused(String);

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allowed = self.allowed.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let kept: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| permitted(a.ip(), &allowed))
                .collect();
            match (kept.is_empty(), found.first()) {
                (true, Some(a)) => Err(Box::new(Refused(refusal(&host, a.ip()))) as _),
                _ => Ok(Box::new(kept.into_iter()) as reqwest::dns::Addrs),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("an address")
    }

    #[test]
    fn internal_addresses_are_refused_public_ones_allowed() {
        for s in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
        ] {
            assert!(!permitted(ip(s), &[]), "{s} is refused");
        }
        for s in [
            "1.1.1.1",
            "203.0.114.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(permitted(ip(s), &[]), "{s} is allowed");
        }
    }

    #[test]
    fn allowed_networks_let_internal_targets_through() {
        let allowed = parse_networks("127.0.0.0/8, 10.0.0.5").expect("parses");
        assert!(permitted(ip("127.0.0.1"), &allowed));
        assert!(permitted(ip("::ffff:127.0.0.1"), &allowed));
        assert!(permitted(ip("10.0.0.5"), &allowed));
        assert!(!permitted(ip("10.0.0.6"), &allowed));
        assert!(!permitted(ip("169.254.169.254"), &allowed));
        assert!(parse_networks("10.0.0.0/33").is_err());
        assert!(parse_networks("").expect("empty").is_empty());
    }
}
