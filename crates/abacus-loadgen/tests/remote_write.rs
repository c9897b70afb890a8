//! The main job pushes its replay to a remote-write receiver: a mock on loopback
//! (abacus-prometheus's `tests/common/receiver.rs`, which decodes every request) takes
//! pushes during the replay, and the last one must hold the job's final totals, computed
//! here straight from the trace files with the replay's rules (`src/trace.rs`: route and
//! model by file and row, refusal above the model's context window, list prices).

#[path = "../../abacus-prometheus/tests/common/receiver.rs"]
mod receiver;

use std::path::PathBuf;
use std::process::Command;

use receiver::Receiver;

const REPEAT: u64 = 100;

/// A series by name and some of its labels, with the value it must have.
type Expectation = (&'static str, &'static [(&'static str, &'static str)], f64);

/// One trace row: prompt and completion tokens.
struct Row {
    input: u64,
    output: u64,
}

fn rows(file: &str) -> Vec<Row> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/azure-llm-2023")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    text.lines()
        .skip(1)
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            Row {
                input: fields[1].trim().parse().expect("ContextTokens"),
                output: fields[2].trim().parse().expect("GeneratedTokens"),
            }
        })
        .collect()
}

/// A decimal number of nano-dollars as the float nearest it.
fn dollars(nanos: u64) -> f64 {
    format!("{}.{:09}", nanos / 1_000_000_000, nanos % 1_000_000_000)
        .parse()
        .expect("a decimal")
}

#[test]
fn the_main_job_pushes_its_replay_and_the_last_push_holds_its_totals() {
    let receiver = Receiver::accepting();
    let output = Command::new(env!("CARGO_BIN_EXE_abacus-loadgen"))
        .args(["--listen", "127.0.0.1:0", "--threads", "2", "--json"])
        .args(["--repeat", &REPEAT.to_string()])
        .args(["--remote-write", &receiver.url()])
        .args(["--remote-write-interval", "0.2"])
        .output()
        .expect("the main job runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout
            .trim_end()
            .ends_with("\"remote_write\":\"delivered\",\"check\":\"passed\"}"),
        "{stdout}"
    );

    let attempts = receiver.attempts();
    assert!(attempts.iter().all(|a| a.status == 200));
    assert!(attempts.len() >= 2, "pushed {} times", attempts.len());
    // Each push is a later snapshot, and the served requests only grow.
    let code_served = |body: &receiver::wire::WriteRequest| {
        body.value(
            "gateway_requests_total",
            &[("route", "code"), ("status", "200")],
        )
    };
    for pair in attempts.windows(2) {
        assert!(pair[1].body().timestamp() > pair[0].body().timestamp());
        assert!(code_served(pair[1].body()) >= code_served(pair[0].body()));
    }

    // The replay's rules: code rows go to gpt-4-turbo (128,000 tokens of context, $10 and
    // $30 per million), conversation rows alternate gpt-4o (128,000; $5 and $15) from
    // row 0 and gpt-3.5-turbo (4,096; $0.50 and $1.50); a request over the window is
    // refused with 400.
    let code = rows("AzureLLMInferenceTrace_code.csv");
    let conv = rows("AzureLLMInferenceTrace_conv.csv");
    let fits = |row: &Row, window: u64| row.input + row.output <= window;
    let code_ok: Vec<&Row> = code.iter().filter(|r| fits(r, 128_000)).collect();
    let gpt4o: Vec<&Row> = conv
        .iter()
        .step_by(2)
        .filter(|r| fits(r, 128_000))
        .collect();
    let gpt35: Vec<&Row> = conv
        .iter()
        .skip(1)
        .step_by(2)
        .filter(|r| fits(r, 4_096))
        .collect();
    let chat_refused = conv.len() - gpt4o.len() - gpt35.len();
    let sum = |rows: &[&Row], f: fn(&Row) -> u64| rows.iter().map(|r| f(r)).sum::<u64>();
    let times = |n: u64| (n * REPEAT) as f64;
    let code_nanos = sum(&code_ok, |r| r.input * 10_000 + r.output * 30_000);
    let gpt4o_nanos = sum(&gpt4o, |r| r.input * 5_000 + r.output * 15_000);

    let last = attempts.last().expect("a push").body();
    let expected: [Expectation; 9] = [
        (
            "gateway_requests_total",
            &[("route", "code"), ("status", "200")],
            times(code_ok.len() as u64),
        ),
        (
            "gateway_requests_total",
            &[("route", "chat"), ("status", "400")],
            times(chat_refused as u64),
        ),
        (
            "gateway_requests_total",
            &[("route", "chat"), ("status", "200")],
            times((gpt4o.len() + gpt35.len()) as u64),
        ),
        (
            "gateway_input_tokens_total",
            &[("route", "code"), ("model", "gpt-4-turbo")],
            times(sum(&code_ok, |r| r.input)),
        ),
        (
            "gateway_output_tokens_total",
            &[("route", "chat"), ("model", "gpt-3.5-turbo")],
            times(sum(&gpt35, |r| r.output)),
        ),
        (
            "gateway_cost_total",
            &[
                ("route", "code"),
                ("model", "gpt-4-turbo"),
                ("currency", "USD"),
            ],
            dollars(code_nanos * REPEAT),
        ),
        (
            "gateway_cost_total",
            &[("route", "chat"), ("model", "gpt-4o"), ("currency", "USD")],
            dollars(gpt4o_nanos * REPEAT),
        ),
        (
            "gateway_request_duration_seconds_count",
            &[("route", "code")],
            times(code.len() as u64),
        ),
        (
            "gateway_request_duration_seconds_bucket",
            &[("route", "chat"), ("le", "+Inf")],
            times(conv.len() as u64),
        ),
    ];
    for (name, labels, value) in expected {
        assert_eq!(last.value(name, labels), value, "{name} {labels:?}");
    }
}

#[test]
fn remote_write_is_refused_with_the_prometheus_backend() {
    let output = Command::new(env!("CARGO_BIN_EXE_abacus-loadgen"))
        .args(["--backend", "prometheus"])
        .args(["--remote-write", "http://127.0.0.1:9/api/v1/write"])
        .output()
        .expect("the main job runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--remote-write needs an abacus registry"),
        "{stderr}"
    );
}
