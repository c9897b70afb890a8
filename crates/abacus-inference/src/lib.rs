//! abacus-inference meters an LLM inference gateway on abacus: token budgets per tenant
//! and money per model, recorded through handles resolved once per (route, tenant) and
//! (route, model), so that a request does no label look-up, takes no lock and allocates
//! nothing.
//!
//! # Map
//!
//! - Families: [`InferenceMetrics`] registers them; [`COST_DECIMALS`], [`COST_BUCKETS`].
//! - Where: [`Scope`] (global, namespace, service) fills the `namespace` and `service`
//!   labels.
//! - Budgets: [`BudgetConfig`] with a [`Period`]; [`Budgets`] (built by
//!   [`BudgetsBuilder`]) resolves a [`TenantBudget`], whose check gives a [`Decision`] and
//!   whose usage record gives a [`Usage`] with the crossed [`Threshold`]s; [`MAX_LIMIT`],
//!   [`MAX_THRESHOLDS`].
//! - Time: the [`Clock`] trait, [`SystemClock`], [`ManualClock`]; [`unix_seconds`] reads a
//!   trace's timestamps.
//! - Costs: [`Pricing`] (built by [`PricingBuilder`]) of [`Price`]s, matched as a
//!   [`PriceMatch`]; [`Costs`] resolves a [`ModelCost`], whose record gives a [`Cost`].
//! - Errors: [`ConfigError`] (with [`PriceSide`]) when a configuration is built;
//!   [`TimestampError`]; label errors are [`abacus::Error`].
//!
//! # Families
//!
//! With the default prefix, `sentinel`. Every family's labels start with `namespace,
//! service`; the table lists the labels after them.
//!
//! | family | kind | labels after namespace, service |
//! | --- | --- | --- |
//! | `sentinel_inference_budget_limit` | gauge | route, tenant |
//! | `sentinel_inference_budget_used_total` | counter | route, tenant |
//! | `sentinel_inference_budget_remaining` | gauge, may go negative | route, tenant |
//! | `sentinel_inference_budget_exhausted_total` | counter | route, tenant |
//! | `sentinel_inference_budget_alerts_total` | counter | route, tenant, threshold |
//! | `sentinel_inference_cost_total` | fixed-point counter, 9 decimals | route, model, currency |
//! | `sentinel_inference_input_tokens_total` | counter | route, model |
//! | `sentinel_inference_output_tokens_total` | counter | route, model |
//! | `sentinel_inference_cost_per_request` | histogram, [`COST_BUCKETS`] | route, model |
//!
//! # Example
//!
//! ```
//! use abacus::Registry;
//! use abacus_inference::{
//!     BudgetConfig, Budgets, Costs, Decision, InferenceMetrics, ManualClock, Period, Price,
//!     Pricing, Scope,
//! };
//! use std::sync::Arc;
//!
//! let registry = Registry::new();
//! let metrics = InferenceMetrics::new(&registry, "sentinel")?;
//! let clock = Arc::new(ManualClock::new(1_700_000_000));
//! let budgets = Budgets::builder(BudgetConfig {
//!     period: Period::Daily,
//!     limit: 1_000,
//!     thresholds: vec![0.8, 0.9],
//!     enforce: true,
//! })
//! .clock(clock.clone())
//! .build(&metrics)?;
//! let pricing = Pricing::builder("USD", Price::per_million(1.0, 2.0))
//!     .model("gpt-4*", Price::per_million(10.0, 30.0))
//!     .build()?;
//! let costs = Costs::new(&metrics, pricing);
//!
//! // Resolve once per (route, tenant) and (route, model); keep the handles.
//! let scope = Scope::service("ai", "gateway");
//! let tenant = budgets.resolve(&scope, "chat", "tenant-00")?;
//! let model = costs.resolve(&scope, "chat", "gpt-4o")?;
//!
//! // Per request: check, then record the usage and the cost.
//! assert_eq!(tenant.check(), Decision::Allowed);
//! let usage = tenant.record_usage(600 + 250);
//! let labels: Vec<&str> = usage.alerts().map(|t| t.label()).collect();
//! assert_eq!(labels, ["80"]);
//! let cost = model.record(600, 250);
//! assert_eq!(cost.nanos, 13_500_000); // 600 × 10 + 250 × 30 per million: 0.0135 USD
//!
//! assert_eq!(tenant.record_usage(200).remaining, -50);
//! assert_eq!(tenant.check(), Decision::Exhausted);
//! clock.advance(86_400); // the next day starts a new budget
//! assert_eq!(tenant.check(), Decision::Allowed);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Time
//!
//! [`TenantBudget::check`] and [`TenantBudget::record_usage`] read the clock given to
//! [`BudgetsBuilder::clock`] (the system clock by default; a [`ManualClock`] in tests).
//! A replay of recorded traffic passes each request's own time instead, to
//! [`TenantBudget::check_at`] and [`TenantBudget::record_usage_at`], reading a trace's
//! timestamps with [`unix_seconds`]:
//!
//! ```
//! # use abacus_inference::*;
//! # let registry = abacus::Registry::new();
//! # let metrics = InferenceMetrics::with_default_prefix(&registry)?;
//! # let config =
//! #     BudgetConfig { period: Period::Daily, limit: 10, thresholds: vec![], enforce: false };
//! # let budgets = Budgets::builder(config).build(&metrics)?;
//! # let tenant = budgets.resolve(&Scope::Global, "code", "tenant-00")?;
//! let now = unix_seconds("2023-11-16 18:17:03.9799600")?;
//! let decision = tenant.check_at(now);
//! let usage = tenant.record_usage_at(4_808 + 10, now);
//! assert_eq!((decision, usage.period), (Decision::Allowed, 19_677));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Guarantees
//!
//! Each budget keeps its period and its usage in one atomic word. Recording usage is one
//! `fetch_add` on it, which returns the usage before the request's tokens; the request
//! whose addition takes the usage from below a threshold to at or above it is the one that
//! fires it, so each threshold fires exactly once per budget and period whatever the
//! concurrency, and no token is lost. A new period is installed by a compare-and-swap
//! together with its first tokens, so a rollover racing with usage neither loses tokens
//! nor counts them twice. The remaining gauge moves by atomic additions that mirror every
//! change of the word, so once recorders are idle it equals `limit - used` exactly.
//!
//! `docs/inference/` in the repository holds Prometheus rules and a Grafana dashboard for
//! these families.

#![warn(missing_docs)]

mod budgets;
mod calendar;
mod clock;
mod costs;
mod error;
mod metrics;
mod period;
mod policy;
mod pricing;
mod scope;
mod state;
mod tenant;
mod threshold;

pub use crate::budgets::{Budgets, BudgetsBuilder};
pub use crate::clock::{unix_seconds, Clock, ManualClock, SystemClock};
pub use crate::costs::{Costs, ModelCost};
pub use crate::error::{ConfigError, PriceSide, TimestampError};
pub use crate::metrics::{InferenceMetrics, COST_BUCKETS, COST_DECIMALS};
pub use crate::period::Period;
pub use crate::policy::{BudgetConfig, MAX_LIMIT, MAX_THRESHOLDS};
pub use crate::pricing::{Cost, Price, PriceMatch, Pricing, PricingBuilder};
pub use crate::scope::Scope;
pub use crate::tenant::{Decision, TenantBudget, Usage};
pub use crate::threshold::Threshold;
