//! How the servers of this crate end by themselves: after a fixed time, and (when their
//! parent asks for it) as soon as the parent goes away, which closes their standard input
//! however the parent ended. A benchmark that is killed leaves no server behind.

use std::io::Read;
use std::time::Duration;

/// Ends the process after `limit`, and when `until_stdin_closes`, as soon as standard input
/// reaches its end.
pub(crate) fn bound(what: &'static str, limit: Duration, until_stdin_closes: bool) {
    let spawned = std::thread::Builder::new()
        .name("lifetime".into())
        .spawn(move || {
            std::thread::sleep(limit);
            eprintln!(
                "{what}: stopping after {} s (--max-seconds)",
                limit.as_secs()
            );
            std::process::exit(0);
        });
    if spawned.is_err() {
        // Without the timer the process could outlive its purpose: refuse to run.
        eprintln!("{what}: cannot start the lifetime timer");
        std::process::exit(2);
    }
    if until_stdin_closes {
        let _ = std::thread::Builder::new()
            .name("stdin-watch".into())
            .spawn(|| {
                let mut sink = [0u8; 256];
                let mut stdin = std::io::stdin();
                while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
                std::process::exit(0);
            });
    }
}
