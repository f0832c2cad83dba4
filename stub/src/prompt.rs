//! Talking to the person at the terminal: the confirmation prompt and the progress line.

use std::{
    io::{self, BufRead, IsTerminal, Write},
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex,
    },
    time::Instant,
};

use installer::Error;

/// Asks "Proceed? [y/N]" on the terminal; refuses (exit 18) without one.
pub fn confirm(what: &str) -> Result<(), Error> {
    if !io::stdin().is_terminal() {
        return Err(Error::Declined(
            "confirmation needed but standard input is not a terminal: re-run with --yes to go on unattended".into(),
        ));
    }
    eprint!("{what}\nProceed? [y/N] ");
    let _ = io::stderr().flush();
    let mut answer = String::new();
    io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| Error::Declined(format!("could not read the answer: {e}")))?;
    match answer.trim() {
        "y" | "Y" | "yes" | "Yes" | "YES" => Ok(()),
        _ => Err(Error::Declined("not installed: you declined".into())),
    }
}

/// "Press Enter to close this window." and waits for the line (or the end of input).
pub fn wait_for_enter() {
    eprint!("\nPress Enter to close this window.");
    let _ = io::stderr().flush();
    let mut line = String::new();
    let _ = io::stdin().lock().read_line(&mut line);
}

/// A one-line progress bar on stderr (a terminal), redrawn at most ten times a second; fed from
/// the extraction threads.
pub struct Progress {
    total: u64,
    done: AtomicU64,
    started: Instant,
    last: Mutex<Option<Instant>>,
}

impl Progress {
    /// A bar when stderr is a terminal and output is wanted, else `None`.
    pub fn on_terminal(total: u64, quiet: bool) -> Option<Progress> {
        (!quiet && io::stderr().is_terminal()).then(|| Progress {
            total: total.max(1),
            done: AtomicU64::new(0),
            started: Instant::now(),
            last: Mutex::new(None),
        })
    }

    pub fn inc(&self, n: u64) {
        let done = self.done.fetch_add(n, Ordering::Relaxed) + n;
        let Ok(mut last) = self.last.try_lock() else { return };
        let now = Instant::now();
        if last.is_some_and(|t| now.duration_since(t).as_millis() < 100) {
            return;
        }
        *last = Some(now);
        let frac = (done as f64 / self.total as f64).min(1.0);
        let filled = (frac * 40.0) as usize;
        let mib = |b: u64| b as f64 / 1048576.0;
        let rate = mib(done) / self.started.elapsed().as_secs_f64().max(1e-3);
        eprint!(
            "\r[{}>{}] {:.0}/{:.0} MiB {rate:.0} MiB/s",
            "=".repeat(filled),
            " ".repeat(40 - filled.min(40)),
            mib(done),
            mib(self.total)
        );
    }

    pub fn clear(&self) {
        eprint!("\r{}\r", " ".repeat(80));
    }
}
