//! When a failed attempt is tried again: a pure function of the policy, the attempt number and
//! what happened, unit-tested without a network.
//!
//! - A 2xx answer succeeds.
//! - `410 Gone` gives up and disables the webhook (the receiver asked never to be called again).
//! - Any other 4xx except `408 Request Timeout` and `429 Too Many Requests` gives up: sending
//!   the same request again will not change the answer.
//! - A refused target (SSRF guard) and a paused webhook give up: the next attempt would meet
//!   the same refusal; `recover` can send the delivery later.
//! - Everything else (5xx, 408, 429, other statuses, timeouts, connection and DNS errors) is
//!   retried while the attempt number is at most `retryAttempts` (retries after the first
//!   attempt): after `retryDelaySeconds · 2^(n-1)` with ±25 % jitter (exponential), or exactly
//!   `retryDelaySeconds` (fixed); at least what `Retry-After` asks; never more than the
//!   operator's cap (`dispatcher.max_retry_delay_seconds`). `retryDelaySeconds: 0` retries at
//!   once.

use std::time::Duration;

use chrono::{DateTime, Utc};
use hookledger_domain::delivery::AttemptOutcome;
use hookledger_domain::webhook::{RetryPolicyKind, RetrySettings};

/// What an attempt ended in, as far as retrying is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptSummary {
    pub outcome: AttemptOutcome,
    pub status: Option<u16>,
    /// The receiver's `Retry-After`, if it sent one.
    pub retry_after: Option<Duration>,
}

/// What to do after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The delivery succeeded.
    Succeeded,
    /// Try again after this long.
    Retry(Duration),
    /// The delivery failed for good; `disable` when the webhook must be disabled at once.
    GiveUp { disable: bool },
}

/// Decides what follows attempt number `attempt` (1 = the first attempt of this run of the
/// delivery) under `policy`. `jitter` is a uniform random number in `[0, 1)`; the caller draws
/// it, so this function stays deterministic.
pub fn next(
    policy: &RetrySettings,
    attempt: u32,
    result: &AttemptSummary,
    max_delay: Duration,
    jitter: f64,
) -> Verdict {
    match result.outcome {
        AttemptOutcome::Success => return Verdict::Succeeded,
        AttemptOutcome::Gone => return Verdict::GiveUp { disable: true },
        AttemptOutcome::RefusedTarget | AttemptOutcome::Paused => {
            return Verdict::GiveUp { disable: false };
        }
        AttemptOutcome::HttpError => match result.status {
            Some(410) => return Verdict::GiveUp { disable: true },
            Some(408 | 429) => {}
            Some(status) if (400..500).contains(&status) => {
                return Verdict::GiveUp { disable: false };
            }
            _ => {}
        },
        AttemptOutcome::Timeout | AttemptOutcome::Connect | AttemptOutcome::Dns => {}
    }
    if attempt > u32::from(policy.attempts) {
        return Verdict::GiveUp { disable: false };
    }
    Verdict::Retry(delay(
        policy,
        attempt,
        result.retry_after,
        max_delay,
        jitter,
    ))
}

/// The wait before the attempt after `attempt`.
fn delay(
    policy: &RetrySettings,
    attempt: u32,
    retry_after: Option<Duration>,
    max_delay: Duration,
    jitter: f64,
) -> Duration {
    let base = f64::from(policy.delay_seconds);
    let seconds = match policy.policy {
        RetryPolicyKind::Fixed => base,
        RetryPolicyKind::Exponential => {
            let exponent = i32::try_from(attempt.saturating_sub(1))
                .unwrap_or(i32::MAX)
                .min(64);
            base * 2f64.powi(exponent) * (0.75 + 0.5 * jitter.clamp(0.0, 1.0))
        }
    };
    let computed = Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX);
    computed.max(retry_after.unwrap_or_default()).min(max_delay)
}

/// Reads a `Retry-After` value: delay seconds, or an HTTP date (a date in the past is zero).
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?;
    Some((at.with_timezone(&Utc) - now).to_std().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CAP: Duration = Duration::from_secs(3600);

    fn policy(attempts: u8, delay_seconds: u32, kind: RetryPolicyKind) -> RetrySettings {
        RetrySettings {
            attempts,
            delay_seconds,
            policy: kind,
        }
    }

    fn http(status: u16) -> AttemptSummary {
        let outcome = match status {
            200..=299 => AttemptOutcome::Success,
            410 => AttemptOutcome::Gone,
            _ => AttemptOutcome::HttpError,
        };
        AttemptSummary {
            outcome,
            status: Some(status),
            retry_after: None,
        }
    }

    fn failed(outcome: AttemptOutcome) -> AttemptSummary {
        AttemptSummary {
            outcome,
            status: None,
            retry_after: None,
        }
    }

    const EXP: RetryPolicyKind = RetryPolicyKind::Exponential;

    #[test]
    fn a_2xx_succeeds() {
        for status in [200, 201, 204, 299] {
            assert_eq!(
                next(&policy(3, 60, EXP), 1, &http(status), CAP, 0.5),
                Verdict::Succeeded
            );
        }
    }

    #[test]
    fn a_4xx_gives_up_except_408_and_429() {
        let p = policy(3, 60, EXP);
        for status in [400, 401, 403, 404, 422] {
            assert_eq!(
                next(&p, 1, &http(status), CAP, 0.5),
                Verdict::GiveUp { disable: false }
            );
        }
        for status in [408, 429] {
            assert!(matches!(
                next(&p, 1, &http(status), CAP, 0.5),
                Verdict::Retry(_)
            ));
        }
    }

    #[test]
    fn gone_gives_up_and_disables() {
        assert_eq!(
            next(&policy(3, 60, EXP), 1, &http(410), CAP, 0.5),
            Verdict::GiveUp { disable: true }
        );
    }

    #[test]
    fn server_errors_and_network_failures_are_retried_up_to_retry_attempts() {
        let p = policy(2, 10, EXP);
        for result in [
            http(500),
            http(503),
            http(302),
            failed(AttemptOutcome::Timeout),
            failed(AttemptOutcome::Connect),
            failed(AttemptOutcome::Dns),
        ] {
            assert!(matches!(next(&p, 1, &result, CAP, 0.5), Verdict::Retry(_)));
            assert!(matches!(next(&p, 2, &result, CAP, 0.5), Verdict::Retry(_)));
            assert_eq!(
                next(&p, 3, &result, CAP, 0.5),
                Verdict::GiveUp { disable: false }
            );
        }
        assert_eq!(
            next(&policy(0, 10, EXP), 1, &http(500), CAP, 0.5),
            Verdict::GiveUp { disable: false }
        );
    }

    #[test]
    fn refused_targets_and_paused_webhooks_give_up_at_once() {
        for outcome in [AttemptOutcome::RefusedTarget, AttemptOutcome::Paused] {
            assert_eq!(
                next(&policy(5, 1, EXP), 1, &failed(outcome), CAP, 0.5),
                Verdict::GiveUp { disable: false }
            );
        }
    }

    #[test]
    fn exponential_delays_double_and_fixed_delays_do_not() {
        let e = policy(10, 60, EXP);
        let secs = |n| match next(&e, n, &http(500), CAP, 0.5) {
            Verdict::Retry(d) => d.as_secs(),
            other => panic!("{other:?}"),
        };
        assert_eq!([secs(1), secs(2), secs(3), secs(4)], [60, 120, 240, 480]);
        let f = policy(10, 60, RetryPolicyKind::Fixed);
        assert_eq!(
            next(&f, 4, &http(500), CAP, 0.9),
            Verdict::Retry(Duration::from_secs(60))
        );
    }

    #[test]
    fn jitter_stays_within_a_quarter_either_way() {
        let p = policy(3, 100, EXP);
        assert_eq!(
            next(&p, 1, &http(500), CAP, 0.0),
            Verdict::Retry(Duration::from_secs(75))
        );
        assert_eq!(
            next(&p, 1, &http(500), CAP, 1.0),
            Verdict::Retry(Duration::from_secs(125))
        );
    }

    #[test]
    fn delays_are_capped_and_retry_after_is_honoured_within_the_cap() {
        let p = policy(20, 86_400, EXP);
        assert_eq!(next(&p, 5, &http(500), CAP, 0.5), Verdict::Retry(CAP));
        let mut busy = http(429);
        busy.retry_after = Some(Duration::from_secs(30));
        let quick = policy(3, 1, EXP);
        assert_eq!(
            next(&quick, 1, &busy, CAP, 0.5),
            Verdict::Retry(Duration::from_secs(30))
        );
        busy.retry_after = Some(Duration::from_secs(86_400));
        assert_eq!(next(&quick, 1, &busy, CAP, 0.5), Verdict::Retry(CAP));
    }

    #[test]
    fn a_zero_delay_retries_at_once() {
        let p = policy(3, 0, EXP);
        assert_eq!(
            next(&p, 3, &http(500), CAP, 0.7),
            Verdict::Retry(Duration::ZERO)
        );
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = DateTime::parse_from_rfc3339("2015-10-21T07:27:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    proptest! {
        #[test]
        fn a_delay_never_exceeds_the_cap_and_attempts_never_exceed_the_policy(
            attempts in 0u8..=20, delay in 0u32..=86_400, n in 1u32..40, jitter in 0.0f64..1.0,
            status in 300u16..600, cap_secs in 0u64..100_000, fixed in any::<bool>(),
        ) {
            let kind = if fixed { RetryPolicyKind::Fixed } else { EXP };
            let cap = Duration::from_secs(cap_secs);
            match next(&policy(attempts, delay, kind), n, &http(status), cap, jitter) {
                Verdict::Retry(d) => {
                    prop_assert!(d <= cap);
                    prop_assert!(n <= u32::from(attempts));
                }
                Verdict::GiveUp { disable } => prop_assert_eq!(disable, status == 410),
                Verdict::Succeeded => prop_assert!(false, "a non-2xx never succeeds"),
            }
        }
    }
}
