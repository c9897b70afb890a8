//! The same gateway metrics through the `metrics` facade's macros, recorded by
//! `abacus-metrics` installed as the global recorder: what a gateway written for
//! `metrics-exporter-prometheus` does after switching crates (`--backend facade`).
//!
//! Every update is a `counter!`, `gauge!` or `histogram!` call with its label values, so
//! each one pays the macro's key construction and the recorder's lookup by the key's hash,
//! as such a gateway would. The families have the same names, labels and buckets as the
//! other backends, and the replay must pass the same self-check.

use abacus_metrics::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};
use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};

use crate::gateway::{route_of_model, COST_BUCKETS, DURATION_BUCKETS};
use crate::trace::{tenant_name, Request, MODELS, ROUTES, STATUSES, TENANTS};

/// The gateway's facade metrics: nothing but the tenants' names, since the macros find
/// everything else by name.
pub(crate) struct FacadeMetrics {
    /// `tenant-00` to `tenant-63`. A gateway has its tenant's name at hand; leaking these
    /// 64 once gives the macros the `&'static str` they take without copying it per call.
    tenant_names: Vec<&'static str>,
}

impl FacadeMetrics {
    /// Installs the recorder globally, describes the families and creates every series
    /// the abacus backend resolves, so that the exposition holds the same series (at zero
    /// where the trace gives them no traffic). Returns the recorder's handle, whose
    /// registry the caller serves.
    pub(crate) fn install() -> Result<(Self, PrometheusHandle), BuildError> {
        let handle = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full("gateway_cost_per_request_usd".into()),
                &COST_BUCKETS,
            )?
            .set_buckets_for_metric(
                Matcher::Full("gateway_request_duration_seconds".into()),
                &DURATION_BUCKETS,
            )?
            .install_recorder()?;
        describe_counter!("gateway_requests_total", "Requests handled by the gateway.");
        describe_counter!(
            "gateway_input_tokens_total",
            "Prompt tokens sent to models."
        );
        describe_counter!(
            "gateway_output_tokens_total",
            "Completion tokens returned by models."
        );
        describe_gauge!(
            "gateway_cost_total",
            "Cost of served requests at list prices."
        );
        describe_histogram!(
            "gateway_cost_per_request_usd",
            "Cost of one served request in USD."
        );
        describe_histogram!(
            "gateway_request_duration_seconds",
            "Time to answer a request."
        );
        describe_counter!(
            "gateway_tenant_tokens_total",
            "Prompt plus completion tokens per tenant."
        );
        let metrics = FacadeMetrics {
            tenant_names: (0..TENANTS)
                .map(|tenant| &*Box::leak(tenant_name(tenant).into_boxed_str()))
                .collect(),
        };
        // Registering a key creates its series at zero.
        for route in ROUTES {
            for status in STATUSES {
                let _ = counter!("gateway_requests_total", "route" => route, "status" => status);
            }
            let _ = histogram!("gateway_request_duration_seconds", "route" => route);
        }
        for (model_index, model) in MODELS.iter().enumerate() {
            let (route, model) = (ROUTES[route_of_model(model_index)], model.name);
            let _ = counter!("gateway_input_tokens_total", "route" => route, "model" => model);
            let _ = counter!("gateway_output_tokens_total", "route" => route, "model" => model);
            let _ = gauge!(
                "gateway_cost_total", "route" => route, "model" => model, "currency" => "USD"
            );
            let _ = histogram!("gateway_cost_per_request_usd", "route" => route, "model" => model);
        }
        for &tenant in &metrics.tenant_names {
            let _ = counter!("gateway_tenant_tokens_total", "tenant" => tenant);
        }
        Ok((metrics, handle))
    }

    /// Records one request through the macros, label values given on every call.
    #[inline]
    pub(crate) fn record(&self, request: &Request) {
        let route = ROUTES[request.route];
        let status = STATUSES[request.status];
        counter!("gateway_requests_total", "route" => route, "status" => status).increment(1);
        histogram!("gateway_request_duration_seconds", "route" => route).record(request.duration);
        if !request.served() {
            return;
        }
        let model = MODELS[request.model].name;
        counter!("gateway_input_tokens_total", "route" => route, "model" => model)
            .increment(request.input_tokens);
        counter!("gateway_output_tokens_total", "route" => route, "model" => model)
            .increment(request.output_tokens);
        // `metrics` counters count whole numbers; a float total is a gauge's `increment`,
        // so this family is typed gauge here, with the same values as the other backends.
        gauge!("gateway_cost_total", "route" => route, "model" => model, "currency" => "USD")
            .increment(request.cost);
        histogram!("gateway_cost_per_request_usd", "route" => route, "model" => model)
            .record(request.cost);
        counter!("gateway_tenant_tokens_total", "tenant" => self.tenant_names[request.tenant])
            .increment(request.input_tokens + request.output_tokens);
    }
}
