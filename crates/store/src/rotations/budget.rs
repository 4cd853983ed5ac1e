//! `auth0_request_budgets`: one request budget per Auth0 tenant (and limited API), shared by every
//! worker process through Postgres, so N workers together stay within a tenant's rate limit
//! instead of each spending all of it. The arithmetic (GCRA) is in the migration's
//! `keyhold_reserve_auth0_budget` function and uses only the database's clock.

use std::time::Duration;

use sqlx::PgPool;

use crate::Result;

/// The shape of a bucket: `burst` requests at once, then one per `period`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    pub period: Duration,
    pub burst: u32,
}

/// Reserves `slots` consecutive request slots on `bucket` and returns how long to wait before
/// sending the first; the others follow one `rate.period` apart.
pub async fn reserve(pool: &PgPool, bucket: &str, slots: u32, rate: Rate) -> Result<Duration> {
    let wait: f64 = sqlx::query_scalar("select keyhold_reserve_auth0_budget($1, $2, $3, $4)")
        .bind(bucket)
        .bind(i32::try_from(slots.max(1)).unwrap_or(i32::MAX))
        .bind(rate.period.as_secs_f64())
        .bind(i32::try_from(rate.burst.max(1)).unwrap_or(i32::MAX))
        .fetch_one(pool)
        .await?;
    Ok(Duration::try_from_secs_f64(wait).unwrap_or(Duration::ZERO))
}

/// Auth0 answered 429: nobody sends on `bucket` for `pause` (from its `x-ratelimit-reset`). A
/// later, shorter pause never shortens a longer one.
pub async fn block(pool: &PgPool, bucket: &str, pause: Duration) -> Result<()> {
    sqlx::query(
        "insert into auth0_request_budgets as b (bucket, tat, blocked_until) \
         values ($1, clock_timestamp(), clock_timestamp() + make_interval(secs => $2)) \
         on conflict (bucket) do update set \
           blocked_until = greatest(coalesce(b.blocked_until, excluded.blocked_until), \
                                    excluded.blocked_until), \
           updated_at = clock_timestamp()",
    )
    .bind(bucket)
    .bind(pause.as_secs_f64())
    .execute(pool)
    .await?;
    Ok(())
}
