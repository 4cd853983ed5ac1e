//! Login throttling, built so that guessing stays expensive without letting anyone lock an account
//! out. Failures are counted in a sliding window:
//! - per (account, address): past `PER_ACCOUNT`, that address's logins to that account answer 429.
//!   The guesser is stopped; the account's owner, from any other address, is not.
//! - per address, across accounts: failures plus attempts in flight past `PER_ADDRESS` answer 429,
//!   which stops spraying many accounts from one address;
//! - per account, across addresses: never refused, only slowed. Past `PER_ACCOUNT` recent failures
//!   every attempt waits before its check, doubling from `SLOWDOWN_STEP` to at most
//!   `SLOWDOWN_MAX`, so a distributed guesser pays in time and connections held while the right
//!   secret still gets in, a few seconds late at worst.
//!
//! Concurrency is what makes this more than a counter: a failure is only known once its argon2
//! check is done (~40 ms, queued behind others), so a burst of simultaneous guesses would all pass
//! a check made on arrival. Hence:
//! - attempts on one (account, address) take turns, and each re-checks the count when its turn
//!   comes, so at most `PER_ACCOUNT` guesses per window are ever verified however many arrive;
//! - attempts in flight from one address count against that address's limit as if they had
//!   failed, so a burst spread over many accounts is also cut at `PER_ADDRESS`.
//!
//! An admitted [`Attempt`] is handed to the job that checks it, not kept by the request: a client
//! that hangs up does not take its attempt back early, and the outcome is still recorded.
//!
//! Successful logins leave nothing behind, so a fleet of clients logging in together is not slowed
//! beyond taking turns.
//!
//! The counts and the turns live in PostgreSQL (unlogged tables, migration `login_throttle`), so
//! every API process enforces the same limits: twelve guesses spread over three replicas are
//! checked five times, as on one. Turns are taken in two steps: first in this process (a mutex,
//! so waiting costs no query), then across processes (a leased row per pair, so a holder that dies
//! gives the turn up). Nothing holds a database connection while a secret is checked.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use store::PgPool;
use uuid::Uuid;

use crate::auth::argon::{ArgonQueue, Place};
use crate::problem::ApiError;

/// Failures allowed per (account, address) and window; also where the account's slowdown starts.
pub const PER_ACCOUNT: u32 = 5;
/// Failures and attempts in flight allowed per address and window.
pub const PER_ADDRESS: u32 = 20;
pub const WINDOW: Duration = Duration::from_secs(60);
/// The first added wait on an account with `PER_ACCOUNT` recent failures; doubles per failure.
pub const SLOWDOWN_STEP: Duration = Duration::from_millis(250);
/// The longest added wait, however many failures: slow, never locked out.
pub const SLOWDOWN_MAX: Duration = Duration::from_secs(3);
/// How long a cross-process turn is held at most: far beyond one check, so only a holder that
/// died loses it.
const TURN_LEASE: Duration = Duration::from_secs(30);
/// How often an attempt whose turn another process holds asks again.
const TURN_POLL: Duration = Duration::from_millis(15);

/// Why an attempt was not let through.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// Too many failures (or attempts in flight) for its keys: wait this long.
    Wait(Duration),
    /// The argon2 queue was full when the attempt's slowdown was over.
    Busy,
}

#[derive(Clone)]
pub struct LoginThrottle {
    db: PgPool,
    turns: moka::sync::Cache<String, Arc<tokio::sync::Mutex<()>>>,
    /// This process's attempts in flight per address, checked before the attempt takes an argon2
    /// place or makes a query: one address never holds more than its budget of places here,
    /// however fast it sends. The shared count (in `login_attempts`) covers the other processes.
    local: Arc<Mutex<HashMap<String, u32>>>,
}

/// One attempt's share of its address's local in-flight count, given back when dropped.
pub struct AddressHold {
    local: Arc<Mutex<HashMap<String, u32>>>,
    address: String,
}

impl Drop for AddressHold {
    fn drop(&mut self) {
        let mut local = self.local.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = local.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                local.remove(&self.address);
            }
        }
    }
}

/// A login attempt that was let through; it holds its (account, address) turn and its place in
/// the address's count until it is finished (`failed`, `succeeded`) or dropped.
pub struct Attempt {
    ticket: Ticket,
    account: String,
    address: String,
    pair: String,
    _turn: tokio::sync::OwnedMutexGuard<()>,
    _hold: AddressHold,
}

impl Attempt {
    /// The secret was wrong (or the account unknown): count it against every key, and give the
    /// turn and the place back in the same statement.
    pub async fn failed(mut self) -> Result<(), ApiError> {
        sqlx::query(
            "with failed as ( \
               insert into login_failures (key) select unnest($1::text[])), \
             left_attempt as (delete from login_attempts where id = $2), \
             left_turn as (delete from login_turns where pair = $3 and holder = $2), \
             aged as (delete from login_failures where ctid in ( \
               select ctid from login_failures \
                where failed_at < clock_timestamp() - make_interval(secs => $4) limit 100)) \
             select 1",
        )
        .bind([
            self.pair.as_str(),
            self.account.as_str(),
            self.address.as_str(),
        ])
        .bind(self.ticket.id)
        .bind(&self.pair)
        .bind(WINDOW.as_secs_f64())
        .execute(&self.ticket.db)
        .await
        .map_err(store::Error::from)?;
        self.ticket.done = true;
        Ok(())
    }

    /// The secret was right: nothing is counted; the turn goes to the next attempt at once.
    pub async fn succeeded(mut self) -> Result<(), ApiError> {
        self.ticket.release(Some(&self.pair)).await?;
        self.ticket.done = true;
        Ok(())
    }
}

/// The attempt's row in `login_attempts` (and its turn, once taken), removed when it is done; if
/// it is dropped unfinished (the request gave up while waiting), removed in the background.
struct Ticket {
    db: PgPool,
    id: Uuid,
    pair: Option<String>,
    done: bool,
}

impl Ticket {
    async fn release(&self, pair: Option<&str>) -> Result<(), ApiError> {
        sqlx::query(
            "with left_turn as (delete from login_turns where pair = $2 and holder = $1) \
             delete from login_attempts where id = $1",
        )
        .bind(self.id)
        .bind(pair)
        .execute(&self.db)
        .await
        .map_err(store::Error::from)?;
        Ok(())
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let ticket = Ticket {
            db: self.db.clone(),
            id: self.id,
            pair: self.pair.take(),
            done: true,
        };
        // Should this fail too, the row ages out of the window and the lease expires.
        runtime.spawn(async move {
            let _ = ticket.release(ticket.pair.as_deref()).await;
        });
    }
}

/// The key of one address's attempts on one account; a newline is in neither part.
fn pair_key(account: &str, address: &str) -> String {
    format!("{account}\n{address}")
}

/// Seconds to wait until a failure at `oldest_age` leaves the window; at least one.
fn wait_secs(wait: Option<f64>) -> Duration {
    Duration::from_secs_f64(wait.unwrap_or(1.0).clamp(1.0, WINDOW.as_secs_f64()))
}

/// How long an attempt on an account with `failures` recent failures (from anywhere) waits before
/// its check: nothing until `PER_ACCOUNT`, then doubling per failure up to `SLOWDOWN_MAX`.
pub fn slowdown(failures: i64) -> Duration {
    let Some(over) = failures
        .checked_sub(i64::from(PER_ACCOUNT))
        .filter(|o| *o >= 0)
    else {
        return Duration::ZERO;
    };
    let factor = 1u32.checked_shl(over as u32).unwrap_or(u32::MAX);
    SLOWDOWN_STEP.saturating_mul(factor).min(SLOWDOWN_MAX)
}

impl LoginThrottle {
    pub fn new(db: PgPool) -> LoginThrottle {
        LoginThrottle {
            db,
            turns: moka::sync::Cache::builder()
                .max_capacity(50_000)
                .time_to_idle(WINDOW)
                .build(),
            local: Arc::default(),
        }
    }

    /// A share of `address`'s in-flight budget in this process, or `None` when it is spent.
    pub fn hold(&self, address: &str) -> Option<AddressHold> {
        let mut local = self.local.lock().unwrap_or_else(|p| p.into_inner());
        let count = local.entry(address.to_owned()).or_insert(0);
        if *count >= PER_ADDRESS {
            return None;
        }
        *count += 1;
        Some(AddressHold {
            local: self.local.clone(),
            address: address.to_owned(),
        })
    }

    /// Lets one attempt on `account` from `address` through, after the account's slowdown and once
    /// its turn comes, or says why not. `place` is the attempt's place in the argon2 queue, taken
    /// before anything else so that a flood is refused without a query; it is given back while
    /// the account's slowdown is waited out, so that slowed guesses do not fill the queue.
    pub async fn admit(
        &self,
        account: &str,
        address: &str,
        hold: AddressHold,
        argon: &ArgonQueue,
        place: Place,
    ) -> Result<Result<(Attempt, Place), Refused>, ApiError> {
        let pair = pair_key(account, address);
        let (pair_failures, pair_wait, account_failures): (i64, Option<f64>, i64) = sqlx::query_as(
            "select count(*) filter (where key = $1), \
                    extract(epoch from min(failed_at) filter (where key = $1) \
                      + make_interval(secs => $3) - clock_timestamp())::float8, \
                    count(*) filter (where key = $2) \
               from login_failures \
              where key in ($1, $2) and failed_at > clock_timestamp() - make_interval(secs => $3)",
        )
        .bind(&pair)
        .bind(account)
        .bind(WINDOW.as_secs_f64())
        .fetch_one(&self.db)
        .await
        .map_err(store::Error::from)?;
        if pair_failures >= i64::from(PER_ACCOUNT) {
            return Ok(Err(Refused::Wait(wait_secs(pair_wait))));
        }
        // Made before the row it stands for: should this future be dropped while the insert is
        // under way, the ticket still removes whatever row it left.
        let mut ticket = Ticket {
            db: self.db.clone(),
            id: Uuid::now_v7(),
            pair: None,
            done: false,
        };
        let refused: Option<f64> =
            sqlx::query_scalar("select keyhold_login_enter($1, $2, $3, make_interval(secs => $4))")
                .bind(address)
                .bind(ticket.id)
                .bind(PER_ADDRESS as i32)
                .bind(WINDOW.as_secs_f64())
                .fetch_one(&self.db)
                .await
                .map_err(store::Error::from)?;
        if let Some(wait) = refused {
            ticket.done = true;
            return Ok(Err(Refused::Wait(wait_secs(Some(wait)))));
        }
        // From here the attempt is counted in flight; the ticket takes it back, including when
        // this future is dropped while slowed down or waiting for its turn.
        // Waited without holding the turn, so the account's owner is not queued behind guessers.
        let wait = slowdown(account_failures);
        let place = if wait.is_zero() {
            place
        } else {
            drop(place);
            tokio::time::sleep(wait).await;
            match argon.try_enter() {
                Some(place) => place,
                None => return Ok(Err(Refused::Busy)),
            }
        };
        let turn = self.turns.get_with(pair.clone(), Arc::default);
        let turn = turn.lock_owned().await;
        ticket.pair = Some(pair.clone());
        loop {
            let (got, failures, wait): (bool, i64, Option<f64>) = sqlx::query_as(
                "with turn as ( \
                   insert into login_turns (pair, holder, until) \
                   values ($1, $2, clock_timestamp() + make_interval(secs => $4)) \
                   on conflict (pair) do update set holder = excluded.holder, until = excluded.until \
                    where login_turns.until < clock_timestamp() \
                   returning 1), \
                 recent as (select failed_at from login_failures \
                   where key = $1 and failed_at > clock_timestamp() - make_interval(secs => $3)) \
                 select exists (select 1 from turn), (select count(*) from recent), \
                        (select extract(epoch from min(failed_at) + make_interval(secs => $3) \
                           - clock_timestamp())::float8 from recent)",
            )
            .bind(&pair)
            .bind(ticket.id)
            .bind(WINDOW.as_secs_f64())
            .bind(TURN_LEASE.as_secs_f64())
            .fetch_one(&self.db)
            .await
            .map_err(store::Error::from)?;
            // Guesses that queued behind failed ones, here or in another process, see those
            // failures now.
            if failures >= i64::from(PER_ACCOUNT) {
                return Ok(Err(Refused::Wait(wait_secs(wait))));
            }
            if got {
                // The turn may have been won by waiting for the previous holder's commit (its
                // `failed` deletes the turn and counts the failure at once), after this
                // statement's snapshot was taken: then `failures` above missed that failure. A
                // new statement sees it.
                let (failures, wait) = self.pair_failures(&pair).await?;
                if failures >= i64::from(PER_ACCOUNT) {
                    return Ok(Err(Refused::Wait(wait_secs(wait))));
                }
                break;
            }
            tokio::time::sleep(TURN_POLL).await;
        }
        let attempt = Attempt {
            ticket,
            account: account.to_owned(),
            address: address.to_owned(),
            pair,
            _turn: turn,
            _hold: hold,
        };
        Ok(Ok((attempt, place)))
    }

    /// Recent failures of one (account, address) pair, and the seconds until the oldest leaves the
    /// window.
    async fn pair_failures(&self, pair: &str) -> Result<(i64, Option<f64>), ApiError> {
        Ok(sqlx::query_as(
            "select count(*), extract(epoch from min(failed_at) + make_interval(secs => $2) \
                      - clock_timestamp())::float8 \
               from login_failures \
              where key = $1 and failed_at > clock_timestamp() - make_interval(secs => $2)",
        )
        .bind(pair)
        .bind(WINDOW.as_secs_f64())
        .fetch_one(&self.db)
        .await
        .map_err(store::Error::from)?)
    }

    /// The wait an attempt on `account` would get now, from its failures in every process.
    pub async fn account_slowdown(&self, account: &str) -> Result<Duration, ApiError> {
        let failures = sqlx::query_scalar(
            "select count(*) from login_failures \
              where key = $1 and failed_at > clock_timestamp() - make_interval(secs => $2)",
        )
        .bind(account)
        .bind(WINDOW.as_secs_f64())
        .fetch_one(&self.db)
        .await
        .map_err(store::Error::from)?;
        Ok(slowdown(failures))
    }

    /// Attempts from `address` admitted and not finished yet, in every process.
    pub async fn in_flight(&self, address: &str) -> Result<i64, ApiError> {
        let count = sqlx::query_scalar(
            "select count(*) from login_attempts \
              where address = $1 and started_at > clock_timestamp() - make_interval(secs => $2)",
        )
        .bind(address)
        .bind(WINDOW.as_secs_f64())
        .fetch_one(&self.db)
        .await
        .map_err(store::Error::from)?;
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn admit(throttle: &LoginThrottle, account: &str, address: &str) -> Option<Attempt> {
        let argon = ArgonQueue::new(64);
        let place = argon.try_enter().expect("a place");
        let hold = throttle.hold(address)?;
        throttle
            .admit(account, address, hold, &argon, place)
            .await
            .expect("database")
            .ok()
            .map(|(attempt, _)| attempt)
    }

    #[sqlx::test(migrator = "store::MIGRATOR")]
    async fn successes_leave_nothing_behind(db: PgPool) {
        let throttle = LoginThrottle::new(db);
        for _ in 0..PER_ADDRESS * 2 {
            let attempt = admit(&throttle, "client:c", "ip:a")
                .await
                .expect("admitted");
            attempt.succeeded().await.expect("released");
        }
        assert!(admit(&throttle, "client:c", "ip:a").await.is_some());
    }

    #[sqlx::test(migrator = "store::MIGRATOR")]
    async fn blocks_the_guessing_address_only(db: PgPool) {
        let throttle = LoginThrottle::new(db);
        for _ in 0..PER_ACCOUNT {
            let attempt = admit(&throttle, "client:a", "ip:a")
                .await
                .expect("admitted");
            attempt.failed().await.expect("recorded");
        }
        assert!(admit(&throttle, "client:a", "ip:a").await.is_none());
        assert!(admit(&throttle, "client:b", "ip:a").await.is_some());
        // The account's owner, elsewhere, still gets in (slowed down).
        assert!(admit(&throttle, "client:a", "ip:b").await.is_some());
    }

    #[test]
    fn failures_from_everywhere_slow_an_account_down_to_a_cap() {
        let waits: Vec<Duration> = (0..20).map(slowdown).collect();
        assert!(waits[..PER_ACCOUNT as usize].iter().all(Duration::is_zero));
        assert_eq!(waits[PER_ACCOUNT as usize], SLOWDOWN_STEP);
        assert_eq!(waits[PER_ACCOUNT as usize + 1], SLOWDOWN_STEP * 2);
        assert!(waits.windows(2).all(|w| w[0] <= w[1]), "{waits:?}");
        assert_eq!(waits.last(), Some(&SLOWDOWN_MAX));
    }

    #[sqlx::test(migrator = "store::MIGRATOR")]
    async fn a_queued_guess_sees_the_failures_before_it(db: PgPool) {
        let throttle = LoginThrottle::new(db.clone());
        let first = admit(&throttle, "client:a", "ip:a")
            .await
            .expect("admitted");
        let queued = {
            let throttle = throttle.clone();
            tokio::spawn(async move { admit(&throttle, "client:a", "ip:a").await.is_some() })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        sqlx::query("insert into login_failures (key) select $1 from generate_series(1, $2)")
            .bind(pair_key("client:a", "ip:a"))
            .bind(PER_ACCOUNT as i32)
            .execute(&db)
            .await
            .expect("failures");
        first.succeeded().await.expect("released");
        assert!(!queued.await.expect("join"), "admitted after the limit");
    }

    #[sqlx::test(migrator = "store::MIGRATOR")]
    async fn another_process_waits_for_the_turn(db: PgPool) {
        // Two throttles on one database are two processes: the second waits for the first's turn.
        let (one, two) = (LoginThrottle::new(db.clone()), LoginThrottle::new(db));
        let first = admit(&one, "client:a", "ip:a").await.expect("admitted");
        let waiting = admit(&two, "client:a", "ip:a");
        tokio::pin!(waiting);
        assert!(
            tokio::time::timeout(Duration::from_millis(100), &mut waiting)
                .await
                .is_err(),
            "admitted while another process held the turn"
        );
        first.failed().await.expect("recorded");
        assert!(waiting.await.is_some());
    }

    #[sqlx::test(migrator = "store::MIGRATOR")]
    async fn attempts_in_flight_count_against_their_address(db: PgPool) {
        let throttle = LoginThrottle::new(db);
        let mut held = Vec::new();
        for n in 0..PER_ADDRESS {
            held.push(
                admit(&throttle, &format!("client:{n}"), "ip:a")
                    .await
                    .expect("admitted"),
            );
        }
        assert!(admit(&throttle, "client:new", "ip:a").await.is_none());
        assert!(admit(&throttle, "client:new", "ip:b").await.is_some());
        for attempt in held {
            attempt.succeeded().await.expect("released");
        }
        assert!(admit(&throttle, "client:new", "ip:a").await.is_some());
    }

    #[sqlx::test(migrator = "store::MIGRATOR")]
    async fn an_abandoned_wait_gives_its_place_back(db: PgPool) {
        let throttle = LoginThrottle::new(db);
        let first = admit(&throttle, "client:a", "ip:a")
            .await
            .expect("admitted");
        let waiting = admit(&throttle, "client:a", "ip:a");
        // Polled until it counts against the address and waits for the turn, then dropped.
        assert!(
            tokio::time::timeout(Duration::from_millis(100), waiting)
                .await
                .is_err()
        );
        first.succeeded().await.expect("released");
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while throttle.in_flight("ip:a").await.expect("count") > 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the place was not given back"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
