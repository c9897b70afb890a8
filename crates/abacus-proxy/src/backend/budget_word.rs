//! The budget state of the backends that record without abacus-inference: what the
//! original gateway kept beside its `prometheus` metrics. One atomic word per budget holds
//! the period and the tokens used in it, as abacus-inference's does, so that both sides do
//! the same atomic work per request and differ only in how they reach their metrics.
//!
//! It leaves out abacus-inference's saturation of the usage (a run's tokens stay far below
//! 2^43), which only makes the peers' path shorter.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::families::{threshold_tokens, BUDGET_LIMIT};

const USED_BITS: u32 = 43;
const USED_MASK: u64 = (1 << USED_BITS) - 1;

/// The current daily period of the system clock, as abacus-inference's `Period::Daily`
/// numbers it.
#[inline]
pub(crate) fn today() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
        / 86_400
}

/// What adding tokens did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Step {
    pub(crate) before: u64,
    pub(crate) after: u64,
    /// What the remaining gauge must add so that it equals `limit - used` once idle.
    pub(crate) remaining_delta: i64,
}

/// One budget's word, alone on its cache lines as abacus-inference's is.
#[repr(align(128))]
#[derive(Debug, Default)]
pub(crate) struct BudgetWord {
    word: AtomicU64,
}

impl BudgetWord {
    /// Moves the word into `period` if it is behind; returns the usage of its period and
    /// the change to the remaining gauge.
    #[inline]
    pub(crate) fn enter(&self, period: u64) -> (u64, i64) {
        let mut current = self.word.load(Relaxed);
        loop {
            let (word_period, used) = (current >> USED_BITS, current & USED_MASK);
            if word_period >= period {
                return (used, 0);
            }
            match self
                .word
                .compare_exchange_weak(current, period << USED_BITS, Relaxed, Relaxed)
            {
                Ok(_) => return (0, used as i64),
                Err(actual) => current = actual,
            }
        }
    }

    /// Adds `tokens` in `period`, or in the word's period if that is later.
    #[inline]
    pub(crate) fn add(&self, period: u64, tokens: u64) -> Step {
        let mut current = self.word.load(Relaxed);
        loop {
            let (word_period, used) = (current >> USED_BITS, current & USED_MASK);
            if word_period >= period {
                let before = self.word.fetch_add(tokens, Relaxed) & USED_MASK;
                return Step {
                    before,
                    after: before + tokens,
                    remaining_delta: -(tokens as i64),
                };
            }
            let next = period << USED_BITS | tokens;
            match self
                .word
                .compare_exchange_weak(current, next, Relaxed, Relaxed)
            {
                Ok(_) => {
                    return Step {
                        before: 0,
                        after: tokens,
                        remaining_delta: used as i64 - tokens as i64,
                    }
                }
                Err(actual) => current = actual,
            }
        }
    }
}

/// The thresholds a step crossed, by position in [`threshold_tokens`].
#[inline]
pub(crate) fn crossed(step: &Step) -> impl Iterator<Item = usize> {
    let (before, after) = (step.before, step.after);
    threshold_tokens()
        .into_iter()
        .enumerate()
        .filter(move |&(_, tokens)| before < tokens && tokens <= after)
        .map(|(index, _)| index)
}

/// The budget's limit as a gauge value.
pub(crate) const LIMIT: i64 = BUDGET_LIMIT as i64;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_adds_within_a_period_and_restarts_in_the_next() {
        let word = BudgetWord::default();
        assert_eq!(word.enter(10), (0, 0));
        let step = word.add(10, 4_000_000);
        assert_eq!((step.before, step.after), (0, 4_000_000));
        assert_eq!(crossed(&step).collect::<Vec<_>>(), [0]);
        let step = word.add(10, 800_000);
        assert_eq!(crossed(&step).collect::<Vec<_>>(), [1, 2]);
        // The next day starts from zero, and the remaining gauge gets its tokens back.
        assert_eq!(word.enter(11), (0, 4_800_000));
        let step = word.add(11, 5);
        assert_eq!((step.before, step.after, step.remaining_delta), (0, 5, -5));
        // A late request counts in the current day.
        assert_eq!(word.add(10, 5).after, 10);
    }

    #[test]
    fn a_first_addition_in_a_new_period_moves_the_remaining_gauge_by_the_difference() {
        let word = BudgetWord::default();
        word.add(3, 100);
        let step = word.add(4, 30);
        assert_eq!((step.before, step.after, step.remaining_delta), (0, 30, 70));
    }
}
