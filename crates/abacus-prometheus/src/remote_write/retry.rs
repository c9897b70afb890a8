//! What to do with an answer: deliver, retry after a backoff, or drop.
//!
//! The specification's rules
//! (<https://prometheus.io/docs/concepts/remote_write_spec/#retries-backoff>): a sender
//! MUST retry on 5xx with a backoff, MAY treat 429 like 5xx, and MUST NOT retry other
//! 4xx. Failing to connect, or getting no answer in time, is retried like a 5xx: the
//! receiver never saw the request, or could not say.

use std::time::Duration;

use hyper::StatusCode;

/// How an attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The receiver answered; `retry_after` is its `Retry-After` in seconds, if it gave
    /// one in that form.
    Answered {
        status: StatusCode,
        retry_after: Option<Duration>,
    },
    /// No answer within the request timeout.
    TimedOut,
    /// No connection, or the exchange broke off.
    Failed,
}

/// Why samples were given up on; each is a value of the `reason` label of
/// `abacus_remote_write_samples_dropped_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DropReason {
    /// A newer snapshot needed the room in a full queue.
    QueueFull,
    /// The receiver refused the request with a 4xx other than 429 (or any status that
    /// is neither success, 429 nor 5xx).
    Rejected,
    /// The receiver answered 429 and retrying it is not enabled.
    RateLimited,
    /// Still queued when the shutdown deadline passed.
    Shutdown,
    /// Too large to encode.
    Encode,
}

impl DropReason {
    pub(crate) const ALL: [DropReason; 5] = [
        DropReason::QueueFull,
        DropReason::Rejected,
        DropReason::RateLimited,
        DropReason::Shutdown,
        DropReason::Encode,
    ];

    pub(crate) fn label(self) -> &'static str {
        match self {
            DropReason::QueueFull => "queue_full",
            DropReason::Rejected => "rejected",
            DropReason::RateLimited => "rate_limited",
            DropReason::Shutdown => "shutdown",
            DropReason::Encode => "encode",
        }
    }
}

/// The decision on an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Delivered,
    /// Send the same request again, after the backoff and at least `not_before`.
    Retry {
        not_before: Option<Duration>,
    },
    Drop(DropReason),
}

/// Judges an attempt's outcome. `Retry-After` counts on 503 and 429 only, the statuses
/// that define it (RFC 9110 section 10.2.3, RFC 6585 section 4).
pub(crate) fn judge(outcome: Outcome, retry_on_429: bool) -> Verdict {
    match outcome {
        Outcome::TimedOut | Outcome::Failed => Verdict::Retry { not_before: None },
        Outcome::Answered {
            status,
            retry_after,
        } => {
            let honoured = match status {
                StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS => retry_after,
                _ => None,
            };
            if status.is_success() {
                Verdict::Delivered
            } else if status.is_server_error() {
                Verdict::Retry {
                    not_before: honoured,
                }
            } else if status == StatusCode::TOO_MANY_REQUESTS {
                if retry_on_429 {
                    Verdict::Retry {
                        not_before: honoured,
                    }
                } else {
                    Verdict::Drop(DropReason::RateLimited)
                }
            } else {
                Verdict::Drop(DropReason::Rejected)
            }
        }
    }
}

/// Capped exponential backoff with jitter: after the `n`th failure in a row the wait is
/// drawn between half and all of `min(min_backoff * 2^(n-1), max_backoff)`. Half the
/// ceiling keeps the waits growing; the other half spreads senders that failed together.
#[derive(Clone, Debug)]
pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    failures: u32,
}

impl Backoff {
    pub(crate) fn new(min: Duration, max: Duration) -> Self {
        Backoff {
            min,
            max: max.max(min),
            failures: 0,
        }
    }

    /// The longest wait after `failures` failures in a row (at least one).
    pub(crate) fn ceiling(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(31);
        self.min
            .checked_mul(1 << doublings)
            .map_or(self.max, |wait| wait.min(self.max))
    }

    /// Counts a failure and returns the wait before the next attempt; `jitter` in
    /// `[0, 1)` picks where in the upper half of the ceiling it falls.
    pub(crate) fn fail(&mut self, jitter: f64) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let ceiling = self.ceiling(self.failures);
        let half = ceiling / 2;
        half + (ceiling - half).mul_f64(jitter.clamp(0.0, 1.0))
    }

    /// Forgets the failures: the receiver answered.
    pub(crate) fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(code: u16, retry_after: Option<u64>) -> Outcome {
        Outcome::Answered {
            status: StatusCode::from_u16(code).unwrap(),
            retry_after: retry_after.map(Duration::from_secs),
        }
    }

    #[test]
    fn statuses_are_judged_as_the_specification_says() {
        let retry = Verdict::Retry { not_before: None };
        for code in [200, 204] {
            assert_eq!(judge(answered(code, None), false), Verdict::Delivered);
        }
        for code in [500, 502, 504] {
            assert_eq!(judge(answered(code, None), false), retry);
        }
        for code in [400, 401, 404, 413, 301] {
            assert_eq!(
                judge(answered(code, Some(5)), true),
                Verdict::Drop(DropReason::Rejected),
                "{code}"
            );
        }
        assert_eq!(
            judge(answered(429, Some(3)), false),
            Verdict::Drop(DropReason::RateLimited)
        );
        assert_eq!(
            judge(answered(429, Some(3)), true),
            Verdict::Retry {
                not_before: Some(Duration::from_secs(3))
            }
        );
        assert_eq!(
            judge(answered(503, Some(2)), false),
            Verdict::Retry {
                not_before: Some(Duration::from_secs(2))
            }
        );
        // Retry-After means nothing on a 500.
        assert_eq!(judge(answered(500, Some(2)), false), retry);
        assert_eq!(judge(Outcome::TimedOut, false), retry);
        assert_eq!(judge(Outcome::Failed, false), retry);
    }

    #[test]
    fn the_ceiling_doubles_from_the_minimum_and_stops_at_the_maximum() {
        let backoff = Backoff::new(Duration::from_millis(30), Duration::from_secs(5));
        let ceilings: Vec<u128> = (1..=10).map(|n| backoff.ceiling(n).as_millis()).collect();
        assert_eq!(
            ceilings,
            [30, 60, 120, 240, 480, 960, 1920, 3840, 5000, 5000]
        );
        assert_eq!(backoff.ceiling(u32::MAX), Duration::from_secs(5));
    }

    #[test]
    fn waits_fall_in_the_upper_half_of_the_ceiling_and_reset_after_an_answer() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(300));
        assert_eq!(backoff.fail(0.0), Duration::from_millis(50));
        assert_eq!(backoff.fail(0.5), Duration::from_millis(150));
        // Capped at 300 ms: between 150 and 300.
        assert_eq!(backoff.fail(0.0), Duration::from_millis(150));
        assert_eq!(backoff.fail(1.0), Duration::from_millis(300));
        backoff.reset();
        assert_eq!(backoff.fail(1.0), Duration::from_millis(100));
    }
}
