//! The pure half of the worker: "given this attempt, what is the next step", how long to wait before a retry, and whether an Auth0 failure is worth retrying. No IO and no
//! clock: `now` and jitter come in as arguments, so every decision is testable on its own.

use std::time::Duration;

use auth0::Auth0Error;
use store::rotations::{Attempt, AttemptStep};

/// The steps of one attempt (AWS Secrets Manager's create/set/test/finish).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    /// Generate the new secret and store it sealed as pending, with the attempt row.
    Create,
    /// `PATCH` the client with the pending secret (harmless to repeat).
    Set,
    /// Confirm Auth0 accepts the pending secret.
    Test,
    /// Promote pending to current in one transaction (a key rotation: publish the new key and
    /// start the overlap).
    Finish,
    /// Key rotations, after the overlap: disable and delete the old credential, then finish.
    RemoveOld,
}

impl Step {
    /// The durable step recorded once this step is done.
    pub fn done(self) -> AttemptStep {
        match self {
            Step::Create => AttemptStep::Created,
            Step::Set => AttemptStep::Set,
            Step::Test => AttemptStep::Tested,
            Step::Finish | Step::RemoveOld => AttemptStep::Finished,
        }
    }

    /// The durable step recorded when this step stops short (to retry, or as the attempt's
    /// final step): the last one known done before it, from which [`next_step`] resumes.
    pub fn last_done_before(self) -> AttemptStep {
        match self {
            // An attempt that stops in Create was stored whole or not at all.
            Step::Create | Step::Set => AttemptStep::Created,
            Step::Test => AttemptStep::Set,
            Step::Finish => AttemptStep::Tested,
            Step::RemoveOld => AttemptStep::Published,
        }
    }
}

/// What to do next for a claimed rotation, given its open attempt (if any). `None`: the attempt
/// is already finished and nothing is left to do.
pub fn next_step(attempt: Option<&Attempt>) -> Option<Step> {
    let Some(attempt) = attempt else {
        return Some(Step::Create);
    };
    // A step name this version does not know (a newer version wrote it) reads as `Created`
    // (`AttemptStep::from_stored`): the safe restart point that keeps the secret.
    match attempt.step {
        // Whether the PATCH of an earlier try reached Auth0 is unknown; repeating it with the
        // same secret is harmless, skipping it could finish with a secret Auth0 never got.
        AttemptStep::Created => Some(Step::Set),
        AttemptStep::Set => Some(Step::Test),
        AttemptStep::Tested | AttemptStep::Published => Some(Step::Finish),
        AttemptStep::Finished => None,
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
        Step::RemoveOld => "removing the old key credential from Auth0",
    };
    bounded(format!("Rotation failed while {what}: {reason}"))
}

/// [`failure_message`] for an `auth0-private-key-jwt` rotation, whose steps handle a key.
pub fn key_failure_message(step: Step, reason: &str) -> String {
    let what = match step {
        Step::Create => "storing the new key pair",
        Step::Set => "registering and enabling the new key in Auth0",
        Step::Test => "confirming Auth0 accepts the new key",
        Step::Finish => "publishing the new key to the mapped secrets",
        Step::RemoveOld => "removing the old key credential from Auth0",
    };
    bounded(format!("Rotation failed while {what}: {reason}"))
}

/// Cuts a message to [`MAX_MESSAGE`] bytes on a character boundary.
fn bounded(mut text: String) -> String {
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
    use time::OffsetDateTime;

    use super::*;

    fn attempt(step: AttemptStep) -> Attempt {
        let now = OffsetDateTime::now_utc();
        Attempt {
            id: store::AttemptId::new(),
            rotation_id: store::RotationId::new(),
            attempt_no: 1,
            is_manual: false,
            step,
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
        let stored = |name| attempt(AttemptStep::from_stored(name));
        assert_eq!(next_step(Some(&stored("created"))), Some(Step::Set));
        assert_eq!(next_step(Some(&stored("set"))), Some(Step::Test));
        assert_eq!(next_step(Some(&stored("tested"))), Some(Step::Finish));
        assert_eq!(next_step(Some(&stored("finished"))), None);
        assert_eq!(next_step(Some(&stored("from-the-future"))), Some(Step::Set));
        for step in [Step::Create, Step::Set, Step::Test, Step::Finish] {
            let resumed = next_step(Some(&attempt(step.done())));
            assert!(resumed.is_none_or(|next| next > step), "{step:?}");
            // A step that stops is where its attempt resumes (Create's resumes at Set).
            let retried = next_step(Some(&attempt(step.last_done_before())));
            assert_eq!(retried, Some(step.max(Step::Set)), "{step:?}");
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

    #[test]
    fn a_key_rotation_stopped_while_removing_the_old_credential_stays_published() {
        // A retry records the last step done: the key stays published and is never published
        // again; removing the old credential is what is tried again.
        assert_eq!(Step::RemoveOld.last_done_before(), AttemptStep::Published);
        assert_eq!(Step::RemoveOld.done(), AttemptStep::Finished);
        assert!(key_failure_message(Step::RemoveOld, "x").contains("old key credential"));
        assert_eq!(
            key_failure_message(Step::Set, "no room"),
            "Rotation failed while registering and enabling the new key in Auth0: no room"
        );
    }
}
