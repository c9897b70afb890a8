//! One tenant's budget on one route: its shared usage word and its resolved series, so
//! that a check and a usage record are handle calls and atomics, with no label look-up.

use std::fmt;
use std::sync::Arc;

use abacus::{Counter, Gauge};

use crate::metrics::InferenceMetrics;
use crate::policy::Policy;
use crate::state::UsageWord;
use crate::{Clock, Period, Scope, Threshold};

/// What a check before a request says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[must_use]
pub enum Decision {
    /// The budget has tokens left.
    Allowed,
    /// The budget is used up but not enforced: the request may proceed.
    SoftLimited,
    /// The budget is used up and enforced: the request should be refused.
    Exhausted,
}

impl Decision {
    /// Whether the request may proceed: anything but [`Exhausted`](Self::Exhausted).
    pub fn proceeds(self) -> bool {
        self != Decision::Exhausted
    }
}

/// What recording a request's tokens did to the budget.
#[derive(Clone, Copy, Debug)]
pub struct Usage<'a> {
    /// The index of the period the tokens counted in (see [`Period::index`]).
    pub period: u64,
    /// The period's usage right after these tokens were added.
    pub used: u64,
    /// `limit - used`; negative when over the limit.
    pub remaining: i64,
    crossed: u64,
    thresholds: &'a [Threshold],
}

impl<'a> Usage<'a> {
    /// The thresholds these tokens crossed, in the order they were configured. Each
    /// threshold is crossed by exactly one request a period, whatever the concurrency, and
    /// is already counted in the alerts family.
    pub fn alerts(&self) -> impl Iterator<Item = &'a Threshold> + 'a {
        let crossed = self.crossed;
        self.thresholds
            .iter()
            .enumerate()
            .filter(move |&(index, _)| crossed >> index & 1 == 1)
            .map(|(_, threshold)| threshold)
    }
}

/// The budget of one tenant on one route in one scope, from [`Budgets::resolve`].
///
/// Cloning shares it. Every method is lock-free and allocation-free: recording usage is
/// one `fetch_add` on the budget's word (a compare-and-swap when a period begins), one on
/// the remaining gauge, and per-thread counter cells.
///
/// [`Budgets::resolve`]: crate::Budgets::resolve
#[derive(Clone)]
pub struct TenantBudget {
    inner: Arc<Inner>,
}

struct Inner {
    usage: UsageWord,
    policy: Arc<Policy>,
    clock: Arc<dyn Clock>,
    limit: Gauge,
    used: Counter,
    remaining: Gauge,
    exhausted: Counter,
    /// One per threshold, in the policy's order.
    alerts: Box<[Counter]>,
    /// `namespace/service/route/tenant`, for debugging.
    name: Box<str>,
}

impl TenantBudget {
    pub(crate) fn new(
        metrics: &InferenceMetrics,
        scope: &Scope,
        route: &str,
        tenant: &str,
        policy: Arc<Policy>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, abacus::Error> {
        let [namespace, service] = scope.label_values();
        let labels = [namespace, service, route, tenant];
        let alerts = policy
            .thresholds
            .iter()
            .map(|t| {
                let labels = [namespace, service, route, tenant, t.label()];
                metrics.budget_alerts.with_labels(&labels)
            })
            .collect::<Result<_, _>>()?;
        let inner = Inner {
            usage: UsageWord::default(),
            limit: metrics.budget_limit.with_labels(&labels)?,
            used: metrics.budget_used.with_labels(&labels)?,
            remaining: metrics.budget_remaining.with_labels(&labels)?,
            exhausted: metrics.budget_exhausted.with_labels(&labels)?,
            alerts,
            name: format!("{scope}/{route}/{tenant}").into(),
            policy,
            clock,
        };
        // A fresh word holds no usage, whatever period it is in.
        let limit = inner.policy.limit as i64;
        inner.limit.set(limit);
        inner.remaining.set(limit);
        Ok(TenantBudget {
            inner: Arc::new(inner),
        })
    }

    /// [`check_at`](Self::check_at) the time of the budgets' clock.
    #[inline]
    pub fn check(&self) -> Decision {
        self.check_at(self.inner.clock.now())
    }

    /// Says whether a request at `unix_seconds` may proceed: [`Decision::Allowed`] while
    /// the period's usage is below the limit, then [`Decision::Exhausted`] if the budget is
    /// enforced and [`Decision::SoftLimited`] if not.
    ///
    /// Records the check: sets the limit gauge, and counts an exhaustion when the decision
    /// is `Exhausted`. A check in a period later than the budget's starts that period.
    #[inline]
    pub fn check_at(&self, unix_seconds: u64) -> Decision {
        let inner = &*self.inner;
        let policy = &*inner.policy;
        let entered = inner.usage.enter(policy.period.index(unix_seconds));
        if entered.remaining_delta != 0 {
            inner.remaining.add(entered.remaining_delta);
        }
        let limit = policy.limit as i64;
        // The limit never changes: reading first keeps the gauge's cache line shared
        // between the threads that check, instead of every check writing it.
        if inner.limit.value() != limit {
            inner.limit.set(limit);
        }
        let decision = if entered.used < policy.limit {
            Decision::Allowed
        } else if policy.enforce {
            Decision::Exhausted
        } else {
            Decision::SoftLimited
        };
        if decision == Decision::Exhausted {
            inner.exhausted.inc();
        }
        decision
    }

    /// [`record_usage_at`](Self::record_usage_at) the time of the budgets' clock.
    #[inline]
    pub fn record_usage(&self, tokens: u64) -> Usage<'_> {
        self.record_usage_at(tokens, self.inner.clock.now())
    }

    /// Counts a request's tokens (input plus output) at `unix_seconds` against the budget
    /// and returns the alerts they crossed.
    ///
    /// Records the usage: adds the tokens to the used counter, moves the remaining gauge,
    /// and counts each crossed threshold in the alerts family. The tokens count in the
    /// period of `unix_seconds`, or in the budget's current period if that is later. A
    /// period's usage saturates at 2^42 tokens, far above any limit.
    #[inline]
    pub fn record_usage_at(&self, tokens: u64, unix_seconds: u64) -> Usage<'_> {
        let inner = &*self.inner;
        let policy = &*inner.policy;
        let step = inner.usage.add(policy.period.index(unix_seconds), tokens);
        inner.used.add(tokens);
        inner.remaining.add(step.remaining_delta);
        let crossed = policy.crossed(step.before, step.after);
        if crossed != 0 {
            self.count_alerts(crossed);
        }
        Usage {
            period: step.period,
            used: step.after,
            remaining: policy.limit as i64 - step.after as i64,
            crossed,
            thresholds: &policy.thresholds,
        }
    }

    #[cold]
    fn count_alerts(&self, crossed: u64) {
        for (index, counter) in self.inner.alerts.iter().enumerate() {
            if crossed >> index & 1 == 1 {
                counter.inc();
            }
        }
    }

    /// The index of the budget's current period (the latest one a check or a usage fell
    /// in) and the tokens used in it.
    pub fn current(&self) -> (u64, u64) {
        self.inner.usage.read()
    }

    /// The limit, in tokens per period.
    pub fn limit(&self) -> u64 {
        self.inner.policy.limit
    }

    /// The period.
    pub fn period(&self) -> Period {
        self.inner.policy.period
    }

    /// Whether an exhausted budget refuses requests.
    pub fn enforced(&self) -> bool {
        self.inner.policy.enforce
    }

    /// The alert thresholds, in the order they were configured.
    pub fn thresholds(&self) -> &[Threshold] {
        &self.inner.policy.thresholds
    }
}

impl fmt::Debug for TenantBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (period, used) = self.current();
        f.debug_struct("TenantBudget")
            .field("budget", &self.inner.name)
            .field("limit", &self.inner.policy.limit)
            .field("period", &period)
            .field("used", &used)
            .finish_non_exhaustive()
    }
}
