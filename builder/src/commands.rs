//! One function per subcommand: turn the parsed flags into the library's options, call it, and
//! print what it made. Failures come back as a [`Failure`]: the message and the exit code of
//! [`builder::exit::TABLE`] that `main` ends with.

use std::{
    fs::{self, File},
    path::{Path, PathBuf},
};

use builder::{
    cli::{self, Command, Signing},
    delta::DeltaOptions,
    exit, release,
    signer::{self, Signer, SignerSpec},
    BuildError, BuildOptions, Compression, Seal,
};
use ed25519_dalek::VerifyingKey;
use format::{
    keys::{self, TrustStore, HOST_TRUST_DIR},
    manifest::Manifest,
    stub_identity::{stub_identity, StubIdentity, StubIdentityError, PROGRAM},
};
use serde_json::json;

/// Why a command failed: the message to print and the exit code to end with.
#[derive(Debug)]
pub struct Failure {
    pub code: i32,
    pub message: String,
}

impl Failure {
    fn new(code: i32, message: impl Into<String>) -> Failure {
        Failure { code, message: message.into() }
    }
}

impl From<BuildError> for Failure {
    fn from(e: BuildError) -> Failure {
        Failure::new(e.exit_code(), e.to_string())
    }
}

impl From<format::Error> for Failure {
    fn from(e: format::Error) -> Failure {
        Failure::new(e.exit_code(), e.to_string())
    }
}

/// Runs one parsed command.
pub fn run(command: Command) -> Result<(), Failure> {
    match command {
        Command::Keygen { out, key, public, force } => keygen(out.as_deref(), key.as_deref(), public.as_deref(), force),
        Command::Attach { installer, signature, expect_key, json } => attach(&installer, &signature, &expect_key, json),
        Command::Build(args) => build(args),
        Command::Modules(args) => modules(args),
        Command::Fetch(args) => fetch(args),
        Command::Release { config, json } => release(&config, json),
        Command::VerifySums { dir, key } => verify_sums(&dir, &key),
        Command::Targets { json } => targets(json),
        Command::Inspect { file, json } => inspect(&file, json),
        Command::Verify { file, trusted_key } => verify(&file, &trusted_key),
    }
}

/// `SOURCE_DATE_EPOCH`, when set: the build time recorded, for reproducible output.
fn source_date_epoch() -> Result<Option<u64>, Failure> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) => v
            .trim()
            .parse::<u64>()
            .map(Some)
            .map_err(|_| Failure::new(exit::USAGE, format!("SOURCE_DATE_EPOCH='{v}' is not a number of seconds"))),
        Err(_) => Ok(None),
    }
}

/// Prints `value` as one line of JSON. Our summaries are plain data: serializing cannot fail.
fn print_json(value: &impl serde::Serialize) {
    println!("{}", serde_json::to_string(value).unwrap_or_default());
}

fn keygen(out: Option<&Path>, key: Option<&str>, public: Option<&Path>, force: bool) -> Result<(), Failure> {
    let Some(spec) = key else {
        let out = out.ok_or_else(|| Failure::new(exit::USAGE, "keygen needs --out DIR/NAME or --key SIGNER"))?;
        let id = builder::keygen(out, force)?;
        println!("key id {id}");
        eprintln!(
            "wrote {} (keep it secret) and {}",
            out.with_extension("key").display(),
            out.with_extension("pub").display()
        );
        return Ok(());
    };
    let spec = SignerSpec::parse(spec).map_err(BuildError::from)?;
    if let Some(path) = public {
        builder::check_output(path, &[], force).map_err(|e| match e {
            BuildError::OutputExists(p) => BuildError::KeyExists(p),
            e => e,
        })?;
    }
    let key = signer::keygen(&spec).map_err(BuildError::from)?;
    let pem = keys::public_key_pem(&key);
    if let Some(path) = public {
        builder::write_public_key(path, &pem, force)?;
    }
    println!("key id {}", keys::key_id(&key));
    print!("{pem}");
    eprintln!(
        "created the key in {spec}; it never leaves it{}",
        public.map(|p| format!("; wrote its public key to {}", p.display())).unwrap_or_default()
    );
    Ok(())
}

/// What signs an installer: a signer opened now, or the key that will sign it later.
enum Sealer {
    Now(Box<Signer>),
    Later(VerifyingKey),
}

/// The files `signing` names that the command reads: no output may replace them.
fn signing_inputs(signing: &Signing) -> Vec<PathBuf> {
    let key_file = signing
        .key
        .as_deref()
        .and_then(|k| SignerSpec::parse(k).ok())
        .and_then(|s| s.key_file().map(Path::to_path_buf));
    key_file.into_iter().chain(signing.expect_key.clone()).collect()
}

impl Sealer {
    fn open(signing: &Signing) -> Result<Sealer, Failure> {
        let expect = signing.expect_key.as_deref().map(keys::read_public_key).transpose().map_err(BuildError::from)?;
        match (&signing.key, expect) {
            (_, Some(key)) if signing.unsigned => Ok(Sealer::Later(key)),
            (Some(spec), expect) => {
                let spec = SignerSpec::parse(spec).map_err(BuildError::from)?;
                Ok(Sealer::Now(Box::new(signer::open(&spec, expect.as_ref()).map_err(BuildError::from)?)))
            }
            _ => Err(Failure::new(exit::USAGE, "pass --key SIGNER, or --unsigned with --expect-key PUB")),
        }
    }

    fn seal(&self) -> Seal<'_> {
        match self {
            Sealer::Now(signer) => Seal::Now(signer),
            Sealer::Later(key) => Seal::Later(key),
        }
    }
}

/// How a build was signed: "signed by ID", or "to be signed by ID" and what to do.
fn signed_by(s: &builder::BuildSummary) -> String {
    match &s.to_sign {
        None => format!("signed by {}", s.signer_key_id),
        Some(path) => format!(
            "to be signed by {}\nNOT SIGNED YET: sign the bytes of {} with that key (pure Ed25519), then: go-offline-builder attach {} --signature SIG --expect-key PUB",
            s.signer_key_id,
            path.display(),
            s.output.display()
        ),
    }
}

fn attach(installer: &Path, signature: &Path, expect_key: &Path, json: bool) -> Result<(), Failure> {
    let s = builder::attach(installer, signature, expect_key)?;
    if json {
        print_json(&s);
    } else {
        println!(
            "attached the signature of key {} to {}: it verifies (sha256 {})",
            s.signer_key_id,
            s.installer.display(),
            s.installer_sha256
        );
    }
    Ok(())
}

fn build(args: cli::Build) -> Result<(), Failure> {
    let cli::Build {
        go,
        base,
        full,
        force_delta,
        target,
        signing,
        output,
        force,
        go_env,
        level,
        threads,
        frames,
        json,
    } = args;
    let sealer = Sealer::open(&signing)?;
    let keep: Vec<PathBuf> = signing_inputs(&signing).into_iter().chain(full.clone()).collect();
    let mut opts = BuildOptions {
        go,
        target,
        stub: signing.stub,
        output: output.clone().unwrap_or_else(|| PathBuf::from("go-offline-installer")),
        go_env,
        level,
        threads,
        frames,
        source_date_epoch: source_date_epoch()?,
        provenance: None,
        force,
        keep,
    };
    if let Some(base) = base {
        // No -o: the delta's release name, here.
        opts.output = output.unwrap_or_default();
        let full_len = match &full {
            Some(f) => Some(fs::metadata(f).map_err(|e| BuildError::io("read", f, e))?.len()),
            None => None,
        };
        let d =
            builder::delta::build_delta(&opts, &DeltaOptions { base, full_len, force: force_delta }, sealer.seal())?;
        if json {
            print_json(&d);
        } else {
            print_built(&d.build);
            println!(
                "delta {}; {} bytes carried for them; {:.1}% of the full installer ({} bytes{})",
                d.delta,
                d.carried_bytes,
                d.ratio * 100.0,
                d.full_len,
                if d.full_len_estimated { ", estimated" } else { "" }
            );
        }
        return Ok(());
    }
    let s = builder::build(&opts, sealer.seal())?;
    if json {
        print_json(&s);
    } else {
        print_built(&s);
    }
    Ok(())
}

fn print_built(s: &builder::BuildSummary) {
    println!(
        "built {} ({} {}/{}{}, {}): {} bytes (stub {}, payload {} from {} unpacked), {} entries, {}",
        s.output.display(),
        s.go_version,
        s.goos,
        s.goarch,
        s.goarm.as_deref().map(|l| format!(" GOARM={l}")).unwrap_or_default(),
        s.target,
        s.installer_len,
        s.stub_len,
        s.payload_len,
        s.uncompressed_len,
        s.file_count,
        signed_by(s)
    );
    println!("stub {} from {}", s.stub_sha256, s.stub_origin.describe());
}

fn targets(json: bool) -> Result<(), Failure> {
    let rows = builder::stubs::targets();
    if json {
        print_json(&json!({ "builder_version": env!("CARGO_PKG_VERSION"), "targets": rows }));
    } else {
        println!("{:<28} {:<12} {:>9}  {:<64}  from", "target", "go", "bytes", "stub sha256");
        for r in &rows {
            let go = format!("{}/{}", r.goos, r.goarch);
            match &r.stub {
                None => println!("{:<28} {go:<12} {:>9}  {:<64}  no stub: pass --stub FILE", r.triple, "-", "-"),
                Some(s) => {
                    let state = s.problem.as_deref().map(|p| format!(" DAMAGED: {p}")).unwrap_or_default();
                    println!("{:<28} {go:<12} {:>9}  {}  {}{state}", r.triple, s.len, s.sha256, s.origin.describe());
                }
            }
        }
    }
    let damaged: Vec<_> =
        rows.iter().filter(|r| r.stub.as_ref().is_some_and(|s| !s.intact)).map(|r| r.triple).collect();
    if !damaged.is_empty() {
        return Err(Failure::new(
            exit::INTEGRITY,
            format!(
                "the stubs embedded for {} are damaged: this builder cannot be trusted to make installers: download it again and check it against SHA256SUMS",
                damaged.join(", ")
            ),
        ));
    }
    Ok(())
}

fn modules(args: cli::Modules) -> Result<(), Failure> {
    let cli::Modules { project, cache, target, signing, output, force, level, json } = args;
    let sealer = Sealer::open(&signing)?;
    let keep = signing_inputs(&signing);
    let target = target.unwrap_or_else(|| {
        let arch = if cfg!(target_arch = "aarch64") { "aarch64" } else { "x86_64" };
        format!("{arch}-unknown-linux-musl")
    });
    let opts = builder::modules::ModulesOptions {
        projects: project,
        cache,
        target,
        stub: signing.stub,
        output,
        // One frame: bundles are small, and one window finds the most repeats.
        compression: Compression { level, threads: 0, frames: 1 },
        source_date_epoch: source_date_epoch()?,
        force,
        keep,
    };
    let s = builder::modules::build_modules(&opts, sealer.seal())?;
    if json {
        print_json(&s);
    } else {
        println!(
            "built {} (module bundle for {}/{}, {}): {} modules ({} with their zip) from {}, {} bytes, {}",
            s.installer.output.display(),
            s.installer.goos,
            s.installer.goarch,
            s.installer.target,
            s.modules,
            s.zips,
            s.cache.display(),
            s.installer.installer_len,
            signed_by(&s.installer)
        );
        println!("stub {} from {}", s.installer.stub_sha256, s.installer.stub_origin.describe());
    }
    Ok(())
}

fn fetch(args: cli::Fetch) -> Result<(), Failure> {
    let cli::Fetch { versions, arches, mirror, index, sha256, cache, json } = args;
    if sha256.is_some() && versions.len() * arches.len() != 1 {
        return Err(Failure::new(exit::USAGE, "--sha256 needs exactly one --version and one --arch"));
    }
    let cache = cache.unwrap_or_else(release::default_cache);
    let fetcher = fetch::Fetcher::new(mirror.as_deref(), index.as_deref(), &cache, !json);
    let mut all = Vec::new();
    for v in &versions {
        for a in &arches {
            let f = fetcher.fetch(v, a, sha256.as_deref()).map_err(BuildError::Fetch)?;
            if !json {
                println!(
                    "{} {}: {} (sha256 {}, as published by {})",
                    if f.cached { "cached" } else { "fetched" },
                    f.url,
                    f.path.display(),
                    f.sha256,
                    f.sha256_source
                );
            }
            all.push(f);
        }
    }
    if json {
        print_json(&all);
    }
    Ok(())
}

fn release(config: &Path, json: bool) -> Result<(), Failure> {
    let config = release::read_config(config)?;
    let s = release::release(&config, !json)?;
    if json {
        print_json(&s);
    } else {
        for o in &s.outputs {
            let delta = o.delta_from.as_ref().map(|b| format!(" (delta from {b})")).unwrap_or_default();
            println!("{:<9} {}  {}{delta}", o.status.name(), o.sha256, o.name);
        }
        for skip in &s.skipped {
            println!("skipped   {}: {}", skip.name, skip.reason);
        }
        println!("wrote {} and {} (signed by {})", s.sums.display(), s.signature.display(), s.signer_key_id);
    }
    Ok(())
}

fn verify_sums(dir: &Path, key: &Path) -> Result<(), Failure> {
    release::verify_sums(dir, key)?;
    println!("ok: {} is signed by the key, and every file it lists matches", dir.join(release::SUMS).display());
    Ok(())
}

/// Opens an installer file to read, failing as the installer does when it cannot read itself.
fn open_installer(file: &Path) -> Result<File, Failure> {
    File::open(file).map_err(|source| format::Error::ReadSelf { path: file.into(), source }.into())
}

fn verify(file: &Path, trusted_keys: &[PathBuf]) -> Result<(), Failure> {
    // No keys compiled in: the builder trusts only what it is told to.
    let trust = TrustStore::load(trusted_keys, Path::new(HOST_TRUST_DIR), &[]).map_err(format::Error::from)?;
    if trust.keys.is_empty() {
        return Err(Failure::new(
            exit::UNTRUSTED,
            format!("no trusted keys: pass --trusted-key PUB or provision {HOST_TRUST_DIR}"),
        ));
    }
    let f = open_installer(file)?;
    let v = format::verify::verify(&f, file, &trust)?;
    format::payload::check_payload(&v, &f, &|_| {})?;
    let m = v.manifest();
    println!(
        "ok: {} is {} for {}, signed by {} ({}); every digest matches",
        file.display(),
        m.title(),
        m.target,
        v.signer().id,
        v.signer().origin
    );
    if let Some(warning) = stub_warning(&read_stub_identity(&f, file, &v.layout().stub)?, &m.target) {
        eprintln!("warning: {warning}");
    }
    Ok(())
}

/// The most of a stub region [`read_stub_identity`] reads: our stubs are a few MiB; the region's
/// length comes from an unverified trailer in `inspect`, and must not decide what we allocate.
const MAX_STUB_SCAN: u64 = 64 << 20;

/// The identity of the stub in `range` of the installer `file` ([`format::stub_identity`]), from
/// at most its first [`MAX_STUB_SCAN`] bytes.
fn read_stub_identity(
    f: &File,
    file: &Path,
    range: &std::ops::Range<u64>,
) -> Result<Result<StubIdentity, StubIdentityError>, Failure> {
    let len = (range.end.saturating_sub(range.start)).min(MAX_STUB_SCAN) as usize;
    let mut bytes = vec![0u8; len];
    std::os::unix::fs::FileExt::read_exact_at(f, &mut bytes, range.start)
        .map_err(|source| Failure::from(format::Error::ReadSelf { path: file.into(), source }))?;
    Ok(stub_identity(&bytes))
}

/// What is wrong with a signed file's stub, when something is: it is not a go-offline-installer
/// stub at all (whoever signed it, running the file does not install anything), or one for
/// another target than the manifest's.
fn stub_warning(identity: &Result<StubIdentity, StubIdentityError>, target: &str) -> Option<String> {
    match identity {
        Err(e) => Some(format!(
            "the stub of this file is not a go-offline-installer stub ({e}): running it does not install what it carries; do not distribute it"
        )),
        Ok(id) if id.program != PROGRAM => Some(format!(
            "the stub of this file is not a go-offline-installer stub (its identity names the program '{}'): running it does not install what it carries; do not distribute it",
            id.program
        )),
        Ok(id) if id.target != target => Some(format!(
            "the stub of this file is the go-offline-installer stub for {}, but the installer is for {target}",
            id.target
        )),
        Ok(_) => None,
    }
}

/// The release of this builder whose embedded stub has `sha256`, for `inspect --json`: `null`
/// when none has (another builder release, a `--stub` file, a development build).
fn stub_release(sha256: &str) -> serde_json::Value {
    match builder::stubs::embedded_with_sha256(sha256) {
        Some(e) => json!({ "triple": e.triple, "version": e.version, "commit": e.commit }),
        None => serde_json::Value::Null,
    }
}

fn inspect(file: &Path, json: bool) -> Result<(), Failure> {
    let f = open_installer(file)?;
    let parts = format::verify::read_parts(&f, file)?;
    let m = Manifest::parse(&parts.manifest_bytes).map_err(format::Error::from)?;
    let (files, dirs, links) = m.counts();
    let signed = parts.signature != [0u8; 64];
    let identity = read_stub_identity(&f, file, &parts.layout.stub)?;
    let warning = stub_warning(&identity, &m.target);
    if json {
        println!(
            "{}",
            json!({
                "verified": false,
                "go_version": m.go_version, "goos": m.goos, "goarch": m.goarch, "goarm": m.goarm, "target": m.target,
                "installer_len": parts.layout.file_len(), "stub_len": m.stub.len, "payload_len": m.payload.len,
                "uncompressed_len": m.payload.uncompressed_len, "manifest_len": parts.manifest_bytes.len(),
                "files": files, "dirs": dirs, "symlinks": links, "file_count": m.file_count,
                "signer_key_id": m.signer_key_id, "source": m.source, "go_env": m.go_env, "created": m.created,
                "stub_sha256": m.stub.sha256, "payload_sha256": m.payload.sha256,
                "stub_embedded_in_this_builder": stub_release(&m.stub.sha256),
                "stub_identity": identity.as_ref().ok(), "stub_warning": warning,
                "format_version": parts.layout.version, "statement_len": parts.statement.len(), "signed": signed,
                "delta": m.delta.as_ref().map(|d| d.summary()),
            })
        );
        return Ok(());
    }
    println!("carries:     {}", m.title());
    println!("target:      {}", m.target);
    if signed {
        println!("signer:      {} (not verified here: run `go-offline-builder verify`)", m.signer_key_id);
    } else {
        println!(
            "signer:      NOT SIGNED YET, to be signed by {} (built with --unsigned: see `attach`)",
            m.signer_key_id
        );
    }
    match parts.layout.version {
        format::layout::FORMAT_V1 => println!("format:      1 (the signature covers the manifest)"),
        v => println!("format:      {v} (the signature covers a {}-byte statement)", parts.statement.len()),
    }
    println!("installer:   {} bytes", parts.layout.file_len());
    println!("stub:        {} bytes, sha256 {}", m.stub.len, m.stub.sha256);
    if let Some(e) = builder::stubs::embedded_with_sha256(&m.stub.sha256) {
        println!("             the stub this builder embeds for {} ({}, commit {})", e.triple, e.version, e.commit);
    } else if !builder::stubs::embedded().is_empty() {
        println!("             not one of this builder's stubs: made by another builder release, or with --stub");
    }
    if let Ok(id) = &identity {
        let formats: Vec<String> = id.formats.iter().map(u32::to_string).collect();
        println!("             {} for {}, reads installer formats {}", id.program, id.target, formats.join(", "));
    }
    if let Some(warning) = &warning {
        println!("warning:     {warning}");
    }
    println!(
        "payload:     {} bytes zstd (window 2^{}), {} bytes unpacked, sha256 {}",
        m.payload.len, m.payload.window_log, m.payload.uncompressed_len, m.payload.sha256
    );
    println!("manifest:    {} bytes", parts.manifest_bytes.len());
    println!("contents:    {} entries: {files} files, {dirs} directories, {links} symlinks", m.file_count);
    if let Some(d) = &m.delta {
        println!("delta:       {}", d.summary());
        println!(
            "             applies only onto {} installed intact; the full tree's entry list has sha256 {}",
            d.base.go_version, d.tree.files_sha256
        );
    }
    println!("source:      {}", m.source_summary());
    println!("go.env:      {}", m.go_env_summary());
    println!("created:     {}", format::date::rfc3339(m.created));
    Ok(())
}
