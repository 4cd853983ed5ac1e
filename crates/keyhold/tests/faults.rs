//! Faults: PostgreSQL restarted under load. The real `keyhold serve` runs against a throwaway
//! PostgreSQL cluster of its own (never the shared one on 5432) while several tasks create and list
//! projects over HTTP; mid-load the cluster is stopped (`pg_ctl stop -m fast`) for a few seconds and
//! started again. Checked: during the outage every request answers fast with a 503
//! `application/problem+json` (never a 500, never a hang) and `/readyz` says 503; after the restart
//! the same process serves again within a bound; and no write is partial: every project answered
//! 201 exists exactly once with its admin membership and its `project.create` audit event, and a
//! write answered 503 left nothing, unless its COMMIT reached the server just as it shut down (an
//! ambiguous outcome, accounted for below).

use std::collections::{HashMap, HashSet};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Method, Request, header};
use crypto::ExposeSecret;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

/// The pool's acquire timeout given to the server: requests during the outage wait at most this
/// long for a connection before they are answered 503.
const ACQUIRE_TIMEOUT_MS: u64 = 1000;
/// Every request, during the outage included, must be answered within this.
const ANSWER_BOUND: Duration = Duration::from_secs(5);
/// After PostgreSQL is back, every request must succeed again within this (no keyhold restart).
const RECOVERY_BOUND: Duration = Duration::from_secs(5);
/// The client gives up on an answer after this (well past `ANSWER_BOUND`, so a hang shows).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long PostgreSQL stays down.
const OUTAGE: Duration = Duration::from_secs(3);
/// After the standby is promoted, every request must succeed again within this.
const FAILOVER_BOUND: Duration = Duration::from_secs(10);
const WRITERS: usize = 4;
const READERS: usize = 4;
/// Pause between two requests of one task, to keep the volume (and the checks) modest.
const PACE: Duration = Duration::from_millis(15);

/// The newest PostgreSQL server binaries Debian installed (`/usr/lib/postgresql/<major>/bin`).
fn pg_bin_dir() -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let major = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("pg_ctl").is_file().then_some((major, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin).expect(
        "this test needs PostgreSQL's server binaries in /usr/lib/postgresql/<major>/bin \
         (apt-get install postgresql)",
    )
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("free port")
        .local_addr()
        .expect("addr")
        .port()
}

fn uid_of(args: &[&str]) -> u32 {
    let out = std::process::Command::new("id")
        .args(args)
        .output()
        .expect("run id");
    assert!(out.status.success(), "id {args:?} failed");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("numeric id")
}

/// Runs `cmd`, failing the test with its output and the server's log if it fails.
fn run_checked(what: &str, mut cmd: std::process::Command, server_log: &Path) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}\nserver log:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(server_log).unwrap_or_default()
    );
}

/// A PostgreSQL cluster in a temporary directory, on its own port, with its socket inside that
/// directory. Dropping it stops the server (immediately) and removes the directory, so a failed
/// assertion leaves nothing behind.
struct Cluster {
    bin: PathBuf,
    root: PathBuf,
    port: u16,
    /// initdb and the server refuse to run as root: then every PostgreSQL command runs as the
    /// `postgres` user, which owns `root`.
    as_postgres: bool,
}

impl Cluster {
    fn data(&self) -> PathBuf {
        self.root.join("data")
    }

    fn log(&self) -> PathBuf {
        self.root.join("postgres.log")
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// `program` from PostgreSQL's bin directory, as the right user, run inside `root` (the test's
    /// working directory may not be readable by `postgres`).
    fn command(&self, program: &str) -> std::process::Command {
        let path = self.bin.join(program);
        let mut cmd = if self.as_postgres {
            // util-linux's runuser lives in /usr/sbin, which a non-login PATH may lack.
            let runuser = ["/usr/sbin/runuser", "/sbin/runuser"]
                .into_iter()
                .find(|p| Path::new(p).exists())
                .unwrap_or("runuser");
            let mut cmd = std::process::Command::new(runuser);
            cmd.args(["-u", "postgres", "--"]).arg(path);
            cmd
        } else {
            std::process::Command::new(path)
        };
        cmd.current_dir(&self.root).stdin(Stdio::null());
        cmd
    }

    fn create() -> Cluster {
        let bin = pg_bin_dir();
        let as_postgres = uid_of(&["-u"]) == 0;
        let root = std::env::temp_dir().join(format!(
            "keyhold-faults-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir(&root).expect("temp dir");
        // From here on, dropping `cluster` (on any panic too) removes the directory.
        let cluster = Cluster {
            bin,
            root,
            port: free_port(),
            as_postgres,
        };
        if as_postgres {
            let uid = uid_of(&["-u", "postgres"]);
            let gid = uid_of(&["-g", "postgres"]);
            std::os::unix::fs::chown(&cluster.root, Some(uid), Some(gid)).expect("chown temp dir");
        }
        let mut initdb = cluster.command("initdb");
        initdb
            .arg("-D")
            .arg(cluster.data())
            .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C"])
            .arg("--no-sync");
        run_checked("initdb", initdb, &cluster.log());
        // Fast and private: no durability to the disk (the machine does not crash in this test;
        // commits still reach the WAL before they are acknowledged), TCP on loopback only, the
        // socket inside the temporary directory.
        let settings = format!(
            "\nport = {}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n\
             fsync = off\nfull_page_writes = off\nshared_buffers = 32MB\nmax_connections = 60\n",
            cluster.port,
            cluster.root.display()
        );
        let conf = cluster.data().join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).expect("postgresql.conf");
        text.push_str(&settings);
        std::fs::write(&conf, text).expect("write postgresql.conf");
        cluster
    }

    /// A streaming standby of `primary` (running): `pg_basebackup -R` into a new directory, on
    /// its own port, with the primary's settings otherwise.
    fn standby_of(primary: &Cluster) -> Cluster {
        let root = std::env::temp_dir().join(format!(
            "keyhold-faults-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir(&root).expect("temp dir");
        let standby = Cluster {
            bin: primary.bin.clone(),
            root,
            port: free_port(),
            as_postgres: primary.as_postgres,
        };
        if standby.as_postgres {
            let uid = uid_of(&["-u", "postgres"]);
            let gid = uid_of(&["-g", "postgres"]);
            std::os::unix::fs::chown(&standby.root, Some(uid), Some(gid)).expect("chown temp dir");
        }
        let mut backup = standby.command("pg_basebackup");
        backup
            .arg("-D")
            .arg(standby.data())
            .args(["-h", "127.0.0.1", "-p", &primary.port.to_string()])
            .args(["-U", "postgres", "-R", "-X", "stream", "--no-sync"]);
        run_checked("pg_basebackup", backup, &primary.log());
        // The copied configuration names the primary's port and socket; later lines win.
        let conf = standby.data().join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).expect("postgresql.conf");
        text.push_str(&format!(
            "\nport = {}\nunix_socket_directories = '{}'\n",
            standby.port,
            standby.root.display()
        ));
        std::fs::write(&conf, text).expect("write postgresql.conf");
        standby
    }

    async fn promote(&self) {
        self.pg_ctl_wait("pg_ctl promote", &["promote"]).await;
    }

    fn pg_ctl(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = self.command("pg_ctl");
        cmd.arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.log())
            .args(["-w", "-t", "30"])
            .args(args);
        cmd
    }

    /// `pg_ctl start|stop`, waiting until it is done (off the runtime's threads: load goes on).
    async fn pg_ctl_wait(&self, what: &'static str, args: &[&str]) {
        let cmd = self.pg_ctl(args);
        let log = self.log();
        tokio::task::spawn_blocking(move || run_checked(what, cmd, &log))
            .await
            .expect("pg_ctl task");
    }

    async fn start(&self) {
        self.pg_ctl_wait("pg_ctl start", &["start"]).await;
    }

    async fn stop(&self, mode: &str) {
        self.pg_ctl_wait("pg_ctl stop", &["-m", mode, "stop"]).await;
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.data().join("postmaster.pid").exists() {
            let _ = self
                .pg_ctl(&["-m", "immediate", "stop"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// A `keyhold` command against the cluster, with a clean environment.
fn keyhold(url: &str, key: &str) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_keyhold"));
    cmd.env_clear()
        .env("DATABASE_URL", url)
        .env("KEYHOLD_ROOT_KEYS", key)
        .env(
            "KEYHOLD_DB_ACQUIRE_TIMEOUT_MS",
            ACQUIRE_TIMEOUT_MS.to_string(),
        )
        .env("KEYHOLD_DB_MAX_CONNECTIONS", "8")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    cmd
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Op {
    Create,
    List,
}

/// What one request got: its status, or the transport error if none came (a hang or a reset).
#[derive(Clone, Debug)]
struct Outcome {
    op: Op,
    /// The project name a create asked for.
    name: Option<String>,
    started: Instant,
    ended: Instant,
    answer: Result<Answer, String>,
}

#[derive(Clone, Debug)]
struct Answer {
    status: u16,
    content_type: String,
    body: Value,
}

impl Outcome {
    fn status(&self) -> Option<u16> {
        self.answer.as_ref().ok().map(|a| a.status)
    }

    fn ok(&self) -> bool {
        matches!(self.status(), Some(200 | 201))
    }

    fn describe(&self, t0: Instant) -> String {
        let answer = match &self.answer {
            Ok(a) => format!("{} {} {}", a.status, a.content_type, a.body),
            Err(e) => format!("no answer: {e}"),
        };
        format!(
            "{:?} {} at +{} ms, took {} ms: {answer}",
            self.op,
            self.name.as_deref().unwrap_or(""),
            self.started.duration_since(t0).as_millis(),
            self.ended.duration_since(self.started).as_millis()
        )
    }
}

/// A plain HTTP/1.1 client for the API (hyper-util; no TLS needed on loopback).
#[derive(Clone)]
struct Http {
    client: Client<HttpConnector, Body>,
    base: String,
}

impl Http {
    fn new(base: String) -> Http {
        Http {
            client: Client::builder(TokioExecutor::new()).build_http(),
            base,
        }
    }

    /// One request; `Err` when no complete answer came within `CLIENT_TIMEOUT` (a hang) or the
    /// connection failed.
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Answer, String> {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let body = match body {
            Some(value) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(value.to_string())
            }
            None => Body::empty(),
        };
        let request = request.body(body).map_err(|e| e.to_string())?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| format!("{e:?}"))?;
            let status = response.status().as_u16();
            let content_type = response
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let bytes = axum::body::to_bytes(Body::new(response.into_body()), usize::MAX)
                .await
                .map_err(|e| format!("{e:?}"))?;
            Ok(Answer {
                status,
                content_type,
                body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            })
        };
        tokio::time::timeout(CLIENT_TIMEOUT, exchange)
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {CLIENT_TIMEOUT:?}")))
    }
}

/// One load task: creates (unique names) or lists projects until told to stop.
async fn load(
    http: Http,
    token: String,
    op: Op,
    task: usize,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<Outcome>>>,
) {
    let mut seq = 0usize;
    while !stop.load(Ordering::Relaxed) {
        seq += 1;
        let name = (op == Op::Create).then(|| format!("load-{task}-{seq}"));
        let started = Instant::now();
        let answer = match &name {
            Some(name) => {
                let body = json!({ "name": name });
                http.call(Method::POST, "/api/v1/projects", Some(&token), Some(&body))
                    .await
            }
            None => {
                http.call(Method::GET, "/api/v1/projects?limit=20", Some(&token), None)
                    .await
            }
        };
        log.lock().expect("log").push(Outcome {
            op,
            name,
            started,
            ended: Instant::now(),
            answer,
        });
        tokio::time::sleep(PACE).await;
    }
}

/// A 503 as the issue wants it: an RFC 9457 problem saying the database is unavailable.
fn is_unavailable_problem(o: &Outcome) -> bool {
    match &o.answer {
        Ok(a) => {
            a.status == 503
                && a.content_type.starts_with("application/problem+json")
                && a.body["type"] == "urn:keyhold:problem:unavailable"
                && a.body["status"] == 503
        }
        Err(_) => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_restart_under_load_fails_fast_recovers_and_leaves_no_partial_writes() {
    let t0 = Instant::now();
    let cluster = Cluster::create();
    cluster.start().await;
    let url = cluster.url();
    let key = crypto::generate_root_key("faults").expect("key");
    let key = key.expose_secret().to_owned();

    // The first instance admin, from the command line (this also migrates the database).
    let out = keyhold(&url, &key)
        .args(["bootstrap", "--json"])
        .output()
        .await
        .expect("run keyhold bootstrap");
    assert!(
        out.status.success(),
        "bootstrap failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let admin: Value = serde_json::from_slice(&out.stdout).expect("bootstrap json");
    let credentials =
        json!({ "clientId": admin["clientId"], "clientSecret": admin["clientSecret"] });

    let port = free_port();
    let server_log = cluster.root.join("keyhold.log");
    let mut server = keyhold(&url, &key)
        .env("KEYHOLD_LISTEN", format!("127.0.0.1:{port}"))
        .arg("serve")
        .stdout(std::fs::File::create(&server_log).expect("log file"))
        .stderr(std::fs::File::create(cluster.root.join("keyhold.err")).expect("log file"))
        .spawn()
        .expect("start keyhold serve");
    let server_pid = server.id().expect("running");
    // For failure messages: the server's log without the expected flood of 503 lines.
    let server_output = || {
        let text = format!(
            "{}{}",
            std::fs::read_to_string(&server_log).unwrap_or_default(),
            std::fs::read_to_string(cluster.root.join("keyhold.err")).unwrap_or_default()
        );
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| !l.contains("503") && !l.contains("pool timed out"))
            .collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    };

    let http = Http::new(format!("http://127.0.0.1:{port}"));
    let ready = || async {
        let started = Instant::now();
        let answer = http.call(Method::GET, "/readyz", None, None).await;
        (answer.ok().map(|a| a.status), started.elapsed())
    };
    let started = Instant::now();
    while ready().await.0 != Some(200) {
        assert!(
            server.try_wait().expect("server status").is_none(),
            "keyhold serve exited: {}",
            server_output()
        );
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "keyhold serve never became ready: {}",
            server_output()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Log in once, before the outage.
    let login = || {
        http.call(
            Method::POST,
            "/api/v1/auth/universal-auth/login",
            None,
            Some(&credentials),
        )
    };
    let response = login().await.expect("login answered");
    assert_eq!(response.status, 200, "login: {}", response.body);
    let token = response.body["accessToken"]
        .as_str()
        .expect("accessToken")
        .to_owned();

    // Load.
    let stop = Arc::new(AtomicBool::new(false));
    let log: Arc<Mutex<Vec<Outcome>>> = Arc::default();
    let mut tasks = Vec::new();
    for task in 0..WRITERS + READERS {
        let op = if task < WRITERS { Op::Create } else { Op::List };
        tasks.push(tokio::spawn(load(
            http.clone(),
            token.clone(),
            op,
            task,
            stop.clone(),
            log.clone(),
        )));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // The outage.
    let stop_began = Instant::now();
    cluster.stop("fast").await;
    let stop_done = Instant::now();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (ready_down, ready_down_took) = ready().await;
    let login_started = Instant::now();
    let login_down = login().await;
    let login_down_took = login_started.elapsed();
    let remaining = OUTAGE.saturating_sub(stop_done.elapsed());
    tokio::time::sleep(remaining).await;
    let start_began = Instant::now();
    cluster.start().await;
    let start_done = Instant::now();

    // Recovery: /readyz first, then keep the load on until every kind of request has succeeded for
    // a while, or give up after the bound (and a margin, so the assertion below says how long).
    let mut ready_again = None;
    while start_done.elapsed() < RECOVERY_BOUND + Duration::from_secs(3) {
        if ready_again.is_none() && ready().await.0 == Some(200) {
            ready_again = Some(start_done.elapsed());
        }
        let recovered = {
            let log = log.lock().expect("log");
            let last_failure = log
                .iter()
                .filter(|o| !o.ok())
                .map(|o| o.ended)
                .max()
                .unwrap_or(start_done);
            [Op::Create, Op::List].iter().all(|op| {
                log.iter()
                    .filter(|o| o.op == *op && o.started > last_failure.max(start_done))
                    .count()
                    >= 20
            })
        };
        if recovered && ready_again.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.expect("load task");
    }
    let login_after = login().await.expect("login answered");
    let log = std::mem::take(&mut *log.lock().expect("log"));

    // The same process served throughout.
    assert!(
        server.try_wait().expect("server status").is_none(),
        "keyhold serve exited during the test: {}",
        server_output()
    );
    assert_eq!(server.id(), Some(server_pid));

    // --- Every answer: in time, a success or a 503 problem; never a 500, never none.
    let show = |o: &Outcome| o.describe(t0);
    let bad: Vec<String> = log
        .iter()
        .filter(|o| !(o.ok() || is_unavailable_problem(o)))
        .map(show)
        .collect();
    assert!(
        bad.is_empty(),
        "{} of {} requests got neither a success nor a 503 problem, e.g.:\n{}\nserver output:\n{}",
        bad.len(),
        log.len(),
        bad.iter().take(10).cloned().collect::<Vec<_>>().join("\n"),
        server_output()
    );
    let slowest = log
        .iter()
        .max_by_key(|o| o.ended - o.started)
        .expect("some requests");
    assert!(
        slowest.ended - slowest.started < ANSWER_BOUND,
        "a request took too long: {}",
        show(slowest)
    );

    // --- During the outage (started after the stop completed, answered before the start began):
    // all 503, and plenty of them for each kind.
    let during: Vec<&Outcome> = log
        .iter()
        .filter(|o| o.started >= stop_done && o.ended <= start_began)
        .collect();
    for op in [Op::Create, Op::List] {
        let n = during.iter().filter(|o| o.op == op).count();
        assert!(n >= 4, "only {n} {op:?} requests ran during the outage");
    }
    let served_while_down: Vec<String> = during
        .iter()
        .filter(|o| !is_unavailable_problem(o))
        .map(|o| show(o))
        .collect();
    assert!(
        served_while_down.is_empty(),
        "requests during the outage not answered 503:\n{}",
        served_while_down.join("\n")
    );
    let slowest_down = during
        .iter()
        .map(|o| o.ended - o.started)
        .max()
        .unwrap_or_default();
    assert_eq!(ready_down, Some(503), "/readyz during the outage");
    assert!(
        ready_down_took < ANSWER_BOUND,
        "/readyz took {ready_down_took:?}"
    );
    let login_down = login_down.expect("login answered during the outage");
    assert_eq!(
        login_down.status, 503,
        "a login during the outage is a 503, not a refusal: {}",
        login_down.body
    );
    assert!(
        login_down
            .content_type
            .starts_with("application/problem+json")
    );
    assert!(
        login_down_took < ANSWER_BOUND,
        "login took {login_down_took:?}"
    );

    // --- Recovery without restarting keyhold.
    let ready_again = ready_again.expect("/readyz never answered 200 after the restart");
    assert!(
        ready_again < RECOVERY_BOUND,
        "/readyz 200 only after {ready_again:?}"
    );
    let last_failure = log.iter().filter(|o| !o.ok()).map(|o| o.ended).max();
    let recovery = last_failure.map_or(Duration::ZERO, |at| {
        at.saturating_duration_since(start_done)
    });
    assert!(
        recovery < RECOVERY_BOUND,
        "requests still failed {recovery:?} after PostgreSQL was back"
    );
    for op in [Op::Create, Op::List] {
        let after = log
            .iter()
            .filter(|o| o.op == op && Some(o.started) > last_failure)
            .count();
        assert!(after >= 20, "only {after} {op:?} requests after recovery");
    }
    assert_eq!(
        login_after.status, 200,
        "login after the restart: {}",
        login_after.body
    );

    // --- No partial writes.
    let db = sqlx::PgPool::connect(&url)
        .await
        .expect("connect to the cluster");
    let rows: Vec<(uuid::Uuid, String, i64, i64)> = sqlx::query_as(
        r#"select p.id, p.name,
                  (select count(*) from audit_events a
                    where a.action = 'project.create' and a.resource_id = p.id::text
                      and a.project_id = p.id and a.outcome = 'success'),
                  (select count(*) from project_memberships m
                    where m.project_id = p.id and m.role = 'admin')
           from projects p"#,
    )
    .fetch_all(&db)
    .await
    .expect("projects");
    let orphan_events: i64 = sqlx::query_scalar(
        "select count(*) from audit_events a where a.action = 'project.create' \
         and not exists (select 1 from projects p where p.id::text = a.resource_id)",
    )
    .fetch_one(&db)
    .await
    .expect("orphan audit events");
    db.close().await;

    let incomplete: Vec<_> = rows.iter().filter(|r| r.2 != 1 || r.3 != 1).collect();
    assert!(
        incomplete.is_empty(),
        "projects without exactly one project.create event and one admin membership: {incomplete:?}"
    );
    assert_eq!(
        orphan_events, 0,
        "project.create events without their project"
    );
    let mut in_db: HashMap<&str, uuid::Uuid> = HashMap::new();
    for (id, name, _, _) in &rows {
        assert!(
            in_db.insert(name, *id).is_none(),
            "project {name} stored twice"
        );
    }
    let creates: Vec<&Outcome> = log.iter().filter(|o| o.op == Op::Create).collect();
    let mut created = 0;
    for o in creates.iter().filter(|o| o.status() == Some(201)) {
        let name = o.name.as_deref().expect("name");
        let id = o.answer.as_ref().expect("answer").body["project"]["id"]
            .as_str()
            .and_then(|s| uuid::Uuid::parse_str(s).ok());
        assert_eq!(
            in_db.get(name).copied(),
            id,
            "project {name} answered 201 is not stored as answered"
        );
        created += 1;
    }
    // A 503 write left nothing, except where the server may have committed and then died before
    // the answer reached keyhold (the COMMIT's outcome is unknown to the client): such a write can
    // only have been in flight when the shutdown began, and it must be whole (checked above).
    let failed: Vec<&&Outcome> = creates.iter().filter(|o| !o.ok()).collect();
    let ambiguous: Vec<&&&Outcome> = failed
        .iter()
        .filter(|o| in_db.contains_key(o.name.as_deref().expect("name")))
        .collect();
    for o in &ambiguous {
        assert!(
            o.started < stop_done,
            "a write answered 503 that started during the outage was stored: {}",
            show(o)
        );
    }
    let asked: HashSet<&str> = creates.iter().filter_map(|o| o.name.as_deref()).collect();
    let unasked: Vec<&&str> = in_db.keys().filter(|n| !asked.contains(**n)).collect();
    assert!(unasked.is_empty(), "projects nobody asked for: {unasked:?}");
    assert_eq!(rows.len(), created + ambiguous.len());

    let lists = log.iter().filter(|o| o.op == Op::List).count();
    eprintln!(
        "faults: {} requests ({} creates, {lists} lists); outage: stop took {} ms, down {} ms, start \
         took {} ms; during it {} requests, all 503, slowest {} ms; /readyz 503 in {} ms, login 503 \
         in {} ms; /readyz 200 {} ms and all requests succeeding {} ms after the start; {} writes \
         answered 503 of which {} committed (in flight at the stop); {created} projects answered \
         201, all whole; slowest request {} ms; total {} ms",
        log.len(),
        creates.len(),
        (stop_done - stop_began).as_millis(),
        (start_began - stop_done).as_millis(),
        (start_done - start_began).as_millis(),
        during.len(),
        slowest_down.as_millis(),
        ready_down_took.as_millis(),
        login_down_took.as_millis(),
        ready_again.as_millis(),
        recovery.as_millis(),
        failed.len(),
        ambiguous.len(),
        (slowest.ended - slowest.started).as_millis(),
        t0.elapsed().as_millis()
    );
    drop(server);
    drop(cluster);
}

/// Answers 200 when the cluster on `port` is a primary, 503 otherwise (a standby, or down): what
/// Patroni's `GET /primary` tells a load balancer, here for a test without Patroni.
async fn role_agent(port: u16) -> u16 {
    let app = axum::Router::new().route(
        "/primary",
        axum::routing::get(move || async move {
            let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
            let primary = tokio::time::timeout(Duration::from_secs(1), async {
                use sqlx::Connection;
                let mut conn = sqlx::PgConnection::connect(&url).await.ok()?;
                let in_recovery: bool = sqlx::query_scalar("select pg_is_in_recovery()")
                    .fetch_one(&mut conn)
                    .await
                    .ok()?;
                let _ = conn.close().await;
                Some(!in_recovery)
            })
            .await
            .ok()
            .flatten()
            .unwrap_or(false);
            if primary {
                axum::http::StatusCode::OK
            } else {
                axum::http::StatusCode::SERVICE_UNAVAILABLE
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let agent = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("role agent");
    });
    agent
}

/// HAProxy in TCP mode in front of both clusters, sending connections only to the one whose
/// role agent says it is the primary, and cutting the sessions of one marked down.
fn postgres_proxy(dir: &Path, front: u16, clusters: &[(u16, u16)]) -> tokio::process::Child {
    let servers: String = clusters
        .iter()
        .enumerate()
        .map(|(i, (port, agent))| format!("    server pg{i} 127.0.0.1:{port} check port {agent}\n"))
        .collect();
    let config = format!(
        "global\n    maxconn 256\n\
         defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 1h\n    \
         timeout server 1h\n    timeout check 1s\n\
         listen postgres\n    bind 127.0.0.1:{front}\n    option httpchk GET /primary\n    \
         http-check expect status 200\n    \
         default-server inter 200ms fall 1 rise 1 on-marked-down shutdown-sessions\n{servers}"
    );
    let path = dir.join("haproxy.cfg");
    std::fs::write(&path, config).expect("write haproxy.cfg");
    let binary = ["/usr/sbin/haproxy", "/usr/bin/haproxy"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("haproxy is not installed (scripts/test installs Debian's haproxy)");
    tokio::process::Command::new(binary)
        .arg("-db")
        .arg("-f")
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start haproxy")
}

/// Issue 20: a primary and a synchronous streaming standby on this machine, HAProxy in front
/// (routing to whichever a Patroni-style role check calls primary), load running; the primary
/// crashes (`pg_ctl stop -m immediate`) and the standby is promoted. The same `keyhold serve`
/// reaches the new primary within the bound without a restart; meanwhile every request is a
/// success or a fast 503 problem; and every write that was acknowledged is on the new primary,
/// because the primary's commits wait for the standby (`synchronous_standby_names`).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_failover_to_a_promoted_standby_loses_no_acknowledged_write() {
    let t0 = Instant::now();
    let primary = Cluster::create();
    primary.start().await;
    let standby = Cluster::standby_of(&primary);
    standby.start().await;
    // Synchronous: a commit is acknowledged only once the standby has it.
    let admin = sqlx::PgPool::connect(&primary.url())
        .await
        .expect("primary");
    let started = Instant::now();
    loop {
        let streaming: i64 = sqlx::query_scalar(
            "select count(*) from pg_stat_replication where state = 'streaming'",
        )
        .fetch_one(&admin)
        .await
        .expect("replication");
        if streaming == 1 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the standby never streamed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sqlx::query("alter system set synchronous_standby_names = '*'")
        .execute(&admin)
        .await
        .expect("synchronous");
    sqlx::query("select pg_reload_conf()")
        .execute(&admin)
        .await
        .expect("reload");
    admin.close().await;

    let agents = [
        role_agent(primary.port).await,
        role_agent(standby.port).await,
    ];
    let front = free_port();
    let _proxy = postgres_proxy(
        &primary.root,
        front,
        &[(primary.port, agents[0]), (standby.port, agents[1])],
    );
    let url = format!("postgres://postgres@127.0.0.1:{front}/postgres");
    // HAProxy counts a server up until its first check fails: wait until ten connections in a
    // row land on the primary, i.e. the standby has been taken out.
    let started = Instant::now();
    let mut on_primary = 0;
    while on_primary < 10 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "HAProxy never settled on the primary"
        );
        let landed = async {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&url).await.ok()?;
            let in_recovery: bool = sqlx::query_scalar("select pg_is_in_recovery()")
                .fetch_one(&mut conn)
                .await
                .ok()?;
            let _ = conn.close().await;
            Some(!in_recovery)
        }
        .await;
        on_primary = if landed == Some(true) {
            on_primary + 1
        } else {
            0
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let key = crypto::generate_root_key("failover").expect("key");
    let key = key.expose_secret().to_owned();
    let out = keyhold(&url, &key)
        .args(["bootstrap", "--json"])
        .output()
        .await
        .expect("run keyhold bootstrap");
    assert!(
        out.status.success(),
        "bootstrap failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bootstrap: Value = serde_json::from_slice(&out.stdout).expect("bootstrap json");
    let credentials =
        json!({ "clientId": bootstrap["clientId"], "clientSecret": bootstrap["clientSecret"] });
    let port = free_port();
    let mut server = keyhold(&url, &key)
        .env("KEYHOLD_LISTEN", format!("127.0.0.1:{port}"))
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start keyhold serve");
    let server_pid = server.id().expect("running");
    let http = Http::new(format!("http://127.0.0.1:{port}"));
    let started = Instant::now();
    while http
        .call(Method::GET, "/readyz", None, None)
        .await
        .map(|a| a.status)
        .ok()
        != Some(200)
    {
        assert!(started.elapsed() < Duration::from_secs(30), "never ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let login = http
        .call(
            Method::POST,
            "/api/v1/auth/universal-auth/login",
            None,
            Some(&credentials),
        )
        .await
        .expect("login");
    assert_eq!(login.status, 200, "{}", login.body);
    let token = login.body["accessToken"]
        .as_str()
        .expect("token")
        .to_owned();

    let stop = Arc::new(AtomicBool::new(false));
    let log: Arc<Mutex<Vec<Outcome>>> = Arc::default();
    let mut tasks = Vec::new();
    for task in 0..WRITERS + READERS {
        let op = if task < WRITERS { Op::Create } else { Op::List };
        tasks.push(tokio::spawn(load(
            http.clone(),
            token.clone(),
            op,
            task,
            stop.clone(),
            log.clone(),
        )));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // The primary crashes; a second later the standby is promoted.
    let crash = Instant::now();
    primary.stop("immediate").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    standby.promote().await;
    let promoted = Instant::now();

    // Keep the load on until both kinds of request have succeeded 20 times after the last
    // failure, or give up past the bound.
    while promoted.elapsed() < FAILOVER_BOUND + Duration::from_secs(3) {
        let recovered = {
            let log = log.lock().expect("log");
            let last_failure = log
                .iter()
                .filter(|o| !o.ok())
                .map(|o| o.ended)
                .max()
                .unwrap_or(promoted);
            [Op::Create, Op::List].iter().all(|op| {
                log.iter()
                    .filter(|o| o.op == *op && o.started > last_failure.max(promoted))
                    .count()
                    >= 20
            })
        };
        if recovered {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.expect("load task");
    }
    let log = std::mem::take(&mut *log.lock().expect("log"));
    assert!(
        server.try_wait().expect("server status").is_none(),
        "keyhold serve exited during the failover"
    );
    assert_eq!(server.id(), Some(server_pid));

    let show = |o: &Outcome| o.describe(t0);
    let bad: Vec<String> = log
        .iter()
        .filter(|o| !(o.ok() || is_unavailable_problem(o)))
        .map(show)
        .collect();
    assert!(
        bad.is_empty(),
        "{} of {} requests got neither a success nor a 503 problem, e.g.:\n{}",
        bad.len(),
        log.len(),
        bad.iter().take(10).cloned().collect::<Vec<_>>().join("\n")
    );
    let slowest = log
        .iter()
        .max_by_key(|o| o.ended - o.started)
        .expect("some requests");
    assert!(
        slowest.ended - slowest.started < ANSWER_BOUND,
        "a request took too long: {}",
        show(slowest)
    );
    let failed = log.iter().filter(|o| !o.ok()).count();
    assert!(
        failed > 0,
        "no request noticed the failover: the test did not test it"
    );
    let last_failure = log.iter().filter(|o| !o.ok()).map(|o| o.ended).max();
    let recovery = last_failure.map_or(Duration::ZERO, |at| at.saturating_duration_since(promoted));
    assert!(
        recovery < FAILOVER_BOUND,
        "requests still failed {recovery:?} after the standby was promoted"
    );

    // Every write answered 201 is on the new primary.
    let db = sqlx::PgPool::connect(&standby.url())
        .await
        .expect("connect to the new primary");
    let names: HashSet<String> = sqlx::query_scalar("select name from projects")
        .fetch_all(&db)
        .await
        .expect("projects")
        .into_iter()
        .collect();
    db.close().await;
    let acknowledged: Vec<&str> = log
        .iter()
        .filter(|o| o.op == Op::Create && o.status() == Some(201))
        .filter_map(|o| o.name.as_deref())
        .collect();
    let lost: Vec<&&str> = acknowledged
        .iter()
        .filter(|n| !names.contains(**n))
        .collect();
    assert!(
        lost.is_empty(),
        "acknowledged writes lost in the failover: {lost:?}"
    );
    eprintln!(
        "failover: {} requests, {} acknowledged writes all on the new primary; {failed} answered \
         503 between the crash and recovery; all requests succeeding {} ms after the promotion \
         ({} ms after the crash); slowest request {} ms",
        log.len(),
        acknowledged.len(),
        recovery.as_millis(),
        last_failure.map_or(0, |at| at.saturating_duration_since(crash).as_millis()),
        (slowest.ended - slowest.started).as_millis()
    );
    drop(server);
}
