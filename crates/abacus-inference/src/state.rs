//! A budget's usage in one atomic word: the period it belongs to and the tokens used in
//! it, so that a request's tokens land in exactly one period and a rollover cannot lose
//! or double-count any.
//!
//! The word is `period << USED_BITS | used`. Periods only move forward, by a
//! compare-and-swap that installs the new period together with its first tokens; usage
//! within a period only grows, by `fetch_add`. Every change is one read-modify-write of
//! the word, so all of them form one order, and within a period the `used` values that
//! order produces are a chain starting at zero: each request sees the usage before its
//! tokens and after them, and a threshold is crossed by exactly one request of the chain.
//!
//! Every access is `Relaxed`: the word publishes no other memory, and the guarantees above
//! come from the single modification order of the word, which every ordering respects.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::Period;

/// Bits of the word that hold the tokens used in the period.
const USED_BITS: u32 = 43;
const USED_MASK: u64 = (1 << USED_BITS) - 1;

/// The usage a period saturates at: an addition past it brings the usage back to it, so
/// that the `used` bits can never carry into the period's. Above every limit, so that
/// saturating crosses no threshold again.
pub(crate) const SATURATION: u64 = 1 << (USED_BITS - 1);

/// The most tokens added with a `fetch_add`; a larger addition takes a compare-and-swap
/// that saturates exactly. Before a racing `fetch_add` could carry into the period's bits,
/// more than `SATURATION / MAX_FAST_ADD` (1,024) additions of this size would have to land
/// between one of them passing `SATURATION` and its clamp.
const MAX_FAST_ADD: u64 = u32::MAX as u64;

const _: () = assert!(Period::MAX_INDEX >> (64 - USED_BITS) == 0);
const _: () = assert!(crate::MAX_LIMIT < SATURATION);

/// What one addition did.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Step {
    /// The period the tokens counted in.
    pub(crate) period: u64,
    /// The usage of that period just before them.
    pub(crate) before: u64,
    /// The usage of that period just after them, at most `SATURATION`.
    pub(crate) after: u64,
    /// The change this step made to `limit - used` of the word's current period: what the
    /// remaining gauge must add so that it equals `limit - used` once recorders are idle.
    pub(crate) remaining_delta: i64,
}

/// What a check found: the usage of the period the word is then in.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Entered {
    pub(crate) used: u64,
    /// As [`Step::remaining_delta`].
    pub(crate) remaining_delta: i64,
}

/// The word, alone on its cache lines: every request of the tenant writes it, and the
/// handles read beside it should not be invalidated each time.
#[repr(align(128))]
#[derive(Debug, Default)]
pub(crate) struct UsageWord {
    word: AtomicU64,
}

fn split(word: u64) -> (u64, u64) {
    (word >> USED_BITS, word & USED_MASK)
}

fn pack(period: u64, used: u64) -> u64 {
    period << USED_BITS | used
}

impl UsageWord {
    /// Adds `tokens` in `period`, or in the word's period if that is later: a request
    /// whose clock lags the others counts in the current period, never in a past one.
    #[inline]
    pub(crate) fn add(&self, period: u64, tokens: u64) -> Step {
        let mut current = self.word.load(Relaxed);
        loop {
            let (word_period, used) = split(current);
            if word_period >= period && tokens <= MAX_FAST_ADD {
                return self.fast_add(tokens);
            }
            // A new period starts with these tokens, or a large addition saturates exactly.
            let (step_period, before) = if word_period >= period {
                (word_period, used)
            } else {
                (period, 0)
            };
            let after = before.saturating_add(tokens).min(SATURATION);
            match self.word.compare_exchange_weak(
                current,
                pack(step_period, after),
                Relaxed,
                Relaxed,
            ) {
                Ok(_) => {
                    return Step {
                        period: step_period,
                        before,
                        after,
                        remaining_delta: used as i64 - after as i64,
                    }
                }
                Err(actual) => current = actual,
            }
        }
    }

    /// The common path: one `fetch_add` into whatever period the word is in.
    #[inline]
    fn fast_add(&self, tokens: u64) -> Step {
        let previous = self.word.fetch_add(tokens, Relaxed);
        let (period, before) = split(previous);
        let after = before + tokens;
        let mut remaining_delta = -(tokens as i64);
        if after > SATURATION {
            remaining_delta += self.clamp(period);
        }
        Step {
            period,
            before,
            after: after.min(SATURATION),
            remaining_delta,
        }
    }

    /// Brings the usage of `period` back to `SATURATION`; returns by how much.
    #[cold]
    fn clamp(&self, period: u64) -> i64 {
        let mut current = self.word.load(Relaxed);
        loop {
            let (word_period, used) = split(current);
            if word_period != period || used <= SATURATION {
                return 0;
            }
            match self.word.compare_exchange_weak(
                current,
                pack(period, SATURATION),
                Relaxed,
                Relaxed,
            ) {
                Ok(_) => return (used - SATURATION) as i64,
                Err(actual) => current = actual,
            }
        }
    }

    /// Moves the word into `period` with no usage, unless it is there or later already;
    /// returns the usage of the period it is then in.
    #[inline]
    pub(crate) fn enter(&self, period: u64) -> Entered {
        let mut current = self.word.load(Relaxed);
        loop {
            let (word_period, used) = split(current);
            if word_period >= period {
                return Entered {
                    used: used.min(SATURATION),
                    remaining_delta: 0,
                };
            }
            match self
                .word
                .compare_exchange_weak(current, pack(period, 0), Relaxed, Relaxed)
            {
                Ok(_) => {
                    return Entered {
                        used: 0,
                        remaining_delta: used as i64,
                    }
                }
                Err(actual) => current = actual,
            }
        }
    }

    /// The word's period and the usage in it.
    pub(crate) fn read(&self) -> (u64, u64) {
        let (period, used) = split(self.word.load(Relaxed));
        (period, used.min(SATURATION))
    }
}
