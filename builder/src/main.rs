//! `go-offline-builder`: keygen, build, inspect, verify. Glue over the `builder` and `format` crates.

use std::{fs::File, path::PathBuf, process::ExitCode};

use builder::{BuildOptions, DEFAULT_FRAMES, DEFAULT_LEVEL};
use clap::{Parser, Subcommand};
use format::{
    exit,
    keys::{TrustStore, HOST_TRUST_DIR},
    manifest::Manifest,
    verify,
};
use serde_json::json;

#[derive(Parser, Debug)]
#[command(
    name = "go-offline-builder",
    version,
    about = "Turn an official Go release into one signed, self-verifying installer file",
    after_help = builder::exit::help_section()
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The key and the stub of an installer.
#[derive(clap::Args, Debug)]
struct Signing {
    /// PKCS#8 PEM ed25519 private key to sign with.
    #[arg(long, value_name = "KEY")]
    key: PathBuf,
    /// Stub executable [default: the one `cargo xtask stubs` built for the target].
    #[arg(long, value_name = "FILE")]
    stub: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a signing key pair: DIR/NAME.key (PKCS#8 PEM, 0600) and DIR/NAME.pub (SPKI PEM).
    Keygen {
        /// DIR/NAME of the key pair to create.
        #[arg(long, value_name = "DIR/NAME")]
        out: PathBuf,
    },
    /// Build an installer from a Go release tarball or GOROOT directory.
    Build {
        /// An official go*.tar.gz or a GOROOT directory.
        #[arg(long, value_name = "PATH")]
        go: PathBuf,
        /// Stub target triple [default: the one matching the Go distribution].
        #[arg(long, value_name = "TRIPLE")]
        target: Option<String>,
        #[command(flatten)]
        signing: Signing,
        /// Output file.
        #[arg(long, short, value_name = "FILE", default_value = "go-offline-installer")]
        output: PathBuf,
        /// Set KEY=VALUE in $GOROOT/go.env (repeatable; defaults GOPROXY=off GOTOOLCHAIN=local).
        #[arg(long = "go-env", value_name = "KEY=VALUE")]
        go_env: Vec<String>,
        /// zstd compression level, 1..=22.
        #[arg(long, default_value_t = DEFAULT_LEVEL, value_parser = clap::value_parser!(i32).range(1..=22))]
        level: i32,
        /// Compression threads [default: all cores]. The output does not depend on it.
        #[arg(long, default_value_t = 0)]
        threads: u32,
        /// Split the payload into this many independent zstd frames (whole tar entries each), so
        /// the installer extracts them on that many cores at once; 1 compresses best.
        #[arg(long, default_value_t = DEFAULT_FRAMES, value_parser = clap::value_parser!(u32).range(1..=256))]
        frames: u32,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Bundle the modules Go projects need (from their go.sum and a module cache) into a signed
    /// installer that puts them beside an installed Go, for builds with no network.
    Modules {
        /// A Go project (a directory with go.mod and go.sum); repeatable. Without one, every
        /// module version in the cache is bundled.
        #[arg(long, value_name = "DIR")]
        project: Vec<PathBuf>,
        /// The module cache (GOMODCACHE, or a module proxy directory) [default: Go's, from
        /// $GOMODCACHE, $GOPATH or $HOME].
        #[arg(long, value_name = "DIR")]
        cache: Option<PathBuf>,
        /// Stub target triple: the machines the bundle is for [default: this machine's].
        #[arg(long, value_name = "TRIPLE")]
        target: Option<String>,
        #[command(flatten)]
        signing: Signing,
        /// Output file.
        #[arg(long, short, value_name = "FILE", default_value = "go-modules-installer")]
        output: PathBuf,
        /// zstd compression level, 1..=22.
        #[arg(long, default_value_t = DEFAULT_LEVEL, value_parser = clap::value_parser!(i32).range(1..=22))]
        level: i32,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Download official Go tarballs, verified against the published sha256, into a cache.
    Fetch {
        /// Go version(s), e.g. 1.27.3 (repeatable, or comma-separated).
        #[arg(long = "version", value_name = "VERSION", required = true, value_delimiter = ',')]
        versions: Vec<String>,
        /// GOARCH value(s), e.g. amd64,arm64.
        #[arg(long = "arch", value_name = "ARCH", default_value = "amd64", value_delimiter = ',')]
        arches: Vec<String>,
        /// Download site or mirror with the same layout [default: Go's download site].
        #[arg(long, value_name = "URL")]
        mirror: Option<String>,
        /// Release index (JSON) to take the sha256 from [default: the mirror's `?mode=json&include=all`].
        #[arg(long, value_name = "URL")]
        index: Option<String>,
        /// The expected sha256 (one version and arch only); the index is then not read.
        #[arg(long, value_name = "HEX", value_parser = sha256_arg)]
        sha256: Option<String>,
        /// Download cache [default: $XDG_CACHE_HOME/go-offline-builder].
        #[arg(long, value_name = "DIR")]
        cache: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Fetch, build and sign every Go version × arch (and module bundle) of a TOML config; write
    /// SHA256SUMS and its signature SHA256SUMS.sig. Unchanged inputs are not rebuilt.
    Release {
        /// The release config (see examples/release.toml).
        config: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Check SHA256SUMS.sig against SHA256SUMS in a release directory, and every file's sha256.
    VerifySums {
        /// The release directory.
        dir: PathBuf,
        /// The org's public key (SPKI PEM).
        #[arg(long, value_name = "PUB")]
        key: PathBuf,
    },
    /// Show what an installer carries (without verifying its signature: use `verify`).
    Inspect {
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Verify an installer as it would verify itself, without installing.
    Verify {
        file: PathBuf,
        /// Trust this SPKI PEM public key (repeatable) [default: the host trust directory].
        #[arg(long, value_name = "PUB")]
        trusted_key: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err((code, message)) => {
            eprintln!("error: {message}");
            ExitCode::from(code as u8)
        }
    }
}

/// A failure's exit code (see `builder::exit::TABLE`) and message.
type Failure = (i32, String);

/// A `--sha256` value: 64 hex digits, in either case (a bad one is a command-line error, exit 2).
fn sha256_arg(value: &str) -> Result<String, String> {
    if format::manifest::is_sha256_hex(&value.to_ascii_lowercase()) {
        Ok(value.to_string())
    } else {
        Err("expected 64 hex digits".into())
    }
}

/// `SOURCE_DATE_EPOCH`, when set: the build time recorded, for reproducible output.
fn source_date_epoch() -> Result<Option<u64>, Failure> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) => v
            .trim()
            .parse::<u64>()
            .map(Some)
            .map_err(|_| (exit::USAGE, format!("SOURCE_DATE_EPOCH='{v}' is not a number of seconds"))),
        Err(_) => Ok(None),
    }
}

fn build_err(e: builder::BuildError) -> Failure {
    (e.exit_code(), e.to_string())
}

fn format_err(e: format::Error) -> Failure {
    (e.exit_code(), e.to_string())
}

fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Keygen { out } => {
            let id = builder::keygen(&out).map_err(build_err)?;
            println!("key id {id}");
            eprintln!(
                "wrote {} (keep it secret) and {}",
                out.with_extension("key").display(),
                out.with_extension("pub").display()
            );
            Ok(())
        }
        Command::Build { go, target, signing: Signing { key, stub }, output, go_env, level, threads, frames, json } => {
            let source_date_epoch = source_date_epoch()?;
            let opts = BuildOptions {
                go,
                key,
                target,
                stub,
                output,
                go_env,
                level,
                threads,
                frames,
                source_date_epoch,
                provenance: None,
            };
            let s = builder::build(&opts).map_err(build_err)?;
            if json {
                println!("{}", serde_json::to_string(&s).unwrap_or_default());
            } else {
                println!(
                    "built {} ({} {}/{}, {}): {} bytes (stub {}, payload {} from {} unpacked), {} entries, signed by {}",
                    s.output.display(),
                    s.go_version,
                    s.goos,
                    s.goarch,
                    s.target,
                    s.installer_len,
                    s.stub_len,
                    s.payload_len,
                    s.uncompressed_len,
                    s.file_count,
                    s.signer_key_id
                );
            }
            Ok(())
        }
        Command::Modules { project, cache, target, signing: Signing { key, stub }, output, level, json } => {
            let target = target.unwrap_or_else(|| {
                let arch = if cfg!(target_arch = "aarch64") { "aarch64" } else { "x86_64" };
                format!("{arch}-unknown-linux-musl")
            });
            let opts = builder::modules::ModulesOptions {
                projects: project,
                cache,
                key,
                target,
                stub,
                output,
                // One frame: bundles are small, and one window finds the most repeats.
                compression: builder::Compression { level, threads: 0, frames: 1 },
                source_date_epoch: source_date_epoch()?,
            };
            let s = builder::modules::build_modules(&opts).map_err(build_err)?;
            if json {
                println!("{}", serde_json::to_string(&s).unwrap_or_default());
            } else {
                println!(
                    "built {} (module bundle for {}/{}, {}): {} modules ({} with their zip) from {}, {} bytes, signed by {}",
                    s.installer.output.display(),
                    s.installer.goos,
                    s.installer.goarch,
                    s.installer.target,
                    s.modules,
                    s.zips,
                    s.cache.display(),
                    s.installer.installer_len,
                    s.installer.signer_key_id
                );
            }
            Ok(())
        }
        Command::Fetch { versions, arches, mirror, index, sha256, cache, json } => {
            if sha256.is_some() && versions.len() * arches.len() != 1 {
                return Err((exit::USAGE, "--sha256 needs exactly one --version and one --arch".into()));
            }
            let cache = cache.unwrap_or_else(builder::release::default_cache);
            let fetcher = fetch::Fetcher::new(mirror.as_deref(), index.as_deref(), &cache, !json);
            let mut all = Vec::new();
            for v in &versions {
                for a in &arches {
                    let f = fetcher.fetch(v, a, sha256.as_deref()).map_err(|e| build_err(e.into()))?;
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
                println!("{}", serde_json::to_string(&all).unwrap_or_default());
            }
            Ok(())
        }
        Command::Release { config, json } => {
            let cfg = builder::release::read_config(&config).map_err(build_err)?;
            let s = builder::release::release(&cfg, !json).map_err(build_err)?;
            if json {
                println!("{}", serde_json::to_string(&s).unwrap_or_default());
            } else {
                for o in &s.outputs {
                    println!("{:<9} {}  {}", o.status.name(), o.sha256, o.name);
                }
                println!("wrote {} and {} (signed by {})", s.sums.display(), s.signature.display(), s.signer_key_id);
            }
            Ok(())
        }
        Command::VerifySums { dir, key } => {
            builder::release::verify_sums(&dir, &key).map_err(build_err)?;
            println!(
                "ok: {} is signed by the key, and every file it lists matches",
                dir.join(builder::release::SUMS).display()
            );
            Ok(())
        }
        Command::Inspect { file, json } => inspect(&file, json),
        Command::Verify { file, trusted_key } => {
            // No keys compiled in: the builder trusts only what it is told to.
            let trust = TrustStore::load(&trusted_key, std::path::Path::new(HOST_TRUST_DIR), &[])
                .map_err(|e| format_err(e.into()))?;
            if trust.keys.is_empty() {
                return Err((
                    exit::UNTRUSTED,
                    format!("no trusted keys: pass --trusted-key PUB or provision {HOST_TRUST_DIR}"),
                ));
            }
            let f = File::open(&file)
                .map_err(|source| format_err(format::Error::ReadSelf { path: file.clone(), source }))?;
            let v = verify::verify(&f, &file, &trust).map_err(format_err)?;
            format::payload::check_payload(&v, &f, &|_| {}).map_err(format_err)?;
            let m = v.manifest();
            println!(
                "ok: {} is {} for {}, signed by {} ({}); every digest matches",
                file.display(),
                m.title(),
                m.target,
                v.signer().id,
                v.signer().origin
            );
            Ok(())
        }
    }
}

fn inspect(file: &std::path::Path, json: bool) -> Result<(), Failure> {
    let f = File::open(file).map_err(|source| format_err(format::Error::ReadSelf { path: file.into(), source }))?;
    let parts = verify::read_parts(&f, file).map_err(format_err)?;
    let m = Manifest::parse(&parts.manifest_bytes).map_err(|e| format_err(e.into()))?;
    let (files, dirs, links) = m.counts();
    if json {
        println!(
            "{}",
            json!({
                "verified": false,
                "go_version": m.go_version, "goos": m.goos, "goarch": m.goarch, "target": m.target,
                "installer_len": parts.layout.file_len(), "stub_len": m.stub.len, "payload_len": m.payload.len,
                "uncompressed_len": m.payload.uncompressed_len, "manifest_len": parts.manifest_bytes.len(),
                "files": files, "dirs": dirs, "symlinks": links, "file_count": m.file_count,
                "signer_key_id": m.signer_key_id, "source": m.source, "go_env": m.go_env, "created": m.created,
                "stub_sha256": m.stub.sha256, "payload_sha256": m.payload.sha256,
            })
        );
        return Ok(());
    }
    println!("carries:     {}", m.title());
    println!("target:      {}", m.target);
    println!("signer:      {} (not verified here: run `go-offline-builder verify`)", m.signer_key_id);
    println!("installer:   {} bytes", parts.layout.file_len());
    println!("stub:        {} bytes, sha256 {}", m.stub.len, m.stub.sha256);
    println!(
        "payload:     {} bytes zstd (window 2^{}), {} bytes unpacked, sha256 {}",
        m.payload.len, m.payload.window_log, m.payload.uncompressed_len, m.payload.sha256
    );
    println!("manifest:    {} bytes", parts.manifest_bytes.len());
    println!("contents:    {} entries: {files} files, {dirs} directories, {links} symlinks", m.file_count);
    println!("source:      {}", m.source_summary());
    println!("go.env:      {}", m.go_env_summary());
    println!("created:     {} (seconds since the epoch)", m.created);
    Ok(())
}
