//! The budgets of a gateway: their configuration per (scope, route, tenant), and the one
//! shared state of each, handed out as [`TenantBudget`] handles.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use crate::policy::Policy;
use crate::tenant::TenantBudget;
use crate::{BudgetConfig, Clock, ConfigError, InferenceMetrics, Scope, SystemClock};

/// Which budget: the scope, the route and the tenant.
type Key = (Scope, String, String);

/// Collects the budget configuration; [`build`](Self::build) checks it.
pub struct BudgetsBuilder {
    default: BudgetConfig,
    budgets: Vec<(Key, BudgetConfig)>,
    clock: Arc<dyn Clock>,
}

impl BudgetsBuilder {
    /// Gives the budget of `tenant` on `route` in `scope` its own configuration instead of
    /// the default. Given twice for the same budget, the later one holds.
    pub fn budget(
        mut self,
        scope: &Scope,
        route: &str,
        tenant: &str,
        config: BudgetConfig,
    ) -> Self {
        let key = (scope.clone(), route.to_owned(), tenant.to_owned());
        self.budgets.push((key, config));
        self
    }

    /// The clock that [`TenantBudget::check`] and [`TenantBudget::record_usage`] read;
    /// the system clock unless set. Pass an `Arc<ManualClock>` to keep a handle to it.
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Checks every configuration and prepares the budgets.
    ///
    /// # Errors
    ///
    /// [`ConfigError::ZeroLimit`], [`ConfigError::LimitTooLarge`],
    /// [`ConfigError::ThresholdOutOfRange`], [`ConfigError::DuplicateThreshold`] or
    /// [`ConfigError::TooManyThresholds`] for the first configuration that has one,
    /// naming the budget (`default`, or `namespace/service/route/tenant`).
    pub fn build(self, metrics: &InferenceMetrics) -> Result<Budgets, ConfigError> {
        let default = Arc::new(Policy::new(&self.default, "default")?);
        let mut configured = HashMap::with_capacity(self.budgets.len());
        for (key, config) in self.budgets {
            let name = format!("{}/{}/{}", key.0, key.1, key.2);
            configured.insert(key, Arc::new(Policy::new(&config, &name)?));
        }
        Ok(Budgets {
            inner: Arc::new(Inner {
                metrics: metrics.clone(),
                default,
                configured,
                clock: self.clock,
                resolved: Mutex::new(HashMap::new()),
            }),
        })
    }
}

impl fmt::Debug for BudgetsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BudgetsBuilder")
            .field("default", &self.default)
            .field("budgets", &self.budgets)
            .finish_non_exhaustive()
    }
}

/// The token budgets of a gateway, one per (scope, route, tenant).
///
/// [`resolve`](Self::resolve) hands out the budget of one tenant as a [`TenantBudget`]:
/// every resolution of the same budget shares one state, so threads that each resolve
/// their own handles still count against one budget and fire each alert once. Cloning
/// shares the budgets.
///
/// Keep one `Budgets` per [`InferenceMetrics`]: two of them resolving the same budget
/// would write the same gauges from two states.
#[derive(Clone)]
pub struct Budgets {
    inner: Arc<Inner>,
}

struct Inner {
    metrics: InferenceMetrics,
    default: Arc<Policy>,
    configured: HashMap<Key, Arc<Policy>>,
    clock: Arc<dyn Clock>,
    resolved: Mutex<HashMap<Key, TenantBudget>>,
}

impl Budgets {
    /// Starts a configuration in which every budget is `default` unless given its own.
    pub fn builder(default: BudgetConfig) -> BudgetsBuilder {
        BudgetsBuilder {
            default,
            budgets: Vec::new(),
            clock: Arc::new(SystemClock),
        }
    }

    /// The budget of `tenant` on `route` in `scope`, created on first use with its series
    /// at the start of a period: the limit and remaining gauges at the limit, the used,
    /// exhausted and alert counters at zero.
    ///
    /// This takes a lock and may allocate: resolve once, keep the handle.
    ///
    /// # Errors
    ///
    /// The errors of [`abacus::Family::with_labels`] for label values no series can hold.
    pub fn resolve(
        &self,
        scope: &Scope,
        route: &str,
        tenant: &str,
    ) -> Result<TenantBudget, abacus::Error> {
        let key = (scope.clone(), route.to_owned(), tenant.to_owned());
        // A panic elsewhere cannot leave the map half-updated: inserting is its only write.
        let mut resolved = self
            .inner
            .resolved
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(budget) = resolved.get(&key) {
            return Ok(budget.clone());
        }
        let policy = self
            .inner
            .configured
            .get(&key)
            .unwrap_or(&self.inner.default)
            .clone();
        let budget = TenantBudget::new(
            &self.inner.metrics,
            scope,
            route,
            tenant,
            policy,
            self.inner.clock.clone(),
        )?;
        resolved.insert(key, budget.clone());
        Ok(budget)
    }
}

impl fmt::Debug for Budgets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Budgets")
            .field("default", &self.inner.default)
            .finish_non_exhaustive()
    }
}
