//! The builder as people download it (`cargo xtask dist`, target/dist/): used where nothing of
//! the development machine is at hand. Each run is root in private mount and network namespaces
//! (no network: `unshare --net`), with `env -i`: PATH only the system's directories (no cargo,
//! rustc, zig or the checkout, which the test checks), an empty HOME, and a scratch directory
//! holding only the unpacked archive, a copy of the dist files and the Go tarballs.

use std::{
    fs,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::Command,
};

use crate::support::*;

/// The system's directories only: what a build host without any development tools has.
const CLEAN_PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

/// The dist directory `cargo xtask dist` made.
fn dist_dir() -> PathBuf {
    let d = workspace().join("target/dist");
    assert!(d.join("SHA256SUMS").exists(), "missing {}: run `cargo xtask dist` (or `cargo xtask test`)", d.display());
    d
}

/// The one dist file whose name starts with `prefix` and ends with `suffix`.
fn dist_file(prefix: &str, suffix: &str) -> PathBuf {
    let found: Vec<PathBuf> = fs::read_dir(dist_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(prefix) && n.ends_with(suffix))
        })
        .collect();
    assert_eq!(found.len(), 1, "expected one {prefix}*{suffix} in target/dist: {found:?}");
    found.into_iter().next().unwrap()
}

/// `program args` run as root with no network, in the context's namespaces ([`TestContext::root_setup`]),
/// in the clean environment, from `dir`.
fn clean(ctx: &TestContext, dir: &Path, program: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--net", "--propagation", "private", "sh", "-c", &ctx.root_setup(None), "sh"])
        .args(["/usr/bin/env", "-i"])
        .arg(format!("PATH={CLEAN_PATH}"))
        .arg(format!("HOME={}", ctx.home().display()))
        .arg(program)
        .args(args)
        .current_dir(dir);
    cmd
}

/// A scratch directory with the dist files copied in and the archive for `arch` (`x86_64`,
/// `aarch64`) unpacked, with nothing else: returns (scratch, the unpacked builder).
fn unpack(ctx: &TestContext, arch: &str) -> (PathBuf, PathBuf) {
    let scratch = ctx.path(&format!("scratch-{arch}"));
    fs::create_dir_all(scratch.join("dist")).unwrap();
    for e in fs::read_dir(dist_dir()).unwrap() {
        let p = e.unwrap().path();
        fs::copy(&p, scratch.join("dist").join(p.file_name().unwrap())).unwrap();
    }
    let archive = dist_file("go-offline-builder-", &format!("-{arch}-linux.tar.gz"));
    let name = archive.file_name().unwrap().to_str().unwrap().trim_end_matches(".tar.gz").to_string();
    let archive = scratch.join("dist").join(archive.file_name().unwrap());
    ok(&mut clean(ctx, &scratch, Path::new("/bin/tar"), &["-xzf", archive.to_str().unwrap()]));
    let builder = scratch.join(&name).join("go-offline-builder");
    assert!(builder.is_file(), "{} is not in the archive", builder.display());
    (scratch, builder)
}

/// The real Go for every target: the tarballs and the Windows zip copied into `scratch/go/`, the
/// cross-built GOROOT directories (riscv64, arm) read where the fixtures keep them.
fn go_inputs(scratch: &Path) -> Vec<(&'static str, PathBuf)> {
    fs::create_dir_all(scratch.join("go")).unwrap();
    let goarchs = ["amd64", "arm64", "386", "ppc64le", "s390x", "riscv64", "arm"];
    let mut inputs: Vec<(&'static str, PathBuf)> =
        goarchs.into_iter().map(|goarch| (triple_of(goarch), go_release(goarch))).collect();
    inputs.push((WIN64, go_zip()));
    assert_eq!(inputs.len(), format::platform::TARGETS.len(), "a target without a Go here");
    inputs
        .into_iter()
        .map(|(triple, from)| {
            if from.is_dir() {
                return (triple, from);
            }
            let to = scratch.join("go").join(from.file_name().unwrap());
            fs::copy(&from, &to).unwrap();
            (triple, to)
        })
        .collect()
}

/// `build` of an installer for every target with `builder` (run through `runner`, e.g. qemu,
/// when given) into `out_dir`; returns the installers by triple and the JSON summaries.
fn build_all(
    ctx: &TestContext,
    scratch: &Path,
    runner: Option<&Path>,
    builder: &Path,
    key: &Path,
    out_dir: &Path,
) -> Vec<(&'static str, PathBuf, serde_json::Value)> {
    fs::create_dir_all(out_dir).unwrap();
    go_inputs(scratch)
        .into_iter()
        .map(|(triple, go)| {
            let out = out_dir.join(format!("go-installer-{triple}"));
            let mut args: Vec<&str> = Vec::new();
            if runner.is_some() {
                args.push(builder.to_str().unwrap());
            }
            args.extend(["build", "--go", go.to_str().unwrap(), "--target", triple, "--key", key.to_str().unwrap()]);
            args.extend(["--level", TEST_LEVEL, "--json", "--output", out.to_str().unwrap()]);
            let program = runner.unwrap_or(builder);
            let summary: serde_json::Value =
                serde_json::from_slice(&ok(&mut clean(ctx, scratch, program, &args)).stdout).unwrap();
            (triple, out, summary)
        })
        .collect()
}

/// The release builder alone, offline, with no development tools: lists its embedded stubs,
/// makes a key, builds and verifies an installer for every target, checks the dist's signed
/// sums; the amd64 installer installs Go, which builds and runs hello world offline; the .deb
/// installs into a throwaway root and its builder makes the same bytes.
#[test]
fn the_dist_builder_needs_nothing_beside_it() {
    let ctx = TestContext::new();
    let (scratch, builder) = unpack(&ctx, "x86_64");

    // Nothing of the development machine is reachable.
    let probe = "for t in cargo rustc rustup zig cargo-zigbuild; do if command -v $t; then exit 1; fi; done";
    ok(&mut clean(&ctx, &scratch, Path::new("/bin/sh"), &["-c", probe]));
    let home: Vec<_> = fs::read_dir(ctx.home()).unwrap().collect();
    assert!(home.is_empty(), "HOME is not empty: {home:?}");

    // `targets`: every target's stub is embedded, intact, and the one `cargo xtask stubs` built.
    let listed: serde_json::Value =
        serde_json::from_slice(&ok(&mut clean(&ctx, &scratch, &builder, &["targets", "--json"])).stdout).unwrap();
    let rows = listed["targets"].as_array().unwrap();
    assert_eq!(rows.len(), format::platform::TARGETS.len(), "{listed}");
    for row in rows {
        let triple = row["triple"].as_str().unwrap();
        let stub_row = &row["stub"];
        assert_eq!(stub_row["origin"]["kind"], "embedded", "{row}");
        assert_eq!(stub_row["intact"], true, "{row}");
        assert_eq!(stub_row["sha256"], sha256_file(&stub(triple)).as_str(), "{row}");
        assert_eq!(stub_row["len"], fs::metadata(stub(triple)).unwrap().len(), "{row}");
        assert!(stub_row["origin"]["commit"].as_str().is_some_and(|c| !c.is_empty()), "{row}");
        assert!(stub_row["compressed_len"].as_u64().unwrap() < stub_row["len"].as_u64().unwrap(), "{row}");
    }
    let text = stdout(&ok(&mut clean(&ctx, &scratch, &builder, &["targets"])));
    assert!(text.contains("linux/amd64") && text.contains("embedded in this builder"), "{text}");

    // keygen, build for every target, verify, inspect.
    ok(&mut clean(&ctx, &scratch, &builder, &["keygen", "--out", "keys/org"]));
    let (key, public) = (scratch.join("keys/org.key"), scratch.join("keys/org.pub"));
    let built = build_all(&ctx, &scratch, None, &builder, &key, &scratch.join("out"));
    for (triple, installer, summary) in &built {
        assert_eq!(summary["stub_origin"]["kind"], "embedded", "{summary}");
        assert_eq!(summary["stub_sha256"], sha256_file(&stub(triple)).as_str(), "{summary}");
        let installer = installer.to_str().unwrap();
        let said = stdout(&ok(&mut clean(
            &ctx,
            &scratch,
            &builder,
            &["verify", installer, "--trusted-key", public.to_str().unwrap()],
        )));
        assert!(said.contains("every digest matches") && said.contains(triple), "{said}");
        let inspected: serde_json::Value =
            serde_json::from_slice(&ok(&mut clean(&ctx, &scratch, &builder, &["inspect", installer, "--json"])).stdout)
                .unwrap();
        assert_eq!(inspected["stub_embedded_in_this_builder"]["triple"], *triple, "{inspected}");
    }

    // A static program cannot load a PKCS#11 module: the signer says so, with the ways that
    // work, and writes nothing. Signing later works in the static builder as anywhere.
    let refused = run(&mut clean(
        &ctx,
        &scratch,
        &builder,
        &[
            "build",
            "--go",
            "go.tar.gz",
            "--key",
            "pkcs11:object=org?module-path=/usr/lib/softhsm/libsofthsm2.so",
            "-o",
            "hsm",
        ],
    ));
    assert_eq!(code(&refused), 5, "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("statically linked") && stderr(&refused).contains("--unsigned"),
        "{}",
        stderr(&refused)
    );
    assert!(!scratch.join("hsm").exists());

    // The dist's own sums, checked by the builder they list.
    let sums = stdout(&ok(&mut clean(
        &ctx,
        &scratch,
        &builder,
        &["verify-sums", "dist", "--key", workspace().join("target/dist-keys/dist.pub").to_str().unwrap()],
    )));
    assert!(sums.starts_with("ok:"), "{sums}");

    // Install the amd64 one (with its offline hello-world check), then use the Go it installed.
    let amd64 = &built.iter().find(|b| b.0 == AMD64).unwrap().1;
    let prefix = ctx.prefix();
    ok(&mut clean(
        &ctx,
        &scratch,
        amd64,
        &["--yes", "--prefix", prefix.to_str().unwrap(), "--trusted-key", public.to_str().unwrap()],
    ));
    let go = ctx.goroot().join("bin/go");
    let version = stdout(&ok(&mut clean(&ctx, &scratch, &go, &["version"])));
    assert!(version.starts_with(&format!("go version {GO_VERSION} linux/amd64")), "{version}");
    hello_module(&scratch.join("hello"));
    let hello = stdout(&ok(&mut clean(
        &ctx,
        &scratch.join("hello"),
        Path::new("/bin/sh"),
        &["-c", &format!("{} build -o hello . && ./hello", sh_quote(&go))],
    )));
    assert_eq!(hello.trim(), "hello, offline");

    // The .deb, installed by dpkg into a throwaway root: the same builder, man pages and
    // completions where Debian puts them, and the same installers.
    let root = dpkg_install(&ctx, &scratch, "amd64");
    let installed = root.join("usr/bin/go-offline-builder");
    assert_eq!(sha256_file(&installed), sha256_file(&builder), "the .deb's builder differs from the archive's");
    for f in [
        "usr/share/man/man1/go-offline-builder.1.gz",
        "usr/share/man/man1/go-offline-builder-build.1.gz",
        "usr/share/man/man1/go-offline-installer.1.gz",
        "usr/share/bash-completion/completions/go-offline-builder",
        "usr/share/zsh/vendor-completions/_go-offline-builder",
        "usr/share/fish/vendor_completions.d/go-offline-builder.fish",
        "usr/share/doc/go-offline-builder/copyright",
    ] {
        assert!(root.join(f).is_file(), "the .deb installed no {f}");
    }
    let again = build_all(&ctx, &scratch, None, &installed, &key, &scratch.join("out-deb"));
    for ((triple, a, _), (_, b, _)) in built.iter().zip(&again) {
        assert_eq!(sha256_file(a), sha256_file(b), "{triple}: the .deb's builder made other bytes");
    }
}

/// The aarch64 builder, run under qemu, makes the same bytes as the x86_64 builder from the same
/// Go tarballs and key, for both targets; its .deb installs (for a foreign architecture) the
/// same program as its archive.
#[test]
fn the_aarch64_builder_makes_the_same_installers() {
    let ctx = TestContext::new();
    let (scratch, x86) = unpack(&ctx, "x86_64");
    let (_, arm) = unpack(&ctx, "aarch64");
    let qemu = Path::new("/usr/bin/qemu-aarch64-static");
    assert!(qemu.exists(), "missing {}: install qemu-user-static", qemu.display());
    let version = stdout(&ok(&mut clean(&ctx, &scratch, qemu, &[arm.to_str().unwrap(), "--version"])));
    assert!(version.starts_with("go-offline-builder "), "{version}");

    ok(&mut clean(&ctx, &scratch, &x86, &["keygen", "--out", "keys/org"]));
    let key = scratch.join("keys/org.key");
    let native = build_all(&ctx, &scratch, None, &x86, &key, &scratch.join("x86_64"));
    let emulated = build_all(&ctx, &scratch, Some(qemu), &arm, &key, &scratch.join("aarch64"));
    for ((triple, a, _), (_, b, summary)) in native.iter().zip(&emulated) {
        assert_eq!(summary["stub_origin"]["kind"], "embedded", "{summary}");
        assert_eq!(
            fs::read(a).unwrap(),
            fs::read(b).unwrap(),
            "{triple}: the aarch64 builder made other bytes than the x86_64 builder"
        );
    }

    let root = dpkg_install(&ctx, &scratch, "arm64");
    assert_eq!(sha256_file(&root.join("usr/bin/go-offline-builder")), sha256_file(&arm));
}

/// A builder whose embedded stub was damaged, in its compressed bytes or in its recorded
/// sha256, says so and refuses to build for that target, writing nothing; its other stub still
/// serves.
#[test]
fn a_damaged_embedded_stub_is_refused() {
    let ctx = TestContext::new();
    let (scratch, builder) = unpack(&ctx, "x86_64");
    ok(&mut clean(&ctx, &scratch, &builder, &["keygen", "--out", "keys/org"]));
    let inputs = go_inputs(&scratch);
    let go_for = |triple: &str| inputs.iter().find(|i| i.0 == triple).unwrap().1.to_str().unwrap().to_string();
    let original = fs::read(&builder).unwrap();
    let compressed = fs::read(workspace().join(format!("target/dist-work/stubs/{AMD64}.zst"))).unwrap();
    let recorded = sha256_file(&stub(AMD64));
    // (what is damaged, the bytes to find in the builder, the offset in them to flip, the problem said)
    let cases: &[(&str, &[u8], usize, &str)] = &[
        ("compressed bytes", &compressed, compressed.len() / 2, "do not decode"),
        ("recorded sha256", recorded.as_bytes(), 0, "not the recorded"),
    ];
    for (n, (what, needle, offset, problem)) in cases.iter().enumerate() {
        let at = find(&original, needle).unwrap_or_else(|| panic!("the {what} are not in the builder"));
        let mut bytes = original.clone();
        bytes[at + offset] ^= if *what == "recorded sha256" { 0x03 } else { 0x01 };
        let damaged = scratch.join("damaged-builder");
        fs::write(&damaged, &bytes).unwrap();
        fs::set_permissions(&damaged, fs::Permissions::from_mode(0o755)).unwrap();

        let listed = run(&mut clean(&ctx, &scratch, &damaged, &["targets"]));
        assert_eq!(code(&listed), format::exit::INTEGRITY, "{what}: {}", stderr(&listed));
        assert!(stdout(&listed).contains("DAMAGED"), "{what}: {}", stdout(&listed));
        assert!(stderr(&listed).contains(AMD64) && stderr(&listed).contains("damaged"), "{what}: {}", stderr(&listed));

        let out = scratch.join("refused");
        let refused = run(&mut clean(
            &ctx,
            &scratch,
            &damaged,
            &[
                "build",
                "--go",
                &go_for(AMD64),
                "--key",
                "keys/org.key",
                "--level",
                TEST_LEVEL,
                "--output",
                out.to_str().unwrap(),
            ],
        ));
        assert_eq!(code(&refused), format::exit::INTEGRITY, "{what}: {}", stderr(&refused));
        let said = stderr(&refused);
        assert!(said.contains(&format!("the stub for {AMD64} embedded in this builder is damaged")), "{what}: {said}");
        assert!(said.contains(problem) && said.contains("download it again"), "{what}: {said}");
        assert!(!out.exists(), "{what}: a refused build wrote {}", out.display());

        ok(&mut clean(
            &ctx,
            &scratch,
            &damaged,
            &[
                "build",
                "--go",
                &go_for(ARM64),
                "--key",
                "keys/org.key",
                "--level",
                TEST_LEVEL,
                "--output",
                // A new file per case: the builder never writes over an existing one without --force.
                &format!("arm64-installer-{n}"),
            ],
        ));
    }
}

/// Installs the dist's `.deb` for Debian architecture `arch` with dpkg into a new, empty root
/// (`--force-architecture` for a foreign one), checks dpkg records it installed, and returns the
/// root.
fn dpkg_install(ctx: &TestContext, scratch: &Path, arch: &str) -> PathBuf {
    let root = ctx.path(&format!("debroot-{arch}"));
    for d in ["var/lib/dpkg/info", "var/lib/dpkg/updates"] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    fs::write(root.join("var/lib/dpkg/status"), "").unwrap();
    let deb = scratch.join("dist").join(dist_file("go-offline-builder_", &format!("_{arch}.deb")).file_name().unwrap());
    let root_arg = format!("--root={}", root.display());
    let mut args = vec![root_arg.as_str(), "-i", deb.to_str().unwrap()];
    let native = if cfg!(target_arch = "aarch64") { "arm64" } else { "amd64" };
    if arch != native {
        args.insert(1, "--force-architecture");
    }
    let dpkg = Path::new("/usr/bin/dpkg");
    ok(&mut clean(ctx, scratch, dpkg, &args));
    let status = stdout(&ok(&mut clean(ctx, scratch, dpkg, &[&root_arg, "-s", "go-offline-builder"])));
    assert!(status.contains("Status: install ok installed"), "{status}");
    root
}

/// Where `needle` first occurs in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The Windows stub's import libraries are made by `cargo xtask`'s wrapper of MinGW's dlltool
/// (`target/tools/dlltool/`, written when the Windows stub is built): from a directory whose
/// path has a space, where the real dlltool fails (it runs the assembler through a command line
/// cut at spaces), the wrapper makes the library, and its symbols name no directory (the real
/// dlltool names them after the output path, which made the Windows stub differ between two
/// checkouts).
#[test]
fn windows_import_libraries_are_made_from_any_path() {
    let wrapper = workspace().join("target/tools/dlltool/x86_64-w64-mingw32-dlltool");
    assert!(
        wrapper.is_file(),
        "missing {}: `cargo xtask stubs --target x86_64-pc-windows-gnu` writes it",
        wrapper.display()
    );
    let ctx = TestContext::new();
    let dir = ctx.path("a checkout/target/x86_64-pc-windows-gnu");
    fs::create_dir_all(&dir).unwrap();
    let def = dir.join("kernel32.def");
    fs::write(&def, "LIBRARY kernel32.dll\nEXPORTS\n  GetLastError\n  CloseHandle\n").unwrap();
    // As rustc calls it: absolute paths, the temporary files' prefix in the output's directory.
    let dlltool = |program: &Path, dir: &Path| {
        let mut cmd = Command::new(program);
        cmd.arg("-d").arg(&def).args(["-D", "kernel32.dll", "-l"]).arg(dir.join("libkernel32.a"));
        cmd.args(["-m", "i386:x86-64", "-f", "--64", "--no-leading-underscore", "--temp-prefix"]);
        run(cmd.arg(dir.join("kernel32.dll")).current_dir(dir))
    };
    // The reason for the wrapper: the real one fails here.
    let elsewhere = ctx.path("a checkout/real");
    fs::create_dir_all(&elsewhere).unwrap();
    let real = dlltool(Path::new("/usr/bin/x86_64-w64-mingw32-dlltool"), &elsewhere);
    assert!(!real.status.success(), "MinGW's dlltool now copes with a space: the wrapper may go");

    let lib = dir.join("libkernel32.a");
    let out = dlltool(&wrapper, &dir);
    assert!(out.status.success(), "{}", stderr(&out));
    let symbols = stdout(&ok(Command::new("x86_64-w64-mingw32-nm").arg(&lib)));
    assert!(symbols.contains("_head_libkernel32_a"), "{symbols}");
    assert!(!symbols.contains("checkout") && !symbols.contains("go_offline"), "a path in the symbols: {symbols}");
    // Only the library is left behind: the wrapper's scratch files are gone.
    let mut left: Vec<String> =
        fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    left.sort();
    assert_eq!(left, ["kernel32.def", "libkernel32.a"]);
}
