//! Which address a request came from, for login throttling and audit rows. Behind a reverse proxy
//! every request's TCP peer is the proxy, so all callers would share one address's login budget;
//! the proxy's `X-Forwarded-For` (or `Forwarded`) names the real client. Anyone can send those
//! headers, so they are read only when the peer is a configured trusted proxy, and only as far as
//! the right-most address that is not one: everything left of it was written by the client.

use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The proxies whose forwarding headers are believed (`KEYHOLD_TRUSTED_PROXIES`). Empty, the
/// default: none, and the peer address is always the client's.
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(Arc<Vec<IpNet>>);

impl FromStr for TrustedProxies {
    type Err = String;

    /// Comma-separated IP addresses and CIDR ranges, e.g. `10.0.0.0/8, 192.0.2.7, ::1`.
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let mut nets = Vec::new();
        for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let net = item
                .parse::<IpNet>()
                .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("`{item}` is not an IP address or CIDR range"))?;
            nets.push(net.trunc());
        }
        Ok(TrustedProxies(Arc::new(nets)))
    }
}

impl TrustedProxies {
    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client's address: the peer's, unless the peer is a trusted proxy. Then the forwarded
    /// chain is walked from the right past trusted proxies; the first address that is not one is
    /// the client. A hop that does not parse (`unknown`, an obfuscated name) ends the walk at the
    /// last trusted proxy, which is then all that is known.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.trusts(client) {
            return client;
        }
        for hop in forwarded_chain(headers).into_iter().rev() {
            let Some(hop) = hop else {
                break;
            };
            client = hop;
            if !self.trusts(hop) {
                break;
            }
        }
        client
    }
}

/// The addresses a request passed through, oldest first, from every `X-Forwarded-For` header or,
/// when there is none, from `Forwarded` (RFC 7239). Only one of the two is read: a proxy that sets
/// one passes the other through from the client untouched. `None` for a hop that is not an address.
fn forwarded_chain(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let xff = headers.get_all("x-forwarded-for");
    if xff.iter().next().is_some() {
        return xff
            .iter()
            .flat_map(|value| match value.to_str() {
                Ok(text) => text.split(',').map(parse_hop).collect(),
                Err(_) => vec![None],
            })
            .collect();
    }
    headers
        .get_all("forwarded")
        .iter()
        .flat_map(|value| match value.to_str() {
            Ok(text) => text.split(',').map(forwarded_for).collect(),
            Err(_) => vec![None],
        })
        .collect()
}

/// The `for=` of one `Forwarded` element.
fn forwarded_for(element: &str) -> Option<IpAddr> {
    element.split(';').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("for")
            .then(|| parse_hop(value))
            .flatten()
    })
}

/// `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`, `[2001:db8::1]` or `[2001:db8::1]:4711`, quoted
/// or not.
fn parse_hop(raw: &str) -> Option<IpAddr> {
    let hop = raw.trim().trim_matches('"');
    let ip = hop
        .parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            hop.strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .and_then(|h| h.parse().ok())
        })?;
    Some(ip.to_canonical())
}

/// The key an address's login budget is kept under. An IPv6 client usually holds a whole /64, so
/// that is what one IPv6 budget covers; otherwise each of its addresses would get its own.
pub fn throttle_key(ip: Option<IpAddr>) -> String {
    match ip {
        Some(IpAddr::V6(v6)) => match ipnet::Ipv6Net::new(v6, 64) {
            Ok(net) => format!("ip:{}", net.trunc()),
            Err(_) => format!("ip:{v6}"),
        },
        Some(v4) => format!("ip:{v4}"),
        None => "ip:unknown".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                axum::http::HeaderName::from_bytes(name.as_bytes()).expect("name"),
                value.parse().expect("value"),
            );
        }
        map
    }

    fn ip(raw: &str) -> IpAddr {
        raw.parse().expect("ip")
    }

    #[test]
    fn forwarded_headers_are_ignored_from_untrusted_peers() {
        let none = TrustedProxies::default();
        let spoof = headers(&[("x-forwarded-for", "203.0.113.9")]);
        assert_eq!(none.client(ip("198.51.100.1"), &spoof), ip("198.51.100.1"));
        let some: TrustedProxies = "10.0.0.0/8".parse().expect("parse");
        assert_eq!(some.client(ip("198.51.100.1"), &spoof), ip("198.51.100.1"));
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client() {
        let proxies: TrustedProxies = "10.0.0.0/8, 192.0.2.7".parse().expect("parse");
        // The client claims to be 1.1.1.1; the first proxy appended what it saw.
        let chain = headers(&[("x-forwarded-for", "1.1.1.1, 203.0.113.9, 192.0.2.7")]);
        assert_eq!(proxies.client(ip("10.1.2.3"), &chain), ip("203.0.113.9"));
        // Repeated headers are one list, in order.
        let split = headers(&[
            ("x-forwarded-for", "1.1.1.1"),
            ("x-forwarded-for", "203.0.113.9:5555"),
        ]);
        assert_eq!(proxies.client(ip("10.1.2.3"), &split), ip("203.0.113.9"));
        // Nothing forwarded: the proxy itself.
        assert_eq!(
            proxies.client(ip("10.1.2.3"), &HeaderMap::new()),
            ip("10.1.2.3")
        );
        // An unusable hop stops the walk at the last trusted proxy.
        let unknown = headers(&[("x-forwarded-for", "1.1.1.1, unknown")]);
        assert_eq!(proxies.client(ip("10.1.2.3"), &unknown), ip("10.1.2.3"));
    }

    #[test]
    fn forwarded_is_read_when_there_is_no_x_forwarded_for() {
        let proxies: TrustedProxies = "::1, 127.0.0.1".parse().expect("parse");
        let forwarded = headers(&[(
            "forwarded",
            r#"for=1.1.1.1;proto=https, For="[2001:db8::17]:4711";by=10.0.0.1"#,
        )]);
        assert_eq!(
            proxies.client(ip("::ffff:127.0.0.1"), &forwarded),
            ip("2001:db8::17")
        );
        let both = headers(&[
            ("forwarded", "for=1.1.1.1"),
            ("x-forwarded-for", "203.0.113.9"),
        ]);
        assert_eq!(proxies.client(ip("::1"), &both), ip("203.0.113.9"));
    }

    #[test]
    fn settings_parse_or_say_what_is_wrong() {
        assert!("".parse::<TrustedProxies>().expect("empty").0.is_empty());
        assert_eq!(
            " 10.0.0.0/8 ,::1,"
                .parse::<TrustedProxies>()
                .expect("list")
                .0
                .len(),
            2
        );
        let err = "10.0.0.0/8, proxy.local"
            .parse::<TrustedProxies>()
            .expect_err("a name");
        assert!(err.contains("proxy.local"), "{err}");
    }

    #[test]
    fn ipv6_clients_share_a_budget_per_64() {
        assert_eq!(
            throttle_key(Some(ip("2001:db8:1:2:aaaa::1"))),
            throttle_key(Some(ip("2001:db8:1:2:bbbb::2")))
        );
        assert_eq!(throttle_key(Some(ip("192.0.2.1"))), "ip:192.0.2.1");
        assert_eq!(throttle_key(None), "ip:unknown");
    }
}
