//! Schedule arithmetic: when a rotation falls due, given its interval, its rotate-at time and the
//! last rotation. Pure functions of their inputs (no IO, no clock: `now` comes in), beside the
//! rotation SQL that stores their answers, so the API and the worker compute `next_rotation_at`
//! with the same code without one depending on the other.

use time::{Date, OffsetDateTime, Time};

use super::Rotation;

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
}
