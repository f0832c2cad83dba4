//! The checks a Go tree passes before it becomes the active one: its `go version` and `go env
//! GOROOT`, and (for an install) building and running hello world with it, offline.
//!
//! Under a check runner ([`CHECK_RUNNER_ENV`]) every program runs under it, the compiler and
//! linker too (`-toolexec`): that is how an installer for another architecture is tested under
//! an emulator. It relaxes no check.

use std::{fs, path::Path, process::Command};

use format::manifest::Manifest;

use crate::{error::Error, os, receipt::Receipt};

/// Environment variable naming a program (and arguments, space-separated) that runs the installed
/// `go` for the post-install check, as cargo's `runner`. It exists to test an installer for another
/// architecture under an emulator (`qemu-aarch64-static`); it does not relax any check.
pub const CHECK_RUNNER_ENV: &str = "GO_OFFLINE_INSTALLER_CHECK_RUNNER";

/// What `go version` must say.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    pub go_version: &'a str,
    pub goos: &'a str,
    pub goarch: &'a str,
}

impl<'a> From<&'a Manifest> for Expected<'a> {
    fn from(m: &'a Manifest) -> Self {
        Expected { go_version: &m.go_version, goos: &m.goos, goarch: &m.goarch }
    }
}

impl<'a> From<&'a Receipt> for Expected<'a> {
    fn from(r: &'a Receipt) -> Self {
        Expected { go_version: &r.go_version, goos: &r.goos, goarch: &r.goarch }
    }
}

/// Runs `cmd` and returns its trimmed stdout, or a check failure naming `what`.
fn run_check(mut cmd: Command, what: &str) -> Result<String, Error> {
    let out = cmd.output().map_err(|e| Error::CheckFailed(format!("could not run {what}: {e}")))?;
    if !out.status.success() {
        return Err(Error::CheckFailed(format!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Runs the tree's `go version` and `go env GOROOT` and compares them with what is expected;
/// returns what `go version` printed.
pub fn check_installed(m: &Expected<'_>, goroot: &Path, runner: &[String]) -> Result<String, Error> {
    let go = goroot.join("bin").join(if m.goos == "windows" { "go.exe" } else { "go" });
    let run = |args: &[&str]| {
        let mut cmd = os::go_command(goroot, runner);
        cmd.args(args);
        run_check(cmd, &format!("'{} {}'", go.display(), args.join(" ")))
    };
    let version = run(&["version"])?;
    let expected = format!("go version {} {}/{}", m.go_version, m.goos, m.goarch);
    if !version.starts_with(&expected) {
        return Err(Error::CheckFailed(format!("'go version' printed '{version}', expected '{expected}'")));
    }
    let reported = run(&["env", "GOROOT"])?;
    let canonical = |p: &Path| fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    if canonical(Path::new(&reported)) != canonical(goroot) {
        return Err(Error::CheckFailed(format!(
            "'go env GOROOT' printed '{reported}', expected '{}'",
            goroot.display()
        )));
    }
    Ok(version)
}

/// The program the build check compiles.
const HELLO: &str = "package main\n\nimport \"os\"\n\nfunc main() { os.Stdout.WriteString(\"hello, world\\n\") }\n";

/// Builds and runs hello world with the tree's Go, offline, everything (sources, build cache,
/// temp files, module cache) inside `scratch`, which is removed afterwards; returns what it
/// printed.
pub fn build_check(goroot: &Path, scratch: &Path, runner: &[String]) -> Result<String, Error> {
    os::create_dir(scratch, 0o700).map_err(|e| Error::io("create the check's scratch directory", scratch, e))?;
    let result = build_and_run(goroot, scratch, runner);
    let _ = fs::remove_dir_all(scratch); // best effort: recovery removes it if this fails
    result
}

fn build_and_run(goroot: &Path, scratch: &Path, runner: &[String]) -> Result<String, Error> {
    let src = scratch.join("hello.go");
    fs::write(&src, HELLO).map_err(|e| Error::io("write", &src, e))?;
    let exe = scratch.join("hello");
    let mut cmd = os::go_command(goroot, runner);
    cmd.current_dir(scratch)
        .env("GOCACHE", scratch.join("cache"))
        .env("GOTMPDIR", scratch)
        .env("GOPATH", scratch.join("gopath"))
        .env("GOMODCACHE", scratch.join("gopath/pkg/mod"))
        .env("CGO_ENABLED", "0")
        .arg("build");
    if !runner.is_empty() {
        cmd.arg(format!("-toolexec={}", runner.join(" ")));
    }
    cmd.arg("-o").arg(&exe).arg(&src);
    run_check(cmd, "building hello world with the new Go")?;
    let mut run = os::under_runner(&exe, runner);
    run.current_dir(scratch).env_clear();
    let printed = run_check(run, "running hello world built with the new Go")?;
    if printed != "hello, world" {
        return Err(Error::CheckFailed(format!("hello world printed '{printed}', expected 'hello, world'")));
    }
    Ok(printed)
}
