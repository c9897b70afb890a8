//! Model prices: per-model input and output prices per million tokens, matched by name or
//! glob pattern, most specific first, with a default.

use std::fmt;

use crate::{ConfigError, PriceSide};

/// Input and output prices per million tokens, in the pricing's currency.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Price {
    /// Price of a million input (prompt) tokens.
    pub input: f64,
    /// Price of a million output (completion) tokens.
    pub output: f64,
}

impl Price {
    /// `input` and `output` per million tokens.
    pub const fn per_million(input: f64, output: f64) -> Self {
        Price { input, output }
    }
}

/// A price in whole millionths of a currency unit per million tokens (10^-12 per token),
/// so that a cost is integer arithmetic and adds exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rate {
    input_micros: u64,
    output_micros: u64,
}

impl Rate {
    /// Checks `price` and converts it; `pattern` names it in errors.
    fn new(price: Price, pattern: Option<&str>) -> Result<Self, ConfigError> {
        let micros = |value: f64, side| {
            if value.is_finite() && value >= 0.0 {
                // `as` saturates a price too large for the counter at u64::MAX.
                Ok((value * 1e6).round() as u64)
            } else {
                Err(ConfigError::InvalidPrice {
                    pattern: pattern.map(str::to_owned),
                    side,
                    value,
                })
            }
        };
        Ok(Rate {
            input_micros: micros(price.input, PriceSide::Input)?,
            output_micros: micros(price.output, PriceSide::Output)?,
        })
    }

    /// The cost of a request in billionths of a currency unit, rounded to the nearest (half
    /// up) and saturating at `u64::MAX`.
    #[inline]
    pub(crate) fn nanos(self, input_tokens: u64, output_tokens: u64) -> u64 {
        // Millionths per million tokens are picos per token; a thousand picos are a nano.
        let picos = u128::from(input_tokens) * u128::from(self.input_micros)
            + u128::from(output_tokens) * u128::from(self.output_micros);
        u64::try_from((picos + 500) / 1_000).unwrap_or(u64::MAX)
    }
}

/// What a request cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cost<'a> {
    /// The model, as the request named it.
    pub model: &'a str,
    /// The pricing's currency.
    pub currency: &'a str,
    /// Input (prompt) tokens.
    pub input_tokens: u64,
    /// Output (completion) tokens.
    pub output_tokens: u64,
    /// The amount in billionths of the currency, exactly as the cost counter adds it.
    pub nanos: u64,
}

impl Cost<'_> {
    /// The amount in the currency: the nearest float to `nanos / 10^9`.
    pub fn amount(&self) -> f64 {
        self.nanos as f64 / 1e9
    }
}

/// One priced pattern.
#[derive(Clone, Debug)]
struct Rule {
    pattern: Box<str>,
    price: Price,
    rate: Rate,
}

impl Rule {
    /// How specific the pattern is; greater wins: an exact name beats every glob, then the
    /// glob with more literal characters.
    fn specificity(&self) -> (bool, usize) {
        let literal = self.pattern.chars().filter(|&c| c != '*').count();
        (!self.pattern.contains('*'), literal)
    }
}

/// The price of a model, and which pattern gave it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PriceMatch<'a> {
    /// The matching pattern; `None` when the default price applies.
    pub pattern: Option<&'a str>,
    /// The price.
    pub price: Price,
    pub(crate) rate: Rate,
}

/// Collects prices; [`build`](Self::build) checks them.
#[derive(Clone, Debug)]
pub struct PricingBuilder {
    currency: String,
    default: Price,
    rules: Vec<(String, Price)>,
}

impl PricingBuilder {
    /// Prices the models matching `pattern`: a model name, or a glob in which `*` stands
    /// for any run of characters, empty included (`gpt-4*`, `*-mini`). No other character
    /// is special.
    pub fn model(mut self, pattern: &str, price: Price) -> Self {
        self.rules.push((pattern.to_owned(), price));
        self
    }

    /// Checks every price and pattern and orders the patterns most specific first.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidPrice`] for a negative, NaN or infinite price (the default's
    /// too), [`ConfigError::EmptyPattern`] and [`ConfigError::DuplicatePattern`].
    pub fn build(self) -> Result<Pricing, ConfigError> {
        let default = Rate::new(self.default, None)?;
        let mut rules: Vec<Rule> = Vec::with_capacity(self.rules.len());
        for (pattern, price) in self.rules {
            if pattern.is_empty() {
                return Err(ConfigError::EmptyPattern);
            }
            if rules.iter().any(|rule| *rule.pattern == *pattern) {
                return Err(ConfigError::DuplicatePattern(pattern));
            }
            let rate = Rate::new(price, Some(&pattern))?;
            rules.push(Rule {
                pattern: pattern.into(),
                price,
                rate,
            });
        }
        // Stable: equally specific patterns keep the order they were given in.
        rules.sort_by_key(|rule| std::cmp::Reverse(rule.specificity()));
        Ok(Pricing {
            currency: self.currency.into(),
            default: (self.default, default),
            rules: rules.into(),
        })
    }
}

/// Model prices in one currency.
///
/// A model takes the price of the most specific pattern that matches its name: an exact
/// name beats every glob; among globs, the one with more literal (non-`*`) characters
/// wins, so `gpt-4o*` beats `gpt-4*`; equally specific globs are tried in the order they
/// were given. A model no pattern matches takes the default price.
///
/// ```
/// use abacus_inference::{Price, Pricing};
///
/// let pricing = Pricing::builder("USD", Price::per_million(1.0, 2.0))
///     .model("gpt-4*", Price::per_million(10.0, 30.0))
///     .model("gpt-4o", Price::per_million(5.0, 15.0))
///     .build()?;
/// assert_eq!(pricing.price_of("gpt-4o").pattern, Some("gpt-4o"));
/// assert_eq!(pricing.price_of("gpt-4-turbo").pattern, Some("gpt-4*"));
/// assert_eq!(pricing.price_of("llama").pattern, None);
/// // 1,000 input tokens at 10 and 500 output tokens at 30 per million.
/// assert_eq!(pricing.cost("gpt-4-turbo", 1_000, 500).nanos, 25_000_000);
/// # Ok::<(), abacus_inference::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct Pricing {
    currency: Box<str>,
    default: (Price, Rate),
    /// Most specific first.
    rules: Box<[Rule]>,
}

impl Pricing {
    /// Starts a pricing in `currency` (the value of the `currency` label) in which every
    /// model costs `default` unless a pattern prices it.
    pub fn builder(currency: &str, default: Price) -> PricingBuilder {
        PricingBuilder {
            currency: currency.to_owned(),
            default,
            rules: Vec::new(),
        }
    }

    /// The currency.
    pub fn currency(&self) -> &str {
        &self.currency
    }

    /// The price of `model`. This walks the patterns: resolve a
    /// [`ModelCost`](crate::ModelCost) once per model instead of pricing each request.
    pub fn price_of(&self, model: &str) -> PriceMatch<'_> {
        match self
            .rules
            .iter()
            .find(|rule| glob_matches(&rule.pattern, model))
        {
            Some(rule) => PriceMatch {
                pattern: Some(&rule.pattern),
                price: rule.price,
                rate: rule.rate,
            },
            None => PriceMatch {
                pattern: None,
                price: self.default.0,
                rate: self.default.1,
            },
        }
    }

    /// What a request to `model` with these token counts costs.
    pub fn cost<'a>(&'a self, model: &'a str, input_tokens: u64, output_tokens: u64) -> Cost<'a> {
        Cost {
            model,
            currency: &self.currency,
            input_tokens,
            output_tokens,
            nanos: self.price_of(model).rate.nanos(input_tokens, output_tokens),
        }
    }
}

impl fmt::Debug for Pricing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pricing")
            .field("currency", &self.currency)
            .field("default", &self.default.0)
            .field(
                "patterns",
                &self.rules.iter().map(|r| &*r.pattern).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Whether `text` matches `pattern`, in which `*` stands for any run of characters.
fn glob_matches(pattern: &str, text: &str) -> bool {
    let Some((head, tail)) = pattern.split_once('*') else {
        return pattern == text;
    };
    let Some(rest) = text.strip_prefix(head) else {
        return false;
    };
    let Some((middle, last)) = tail.rsplit_once('*') else {
        return rest.ends_with(tail);
    };
    let Some(mut rest) = rest.strip_suffix(last) else {
        return false;
    };
    // With only `*` special, taking each piece at its first occurrence never rules out a
    // match that a later occurrence would allow.
    for piece in middle.split('*') {
        match rest.find(piece) {
            Some(at) => rest = &rest[at + piece.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::glob_matches;

    #[test]
    fn globs_match_by_the_definition() {
        let cases = [
            ("gpt-4o", "gpt-4o", true),
            ("gpt-4o", "gpt-4o-mini", false),
            ("gpt-4*", "gpt-4", true),
            ("gpt-4*", "gpt-4-turbo", true),
            ("gpt-4*", "gpt-3.5-turbo", false),
            ("*-mini", "gpt-4o-mini", true),
            ("*-mini", "gpt-4o-mini-2024", false),
            ("*", "", true),
            ("**", "anything", true),
            ("a*b*c", "abc", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "acb", false),
            // The head and the last piece must not share characters.
            ("ab*ba", "aba", false),
            ("ab*ba", "abba", true),
            ("a*a*a", "aa", false),
            ("a*a*a", "aaa", true),
            ("*b*", "abc", true),
            ("*b*", "ac", false),
        ];
        for (pattern, text, expected) in cases {
            assert_eq!(glob_matches(pattern, text), expected, "{pattern} ~ {text}");
        }
    }
}
