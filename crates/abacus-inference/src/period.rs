//! Budget periods and the index of the period an instant falls in.

use crate::calendar::year_month_of_day;

/// How long a budget lasts before it starts again from zero. Periods are aligned to UTC:
/// hours on the hour, days at midnight, months on the first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Period {
    /// A clock hour.
    Hourly,
    /// A UTC day.
    Daily,
    /// A calendar month.
    Monthly,
}

impl Period {
    /// The largest period index a budget tells apart; later instants all fall in this
    /// period. For hourly budgets it is reached in the year 2209.
    pub const MAX_INDEX: u64 = (1 << 21) - 1;

    /// The number of the period holding `unix_seconds`, counted from the one holding
    /// 1970-01-01 00:00:00 UTC, and capped at [`MAX_INDEX`](Self::MAX_INDEX).
    ///
    /// ```
    /// use abacus_inference::Period;
    ///
    /// assert_eq!(Period::Daily.index(86_400), 1);
    /// assert_eq!(Period::Monthly.index(31 * 86_400), 1); // 1970-02-01
    /// ```
    pub fn index(self, unix_seconds: u64) -> u64 {
        let index = match self {
            Period::Hourly => unix_seconds / 3_600,
            Period::Daily => unix_seconds / 86_400,
            Period::Monthly => {
                // Days since 1970 fit an i64 for every u64 of seconds.
                let (year, month) = year_month_of_day((unix_seconds / 86_400) as i64);
                (year - 1970) as u64 * 12 + u64::from(month - 1)
            }
        };
        index.min(Self::MAX_INDEX)
    }
}
