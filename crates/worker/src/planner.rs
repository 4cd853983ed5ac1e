//! The pure half of the worker: schedule arithmetic, "given this attempt, what is the next step",
//! how long to wait before a retry, and whether an Auth0 failure is worth retrying. No IO and no
//! clock: `now` and jitter come in as arguments, so every decision is testable on its own.

use std::time::Duration;

use auth0::Auth0Error;
use store::rotations::{Attempt, Rotation};
use time::{Date, OffsetDateTime, Time};

/// When a rotation falls due: every `interval_days` at `at` (UTC).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schedule {
    pub interval_days: u16,
    pub at: Time,
}

/// Why a schedule is not one.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScheduleError {
    #[error("rotationInterval must be between 1 and 3650 days")]
    Interval,
    #[error("rotateAtUtc must be hours 0-23 and minutes 0-59")]
    TimeOfDay,
}

impl Schedule {
    pub fn new(interval_days: i32, hours: i16, minutes: i16) -> Result<Schedule, ScheduleError> {
        let interval_days = u16::try_from(interval_days)
            .ok()
            .filter(|d| (1..=3650).contains(d))
            .ok_or(ScheduleError::Interval)?;
        let hours = u8::try_from(hours).map_err(|_| ScheduleError::TimeOfDay)?;
        let minutes = u8::try_from(minutes).map_err(|_| ScheduleError::TimeOfDay)?;
        let at = Time::from_hms(hours, minutes, 0).map_err(|_| ScheduleError::TimeOfDay)?;
        Ok(Schedule { interval_days, at })
    }

    /// The schedule stored on a rotation (the database's checks keep it valid).
    pub fn of(rotation: &Rotation) -> Result<Schedule, ScheduleError> {
        Schedule::new(
            rotation.rotation_interval_days,
            rotation.rotate_at_hours,
            rotation.rotate_at_minutes,
        )
    }

    fn on(&self, date: Date) -> OffsetDateTime {
        date.with_time(self.at).assume_utc()
    }

    fn interval(&self) -> time::Duration {
        time::Duration::days(i64::from(self.interval_days))
    }
}

/// The last rotation a schedule continues from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LastRotation {
    pub at: OffsetDateTime,
    pub manual: bool,
}

/// When the next rotation falls due (Infisical's rule, reference section 6): the date of the last
/// rotation at the rotate-at time, plus the interval — plus one day if the last rotation was a
/// manual one made after that time of day, so a manual rotation moves the schedule rather than
/// being followed by a rotation less than an interval later.
///
/// Scheduled rotations keep to the rotate-at grid: one that ran late (the worker was down and
/// missed several windows) rotated once, and the next falls an interval after that day's window,
/// not in the past. With no rotation yet, the first rotate-at time after `now`.
///
/// The result can be before `now` only when the schedule was changed to a shorter interval than
/// has passed since the last rotation: the rotation is then simply due.
pub fn next_rotation_at(
    schedule: &Schedule,
    last: Option<LastRotation>,
    now: OffsetDateTime,
) -> OffsetDateTime {
    let now = now.to_offset(time::UtcOffset::UTC);
    match last {
        None => first_window_after(schedule, now),
        Some(last) => {
            let last_at = last.at.to_offset(time::UtcOffset::UTC);
            let window = schedule.on(last_at.date());
            let mut next = window.saturating_add(schedule.interval());
            if last.manual && last_at > window {
                next = next.saturating_add(time::Duration::DAY);
            }
            next
        }
    }
}

/// After an attempt finally failed: tomorrow at the rotate-at time (as Infisical does), so a
/// broken rotation is retried daily rather than hammered or forgotten.
pub fn after_failure(schedule: &Schedule, now: OffsetDateTime) -> OffsetDateTime {
    let today = now.to_offset(time::UtcOffset::UTC).date();
    match today.next_day() {
        Some(tomorrow) => schedule.on(tomorrow),
        None => schedule.on(today),
    }
}

fn first_window_after(schedule: &Schedule, now: OffsetDateTime) -> OffsetDateTime {
    let today = schedule.on(now.date());
    if today > now {
        today
    } else {
        today.saturating_add(time::Duration::DAY)
    }
}

/// The steps of one attempt (AWS Secrets Manager's create/set/test/finish).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    /// Generate the new secret and store it sealed as pending, with the attempt row.
    Create,
    /// `PATCH` the client with the pending secret (harmless to repeat).
    Set,
    /// Confirm Auth0 accepts the pending secret.
    Test,
    /// Promote pending to current in one transaction.
    Finish,
}

impl Step {
    /// The durable step name recorded once this step is done.
    pub fn done_name(self) -> &'static str {
        match self {
            Step::Create => "created",
            Step::Set => "set",
            Step::Test => "tested",
            Step::Finish => "finished",
        }
    }
}

/// What to do next for a claimed rotation, given its open attempt (if any). `None`: the attempt
/// is already finished and nothing is left to do.
pub fn next_step(attempt: Option<&Attempt>) -> Option<Step> {
    let Some(attempt) = attempt else {
        return Some(Step::Create);
    };
    match attempt.step.as_str() {
        // Whether the PATCH of an earlier try reached Auth0 is unknown; repeating it with the
        // same secret is harmless, skipping it could finish with a secret Auth0 never got.
        "created" => Some(Step::Set),
        "set" => Some(Step::Test),
        "tested" => Some(Step::Finish),
        "finished" => None,
        // Unknown (newer version wrote it): the safe restart point that keeps the secret.
        _ => Some(Step::Set),
    }
}

/// How an Auth0 failure is handled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disposition {
    /// Try again later, resuming the same attempt with the same pending secret.
    Retry {
        /// Rate limiting is not a failure: it never uses up the retry budget.
        counts_as_failure: bool,
        /// The server's "retry after" (429 `x-ratelimit-reset`), if it gave one.
        hint: Option<Duration>,
    },
    /// Someone must change something (credentials, scopes, client id); stop and say what.
    Permanent,
}

pub fn classify(err: &Auth0Error) -> Disposition {
    match err {
        Auth0Error::RateLimited { retry_after } => Disposition::Retry {
            counts_as_failure: false,
            hint: *retry_after,
        },
        err if err.is_retryable() => Disposition::Retry {
            counts_as_failure: true,
            hint: None,
        },
        _ => Disposition::Permanent,
    }
}

/// Backoff before the retry after the `failures`-th failure: capped exponential
/// (`base * 2^(failures-1)`, at most `max`), then jittered into its upper half so workers that
/// failed together do not retry together. `jitter` is in `[0, 1)`.
pub fn retry_delay(failures: u32, base: Duration, max: Duration, jitter: f64) -> Duration {
    let exponent = failures.saturating_sub(1).min(20);
    let full = base.saturating_mul(1u32 << exponent).min(max);
    let half = full / 2;
    half + half.mul_f64(jitter.clamp(0.0, 1.0))
}

/// Wait after a 429: the server's hint (or `fallback`), clamped to a sane range, plus up to
/// 20 % jitter.
pub fn rate_limit_delay(hint: Option<Duration>, fallback: Duration, jitter: f64) -> Duration {
    let base = hint
        .unwrap_or(fallback)
        .clamp(Duration::from_millis(200), Duration::from_secs(600));
    base + base.mul_f64(0.2 * jitter.clamp(0.0, 1.0))
}

/// Longest `last_rotation_message` stored (Infisical caps it at 1024 characters).
pub const MAX_MESSAGE: usize = 1024;

/// A stored failure message: the step, then what happened, cut to [`MAX_MESSAGE`].
pub fn failure_message(step: Step, reason: &str) -> String {
    let what = match step {
        Step::Create => "storing the new secret",
        Step::Set => "setting the new secret in Auth0",
        Step::Test => "confirming Auth0 accepts the new secret",
        Step::Finish => "saving the rotated secret",
    };
    let mut text = format!("Rotation failed while {what}: {reason}");
    if text.len() > MAX_MESSAGE {
        let mut cut = MAX_MESSAGE - 3;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str("...");
    }
    text
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn schedule(days: i32, h: i16, m: i16) -> Schedule {
        Schedule::new(days, h, m).expect("schedule")
    }

    fn last(at: OffsetDateTime, manual: bool) -> Option<LastRotation> {
        Some(LastRotation { at, manual })
    }

    #[test]
    fn schedules_validate() {
        assert_eq!(Schedule::new(0, 0, 0), Err(ScheduleError::Interval));
        assert_eq!(Schedule::new(3651, 0, 0), Err(ScheduleError::Interval));
        assert_eq!(Schedule::new(1, 24, 0), Err(ScheduleError::TimeOfDay));
        assert_eq!(Schedule::new(1, 0, 60), Err(ScheduleError::TimeOfDay));
        assert_eq!(Schedule::new(1, -1, 0), Err(ScheduleError::TimeOfDay));
        assert!(Schedule::new(3650, 23, 59).is_ok());
    }

    #[test]
    fn intervals_and_rotate_at_time() {
        let now = datetime!(2026-03-10 00:00:07 UTC);
        // A scheduled rotation a few seconds after its window: the next window is exactly one
        // interval later, on the grid.
        assert_eq!(
            next_rotation_at(&schedule(30, 0, 0), last(now, false), now),
            datetime!(2026-04-09 00:00 UTC)
        );
        assert_eq!(
            next_rotation_at(&schedule(1, 14, 30), last(now, false), now),
            datetime!(2026-03-11 14:30 UTC)
        );
        assert_eq!(
            next_rotation_at(&schedule(7, 23, 59), last(now, false), now),
            datetime!(2026-03-17 23:59 UTC)
        );
        // Non-UTC inputs are read in UTC.
        let paris = datetime!(2026-03-10 01:00:07 +01:00);
        assert_eq!(
            next_rotation_at(&schedule(30, 0, 0), last(paris, false), paris),
            datetime!(2026-04-09 00:00 UTC)
        );
    }

    #[test]
    fn a_manual_rotation_moves_the_schedule() {
        let manual = datetime!(2026-01-10 15:00 UTC);
        // After 00:00 that day: a full day later than the grid, so at least an interval passes.
        assert_eq!(
            next_rotation_at(&schedule(30, 0, 0), last(manual, true), manual),
            datetime!(2026-02-10 00:00 UTC)
        );
        // Before the rotate-at time of its day: the grid already leaves a full interval.
        let early = datetime!(2026-01-10 03:00 UTC);
        assert_eq!(
            next_rotation_at(&schedule(30, 12, 0), last(early, true), early),
            datetime!(2026-02-09 12:00 UTC)
        );
        // The same time as a scheduled rotation does not get the extra day.
        assert_eq!(
            next_rotation_at(&schedule(30, 0, 0), last(manual, false), manual),
            datetime!(2026-02-09 00:00 UTC)
        );
    }

    #[test]
    fn downtime_that_missed_several_windows_rotates_once() {
        // Due 2026-01-01, workers down until 2026-03-15 15:20: the one catch-up rotation
        // schedules the next an interval after that day's window, in the future.
        let s = schedule(30, 0, 0);
        let late = datetime!(2026-03-15 15:20 UTC);
        let next = next_rotation_at(&s, last(late, false), late);
        assert_eq!(next, datetime!(2026-04-14 00:00 UTC));
        assert!(next > late);
        // Daily, run late in the day: the next day's window, still after the rotation.
        let s = schedule(1, 0, 0);
        let late = datetime!(2026-03-15 23:59:59 UTC);
        assert!(next_rotation_at(&s, last(late, false), late) > late);
    }

    #[test]
    fn first_rotation_is_the_next_window() {
        let s = schedule(30, 9, 0);
        assert_eq!(
            next_rotation_at(&s, None, datetime!(2026-03-10 08:59 UTC)),
            datetime!(2026-03-10 09:00 UTC)
        );
        assert_eq!(
            next_rotation_at(&s, None, datetime!(2026-03-10 09:00 UTC)),
            datetime!(2026-03-11 09:00 UTC)
        );
    }

    #[test]
    fn failures_retry_tomorrow_at_the_rotate_at_time() {
        assert_eq!(
            after_failure(&schedule(30, 6, 15), datetime!(2026-12-31 22:00 UTC)),
            datetime!(2027-01-01 06:15 UTC)
        );
    }

    fn attempt(step: &str) -> Attempt {
        let now = OffsetDateTime::now_utc();
        Attempt {
            id: store::AttemptId::new(),
            rotation_id: store::RotationId::new(),
            attempt_no: 1,
            is_manual: false,
            step: step.into(),
            outcome: "running".into(),
            tries: 1,
            failures: 0,
            message: None,
            worker: None,
            started_at: now,
            updated_at: now,
            finished_at: None,
        }
    }

    #[test]
    fn next_step_resumes_from_the_last_durable_step() {
        assert_eq!(next_step(None), Some(Step::Create));
        assert_eq!(next_step(Some(&attempt("created"))), Some(Step::Set));
        assert_eq!(next_step(Some(&attempt("set"))), Some(Step::Test));
        assert_eq!(next_step(Some(&attempt("tested"))), Some(Step::Finish));
        assert_eq!(next_step(Some(&attempt("finished"))), None);
        assert_eq!(
            next_step(Some(&attempt("from-the-future"))),
            Some(Step::Set)
        );
        for step in [Step::Create, Step::Set, Step::Test, Step::Finish] {
            let resumed = next_step(Some(&attempt(step.done_name())));
            assert!(resumed.is_none_or(|next| next > step), "{step:?}");
        }
    }

    #[test]
    fn classification_never_fails_a_rotation_for_rate_limiting() {
        let limited = Auth0Error::RateLimited {
            retry_after: Some(Duration::from_secs(3)),
        };
        assert_eq!(
            classify(&limited),
            Disposition::Retry {
                counts_as_failure: false,
                hint: Some(Duration::from_secs(3))
            }
        );
        for retryable in [
            Auth0Error::Timeout,
            Auth0Error::TokenRejected,
            Auth0Error::from_response(503, b"{}"),
        ] {
            assert!(matches!(
                classify(&retryable),
                Disposition::Retry {
                    counts_as_failure: true,
                    ..
                }
            ));
        }
        for permanent in [
            Auth0Error::WrongCredentials,
            Auth0Error::MissingScope {
                needed: vec!["update:client_keys".into()],
            },
            Auth0Error::ClientNotFound {
                client_id: "c".into(),
            },
            Auth0Error::from_response(400, b"{}"),
        ] {
            assert_eq!(classify(&permanent), Disposition::Permanent);
        }
    }

    #[test]
    fn backoff_is_capped_exponential_with_jitter() {
        let base = Duration::from_secs(2);
        let max = Duration::from_secs(300);
        assert_eq!(retry_delay(1, base, max, 0.0), Duration::from_secs(1));
        assert_eq!(retry_delay(1, base, max, 1.0), Duration::from_secs(2));
        assert_eq!(retry_delay(3, base, max, 1.0), Duration::from_secs(8));
        assert_eq!(retry_delay(30, base, max, 1.0), max);
        assert_eq!(
            retry_delay(u32::MAX, base, max, 0.5),
            Duration::from_secs(225)
        );
        let second = Duration::from_secs(1);
        assert_eq!(rate_limit_delay(None, second, 0.0), second, "no hint");
        assert_eq!(
            rate_limit_delay(Some(Duration::from_secs(3)), second, 0.5),
            Duration::from_millis(3300)
        );
        assert_eq!(
            rate_limit_delay(Some(Duration::ZERO), second, 0.0),
            Duration::from_millis(200)
        );
        assert_eq!(
            rate_limit_delay(Some(Duration::from_secs(86_400)), second, 1.0),
            Duration::from_secs(720)
        );
    }

    #[test]
    fn failure_messages_name_the_step_and_stay_short() {
        let msg = failure_message(Step::Set, "the application lacks update:client_keys");
        assert_eq!(
            msg,
            "Rotation failed while setting the new secret in Auth0: the application lacks update:client_keys"
        );
        let long = failure_message(Step::Test, &"é".repeat(2000));
        assert!(long.len() <= MAX_MESSAGE && long.ends_with("..."));
    }
}
