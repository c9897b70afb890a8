//! Pricing: exact names before globs, longer literal text before shorter, declaration
//! order between equals, the default for the rest, and exact cost arithmetic.

mod common;

use abacus::Registry;
use abacus_inference::{Costs, InferenceMetrics, Price, Pricing, Scope};
use common::fixed_units;

fn pricing() -> Pricing {
    Pricing::builder("USD", Price::per_million(1.0, 2.0))
        .model("gpt-4*", Price::per_million(10.0, 30.0))
        .model("*-mini", Price::per_million(0.15, 0.6))
        .model("gpt-4o*", Price::per_million(2.5, 10.0))
        .model("gpt-4o", Price::per_million(5.0, 15.0))
        .model("gpt-3.5-turbo", Price::per_million(0.5, 1.5))
        .build()
        .unwrap()
}

#[test]
fn the_most_specific_pattern_prices_a_model() {
    let pricing = pricing();
    let cases = [
        // An exact name beats every glob that also matches it.
        ("gpt-4o", Some("gpt-4o"), (5.0, 15.0)),
        ("gpt-3.5-turbo", Some("gpt-3.5-turbo"), (0.5, 1.5)),
        // `gpt-4o*` has six literal characters, `gpt-4*` five.
        ("gpt-4o-2024-05-13", Some("gpt-4o*"), (2.5, 10.0)),
        // `gpt-4o*` (six) beats `*-mini` (five).
        ("gpt-4o-mini", Some("gpt-4o*"), (2.5, 10.0)),
        ("gpt-4-turbo", Some("gpt-4*"), (10.0, 30.0)),
        ("gpt-4", Some("gpt-4*"), (10.0, 30.0)),
        ("o1-mini", Some("*-mini"), (0.15, 0.6)),
        // Nothing matches: the default.
        ("llama-3-70b", None, (1.0, 2.0)),
        ("gpt-3.5-turbo-16k", None, (1.0, 2.0)),
        ("", None, (1.0, 2.0)),
    ];
    for (model, pattern, (input, output)) in cases {
        let found = pricing.price_of(model);
        assert_eq!(found.pattern, pattern, "{model}");
        assert_eq!(found.price, Price::per_million(input, output), "{model}");
    }
}

#[test]
fn equally_specific_globs_keep_the_order_they_were_given_in() {
    let first = Pricing::builder("USD", Price::per_million(0.0, 0.0))
        .model("a*", Price::per_million(1.0, 1.0))
        .model("*b", Price::per_million(2.0, 2.0))
        .build()
        .unwrap();
    assert_eq!(first.price_of("ab").pattern, Some("a*"));
    let second = Pricing::builder("USD", Price::per_million(0.0, 0.0))
        .model("*b", Price::per_million(2.0, 2.0))
        .model("a*", Price::per_million(1.0, 1.0))
        .build()
        .unwrap();
    assert_eq!(second.price_of("ab").pattern, Some("*b"));
}

#[test]
fn a_cost_carries_model_currency_tokens_and_the_exact_amount() {
    let pricing = pricing();
    // (model, input, output, nano-USD): input × price + output × price, per million,
    // worked by hand.
    let cases = [
        ("gpt-4-turbo", 1_000, 500, 10_000_000 + 15_000_000),
        ("gpt-4o", 4_808, 10, 24_040_000 + 150_000),
        ("o1-mini", 1, 1, 150 + 600),
        ("gpt-3.5-turbo", 3, 0, 1_500),
        ("llama", 0, 0, 0),
        ("o1-mini", 7, 3, 1_050 + 1_800),
    ];
    for (model, input, output, nanos) in cases {
        let cost = pricing.cost(model, input, output);
        assert_eq!(cost.model, model);
        assert_eq!(cost.currency, "USD");
        assert_eq!((cost.input_tokens, cost.output_tokens), (input, output));
        assert_eq!(cost.nanos, nanos, "{model}");
        assert_eq!(cost.amount(), nanos as f64 / 1e9);
    }
}

#[test]
fn a_cost_rounds_to_the_nearest_billionth_half_up() {
    // 0.0001 per million tokens is a tenth of a billionth a token.
    let pricing = Pricing::builder("USD", Price::per_million(0.0001, 0.0))
        .build()
        .unwrap();
    for (tokens, nanos) in [(4, 0), (5, 1), (7, 1), (14, 1), (15, 2)] {
        assert_eq!(pricing.cost("m", tokens, 0).nanos, nanos, "{tokens}");
    }
}

#[test]
fn costs_add_exactly_in_the_fixed_point_counter() {
    let registry = Registry::new();
    let metrics = InferenceMetrics::with_default_prefix(&registry).unwrap();
    let costs = Costs::new(&metrics, pricing());
    let scope = Scope::service("ai", "gateway");
    let model = costs.resolve(&scope, "chat", "gpt-4o-mini").unwrap();
    assert_eq!(model.price(), Price::per_million(2.5, 10.0));
    assert_eq!(model.model(), "gpt-4o-mini");
    // 40 tokens at 2.5 per million: 0.0001 USD, which no binary float holds exactly.
    let mut float_sum = 0.0f64;
    for _ in 0..10_000 {
        float_sum += model.record(40, 0).amount();
    }
    let labels = ["ai", "gateway", "chat", "gpt-4o-mini", "USD"];
    assert_eq!(
        fixed_units(&registry, "sentinel_inference_cost", &labels),
        1_000_000_000
    );
    // The float sum drifts off the true dollar; the counter does not.
    assert_ne!(float_sum, 1.0);
}
