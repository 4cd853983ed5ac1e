//! The connect-time SSRF guard: which IP addresses Keyhold may open a connection to, and
//! the `reqwest` DNS hook that enforces it.
//!
//! The check runs on the addresses handed to the connector, so the address checked is the
//! address connected to and DNS rebinding between "check" and "use" is impossible. This
//! module owns the deny-list and [`GuardedResolver`]; name lookup itself lives in `dns`.
//! It must not log or see anything but host names and addresses.

use std::error::Error as StdError;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::{Ipv4Net, Ipv6Net};

use crate::dns::NameResolver;

/// IPv4 ranges that are not the public internet (IANA special-purpose registry, RFC 6890).
const DENY_V4: &[Ipv4Net] = &[
    Ipv4Net::new_assert(Ipv4Addr::new(0, 0, 0, 0), 8), // "this network", incl. 0.0.0.0
    Ipv4Net::new_assert(Ipv4Addr::new(10, 0, 0, 0), 8), // private
    Ipv4Net::new_assert(Ipv4Addr::new(100, 64, 0, 0), 10), // CGNAT shared space
    Ipv4Net::new_assert(Ipv4Addr::new(127, 0, 0, 0), 8), // loopback
    Ipv4Net::new_assert(Ipv4Addr::new(169, 254, 0, 0), 16), // link-local, cloud metadata
    Ipv4Net::new_assert(Ipv4Addr::new(172, 16, 0, 0), 12), // private
    Ipv4Net::new_assert(Ipv4Addr::new(192, 0, 0, 0), 24), // IETF protocol assignments
    Ipv4Net::new_assert(Ipv4Addr::new(192, 0, 2, 0), 24), // TEST-NET-1
    Ipv4Net::new_assert(Ipv4Addr::new(192, 88, 99, 0), 24), // 6to4 relay anycast
    Ipv4Net::new_assert(Ipv4Addr::new(192, 168, 0, 0), 16), // private
    Ipv4Net::new_assert(Ipv4Addr::new(198, 18, 0, 0), 15), // benchmarking
    Ipv4Net::new_assert(Ipv4Addr::new(198, 51, 100, 0), 24), // TEST-NET-2
    Ipv4Net::new_assert(Ipv4Addr::new(203, 0, 113, 0), 24), // TEST-NET-3
    Ipv4Net::new_assert(Ipv4Addr::new(224, 0, 0, 0), 4), // multicast
    Ipv4Net::new_assert(Ipv4Addr::new(240, 0, 0, 0), 4), // reserved, incl. broadcast
];

/// IPv6 ranges that are not the public internet, or that embed an IPv4 address in a way
/// that could smuggle a private one past the IPv4 list.
const DENY_V6: &[Ipv6Net] = &[
    Ipv6Net::new_assert(Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 0), 96), // ::, ::1, IPv4-compatible
    Ipv6Net::new_assert(Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0), 96), // IPv4-mapped
    Ipv6Net::new_assert(Ipv6Addr::new(0, 0, 0, 0, 0xffff, 0, 0, 0), 96), // IPv4-translated
    Ipv6Net::new_assert(Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0), 48), // local-use NAT64
    Ipv6Net::new_assert(Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0), 64), // discard-only
    Ipv6Net::new_assert(Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 32), // Teredo
    Ipv6Net::new_assert(Ipv6Addr::new(0x2001, 0x2, 0, 0, 0, 0, 0, 0), 48), // benchmarking
    Ipv6Net::new_assert(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32), // documentation
    Ipv6Net::new_assert(Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0), 20), // documentation
    Ipv6Net::new_assert(Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7), // unique local (ULA)
    Ipv6Net::new_assert(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10), // link-local
    Ipv6Net::new_assert(Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0), 10), // old site-local
    Ipv6Net::new_assert(Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8), // multicast
];

/// Well-known NAT64 prefix (RFC 6052): the last 32 bits are an IPv4 address.
const NAT64: Ipv6Net = Ipv6Net::new_assert(Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96);
/// 6to4 (RFC 3056): bits 16..48 are an IPv4 address.
const SIX_TO_FOUR: Ipv6Net = Ipv6Net::new_assert(Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16);

/// Whether Keyhold refuses to connect to `ip` when private networks are not allowed:
/// loopback, private, CGNAT, link-local (incl. 169.254.169.254), ULA, multicast,
/// unspecified, documentation and reserved ranges, IPv4-mapped/compatible IPv6, and
/// NAT64/6to4 addresses that wrap a forbidden IPv4 address.
pub fn is_forbidden_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_forbidden_v4(v4),
        IpAddr::V6(v6) => is_forbidden_v6(v6),
    }
}

fn is_forbidden_v4(ip: Ipv4Addr) -> bool {
    DENY_V4.iter().any(|net| net.contains(&ip))
}

fn is_forbidden_v6(ip: Ipv6Addr) -> bool {
    if DENY_V6.iter().any(|net| net.contains(&ip)) {
        return true;
    }
    let bits = u128::from(ip);
    if NAT64.contains(&ip) {
        // Truncation keeps exactly the embedded low 32 bits.
        return is_forbidden_v4(Ipv4Addr::from(bits as u32));
    }
    if SIX_TO_FOUR.contains(&ip) {
        return is_forbidden_v4(Ipv4Addr::from((bits >> 80) as u32));
    }
    false
}

/// Why the guarded lookup produced no address. Travels through reqwest's error chain so the
/// client can tell "blocked" and "no such name" apart from other connect failures.
#[derive(Debug)]
pub(crate) enum ResolveFailure {
    /// Every address the name resolved to is in a forbidden range.
    Blocked { host: String },
    /// The name does not exist (NXDOMAIN) or has no A/AAAA records.
    NotFound { host: String },
    /// Resolution itself failed (no DNS server answered, bad config, ...).
    Failed { host: String, reason: String },
}

impl fmt::Display for ResolveFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Blocked { host } => write!(f, "{host} resolves only to forbidden addresses"),
            Self::NotFound { host } => write!(f, "{host} does not exist in DNS"),
            Self::Failed { host, reason } => write!(f, "cannot resolve {host}: {reason}"),
        }
    }
}

impl StdError for ResolveFailure {}

impl ResolveFailure {
    /// Finds a `ResolveFailure` anywhere in an error's source chain.
    pub(crate) fn find_in<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a ResolveFailure> {
        let mut current = Some(err);
        while let Some(e) = current {
            if let Some(found) = e.downcast_ref::<ResolveFailure>() {
                return Some(found);
            }
            current = e.source();
        }
        None
    }
}

/// The `reqwest` DNS hook: looks a name up through a [`NameResolver`] and hands the
/// connector only addresses that pass [`is_forbidden_ip`] (unless private networks are
/// explicitly allowed).
pub(crate) struct GuardedResolver {
    names: Arc<dyn NameResolver>,
    allow_private_networks: bool,
}

impl GuardedResolver {
    pub(crate) fn new(names: Arc<dyn NameResolver>, allow_private_networks: bool) -> Self {
        Self {
            names,
            allow_private_networks,
        }
    }

    /// Resolves `host` and filters the result; an empty result is always an error so the
    /// connector never sees a list it could fall back from.
    pub(crate) async fn lookup(&self, host: &str) -> Result<Vec<IpAddr>, ResolveFailure> {
        let found = self.names.resolve(host).await.map_err(|err| {
            if err.kind() == std::io::ErrorKind::NotFound {
                ResolveFailure::NotFound {
                    host: host.to_owned(),
                }
            } else {
                ResolveFailure::Failed {
                    host: host.to_owned(),
                    reason: err.to_string(),
                }
            }
        })?;
        if found.is_empty() {
            return Err(ResolveFailure::NotFound {
                host: host.to_owned(),
            });
        }
        if self.allow_private_networks {
            return Ok(found);
        }
        let allowed: Vec<IpAddr> = found
            .iter()
            .copied()
            .filter(|ip| !is_forbidden_ip(*ip))
            .collect();
        if allowed.is_empty() {
            tracing::warn!(
                host,
                "refused Auth0 connection: name resolves only to forbidden addresses"
            );
            return Err(ResolveFailure::Blocked {
                host: host.to_owned(),
            });
        }
        if allowed.len() < found.len() {
            // A public name that also publishes internal addresses is suspicious; the
            // internal ones are dropped rather than failing the whole request.
            tracing::warn!(host, "dropped forbidden addresses from a DNS answer");
        }
        Ok(allowed)
    }
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let guard = Self {
            names: Arc::clone(&self.names),
            allow_private_networks: self.allow_private_networks,
        };
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let ips = guard.lookup(&host).await?;
            // Port 0 tells reqwest to use the URL's (scheme default) port.
            let addrs: reqwest::dns::Addrs =
                Box::new(ips.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::io;
    use std::pin::Pin;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    #[test]
    fn forbids_internal_ipv4() {
        let forbidden = [
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "10.255.255.255",
            "100.64.0.1",
            "100.127.255.254",
            "127.0.0.1",
            "127.255.255.254",
            "169.254.169.254",
            "169.254.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
        ];
        for addr in forbidden {
            assert!(is_forbidden_ip(ip(addr)), "{addr} must be forbidden");
        }
    }

    #[test]
    fn allows_public_ipv4() {
        let public = [
            "1.1.1.1",
            "8.8.8.8",
            "9.255.255.255",
            "11.0.0.1",
            "100.63.255.255",
            "100.128.0.1",
            "104.16.1.1",
            "169.253.255.255",
            "172.15.255.255",
            "172.32.0.1",
            "192.167.255.255",
            "192.169.0.1",
            "198.17.255.255",
            "198.20.0.1",
            "223.255.255.255",
        ];
        for addr in public {
            assert!(!is_forbidden_ip(ip(addr)), "{addr} must be allowed");
        }
    }

    #[test]
    fn forbids_internal_ipv6() {
        let forbidden = [
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:8.8.8.8", // any mapped address: DNS has no business returning one
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "::ffff:0:a00:1",
            "64:ff9b::7f00:1",    // NAT64 of 127.0.0.1
            "64:ff9b::a9fe:a9fe", // NAT64 of 169.254.169.254
            "64:ff9b:1::1",
            "100::1",
            "2001::1",
            "2001:db8::1",
            "2002:7f00:1::1",   // 6to4 of 127.0.0.1
            "2002:c0a8:101::1", // 6to4 of 192.168.1.1
            "3fff::1",
            "fc00::1",
            "fd12:3456:789a::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "ff05::2",
        ];
        for addr in forbidden {
            assert!(is_forbidden_ip(ip(addr)), "{addr} must be forbidden");
        }
    }

    #[test]
    fn allows_public_ipv6() {
        let public = [
            "2606:4700::6810:1", // Cloudflare
            "2a00:1450:4001:80b::200e",
            "64:ff9b::808:808", // NAT64 of 8.8.8.8
            "2002:808:808::1",  // 6to4 of 8.8.8.8
            "2001:4860:4860::8888",
            "fbff:ffff::1",
        ];
        for addr in public {
            assert!(!is_forbidden_ip(ip(addr)), "{addr} must be allowed");
        }
    }

    /// Answers every name with a fixed list and counts lookups.
    struct Fixed {
        answer: io::Result<Vec<IpAddr>>,
        calls: AtomicUsize,
    }

    impl Fixed {
        fn new(answer: io::Result<Vec<IpAddr>>) -> Arc<Self> {
            Arc::new(Self {
                answer,
                calls: AtomicUsize::new(0),
            })
        }
    }

    impl NameResolver for Fixed {
        fn resolve(
            &self,
            _host: &str,
        ) -> Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send + '_>> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let answer = match &self.answer {
                Ok(ips) => Ok(ips.clone()),
                Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
            };
            Box::pin(async move { answer })
        }
    }

    #[tokio::test]
    async fn blocks_when_every_address_is_forbidden() {
        for bad in [
            "127.0.0.1",
            "169.254.169.254",
            "::1",
            "::ffff:127.0.0.1",
            "10.1.2.3",
        ] {
            let names = Fixed::new(Ok(vec![ip(bad)]));
            let guard = GuardedResolver::new(names.clone(), false);
            let err = guard
                .lookup("acme.auth0.test")
                .await
                .expect_err("must be blocked");
            assert!(
                matches!(&err, ResolveFailure::Blocked { host } if host == "acme.auth0.test"),
                "{bad}: {err}"
            );
            assert_eq!(names.calls.load(Ordering::SeqCst), 1);
        }
    }

    #[tokio::test]
    async fn drops_forbidden_addresses_from_mixed_answers() {
        let names = Fixed::new(Ok(vec![ip("10.0.0.1"), ip("104.16.1.1"), ip("::1")]));
        let guard = GuardedResolver::new(names, false);
        assert_eq!(
            guard.lookup("acme.auth0.com").await.ok(),
            Some(vec![ip("104.16.1.1")])
        );
    }

    #[tokio::test]
    async fn allow_private_networks_passes_everything_through() {
        let names = Fixed::new(Ok(vec![ip("127.0.0.1"), ip("::1")]));
        let guard = GuardedResolver::new(names, true);
        assert_eq!(
            guard.lookup("acme.auth0.test").await.ok(),
            Some(vec![ip("127.0.0.1"), ip("::1")])
        );
    }

    #[tokio::test]
    async fn maps_lookup_failures() {
        let missing = GuardedResolver::new(Fixed::new(Err(io::ErrorKind::NotFound.into())), false);
        assert!(matches!(
            missing.lookup("nope.example").await,
            Err(ResolveFailure::NotFound { .. })
        ));
        let empty = GuardedResolver::new(Fixed::new(Ok(vec![])), true);
        assert!(matches!(
            empty.lookup("nope.example").await,
            Err(ResolveFailure::NotFound { .. })
        ));
        let broken = GuardedResolver::new(
            Fixed::new(Err(io::Error::other("no nameserver answered"))),
            false,
        );
        match broken.lookup("acme.example").await {
            Err(ResolveFailure::Failed { reason, .. }) => assert!(reason.contains("no nameserver")),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[tokio::test]
    async fn reqwest_hook_returns_no_address_for_blocked_names() {
        use reqwest::dns::Resolve;
        let guard = GuardedResolver::new(Fixed::new(Ok(vec![ip("169.254.169.254")])), false);
        let name: reqwest::dns::Name = "metadata.example".parse().expect("name");
        let err = match guard.resolve(name).await {
            Ok(addrs) => panic!("connector got addresses: {:?}", addrs.collect::<Vec<_>>()),
            Err(err) => err,
        };
        assert!(matches!(
            ResolveFailure::find_in(err.as_ref()),
            Some(ResolveFailure::Blocked { .. })
        ));

        let open = GuardedResolver::new(Fixed::new(Ok(vec![ip("104.16.1.1")])), false);
        let name: reqwest::dns::Name = "acme.auth0.com".parse().expect("name");
        let addrs: Vec<SocketAddr> = open
            .resolve(name)
            .await
            .map(Iterator::collect)
            .unwrap_or_default();
        assert_eq!(addrs, vec![SocketAddr::new(ip("104.16.1.1"), 0)]);
    }
}
