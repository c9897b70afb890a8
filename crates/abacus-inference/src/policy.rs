//! A budget's configuration as written, and as checked and prepared for recording.

use crate::{ConfigError, Period, Threshold};

/// The largest budget limit, in tokens per period (about 1.1 × 10^12).
pub const MAX_LIMIT: u64 = 1 << 40;

/// The most alert thresholds one budget may have.
pub const MAX_THRESHOLDS: usize = 64;

/// A token budget as configured: checked when
/// [`BudgetsBuilder::build`](crate::BudgetsBuilder::build) runs.
#[derive(Clone, Debug, PartialEq)]
pub struct BudgetConfig {
    /// How long the budget lasts before it starts again from zero.
    pub period: Period,
    /// Tokens (input plus output) a tenant may use in one period; at least one, at most
    /// [`MAX_LIMIT`].
    pub limit: u64,
    /// Fractions of the limit in `(0, 1]` at which an alert fires once a period, such as
    /// `[0.8, 0.9, 0.95]`; kept to a millionth, labelled as percentages, which must differ.
    pub thresholds: Vec<f64>,
    /// Whether an exhausted budget refuses requests ([`Decision::Exhausted`]) or lets them
    /// through ([`Decision::SoftLimited`]).
    ///
    /// [`Decision::Exhausted`]: crate::Decision::Exhausted
    /// [`Decision::SoftLimited`]: crate::Decision::SoftLimited
    pub enforce: bool,
}

/// A checked budget configuration, with each threshold's token count worked out.
#[derive(Debug)]
pub(crate) struct Policy {
    pub(crate) period: Period,
    pub(crate) limit: u64,
    pub(crate) enforce: bool,
    pub(crate) thresholds: Box<[Threshold]>,
    /// `thresholds[i].tokens(limit)`, so that recording multiplies nothing.
    pub(crate) threshold_tokens: Box<[u64]>,
}

impl Policy {
    /// Checks `config`; `budget` names it in errors.
    pub(crate) fn new(config: &BudgetConfig, budget: &str) -> Result<Self, ConfigError> {
        let budget = || budget.to_owned();
        if config.limit == 0 {
            return Err(ConfigError::ZeroLimit { budget: budget() });
        }
        if config.limit > MAX_LIMIT {
            return Err(ConfigError::LimitTooLarge {
                budget: budget(),
                limit: config.limit,
            });
        }
        if config.thresholds.len() > MAX_THRESHOLDS {
            return Err(ConfigError::TooManyThresholds {
                budget: budget(),
                count: config.thresholds.len(),
            });
        }
        let mut thresholds: Vec<Threshold> = Vec::with_capacity(config.thresholds.len());
        for &fraction in &config.thresholds {
            let threshold =
                Threshold::new(fraction).ok_or_else(|| ConfigError::ThresholdOutOfRange {
                    budget: budget(),
                    threshold: fraction,
                })?;
            if thresholds.iter().any(|t| t.label() == threshold.label()) {
                return Err(ConfigError::DuplicateThreshold {
                    budget: budget(),
                    label: threshold.label().to_owned(),
                });
            }
            thresholds.push(threshold);
        }
        let threshold_tokens = thresholds.iter().map(|t| t.tokens(config.limit)).collect();
        Ok(Policy {
            period: config.period,
            limit: config.limit,
            enforce: config.enforce,
            thresholds: thresholds.into(),
            threshold_tokens,
        })
    }

    /// The thresholds a usage going from `before` to `after` crosses, as a bit set over
    /// their positions: those with `before < tokens <= after`.
    #[inline]
    pub(crate) fn crossed(&self, before: u64, after: u64) -> u64 {
        self.threshold_tokens
            .iter()
            .enumerate()
            .filter(|&(_, &tokens)| before < tokens && tokens <= after)
            .fold(0, |set, (index, _)| set | 1 << index)
    }
}
