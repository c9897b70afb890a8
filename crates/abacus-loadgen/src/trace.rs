//! Reading the Azure LLM inference trace and turning its rows into gateway requests.
//!
//! The mapping from a row to a request is the specification of the replay: route and model
//! by file and row number, prices per model, a skewed tenant, a context-window check that
//! decides the status, and a synthetic latency from the token counts.

use std::fmt;
use std::path::{Path, PathBuf};

/// The gateway's routes; the code trace is served on `code`, the conversation trace on
/// `chat`.
pub(crate) const ROUTES: [&str; 2] = ["code", "chat"];
/// Statuses the replay produces.
pub(crate) const STATUSES: [&str; 2] = ["200", "400"];
/// Number of tenants, `tenant-00` to `tenant-63`.
pub(crate) const TENANTS: usize = 64;

/// A model the gateway routes to, with its list prices and context window.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Model {
    pub(crate) name: &'static str,
    /// USD per million input (prompt) tokens.
    pub(crate) input_price: f64,
    /// USD per million output (completion) tokens.
    pub(crate) output_price: f64,
    /// Prompt plus completion tokens the model accepts; a larger request is refused with
    /// status 400, as the provider's API does.
    pub(crate) context_window: u64,
}

pub(crate) const MODELS: [Model; 3] = [
    Model {
        name: "gpt-4-turbo",
        input_price: 10.0,
        output_price: 30.0,
        context_window: 128_000,
    },
    Model {
        name: "gpt-4o",
        input_price: 5.0,
        output_price: 15.0,
        context_window: 128_000,
    },
    // The 2023 `gpt-3.5-turbo` (0613) had a 4,096-token window; the conversation trace has
    // requests above it, which makes the 400 status real traffic rather than a sprinkle.
    Model {
        name: "gpt-3.5-turbo",
        input_price: 0.5,
        output_price: 1.5,
        context_window: 4_096,
    },
];

/// Which trace a file holds, by its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TraceKind {
    Code,
    Conversation,
}

/// One request of the replay, with everything derived from its row.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Request {
    pub(crate) route: usize,
    pub(crate) model: usize,
    pub(crate) status: usize,
    pub(crate) tenant: usize,
    pub(crate) input_tokens: u64,
    pub(crate) output_tokens: u64,
    /// USD; zero for a refused request.
    pub(crate) cost: f64,
    /// Seconds.
    pub(crate) duration: f64,
    /// When the request arrived, in seconds since the Unix epoch (the row's timestamp,
    /// read as UTC): the budgets' clock.
    pub(crate) timestamp: u64,
}

impl Request {
    pub(crate) fn served(&self) -> bool {
        self.status == 0
    }
}

/// Why a trace file could not be read.
#[derive(Debug)]
pub(crate) enum TraceError {
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    UnknownFile(PathBuf),
    BadRow {
        path: PathBuf,
        line: usize,
        text: String,
    },
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TraceError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            TraceError::UnknownFile(path) => write!(
                f,
                "{}: not a known trace (the name must contain `_code` or `_conv`)",
                path.display()
            ),
            TraceError::BadRow { path, line, text } => {
                write!(
                    f,
                    "{}:{line}: expected TIMESTAMP,ContextTokens,GeneratedTokens, got {text:?}",
                    path.display()
                )
            }
        }
    }
}

impl std::error::Error for TraceError {}

/// Reads a trace file and maps its rows to requests.
pub(crate) fn load(path: &Path) -> Result<Vec<Request>, TraceError> {
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let kind = if file_name.contains("_code") {
        TraceKind::Code
    } else if file_name.contains("_conv") {
        TraceKind::Conversation
    } else {
        return Err(TraceError::UnknownFile(path.to_owned()));
    };
    let text = std::fs::read_to_string(path).map_err(|source| TraceError::Io {
        path: path.to_owned(),
        source,
    })?;
    let mut requests = Vec::new();
    for (line_index, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let bad = || TraceError::BadRow {
            path: path.to_owned(),
            line: line_index + 1,
            text: line.to_owned(),
        };
        let mut fields = line.split(',');
        let (Some(timestamp), Some(context), Some(generated), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(bad());
        };
        let input: u64 = context.trim().parse().map_err(|_| bad())?;
        let output: u64 = generated.trim().parse().map_err(|_| bad())?;
        let timestamp = abacus_inference::unix_seconds(timestamp.trim()).map_err(|_| bad())?;
        let mut request = request(kind, requests.len() as u64, input, output);
        request.timestamp = timestamp;
        requests.push(request);
    }
    Ok(requests)
}

/// The request for row `row` (counted from 0 within its file).
pub(crate) fn request(kind: TraceKind, row: u64, input_tokens: u64, output_tokens: u64) -> Request {
    let (route, model) = match kind {
        TraceKind::Code => (0, 0),
        TraceKind::Conversation if row % 2 == 0 => (1, 1),
        TraceKind::Conversation => (1, 2),
    };
    let prices = MODELS[model];
    let served = input_tokens + output_tokens <= prices.context_window;
    let tenant = tenant(kind, row);
    if !served {
        return Request {
            route,
            model,
            status: 1,
            tenant,
            input_tokens: 0,
            output_tokens: 0,
            cost: 0.0,
            // A refusal is answered without running the model.
            duration: 0.005,
            timestamp: 0,
        };
    }
    Request {
        route,
        model,
        status: 0,
        tenant,
        input_tokens,
        output_tokens,
        cost: (input_tokens as f64 * prices.input_price
            + output_tokens as f64 * prices.output_price)
            / 1_000_000.0,
        // 50 ms of overhead, prefill at 20,000 tokens/s, decode at 50 tokens/s.
        duration: 0.05 + input_tokens as f64 / 20_000.0 + output_tokens as f64 / 50.0,
        timestamp: 0,
    }
}

/// A tenant drawn from a fixed hash of the row, cubed so that the low tenants carry most
/// traffic: `tenant-00` gets a quarter of all requests, `tenant-63` about 0.5%.
fn tenant(kind: TraceKind, row: u64) -> usize {
    let seed = row ^ if kind == TraceKind::Code { 0 } else { 1 << 40 };
    let uniform = (splitmix64(seed) >> 11) as f64 / (1u64 << 53) as f64;
    ((uniform * uniform * uniform * TENANTS as f64) as usize).min(TENANTS - 1)
}

/// SplitMix64's output function: a fixed, well-mixed hash of a counter.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

pub(crate) fn tenant_name(tenant: usize) -> String {
    format!("tenant-{tenant:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversation_rows_alternate_models_from_row_zero() {
        assert_eq!(
            MODELS[request(TraceKind::Conversation, 0, 10, 10).model].name,
            "gpt-4o"
        );
        assert_eq!(
            MODELS[request(TraceKind::Conversation, 1, 10, 10).model].name,
            "gpt-3.5-turbo"
        );
        assert_eq!(
            MODELS[request(TraceKind::Code, 1, 10, 10).model].name,
            "gpt-4-turbo"
        );
    }

    #[test]
    fn cost_follows_list_prices() {
        // gpt-4o: 1,000 input at $5/M plus 100 output at $15/M.
        let r = request(TraceKind::Conversation, 0, 1_000, 100);
        assert!((r.cost - (0.005 + 0.0015)).abs() < 1e-15);
    }

    #[test]
    fn requests_over_the_context_window_are_refused_without_tokens() {
        let r = request(TraceKind::Conversation, 1, 4_000, 97);
        assert_eq!(STATUSES[r.status], "400");
        assert_eq!((r.input_tokens, r.output_tokens, r.cost), (0, 0, 0.0));
        let r = request(TraceKind::Conversation, 1, 4_000, 96);
        assert_eq!(STATUSES[r.status], "200");
    }

    #[test]
    fn tenants_are_skewed_towards_the_first() {
        let mut per_tenant = [0u32; TENANTS];
        for row in 0..100_000 {
            per_tenant[tenant(TraceKind::Code, row)] += 1;
        }
        // P(u^3 < 1/64) = P(u < 1/4) = 25%.
        assert!(
            (24_000..26_000).contains(&per_tenant[0]),
            "{}",
            per_tenant[0]
        );
        let top_half: u32 = per_tenant[32..].iter().sum();
        // P(u^3 >= 1/2) = 1 - 0.5^(1/3) = 20.6%.
        assert!((19_500..21_700).contains(&top_half), "{top_half}");
    }
}
