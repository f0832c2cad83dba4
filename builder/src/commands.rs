//! One function per subcommand: turn the parsed flags into the library's options, call it, and
//! print what it made. Failures come back as a [`Failure`]: the message, the exit code of
//! [`builder::exit::TABLE`] that `main` ends with, and the kind [`failure_json`] names it by.

use std::{
    fs::{self, File},
    path::{Path, PathBuf},
};

use builder::{
    checksum_db::SumdbOptions,
    cli::{self, Command, Signing},
    delta::DeltaOptions,
    exit, release,
    signer::{self, Signer, SignerSpec},
    BuildError, BuildOptions, Compression, Seal,
};
use ed25519_dalek::VerifyingKey;
use format::{
    keys::{self, TrustStore, HOST_TRUST_DIR},
    layout,
    manifest::Manifest,
    stub_identity::{stub_identity, StubIdentity, StubIdentityError, PROGRAM},
};
use serde_json::json;

/// Why a command failed: the message to print, the exit code to end with, and a short stable
/// kebab-case name of the failure's class (`BuildError::kind`) for `--json`.
#[derive(Debug)]
pub struct Failure {
    pub code: i32,
    pub kind: String,
    pub message: String,
}

impl Failure {
    fn new(code: i32, kind: &str, message: impl Into<String>) -> Failure {
        Failure { code, kind: kind.into(), message: message.into() }
    }

    /// A command line that parses but does not make sense (exit 2, kind `usage`).
    fn usage(message: impl Into<String>) -> Failure {
        Failure::new(exit::USAGE, "usage", message)
    }
}

impl From<BuildError> for Failure {
    fn from(e: BuildError) -> Failure {
        Failure { code: e.exit_code(), kind: e.kind(), message: e.to_string() }
    }
}

impl From<format::Error> for Failure {
    fn from(e: format::Error) -> Failure {
        BuildError::Installer(e).into()
    }
}

/// Version of the `--json` failure object's schema, as the installer's (`stub/src/json.rs`).
const SCHEMA: u32 = 1;

/// The one JSON object a command run with `--json` prints when it fails, in the installer's
/// shape so that a fleet tool reads both programs' failures alike: `schema`, `ok` (false),
/// `action` (the subcommand; `null` for a command line naming none) and `error` (`code`, the
/// exit code; `kind`; `message`, the text of the `error:` line). Unlike the installer's, it has
/// no `changed`: a builder that fails has not written its output.
pub fn failure_json(action: Option<&str>, failure: &Failure) -> serde_json::Value {
    json!({
        "schema": SCHEMA,
        "ok": false,
        "action": action,
        "error": { "code": failure.code, "kind": failure.kind, "message": failure.message },
    })
}

/// Runs one parsed command.
pub fn run(command: Command) -> Result<(), Failure> {
    match command {
        Command::Keygen { out, key, public, force, json } => {
            keygen(out.as_deref(), key.as_deref(), public.as_deref(), force, json)
        }
        Command::Attach { installer, signature, expect_key, json } => attach(&installer, &signature, &expect_key, json),
        Command::Build(args) => build(args),
        Command::Modules(args) => modules(args),
        Command::Fetch(args) => fetch(args),
        Command::Release { config, json } => release(&config, json),
        Command::VerifySums { dir, key } => verify_sums(&dir, &key),
        Command::Targets { json } => targets(json),
        Command::Inspect { file, json } => inspect(&file, json),
        Command::Verify { file, trusted_key, json } => verify(&file, &trusted_key, json),
    }
}

/// `SOURCE_DATE_EPOCH`, when set: the build time recorded, for reproducible output.
fn source_date_epoch() -> Result<Option<u64>, Failure> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) => v
            .trim()
            .parse::<u64>()
            .map(Some)
            .map_err(|_| Failure::usage(format!("SOURCE_DATE_EPOCH='{v}' is not a number of seconds"))),
        Err(_) => Ok(None),
    }
}

/// Prints `value` as one line of JSON. Our summaries are plain data: serializing cannot fail.
fn print_json(value: &impl serde::Serialize) {
    println!("{}", serde_json::to_string(value).unwrap_or_default());
}

fn keygen(
    out: Option<&Path>,
    key: Option<&str>,
    public: Option<&Path>,
    force: bool,
    json: bool,
) -> Result<(), Failure> {
    let Some(spec) = key else {
        let out = out.ok_or_else(|| Failure::usage("keygen needs --out DIR/NAME or --key SIGNER"))?;
        let id = signer::keygen(out, force)?;
        let (private, public) = (out.with_extension("key"), out.with_extension("pub"));
        if json {
            print_json(&json!({ "key_id": id, "private_key": private, "public_key": public }));
        } else {
            println!("key id {id}");
            eprintln!("wrote {} (keep it secret) and {}", private.display(), public.display());
        }
        return Ok(());
    };
    let spec = SignerSpec::parse(spec).map_err(BuildError::from)?;
    let key = signer::keygen_in(&spec, public, force)?;
    let pem = keys::public_key_pem(&key);
    if json {
        print_json(&json!({
            "key_id": keys::key_id(&key), "signer": spec.to_string(), "public_key": public, "public_key_pem": pem,
        }));
        return Ok(());
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
        match (&signing.key, signing.expect_key.as_deref()) {
            (_, Some(expect)) if signing.unsigned => {
                Ok(Sealer::Later(keys::read_public_key(expect).map_err(BuildError::from)?))
            }
            (Some(spec), expect) => Ok(Sealer::Now(Box::new(signer::open_named(spec, expect)?))),
            _ => Err(Failure::usage("pass --key SIGNER, or --unsigned with --expect-key PUB")),
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
    let damaged: Vec<_> =
        rows.iter().filter(|r| r.stub.as_ref().is_some_and(|s| !s.intact)).map(|r| r.triple).collect();
    // Under --json a failure is the one object printed: the list is not printed before it.
    if json && damaged.is_empty() {
        print_json(&json!({ "builder_version": env!("CARGO_PKG_VERSION"), "targets": rows }));
    } else if !json {
        print!("{}", targets_table(&rows));
    }
    if !damaged.is_empty() {
        return Err(Failure::new(
            exit::INTEGRITY,
            "damaged_stub",
            format!(
                "the stubs embedded for {} are damaged: this builder cannot be trusted to make installers: download it again and check it against SHA256SUMS",
                damaged.join(", ")
            ),
        ));
    }
    Ok(())
}

/// The text of `targets`: a header and one line per target, in [`aligned`] columns.
fn targets_table(rows: &[builder::stubs::TargetRow]) -> String {
    let mut table = vec![["target", "go", "bytes", "stub sha256", "from"].map(String::from)];
    for r in rows {
        let go = format!("{}/{}", r.goos, r.goarch);
        table.push(match &r.stub {
            None => [r.triple.into(), go, "-".into(), "-".into(), "no stub: pass --stub FILE".into()],
            Some(s) => {
                let state = s.problem.as_deref().map(|p| format!(" DAMAGED: {p}")).unwrap_or_default();
                [r.triple.into(), go, s.len.to_string(), s.sha256.clone(), format!("{}{state}", s.origin.describe())]
            }
        });
    }
    aligned(&table, &[Align::Left, Align::Left, Align::Right, Align::Left, Align::Left])
}

/// How a column's cells sit in its width.
#[derive(Clone, Copy)]
enum Align {
    Left,
    Right,
}

/// `rows` as lines of text, each column as wide as its widest cell (counted in characters) and
/// two spaces apart, so that every column starts at the same offset on every line; the last
/// column is not padded (no trailing spaces).
fn aligned<const N: usize>(rows: &[[String; N]], align: &[Align; N]) -> String {
    let mut widths = [0; N];
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            let pad = " ".repeat(widths[i] - cell.chars().count());
            match align[i] {
                _ if i + 1 == N => line.push_str(cell),
                Align::Left => line.push_str(&format!("{cell}{pad}  ")),
                Align::Right => line.push_str(&format!("{pad}{cell}  ")),
            }
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

fn modules(args: cli::Modules) -> Result<(), Failure> {
    let cli::Modules {
        project,
        cache,
        target,
        signing,
        output,
        force,
        level,
        sumdb_name,
        sumdb_log,
        no_sumdb,
        sumdb_signature,
        toolchain,
        json,
    } = args;
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
        sumdb: (!no_sumdb).then_some(SumdbOptions { name: sumdb_name, log: sumdb_log, signature: sumdb_signature }),
        toolchains: toolchain,
    };
    let s = match builder::modules::build_modules(&opts, sealer.seal())? {
        builder::modules::Modules::Built(s) => s,
        builder::modules::Modules::NoteToSign { path, tree_size } => {
            if json {
                print_json(&json!({ "ok": true, "sumdb_tosign": path, "tree_size": tree_size }));
            } else {
                println!(
                    "wrote {} (the checksum database's tree note, {tree_size} records): NOT SIGNED YET: sign its bytes with the key (pure Ed25519), then run this command again with --sumdb-signature SIG to write the bundle",
                    path.display()
                );
            }
            return Ok(());
        }
    };
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
        if let Some(db) = &s.sumdb {
            println!(
                "checksum database {} ({} records, {} new{}): GOSUMDB={}",
                db.name,
                db.tree_size,
                db.added,
                db.log.as_ref().map_or_else(
                    || ", a new log: pass --sumdb-log FILE to keep it for the next bundle".to_string(),
                    |l| format!(", log {}", l.display())
                ),
                db.key
            );
        }
    }
    Ok(())
}

fn fetch(args: cli::Fetch) -> Result<(), Failure> {
    let cli::Fetch { versions, arches, mirror, index, sha256, cache, json } = args;
    if sha256.is_some() && versions.len() * arches.len() != 1 {
        return Err(Failure::usage("--sha256 needs exactly one --version and one --arch"));
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

fn verify(file: &Path, trusted_keys: &[PathBuf], json: bool) -> Result<(), Failure> {
    // No keys compiled in: the builder trusts only what it is told to.
    let trust = TrustStore::load(trusted_keys, Path::new(HOST_TRUST_DIR), &[]).map_err(format::Error::from)?;
    if trust.keys.is_empty() {
        return Err(Failure::new(
            exit::UNTRUSTED,
            "untrusted",
            format!("no trusted keys: pass --trusted-key PUB or provision {HOST_TRUST_DIR}"),
        ));
    }
    let f = open_installer(file)?;
    let v = format::verify::verify(&f, file, &trust)?;
    format::payload::check_payload(&v, &f, &|_| {})?;
    let m = v.manifest();
    let warning = stub_warning(&read_stub_identity(&f, file, &v.layout().stub)?, &m.target);
    if json {
        // The facts of the text line, named as `inspect --json` names them.
        print_json(&json!({
            "verified": true, "file": file, "installer_sha256": v.file_sha256(),
            "product": m.product, "title": m.title(),
            "go_version": m.go_version, "goos": m.goos, "goarch": m.goarch, "goarm": m.goarm, "target": m.target,
            "signer_key_id": v.signer().id, "signer_origin": v.signer().origin,
            "format_version": v.layout().version, "file_count": m.file_count,
            "delta": m.delta.as_ref().map(|d| d.summary()), "stub_warning": warning,
        }));
    } else {
        println!(
            "ok: {} is {} for {}, signed by {} ({}); every digest matches",
            file.display(),
            m.title(),
            m.target,
            v.signer().id,
            v.signer().origin
        );
    }
    if let Some(warning) = warning {
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
    let manifest_json = parts.manifest_json().map_err(format::Error::from)?;
    let m = Manifest::parse(&manifest_json).map_err(format::Error::from)?;
    let (files, dirs, links) = m.counts();
    let signed = !layout::is_unsigned(&parts.signature);
    let identity = read_stub_identity(&f, file, &parts.layout.stub)?;
    let warning = stub_warning(&identity, &m.target);
    if json {
        println!(
            "{}",
            json!({
                "verified": false,
                "go_version": m.go_version, "goos": m.goos, "goarch": m.goarch, "goarm": m.goarm, "target": m.target,
                "installer_len": parts.layout.file_len(), "stub_len": m.stub.len, "payload_len": m.payload.len,
                "uncompressed_len": m.payload.uncompressed_len, "manifest_len": parts.manifest_region.len(), "manifest_json_len": manifest_json.len(),
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
        "payload:     {} bytes {} (window 2^{}), {} bytes unpacked, sha256 {}",
        m.payload.len, m.payload.compression, m.payload.window_log, m.payload.uncompressed_len, m.payload.sha256
    );
    if parts.layout.version < layout::FORMAT_VERSION {
        println!("manifest:    {} bytes", manifest_json.len());
    } else {
        println!("manifest:    {} bytes (zstd of {} bytes of JSON)", parts.manifest_region.len(), manifest_json.len());
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use builder::stubs::{Origin, StubRow, TargetRow};

    /// Where each of a line's cells starts: searched left to right, each after the one before.
    fn offsets(line: &str, cells: &[String]) -> Vec<usize> {
        let mut from = 0;
        cells
            .iter()
            .map(|cell| {
                let at = from + line[from..].find(cell.as_str()).unwrap_or_else(|| panic!("{cell:?} not in {line:?}"));
                from = at + cell.len();
                at
            })
            .collect()
    }

    #[test]
    fn aligned_columns_start_at_the_same_offsets() {
        let tables: &[&[[&str; 3]]] = &[
            &[["target", "bytes", "from"], ["a", "1", "x y"], ["a-much-longer-triple-than-28-chars", "1234567", "z"]],
            &[["h", "n", "last"], ["x", "7", "y"], ["wide cell", "-", "the last column may hold spaces"]],
        ];
        for table in tables {
            let rows: Vec<[String; 3]> = table.iter().map(|r| r.map(String::from)).collect();
            let text = aligned(&rows, &[Align::Left, Align::Right, Align::Left]);
            let lines: Vec<&str> = text.lines().collect();
            assert_eq!(lines.len(), rows.len());
            let widest = |i: usize| rows.iter().map(|r| r[i].len()).max().unwrap();
            for (line, row) in lines.iter().zip(&rows) {
                assert_eq!(*line, line.trim_end(), "trailing spaces");
                // Left-aligned cells start at the column's offset, right-aligned ones end at its end.
                let at = offsets(line, row);
                assert_eq!(at[0], 0, "{line:?}");
                assert_eq!(at[1] + row[1].len(), widest(0) + 2 + widest(1), "{line:?}");
                assert_eq!(at[2], widest(0) + 2 + widest(1) + 2, "{line:?}");
            }
        }
    }

    /// Every target's line has its columns at the header's offsets, whatever the triple's length
    /// and whether it has a stub.
    #[test]
    fn targets_columns_line_up() {
        let stub = |len: u64, problem: Option<&str>| StubRow {
            origin: Origin::Embedded { version: "0.1.0", commit: "abc" },
            len,
            sha256: "ab".repeat(32),
            compressed_len: None,
            intact: problem.is_none(),
            problem: problem.map(String::from),
        };
        let rows = vec![
            TargetRow {
                triple: "x86_64-unknown-linux-musl",
                goos: "linux",
                goarch: "amd64",
                stub: Some(stub(7, None)),
            },
            TargetRow { triple: "armv7-unknown-linux-gnueabihf", goos: "linux", goarch: "arm", stub: None },
            TargetRow {
                triple: "powerpc64le-unknown-linux-gnu",
                goos: "linux",
                goarch: "ppc64le",
                stub: Some(stub(12_345_678, Some("bad sha256"))),
            },
            TargetRow { triple: "x86_64-pc-windows-gnu", goos: "windows", goarch: "amd64", stub: None },
        ];
        let text = targets_table(&rows);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), rows.len() + 1);
        let header = offsets(lines[0], &["target", "go", "bytes", "stub sha256", "from"].map(String::from));
        let bytes_end = header[2] + "bytes".len();
        for (line, r) in lines[1..].iter().zip(&rows) {
            let len = r.stub.as_ref().map_or("-".to_string(), |s| s.len.to_string());
            let sha = r.stub.as_ref().map_or("-".to_string(), |s| s.sha256.clone());
            let go = format!("{}/{}", r.goos, r.goarch);
            let at = offsets(line, &[r.triple.to_string(), go, len.clone(), sha]);
            assert_eq!(
                [at[0], at[1], at[2] + len.len(), at[3]],
                [header[0], header[1], bytes_end, header[3]],
                "{text}"
            );
            let from = &line[header[4]..];
            assert!(from.starts_with("no stub") || from.starts_with("embedded"), "{text}");
        }
        assert!(lines[3].ends_with("DAMAGED: bad sha256"), "{text}");
    }

    /// The failure object has the installer's shape (`stub/src/json.rs`): the fields a fleet
    /// tool reads from either program.
    #[test]
    fn failure_json_has_the_installers_shape() {
        let failures = [
            (Some("build"), Failure::from(BuildError::OutputIsDirectory(PathBuf::from("out"))), exit::BAD_INPUT),
            (Some("verify"), Failure::from(format::Error::NotSigned), exit::INTEGRITY),
            (None, Failure::usage("unexpected argument"), exit::USAGE),
        ];
        for (action, failure, code) in &failures {
            let v = failure_json(*action, failure);
            let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
            keys.sort_unstable();
            assert_eq!(keys, ["action", "error", "ok", "schema"], "{v}");
            assert_eq!(v["schema"], 1);
            assert_eq!(v["ok"], false);
            assert_eq!(v["action"], json!(action));
            assert_eq!(v["error"]["code"], *code);
            assert_eq!(v["error"]["message"], failure.message);
            let kind = v["error"]["kind"].as_str().unwrap();
            assert!(!kind.is_empty() && kind.chars().all(|c| c.is_ascii_lowercase() || c == '-'), "{kind}");
        }
    }
}
