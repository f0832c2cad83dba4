//! Talking to the person at the terminal: the confirmation prompt and the phases of an install.

use std::{
    io::{self, BufRead, IsTerminal, Write},
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex,
    },
    time::Instant,
};

use installer::{
    decimal::fixed,
    progress::{Event, Phase},
    Error,
};

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

/// An install's phases drawn on stderr, when it is a terminal (as cargo and rustup draw theirs):
/// the running phase on one line, redrawn in place (a bar with MiB done and total, rate and ETA
/// for a phase that counts bytes; a spinner and the seconds elapsed for one that does not), and
/// each phase, once over, on a line of its own (`  verified   216 MiB in 1.2 s`). Only `\r` and
/// spaces redraw the line: no escape sequences, which a Windows console may not understand.
pub struct Phases {
    done: AtomicU64,
    state: Mutex<State>,
}

struct State {
    /// The running phase and when it began.
    current: Option<(Phase, Instant)>,
    /// When the line was last drawn, and how long it was.
    drawn: Option<Instant>,
    width: usize,
    spin: usize,
}

impl Phases {
    /// A display when stderr is a terminal and output is wanted (not `--quiet`, not `--json`),
    /// else `None`: nothing of it goes to a pipe or a file.
    pub fn on_terminal(quiet: bool) -> Option<Phases> {
        (!quiet && io::stderr().is_terminal()).then(|| Phases {
            done: AtomicU64::new(0),
            state: Mutex::new(State { current: None, drawn: None, width: 0, spin: 0 }),
        })
    }

    /// Shows `event` (from any thread).
    pub fn event(&self, event: Event) {
        match event {
            Event::Phase(phase) => {
                let mut state = self.lock();
                self.end_phase(&mut state);
                self.done.store(0, Ordering::Relaxed);
                state.current = Some((phase, Instant::now()));
                self.draw(&mut state);
            }
            Event::Bytes(n) => {
                self.done.fetch_add(n, Ordering::Relaxed);
                // The extraction threads must not wait for the terminal: a busy lock skips a frame.
                let Ok(mut state) = self.state.try_lock() else { return };
                if state.drawn.is_none_or(|t| t.elapsed().as_millis() >= 100) {
                    self.draw(&mut state);
                }
            }
        }
    }

    /// Redraws the running phase (its spinner and time), as a ticking thread does.
    pub fn tick(&self) {
        let mut state = self.lock();
        if state.current.is_some() {
            state.spin += 1;
            self.draw(&mut state);
        }
    }

    /// Ends the running phase on its finished line (when the install returned).
    pub fn finish(&self) {
        let mut state = self.lock();
        self.end_phase(&mut state);
    }

    /// Erases the running phase's line (when the install stopped with an error, said next).
    pub fn clear(&self) {
        let mut state = self.lock();
        if state.current.take().is_some() {
            eprint!("\r{}\r", " ".repeat(state.width));
            state.width = 0;
        }
    }

    /// Runs `f` with a thread that ticks the display ten times a second (a phase with no byte
    /// count still moves), then ends the running phase: finished when `f` succeeded, erased
    /// when it failed.
    pub fn run<T, E>(phases: Option<&Phases>, f: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
        let Some(p) = phases else { return f() };
        let stop = std::sync::atomic::AtomicBool::new(false);
        let result = std::thread::scope(|s| {
            s.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(std::time::Duration::from_millis(100));
                    p.tick();
                }
            });
            let result = f();
            stop.store(true, Ordering::Relaxed);
            result
        });
        match &result {
            Ok(_) => p.finish(),
            Err(_) => p.clear(),
        }
        result
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn end_phase(&self, state: &mut State) {
        if let Some((phase, began)) = state.current.take() {
            let line = finished_line(phase, self.done.load(Ordering::Relaxed), began.elapsed().as_secs_f64());
            eprintln!("\r{line:<width$}", width = state.width);
            state.width = 0;
            state.drawn = None;
        }
    }

    fn draw(&self, state: &mut State) {
        let Some((phase, began)) = state.current else { return };
        let line = running_line(phase, self.done.load(Ordering::Relaxed), began.elapsed().as_secs_f64(), state.spin);
        eprint!("\r{line:<width$}", width = state.width);
        let _ = io::stderr().flush();
        state.width = line.chars().count();
        state.drawn = Some(Instant::now());
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1048576.0
}

/// `3.4 s`, or `2 min 5 s` for longer.
fn duration(secs: f64) -> String {
    match secs {
        s if s < 60.0 => format!("{} s", fixed(s, 1)),
        s => format!("{} min {} s", (s / 60.0) as u64, (s % 60.0) as u64),
    }
}

/// What a check does, for its lines.
fn checks(build: bool) -> &'static str {
    match build {
        true => "go version, hello world build",
        false => "go version",
    }
}

/// The line of a running phase: `  extracting [=====>    ] 120/216 MiB  95 MiB/s  ETA 1 s`, or
/// `  checking   | go version, hello world build  3 s`.
fn running_line(phase: Phase, done: u64, secs: f64, spin: usize) -> String {
    let verb = match phase {
        Phase::Verify { .. } => "verifying",
        Phase::Extract { .. } => "extracting",
        Phase::Check { .. } => "checking",
        Phase::Switch => "switching",
    };
    match phase.bytes() {
        Some(total) => {
            let total = total.max(done).max(1);
            let frac = done as f64 / total as f64;
            let filled = ((frac * 30.0) as usize).min(30);
            let rate = mib(done) / secs.max(1e-3);
            let eta = match rate > 0.0 {
                true => format!("ETA {} s", fixed(mib(total - done) / rate, 0)),
                false => "ETA -".into(),
            };
            format!(
                "  {verb:<10} [{}>{}] {}/{} MiB  {} MiB/s  {eta}",
                "=".repeat(filled),
                " ".repeat(30 - filled),
                fixed(mib(done), 0),
                fixed(mib(total), 0),
                fixed(rate, 0)
            )
        }
        None => {
            let what = match phase {
                Phase::Check { build } => checks(build),
                _ => "the link, the environment, the receipts",
            };
            let spinner = ['|', '/', '-', '\\'][spin % 4];
            format!("  {verb:<10} {spinner} {what}  {} s", fixed(secs.floor(), 0))
        }
    }
}

/// The line a phase ends on: `  verified   216 MiB in 1.2 s`.
fn finished_line(phase: Phase, done: u64, secs: f64) -> String {
    let time = duration(secs);
    match phase {
        Phase::Verify { .. } => format!("  verified   {} MiB in {time}", fixed(mib(done), 0)),
        Phase::Extract { .. } => format!("  extracted  {} MiB in {time}", fixed(mib(done), 0)),
        Phase::Check { build } => format!("  checked    {} in {time}", checks(build)),
        Phase::Switch => format!("  switched   in {time}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_name_the_phase_and_its_numbers() {
        let extract = Phase::Extract { bytes: 216 << 20 };
        let line = running_line(extract, 108 << 20, 2.0, 0);
        assert!(line.starts_with("  extracting [===============>"), "{line}");
        assert!(line.contains("108/216 MiB  54 MiB/s  ETA 2 s"), "{line}");
        assert_eq!(finished_line(Phase::Verify { bytes: 1 }, 216 << 20, 1.23), "  verified   216 MiB in 1.2 s");
        let check = running_line(Phase::Check { build: true }, 0, 3.7, 1);
        assert_eq!(check, "  checking   / go version, hello world build  3 s");
        assert_eq!(finished_line(Phase::Check { build: false }, 0, 0.25), "  checked    go version in 0.2 s");
        assert_eq!(finished_line(Phase::Switch, 0, 125.0), "  switched   in 2 min 5 s");
        // More bytes than announced (a delta's estimate) never overflows the bar.
        assert!(running_line(extract, 300 << 20, 1.0, 0).contains("300/300 MiB"));
    }
}
