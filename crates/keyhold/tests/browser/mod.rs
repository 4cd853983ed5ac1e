//! Drives the dashboard in a real browser: `keyhold dev` (the real binary: API, embedded Auth0
//! emulator and rotation worker) on a fresh database, and headless Chromium through ChromeDriver
//! (Debian's `chromium` and `chromium-driver`, which `.ci/run` installs). Shared by the browser
//! tests and `examples/ui_bench.rs`.

#![allow(dead_code)] // each user takes what it needs

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

/// The tenant `keyhold dev` seeds in its embedded emulator, and its applications.
pub const DEMO_DOMAIN: &str = "demo.auth0.test";
pub const DEMO_CLIENT_ID: &str = "keyhold-demo-m2m";
pub const DEMO_TARGET_ID: &str = "demo-orders-service";

/// How long a page may take to appear before a test gives up.
pub const PAGE_WAIT: Duration = Duration::from_secs(20);

/// An HTTP client for setting up through the API. reqwest is built without a TLS provider
/// (`rustls-no-provider`) and panics unless one is installed, even for plain HTTP.
pub fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// `keyhold dev`, running until dropped.
pub struct Dev {
    _child: tokio::process::Child,
    pub base: String,
    pub admin_id: String,
    pub admin_secret: String,
    pub demo_secret: String,
    /// The embedded Auth0 emulator's base URL (tenants chosen by `Host`).
    pub emulator: String,
    dir: PathBuf,
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Dev {
    pub async fn start(database_url: &str, binary: &str) -> Dev {
        Dev::start_with(database_url, binary, &[]).await
    }

    /// `start` with extra environment variables (e.g. `KEYHOLD_WEBHOOK_ALLOW_PRIVATE_NETWORKS`).
    pub async fn start_with(database_url: &str, binary: &str, env: &[(&str, &str)]) -> Dev {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("keyhold-ui-{}", uuid::Uuid::new_v4()));
        let child = tokio::process::Command::new(binary)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", database_url)
            .env("KEYHOLD_LISTEN", format!("127.0.0.1:{port}"))
            .env("KEYHOLD_DEV_DIR", &dir)
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .arg("dev")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start keyhold dev");
        let base = format!("http://127.0.0.1:{port}");
        let http = http();
        let started = Instant::now();
        loop {
            let ready = http.get(format!("{base}/readyz")).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "keyhold dev did not become ready"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let admin: Value =
            serde_json::from_slice(&std::fs::read(dir.join("admin.json")).expect("dev admin.json"))
                .expect("admin json");
        let demo_secret = std::fs::read_to_string(dir.join("demo-client-secret"))
            .expect("demo secret")
            .trim()
            .to_owned();
        let emulator = std::fs::read_to_string(dir.join("emulator-url"))
            .expect("dev emulator-url")
            .trim()
            .to_owned();
        Dev {
            _child: child,
            emulator,
            base,
            admin_id: admin["clientId"].as_str().expect("clientId").to_owned(),
            admin_secret: admin["clientSecret"]
                .as_str()
                .expect("clientSecret")
                .to_owned(),
            demo_secret,
            dir,
        }
    }

    /// An API call with a bearer token; the answer's JSON.
    pub async fn api(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = http()
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("API call");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn login(&self, client_id: &str, client_secret: &str) -> String {
        let response = http()
            .post(format!("{}/api/v1/auth/universal-auth/login", self.base))
            .json(&json!({ "clientId": client_id, "clientSecret": client_secret }))
            .send()
            .await
            .expect("login");
        let body: Value = response.json().await.expect("login json");
        body["accessToken"].as_str().expect("token").to_owned()
    }

    /// The demo project's id.
    pub async fn project(&self, token: &str) -> String {
        let (_, body) = self
            .api(token, reqwest::Method::GET, "/api/v1/projects", None)
            .await;
        body["projects"][0]["id"]
            .as_str()
            .expect("project")
            .to_owned()
    }

    /// A connection to the demo tenant's M2M application, made through the API: its id.
    pub async fn connection(&self, token: &str, project: &str, name: &str) -> String {
        let (status, created) = self
            .api(
                token,
                reqwest::Method::POST,
                "/api/v1/app-connections/auth0",
                Some(json!({
                    "name": name, "method": "client-credentials", "projectId": project,
                    "credentials": {
                        "domain": DEMO_DOMAIN, "clientId": DEMO_CLIENT_ID, "clientSecret": self.demo_secret,
                    },
                })),
            )
            .await;
        assert_eq!(status, 201, "{created}");
        created["appConnection"]["id"]
            .as_str()
            .expect("id")
            .to_owned()
    }

    /// A machine identity with `role` in `project`: (client id, client secret).
    pub async fn member(
        &self,
        token: &str,
        project: &str,
        name: &str,
        role: &str,
    ) -> (String, String) {
        let (status, made) = self
            .api(
                token,
                reqwest::Method::POST,
                "/api/v1/identities",
                Some(json!({ "type": "machine", "name": name })),
            )
            .await;
        assert_eq!(status, 201, "{made}");
        let (status, added) = self
            .api(
                token,
                reqwest::Method::POST,
                &format!("/api/v1/projects/{project}/memberships"),
                Some(json!({ "identityId": made["identity"]["id"], "role": role })),
            )
            .await;
        assert_eq!(status, 201, "{added}");
        (
            made["identity"]["clientId"]
                .as_str()
                .expect("id")
                .to_owned(),
            made["clientSecret"].as_str().expect("secret").to_owned(),
        )
    }
}

/// Headless Chromium behind ChromeDriver, until dropped.
pub struct Browser {
    pub client: Client,
    _driver: tokio::process::Child,
    /// Whether every page `page` waits for is checked with axe-core (see `accessible`).
    axe: bool,
}

/// The WCAG rules axe-core checks every page against: 2.0, 2.1 and 2.2, levels A and AA.
const WCAG_TAGS: [&str; 6] = [
    "wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa",
];

/// axe-core's browser script: `$AXE_CORE` (a path to `axe.min.js`), else the one `scripts/test`
/// installs (axe-core@4.14.1 in `target/axe-core`). Read once.
fn axe_script() -> &'static str {
    static SCRIPT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SCRIPT.get_or_init(|| {
        let path = std::env::var_os("AXE_CORE").map_or_else(
            || {
                PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                    .join("../../target/axe-core/node_modules/axe-core/axe.min.js")
            },
            PathBuf::from,
        );
        std::fs::read_to_string(&path).unwrap_or_else(|err| {
            panic!(
                "cannot read axe-core at {} ({err}): run scripts/test (it installs axe-core@4.14.1), \
                 or set AXE_CORE to an axe.min.js",
                path.display()
            )
        })
    })
}

/// Killing chromedriver alone (`kill_on_drop`) left its Chromium running, reparented to init: a
/// full test run leaked some 50 browsers. The whole process group goes instead.
impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(group) = self._driver.id() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{group}")])
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl Browser {
    pub async fn start(width: u32, height: u32) -> Browser {
        let port = free_port();
        let driver_path = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
        let driver = tokio::process::Command::new(&driver_path)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, which the Chromium it starts joins: see `Drop for Browser`.
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|err| {
                panic!(
                    "cannot run {driver_path} ({err}): install Debian's chromium and chromium-driver \
                     (.ci/run does), or set CHROMEDRIVER"
                )
            });
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        let http = http();
        while http.get(format!("{url}/status")).send().await.is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "chromedriver did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--no-first-run", "--disable-extensions", "--hide-scrollbars",
                    format!("--window-size={width},{height}"),
                ],
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&url)
            .await
            .expect("a Chromium session");
        Browser {
            client,
            _driver: driver,
            axe: true,
        }
    }

    /// For measuring speed: pages are not checked with axe-core, which would add its own work.
    pub fn without_accessibility_checks(mut self) -> Browser {
        self.axe = false;
        self
    }

    /// Fails unless axe-core finds no WCAG 2.2 A/AA violation on the page as it is now.
    pub async fn accessible(&self, at: &str) {
        // The script is the body of the function WebDriver runs, so the page's policy (no eval)
        // does not apply; it stays in the window until the next full load.
        let loaded = self.run("return typeof window.axe === 'object';").await;
        if loaded != Value::Bool(true) {
            self.client
                .execute(&format!("{}\n;return null;", axe_script()), vec![])
                .await
                .expect("load axe-core");
        }
        let found = self
            .client
            .execute_async(
                "const [tags, done] = arguments; \
                 window.axe.run(document, { runOnly: { type: 'tag', values: tags } }) \
                   .then((r) => done({ passed: r.passes.length, violations: r.violations.map((v) => ({ \
                     id: v.id, impact: v.impact, help: v.help, \
                     nodes: v.nodes.slice(0, 5).map((n) => n.target.join(' ')) })) })) \
                   .catch((e) => done({ passed: 0, violations: [{ id: 'axe-error', help: String(e) }] }));",
                vec![json!(WCAG_TAGS)],
            )
            .await
            .expect("run axe-core");
        assert_eq!(
            found["violations"],
            json!([]),
            "axe-core found WCAG A/AA violations on {at}"
        );
        // Some rule applied and held: the check really ran on a page.
        assert!(
            found["passed"].as_u64().is_some_and(|n| n > 0),
            "axe-core checked nothing on {at}: {found}"
        );
    }

    /// Signs in on the sign-in page as a machine identity.
    pub async fn sign_in(&self, client_id: &str, client_secret: &str) {
        self.page("sign-in").await;
        self.click("#kind-machine").await;
        self.fill("#client-id", client_id).await;
        self.fill("#client-secret", client_secret).await;
        self.click("#sign-in-submit").await;
    }

    /// Waits until the dashboard shows `page` (its `body[data-page]`, set once rendered).
    pub async fn page(&self, page: &str) {
        self.client
            .wait()
            .at_most(PAGE_WAIT)
            .for_element(Locator::Css(&format!("body[data-page='{page}']")))
            .await
            .unwrap_or_else(|err| panic!("page {page} did not appear: {err}"));
        if self.axe {
            self.accessible(page).await;
        }
    }

    pub async fn element(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(PAGE_WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|err| panic!("{css} did not appear: {err}"))
    }

    /// Picks the option whose value is `value` in the `<select>` matching `css`.
    pub async fn select_value(&self, css: &str, value: &str) {
        self.element(css)
            .await
            .select_by_value(value)
            .await
            .unwrap_or_else(|err| panic!("{css}: no option {value}: {err}"));
    }

    /// Picks the option labelled `label` in the `<select>` matching `css`.
    pub async fn select_label(&self, css: &str, label: &str) {
        self.element(css)
            .await
            .select_by_label(label)
            .await
            .unwrap_or_else(|err| panic!("{css}: no option labelled {label}: {err}"));
    }

    /// The visible text of the first element matching `css`, once it appears.
    pub async fn text_of(&self, css: &str) -> String {
        self.element(css)
            .await
            .text()
            .await
            .unwrap_or_else(|err| panic!("the text of {css}: {err}"))
    }

    pub async fn exists(&self, css: &str) -> bool {
        !self
            .client
            .find_all(Locator::Css(css))
            .await
            .expect("find")
            .is_empty()
    }

    /// Fails if the page offers any of `controls` (to a caller whose role may not use them).
    pub async fn offers_none(&self, controls: &[&str]) {
        for control in controls {
            assert!(!self.exists(control).await, "the page offers {control}");
        }
    }

    pub async fn click(&self, css: &str) {
        self.element(css).await.click().await.expect("click");
    }

    /// Replaces an input's value.
    pub async fn fill(&self, css: &str, value: &str) {
        let input = self.element(css).await;
        input.clear().await.expect("clear");
        input.send_keys(value).await.expect("type");
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("navigate");
    }

    pub async fn run(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.expect("script")
    }

    pub async fn source(&self) -> String {
        self.client.source().await.expect("page source")
    }

    /// Everything a script could read back: the DOM, both storages and cookies.
    pub async fn everything_visible(&self) -> String {
        let storage = self
            .run(
                "return JSON.stringify([Object.assign({}, sessionStorage), \
                 Object.assign({}, localStorage), document.cookie, location.href])",
            )
            .await;
        format!("{}\n{storage}", self.source().await)
    }

    /// Saves a screenshot as `name`.png in `$UI_SCREENSHOTS_DIR`, when it is set.
    pub async fn screenshot(&self, name: &str) {
        let Ok(dir) = std::env::var("UI_SCREENSHOTS_DIR") else {
            return;
        };
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        std::fs::write(PathBuf::from(dir).join(format!("{name}.png")), png).expect("write png");
    }
}
