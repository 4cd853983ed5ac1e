//! Seeds the database for `bench/keys/run.sh`: one organisation, one project and N app
//! connections whose secrets are real envelopes, each sealed under the active key of
//! `KEYHOLD_ROOT_KEYS` and bound to its own row, so `keyhold keys rewrap` does exactly the work it
//! does in production (copies of one envelope would not open: associated data names the row).
//!
//! ```text
//! DATABASE_URL=postgres://... KEYHOLD_ROOT_KEYS=k1:... \
//!   cargo run --release -p keyhold --example keys_bench_seed -- 100000
//! ```

use std::time::Instant;

use anyhow::Context;
use crypto::{RootKeyring, SecretString};
use sqlx::postgres::PgPoolOptions;
use uuid::Uuid;

/// Rows per insert statement: big enough to amortise round trips, small enough for one bind.
const CHUNK: usize = 5_000;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let rows: usize = match std::env::args().nth(1) {
        Some(n) => n
            .parse()
            .context("the argument is the number of connections")?,
        None => 100_000,
    };
    let url = std::env::var("DATABASE_URL").context("DATABASE_URL is not set")?;
    let spec = std::env::var("KEYHOLD_ROOT_KEYS").context("KEYHOLD_ROOT_KEYS is not set")?;
    let keyring = RootKeyring::parse(&spec).map_err(|err| anyhow::anyhow!("{err}"))?;
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .context("connecting")?;
    let started = Instant::now();

    let (org, project) = (Uuid::now_v7(), Uuid::now_v7());
    sqlx::query("insert into orgs (id, name) values ($1, 'bench')")
        .bind(org)
        .execute(&pool)
        .await?;
    sqlx::query("insert into projects (id, org_id, name) values ($1, $2, 'keys-bench')")
        .bind(project)
        .bind(org)
        .execute(&pool)
        .await?;

    let mut done = 0;
    while done < rows {
        let n = CHUNK.min(rows - done);
        let mut ids = Vec::with_capacity(n);
        let mut names = Vec::with_capacity(n);
        let mut sealed = Vec::with_capacity(n);
        for i in done..done + n {
            let id = Uuid::now_v7();
            let to = broker::Destination {
                domain: "bench.auth0.test",
                client_id: "bench-m2m",
            };
            let binding = broker::aad::connection_secret(
                store::ConnectionId(id),
                store::ProjectId(project),
                to,
            );
            let aad = binding.aad();
            // A 64-character secret, about what Auth0 issues.
            let secret = SecretString::from(format!("bench-secret-{i:010}-{}", "s".repeat(41)));
            sealed.push(keyring.seal_str(&secret, &aad)?);
            ids.push(id);
            names.push(format!("c-{i:06}"));
        }
        sqlx::query(
            "insert into app_connections (id, org_id, project_id, method, name, domain, \
             client_id, audience, client_secret_sealed) \
             select u.id, $1, $2, 'client-credentials', u.name, 'bench.auth0.test', 'bench-m2m', \
                    'https://bench.auth0.test/api/v2/', u.sealed \
             from unnest($3::uuid[], $4::text[], $5::bytea[]) as u (id, name, sealed)",
        )
        .bind(org)
        .bind(project)
        .bind(&ids)
        .bind(&names)
        .bind(&sealed)
        .execute(&pool)
        .await
        .context("inserting connections")?;
        done += n;
    }
    pool.close().await;
    eprintln!(
        "seeded {rows} connections sealed under {} in {:.1} s",
        keyring.active_key_id(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
