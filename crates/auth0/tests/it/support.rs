//! Shared helpers: a seeded emulator, clients pointed at it, a scripted name resolver, a
//! canned-answer HTTP server for answers the emulator cannot produce, and log capture.

use std::future::Future;
use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use auth0::{Auth0Client, ClientCredentials, Domain, HttpConfig, NameResolver, SecretString};
use auth0_emulator::{ClientSeed, Emulator, ResourceServerSeed, Seed, TenantSeed};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use url::Url;

pub const DOMAIN: &str = "acme.auth0.test";
pub const CLIENT_ID: &str = "cid";
/// Distinctive so a leak is easy to spot in any output.
pub const SECRET: &str = "csecret-canary-5d1f0b";
pub const SCOPES: &[&str] = &["read:clients", "update:client_keys"];
/// A client whose Client Credentials grant is switched off.
pub const NO_CC_CLIENT: &str = "cid-no-client-credentials";
/// An API in the tenant for which `CLIENT_ID` has no grant.
pub const BILLING_API: &str = "https://billing.acme.test/";

pub fn domain(name: &str) -> Domain {
    Domain::parse(name).expect("test domain")
}

pub fn creds(
    domain_name: &str,
    client_id: &str,
    secret: &str,
    audience: Option<&str>,
) -> ClientCredentials {
    let domain = domain(domain_name);
    let audience = audience.map_or_else(|| domain.management_audience(), str::to_owned);
    ClientCredentials {
        domain,
        client_id: client_id.to_owned(),
        client_secret: SecretString::from(secret),
        audience,
    }
}

/// The standard M2M credentials of the seeded tenant.
pub fn good_creds() -> ClientCredentials {
    creds(DOMAIN, CLIENT_ID, SECRET, None)
}

pub async fn emulator() -> Emulator {
    emulator_with(|_| {}).await
}

/// Starts an emulator with the standard tenant, after `tweak` adjusts its seed.
pub async fn emulator_with(tweak: impl FnOnce(&mut TenantSeed)) -> Emulator {
    let mut tenant = TenantSeed::with_m2m(DOMAIN, CLIENT_ID, SECRET, SCOPES);
    tenant.clients.push(ClientSeed {
        client_id: NO_CC_CLIENT.to_owned(),
        client_secret: SECRET.to_owned(),
        grant_types: vec!["authorization_code".to_owned()],
        ..ClientSeed::default()
    });
    tenant.resource_servers.push(ResourceServerSeed {
        identifier: BILLING_API.to_owned(),
        name: "Billing".to_owned(),
        scopes: Vec::new(),
        token_lifetime: None,
    });
    tweak(&mut tenant);
    Emulator::start(Seed {
        tenants: vec![tenant],
    })
    .await
    .expect("emulator starts")
}

/// Fast settings for tests, pointed at `endpoint`.
pub fn override_config(endpoint: &str) -> HttpConfig {
    HttpConfig {
        endpoint_override: Some(Url::parse(endpoint).expect("endpoint url")),
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(5),
        max_retries: 2,
        ..HttpConfig::default()
    }
}

pub fn client_for(emu: &Emulator) -> Auth0Client {
    Auth0Client::new(override_config(&emu.base_url())).expect("client")
}

/// Answers every name with a fixed result and counts lookups.
pub struct FixedResolver {
    answer: Result<Vec<IpAddr>, io::ErrorKind>,
    calls: AtomicUsize,
}

impl FixedResolver {
    pub fn ips(ips: &[&str]) -> Arc<FixedResolver> {
        let ips = ips.iter().map(|ip| ip.parse().expect("ip")).collect();
        Arc::new(FixedResolver {
            answer: Ok(ips),
            calls: AtomicUsize::new(0),
        })
    }

    pub fn error(kind: io::ErrorKind) -> Arc<FixedResolver> {
        Arc::new(FixedResolver {
            answer: Err(kind),
            calls: AtomicUsize::new(0),
        })
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl NameResolver for FixedResolver {
    fn resolve(
        &self,
        _host: &str,
    ) -> Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send + '_>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let answer = self
            .answer
            .clone()
            .map_err(|kind| io::Error::new(kind, "scripted DNS answer"));
        Box::pin(async move { answer })
    }
}

/// A minimal HTTP/1.1 server that answers every request with the same canned response and
/// records what it received. For Auth0 answers the emulator does not model.
pub struct CannedServer {
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl CannedServer {
    pub async fn start(
        status_line: &str,
        extra_headers: &[(&str, &str)],
        body: &str,
    ) -> CannedServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut response = format!(
            "HTTP/1.1 {status_line}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
            body.len()
        );
        for (name, value) in extra_headers {
            response.push_str(&format!("{name}: {value}\r\n"));
        }
        response.push_str("\r\n");
        response.push_str(body);
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let request = read_request(&mut stream).await;
                seen.lock().expect("lock").push(request);
                if stream.write_all(response.as_bytes()).await.is_err() {
                    continue;
                }
                let _ = stream.shutdown().await;
            }
        });
        CannedServer {
            addr,
            requests,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().expect("lock").clone()
    }
}

impl Drop for CannedServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads one request: the head, then `content-length` bytes of body.
async fn read_request(stream: &mut tokio::net::TcpStream) -> String {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = stream.read(&mut buf).await {
        if n == 0 {
            break;
        }
        data.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&data).to_string();
        if let Some(head_end) = text.find("\r\n\r\n") {
            let length = text[..head_end]
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())
                        .flatten()
                })
                .unwrap_or(0);
            if data.len() >= head_end + 4 + length {
                break;
            }
        }
    }
    String::from_utf8_lossy(&data).to_string()
}

thread_local! {
    /// Where this thread's log lines go while a `LogCapture` is alive.
    static CAPTURE: std::cell::RefCell<Option<Arc<Mutex<Vec<u8>>>>> = const { std::cell::RefCell::new(None) };
}

/// Writes to the current thread's capture buffer, or nowhere.
struct ThreadWriter;

impl Write for ThreadWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        CAPTURE.with(|slot| {
            if let Some(buffer) = slot.borrow().as_ref() {
                buffer.lock().expect("lock").extend_from_slice(data);
            }
        });
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Collects everything `tracing` emits (at TRACE, all targets) on this thread while alive.
///
/// One process-wide TRACE subscriber routes lines to per-thread buffers. Scoped
/// (`set_default`) subscribers lose events in a multi-threaded test binary because callsite
/// interest is cached process-wide, so they would make this test flaky.
pub struct LogCapture {
    buffer: Arc<Mutex<Vec<u8>>>,
}

impl LogCapture {
    /// Use from a current-thread runtime so every task's events land on this thread.
    pub fn start() -> LogCapture {
        static INIT: std::sync::Once = std::sync::Once::new();
        INIT.call_once(|| {
            tracing_subscriber::fmt()
                .with_max_level(tracing::Level::TRACE)
                .with_ansi(false)
                .with_writer(|| ThreadWriter)
                .init();
        });
        let buffer = Arc::new(Mutex::new(Vec::new()));
        CAPTURE.with(|slot| *slot.borrow_mut() = Some(Arc::clone(&buffer)));
        LogCapture { buffer }
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.buffer.lock().expect("lock")).to_string()
    }
}

impl Drop for LogCapture {
    fn drop(&mut self) {
        CAPTURE.with(|slot| *slot.borrow_mut() = None);
    }
}
