//! Name lookup for Auth0 hosts: the [`NameResolver`] seam and its default implementation on
//! hickory-resolver with the system's DNS configuration.
//!
//! A lookup only produces candidate addresses; whether Keyhold may connect to them is
//! decided afterwards by `ssrf`, whatever resolver is plugged in. The seam exists so tests
//! (and unusual deployments) can answer names without real DNS.

use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;

use hickory_resolver::TokioResolver;

/// Asynchronous host-name lookup. Implementations report a name that does not exist with
/// [`io::ErrorKind::NotFound`] so callers can say "unknown tenant" instead of "network error".
pub trait NameResolver: Send + Sync + 'static {
    /// Returns every address `host` resolves to, in preference order.
    fn resolve(
        &self,
        host: &str,
    ) -> Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send + '_>>;
}

/// The default resolver: hickory with `/etc/resolv.conf` (or the platform equivalent).
pub(crate) struct SystemResolver {
    inner: TokioResolver,
}

impl SystemResolver {
    pub(crate) fn from_system_config() -> io::Result<Self> {
        let inner = TokioResolver::builder_tokio()
            .and_then(|builder| builder.build())
            .map_err(|err| {
                io::Error::other(format!("cannot load the system DNS configuration: {err}"))
            })?;
        Ok(Self { inner })
    }
}

impl NameResolver for SystemResolver {
    fn resolve(
        &self,
        host: &str,
    ) -> Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send + '_>> {
        // The trailing dot makes the name fully qualified, so resolv.conf search domains can
        // never turn a tenant name into an internal one.
        let fqdn = format!("{}.", host.trim_end_matches('.'));
        Box::pin(async move {
            match self.inner.lookup_ip(fqdn.as_str()).await {
                Ok(found) => Ok(found.iter().collect()),
                Err(err) if err.is_nx_domain() || err.is_no_records_found() => {
                    Err(io::Error::new(io::ErrorKind::NotFound, err.to_string()))
                }
                Err(err) => Err(io::Error::other(err.to_string())),
            }
        })
    }
}
