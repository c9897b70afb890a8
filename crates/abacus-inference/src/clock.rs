//! Where budgets read the time: a clock trait, the system clock, a clock tests set by
//! hand, and the reading of a trace's timestamps.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::calendar::{days_from_civil, days_in_month};
use crate::TimestampError;

/// The time budgets use to tell which period a request falls in.
///
/// A clock only needs to be roughly monotonic: a request whose time falls in a period
/// before the budget's current one is counted in the current one, never in a past one.
pub trait Clock: Send + Sync {
    /// Seconds since 1970-01-01 00:00:00 UTC.
    fn now(&self) -> u64;
}

/// The operating system's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> u64 {
        // A wall clock set before 1970 reads as 1970: every period is then the first.
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs())
    }
}

/// A clock that says what it was last set to: for tests, and for replays that feed
/// recorded timestamps (set it before each request, or pass the time to the `_at` methods
/// of [`TenantBudget`](crate::TenantBudget) instead).
#[derive(Debug, Default)]
pub struct ManualClock {
    seconds: AtomicU64,
}

impl ManualClock {
    /// A clock reading `seconds` since 1970-01-01 UTC.
    pub fn new(seconds: u64) -> Self {
        ManualClock {
            seconds: AtomicU64::new(seconds),
        }
    }

    /// Sets the time.
    pub fn set(&self, seconds: u64) {
        // Relaxed: the time publishes no other memory.
        self.seconds.store(seconds, Relaxed);
    }

    /// Moves the time forward by `seconds`.
    pub fn advance(&self, seconds: u64) {
        self.seconds.fetch_add(seconds, Relaxed);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> u64 {
        self.seconds.load(Relaxed)
    }
}

impl<C: Clock + ?Sized> Clock for std::sync::Arc<C> {
    fn now(&self) -> u64 {
        (**self).now()
    }
}

/// Seconds since 1970-01-01 UTC of a timestamp written `YYYY-MM-DD HH:MM:SS` (a `T` may
/// stand for the blank), optionally with a fraction of a second, which is dropped: the
/// form of the Azure LLM trace, `2023-11-16 18:17:03.9799600`.
///
/// ```
/// assert_eq!(abacus_inference::unix_seconds("2023-11-16 18:17:03.9799600"), Ok(1_700_158_623));
/// ```
///
/// # Errors
///
/// [`TimestampError`] for any other form, a field out of its range (month 13, February
/// 30th, hour 24) or a year before 1970.
pub fn unix_seconds(text: &str) -> Result<u64, TimestampError> {
    parse(text).ok_or_else(|| TimestampError(text.to_owned()))
}

fn parse(text: &str) -> Option<u64> {
    let bytes = text.as_bytes();
    let (stamp, fraction) = bytes.split_at_checked(19)?;
    if !(fraction.is_empty() || fraction[0] == b'.' && fraction[1..].iter().all(u8::is_ascii_digit))
    {
        return None;
    }
    // Positions of the separators in `YYYY-MM-DD HH:MM:SS`.
    let separators = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
    if separators.iter().any(|&(at, byte)| stamp[at] != byte) || !matches!(stamp[10], b' ' | b'T') {
        return None;
    }
    let field = |from: usize, to: usize| -> Option<u32> {
        let digits = &stamp[from..to];
        digits.iter().all(u8::is_ascii_digit).then(|| {
            digits
                .iter()
                .fold(0, |n, digit| n * 10 + u32::from(digit - b'0'))
        })
    };
    let (year, month, day) = (i64::from(field(0, 4)?), field(5, 7)?, field(8, 10)?);
    let (hour, minute, second) = (field(11, 13)?, field(14, 16)?, field(17, 19)?);
    let date_ok = year >= 1970
        && (1..=12).contains(&month)
        && (1..=days_in_month(year, month)).contains(&day);
    if !date_ok || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let days = u64::try_from(days_from_civil(year, month, day)).ok()?;
    Some(days * 86_400 + u64::from(hour * 3_600 + minute * 60 + second))
}
