//! The dashboard's speed, in headless Chromium against `keyhold dev` (run by `bench/ui/run.sh`):
//! what a first load of `/ui/` transfers, and how long the connections page takes from the API's
//! answer to 100 rows on screen, at page 1 and at the last page of 100,000 connections. The
//! baseline, measured in the same page loads, is the API call itself (the list request's duration
//! as the browser saw it). Prints a Markdown report.
//!
//! Needs `DATABASE_URL` (a new database; dropped data is not its business), `KEYHOLD_BIN` (a release
//! `keyhold`), and Chromium + ChromeDriver.

#[path = "../tests/browser/mod.rs"]
mod browser;

use std::time::Duration;

use browser::{Browser, Dev};

const ROWS: i64 = 100_000;
const LOADS: usize = 15;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Renders one connections page `LOADS` times: (API ms, render ms, painted ms) per load.
async fn measure(browser: &Browser, url: &str) -> Vec<(f64, f64, f64)> {
    let mut samples = Vec::new();
    for _ in 0..LOADS {
        // A fresh document each time, so nothing is left from the previous render.
        browser.goto("about:blank").await;
        browser.goto(url).await;
        browser.page("connections").await;
        browser
            .element("#connections-table tr[data-connection-id]")
            .await;
        let marks = loop {
            let marks = browser
                .run(
                    "const m = n => performance.getEntriesByName(n)[0]?.startTime ?? null; \
                     const api = performance.getEntriesByType('resource') \
                       .filter(r => r.name.includes('/api/v1/app-connections/auth0?')).pop(); \
                     return { answered: m('keyhold:api-answered'), rendered: m('keyhold:rows-rendered'), \
                              painted: m('keyhold:rows-painted'), rows: document.querySelectorAll('#connections-table tr[data-connection-id]').length, \
                              api: api ? api.responseEnd - api.requestStart : null };",
                )
                .await;
            if !marks["painted"].is_null() {
                break marks;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert_eq!(marks["rows"], 100, "{marks}");
        let at = |k: &str| {
            marks[k]
                .as_f64()
                .unwrap_or_else(|| panic!("{k} in {marks}"))
        };
        samples.push((
            at("api"),
            at("rendered") - at("answered"),
            at("painted") - at("answered"),
        ));
    }
    samples
}

fn summary(label: &str, samples: &[(f64, f64, f64)]) -> String {
    let mut api: Vec<f64> = samples.iter().map(|s| s.0).collect();
    let mut rendered: Vec<f64> = samples.iter().map(|s| s.1).collect();
    let mut painted: Vec<f64> = samples.iter().map(|s| s.2).collect();
    for list in [&mut api, &mut rendered, &mut painted] {
        list.sort_by(f64::total_cmp);
    }
    let worst = painted[painted.len() - 1];
    format!(
        "| {label}: API answer (baseline) p50 / max | {:.1} / {:.1} ms | - | 1.00 | baseline |\n\
         | {label}: API answer → 100 rows in the DOM, p50 / max | {:.1} / {:.1} ms | - | {:.2} | info |\n\
         | {label}: API answer → 100 rows painted, p50 / max | {:.1} / {:.1} ms | < 300 ms | {:.2} | {} |\n",
        percentile(&api, 50.0),
        api[api.len() - 1],
        percentile(&rendered, 50.0),
        rendered[rendered.len() - 1],
        percentile(&rendered, 50.0) / percentile(&api, 50.0),
        percentile(&painted, 50.0),
        worst,
        percentile(&painted, 50.0) / percentile(&api, 50.0),
        if worst < 300.0 { "PASS" } else { "FAIL" },
    )
}

#[tokio::main]
async fn main() {
    let database_url = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let binary = std::env::var("KEYHOLD_BIN").expect("KEYHOLD_BIN");
    let dev = Dev::start(&database_url, &binary).await;
    let token = dev.login(&dev.admin_id, &dev.admin_secret).await;
    let project = dev.project(&token).await;

    // One real connection, cloned in SQL to 100,000 (as bench/connections does).
    let source = dev.connection(&token, &project, "a-first").await;
    let pool = sqlx::PgPool::connect(&database_url)
        .await
        .expect("database");
    sqlx::query(
        "insert into app_connections (id, org_id, project_id, app, method, name, description, domain, \
           client_id, audience, client_secret_sealed, version, created_at, updated_at, scope_check, scope_checked_at) \
         select gen_random_uuid(), s.org_id, s.project_id, s.app, s.method, 'c-' || lpad(g::text, 6, '0'), \
           s.description, s.domain, s.client_id, s.audience, s.client_secret_sealed, 1, s.created_at, \
           s.updated_at, s.scope_check, s.scope_checked_at \
         from app_connections s cross join generate_series(1, $2) g where s.id = $1::uuid",
    )
    .bind(&source)
    .bind(ROWS - 1)
    .execute(&pool)
    .await
    .expect("clone");
    sqlx::query("vacuum (analyze) app_connections")
        .execute(&pool)
        .await
        .expect("vacuum");
    // The last page follows row 99,900 in name order ("a-first", then c-000001 ... c-099999).
    let cursor = store::page::Cursor {
        name: format!("c-{:06}", ROWS - 101),
        id: uuid::Uuid::nil(),
    }
    .encode();

    let browser = Browser::start(1280, 800)
        .await
        .without_accessibility_checks();
    let ui = format!("{}/ui/", dev.base);

    // First load: a fresh profile, so nothing is cached. Sign-in page, all assets.
    browser.goto(&ui).await;
    browser.page("sign-in").await;
    let transfer = browser
        .run(
            "const nav = performance.getEntriesByType('navigation')[0]; \
             const assets = performance.getEntriesByType('resource').filter(r => r.name.includes('/ui/')); \
             return { files: 1 + assets.length, \
                      transfer: nav.transferSize + assets.reduce((s, r) => s + r.transferSize, 0), \
                      body: nav.encodedBodySize + assets.reduce((s, r) => s + r.encodedBodySize, 0) };",
        )
        .await;
    let bytes = transfer["transfer"].as_f64().expect("transfer");
    let files = transfer["files"].as_u64().unwrap_or_default();
    let body = transfer["body"].as_f64().unwrap_or_default();

    browser.sign_in(&dev.admin_id, &dev.admin_secret).await;
    browser.page("projects").await;

    let first = measure(&browser, &format!("{ui}#/projects/{project}/connections")).await;
    let last = measure(
        &browser,
        &format!("{ui}#/projects/{project}/connections?cursor={cursor}"),
    )
    .await;
    let last_names = browser
        .run("return Array.from(document.querySelectorAll('#connections-table tr[data-connection-id]')).map(r => r.textContent).slice(-1)[0];")
        .await;
    assert!(
        last_names.as_str().is_some_and(|t| t.contains("c-099999")),
        "the last page ends with the last connection: {last_names}"
    );

    println!("| metric | value | target | ratio to baseline | result |");
    println!("| --- | --- | --- | --- | --- |");
    println!(
        "| first load of /ui/ (fresh profile): {files} files, bytes over the wire (bodies) | {:.1} KB ({:.1} KB) | < 200 KB | - | {} |",
        bytes / 1024.0,
        body / 1024.0,
        if bytes < 200.0 * 1024.0 {
            "PASS"
        } else {
            "FAIL"
        }
    );
    print!("{}", summary("page 1 of 100,000", &first));
    print!("{}", summary("last page of 100,000", &last));
    println!();
    println!(
        "{LOADS} loads of each page; each load is a new document. \"Painted\" is the first animation frame after the rows are inserted (`keyhold:rows-painted`)."
    );
}
