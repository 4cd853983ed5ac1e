//! Seeding and checking for `bench/rotations/run.sh` (not part of the product).
//!
//! `bench_rotations seed DOMAIN DUE IDLE`: migrates `DATABASE_URL`, creates an org, a project and
//! one connection (client `benchConnection`, secret `$BENCH_CONN_SECRET`, sealed with
//! `KEYHOLD_ROOT_KEYS`), then `DUE` rotations of clients `bench00000...` due now and `IDLE`
//! rotations scheduled from tomorrow over the next year (to make the table big), in bulk SQL.
//!
//! `bench_rotations verify DOMAIN EMULATOR_URL`: for every rotation that succeeded, opens the
//! stored current secret and asks the emulator's token endpoint whether it is the client's
//! secret (a wrong secret is refused before the missing grant is). Prints
//! `checked=N mismatches=M unrotated=U multi_attempts=A` and exits non-zero on any problem.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use auth0::{Auth0Client, Auth0Error, ClientCredentials, Domain, HttpConfig};
use broker::Destination;
use broker::aad;
use crypto::{RootKeyring, SecretString};
use sqlx::postgres::PgPoolOptions;
use store::connections::{Credentials, NewConnection, Sealed};
use store::{ConnectionId, CredentialId, OrgId, ProjectId, RotationId};

const CONN_CLIENT: &str = "benchConnection";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let url = std::env::var("DATABASE_URL").context("DATABASE_URL")?;
    let keys = std::env::var("KEYHOLD_ROOT_KEYS").context("KEYHOLD_ROOT_KEYS")?;
    let keyring = Arc::new(RootKeyring::parse(&keys).map_err(|e| anyhow::anyhow!("{e}"))?);
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .connect(&url)
        .await?;
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["seed", domain, due, idle] => {
            seed(&pool, &keyring, domain, due.parse()?, idle.parse()?).await
        }
        ["verify", domain, emulator] => verify(&pool, &keyring, domain, emulator).await,
        _ => bail!("usage: bench_rotations seed DOMAIN DUE IDLE | verify DOMAIN EMULATOR_URL"),
    }
}

async fn seed(
    pool: &sqlx::PgPool,
    keyring: &RootKeyring,
    domain: &str,
    due: i64,
    idle: i64,
) -> anyhow::Result<()> {
    store::migrate(pool).await?;
    let secret = std::env::var("BENCH_CONN_SECRET").context("BENCH_CONN_SECRET")?;
    let org_id = OrgId::new();
    let mut tx = pool.begin().await?;
    sqlx::query("insert into orgs (id, name) values ($1, 'bench')")
        .bind(org_id)
        .execute(&mut *tx)
        .await?;
    let project = store::projects::create(
        &mut tx,
        &store::projects::NewProject {
            org_id,
            name: "bench",
            description: None,
        },
    )
    .await?;
    let id = ConnectionId::new();
    let to = Destination {
        domain,
        client_id: CONN_CLIENT,
    };
    let binding = aad::connection_secret(id, project.id, to);
    let sealed = Sealed(keyring.seal_str(&SecretString::from(secret), &binding.aad())?);
    let audience = format!("https://{domain}/api/v2/");
    store::connections::insert(
        &mut tx,
        &NewConnection {
            id,
            org_id,
            project_id: project.id,
            method: "client-credentials",
            name: "bench",
            description: None,
            credentials: Credentials {
                domain,
                client_id: CONN_CLIENT,
                audience: &audience,
                client_secret_sealed: &sealed,
            },
        },
    )
    .await?;
    // Idle rows first so the due ones are the freshest in the heap, as in real life.
    sqlx::query(
        "insert into secret_rotations (id, org_id, project_id, connection_id, name, client_id, \
           rotation_interval_days, next_rotation_at, due_at) \
         select gen_random_uuid(), $1, $2, $3, 'idle-' || i, 'idleClient' || i, 365, t, t \
         from generate_series(1, $4) as i, \
              lateral (select now() + interval '1 day' + make_interval(mins => (i % 525000)::int)) as s(t)",
    )
    .bind(org_id)
    .bind(project.id)
    .bind(id)
    .bind(idle)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "insert into secret_rotations (id, org_id, project_id, connection_id, name, client_id, \
           rotation_interval_days, next_rotation_at, due_at) \
         select gen_random_uuid(), $1, $2, $3, 'due-' || i, 'bench' || lpad(i::text, 5, '0'), \
           30, now() + interval '30 days', now() \
         from generate_series(0, $4 - 1) as i",
    )
    .bind(org_id)
    .bind(project.id)
    .bind(id)
    .bind(due)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    sqlx::query("analyze secret_rotations")
        .execute(pool)
        .await?;
    println!("seeded due={due} idle={idle}");
    Ok(())
}

async fn verify(
    pool: &sqlx::PgPool,
    keyring: &RootKeyring,
    domain: &str,
    emulator: &str,
) -> anyhow::Result<()> {
    let auth0 = Auth0Client::new(HttpConfig {
        endpoint_override: Some(emulator.parse()?),
        request_timeout: Duration::from_secs(10),
        ..HttpConfig::default()
    })?;
    let domain = Domain::parse(domain)?;
    let rows: Vec<(String, String, CredentialId, Sealed, RotationId, ProjectId)> = sqlx::query_as(
        "select r.client_id, r.status, c.id, c.client_secret_sealed, r.id, r.project_id \
         from secret_rotations r join rotation_credentials c \
           on c.rotation_id = r.id and c.state = 'current' \
         where r.name like 'due-%'",
    )
    .fetch_all(pool)
    .await?;
    let due: i64 =
        sqlx::query_scalar("select count(*) from secret_rotations where name like 'due-%'")
            .fetch_one(pool)
            .await?;
    let multi: i64 = sqlx::query_scalar(
        "select count(*) from (select rotation_id from rotation_attempts \
         group by rotation_id having count(*) > 1) m",
    )
    .fetch_one(pool)
    .await?;
    let mut mismatches = 0u64;
    let checks = join_bounded(rows.into_iter().map(
        |(client_id, _, cred_id, sealed, rotation_id, project_id)| {
            let auth0 = auth0.clone();
            let to = Destination {
                domain: domain.as_str(),
                client_id: &client_id,
            };
            let binding = aad::generated_secret(cred_id, rotation_id, project_id, to);
            let secret = keyring.open_str(&sealed.0, &binding.aad());
            let domain = domain.clone();
            async move {
                let secret = secret.map_err(|e| anyhow::anyhow!("{e}"))?;
                let creds = ClientCredentials {
                    audience: domain.management_audience(),
                    domain,
                    client_id,
                    client_secret: secret,
                };
                Ok::<bool, anyhow::Error>(matches!(
                    auth0.client_credentials_token(&creds).await,
                    Ok(_) | Err(Auth0Error::NoGrantForAudience { .. })
                ))
            }
        },
    ))
    .await;
    let checked = checks.len();
    for ok in checks {
        if !ok? {
            mismatches += 1;
        }
    }
    let unrotated = due - i64::try_from(checked).unwrap_or(0);
    println!(
        "checked={checked} mismatches={mismatches} unrotated={unrotated} multi_attempts={multi}"
    );
    if mismatches > 0 || unrotated != 0 || multi > 0 {
        bail!("verification failed");
    }
    Ok(())
}

/// Runs futures 64 at a time (enough to keep the emulator busy, few enough for its sockets).
async fn join_bounded<F, T>(futures: impl Iterator<Item = F>) -> Vec<T>
where
    F: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let mut set = tokio::task::JoinSet::new();
    let mut out = Vec::new();
    for future in futures {
        if set.len() >= 64
            && let Some(Ok(done)) = set.join_next().await
        {
            out.push(done);
        }
        set.spawn(future);
    }
    while let Some(done) = set.join_next().await {
        if let Ok(done) = done {
            out.push(done);
        }
    }
    out
}
