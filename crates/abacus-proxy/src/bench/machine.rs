//! What the report says about the machine: its CPU, the toolchain and commit, and how busy
//! other processes kept it during the benchmark, from `/proc`.

use std::process::Command;
use std::sync::OnceLock;
use std::time::Instant;

/// Clock ticks per second of `/proc`'s CPU times (`getconf CLK_TCK`; 100 on Linux).
pub(crate) fn ticks() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        command_output("getconf", &["CLK_TCK"])
            .parse()
            .unwrap_or(100.0)
    })
}

/// User plus system CPU time of process `pid`, in clock ticks.
pub(crate) fn process_cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    cpu_ticks_of_stat(&stat, false)
}

/// Fields 14 and 15 of a `/proc/PID/stat` line (user and system time), and with
/// `children` also 16 and 17 (those of its waited-for children). The command name in
/// parentheses may hold spaces, so fields are counted after its closing parenthesis.
fn cpu_ticks_of_stat(stat: &str, children: bool) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    // The first field after the name is field 3 (the state).
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    let own = field(14)? + field(15)?;
    Some(if children {
        own + field(16)? + field(17)?
    } else {
        own
    })
}

/// The machine's busy CPU time so far, in ticks (user, nice, system, irq, softirq, steal).
fn machine_busy_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu = stat.lines().find(|line| line.starts_with("cpu "))?;
    let fields: Vec<u64> = cpu
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    Some(
        [0, 1, 2, 5, 6, 7]
            .iter()
            .filter_map(|&i| fields.get(i))
            .sum(),
    )
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn command_output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// The machine's counters at one moment.
pub(crate) struct Snapshot {
    at: Instant,
    load: String,
    busy: Option<u64>,
    /// This process and its waited-for children (the proxies, the upstream, Prometheus).
    ours: Option<u64>,
}

impl Snapshot {
    pub(crate) fn take() -> Self {
        Snapshot {
            at: Instant::now(),
            load: load_average(),
            busy: machine_busy_ticks(),
            ours: std::fs::read_to_string("/proc/self/stat")
                .ok()
                .and_then(|stat| cpu_ticks_of_stat(&stat, true)),
        }
    }
}

/// The report's description of the machine and of its other load.
pub(crate) struct Machine {
    pub(crate) cpu: String,
    pub(crate) cores: usize,
    pub(crate) rustc: String,
    pub(crate) commit: String,
    pub(crate) date: String,
    pub(crate) load_before: String,
    pub(crate) load_after: String,
    pub(crate) wall_seconds: f64,
    /// Cores kept busy on average by processes other than the benchmark's.
    pub(crate) other_cores: Option<f64>,
}

impl Machine {
    /// Describes the machine, with the other processes' CPU between `before` and `after`
    /// (taken once every process of the benchmark was waited for).
    pub(crate) fn describe(before: &Snapshot, after: &Snapshot) -> Self {
        let wall_seconds = after.at.duration_since(before.at).as_secs_f64();
        let other_cores = match (before.busy, after.busy, before.ours, after.ours) {
            (Some(b0), Some(b1), Some(o0), Some(o1)) => {
                let other = b1.saturating_sub(b0) as f64 - o1.saturating_sub(o0) as f64;
                Some((other / ticks() / wall_seconds.max(f64::MIN_POSITIVE)).max(0.0))
            }
            _ => None,
        };
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|info| {
                info.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, name)| name.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".into());
        let repo = env!("CARGO_MANIFEST_DIR");
        let mut commit = command_output("git", &["-C", repo, "rev-parse", "--short", "HEAD"]);
        let status = ["-C", repo, "status", "--porcelain", "--untracked-files=no"];
        if !command_output("git", &status).is_empty() {
            commit.push_str(" with uncommitted changes");
        }
        Machine {
            cpu,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            rustc: command_output("rustc", &["--version"]),
            commit,
            date: command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
            load_before: before.load.clone(),
            load_after: after.load.clone(),
            wall_seconds,
            other_cores,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_times_are_read_after_the_command_name() {
        let stat = "4242 (a (b) c) S 1 2 3 4 5 6 7 8 9 10 110 220 330 440 20 0 1";
        assert_eq!(cpu_ticks_of_stat(stat, false), Some(330));
        assert_eq!(cpu_ticks_of_stat(stat, true), Some(330 + 770));
    }
}
