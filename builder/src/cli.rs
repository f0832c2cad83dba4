//! The command line of `go-offline-builder`: every subcommand and flag, and the `--help` text
//! (with the exit codes, from [`crate::exit::TABLE`]). Parsing only: what each command does is
//! in the binary's `commands.rs`, and the work itself in the rest of this library. Public so that
//! `cargo xtask dist` makes the man pages and shell completions from the same definitions.

use std::path::PathBuf;

use crate::{DEFAULT_FRAMES, DEFAULT_LEVEL};
use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "go-offline-builder",
    version,
    about = "Turn an official Go release into one signed, self-verifying installer file",
    after_help = crate::exit::help_section()
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Who signs an installer, and its stub.
#[derive(clap::Args, Debug)]
pub struct Signing {
    /// Who signs: a PKCS#8 PEM Ed25519 key file (PATH or file:PATH), a key in a PKCS#11 token
    /// (an RFC 7512 pkcs11: URI; the PIN from pin-source=file:PATH or $GO_OFFLINE_PKCS11_PIN),
    /// or a Vault/OpenBao transit key (vault:[MOUNT/]NAME[?addr=URL]; the token from
    /// $VAULT_TOKEN).
    #[arg(long, value_name = "SIGNER", required_unless_present = "unsigned")]
    pub key: Option<String>,
    /// The org's public key (SPKI PEM): refuse to sign unless the signer holds exactly this key.
    /// With --unsigned: the key that will sign.
    #[arg(long, value_name = "PUB")]
    pub expect_key: Option<PathBuf>,
    /// Sign later, outside the builder: write the installer with an empty signature and the
    /// exact bytes to sign beside it (OUTPUT.tosign, pure Ed25519); `attach` puts the
    /// signature in. Needs --expect-key.
    #[arg(long, conflicts_with = "key", requires = "expect_key")]
    pub unsigned: bool,
    /// Stub executable [default: the one embedded in this builder for the target; in a
    /// development checkout, the one `cargo xtask stubs` built]. See `targets`.
    #[arg(long, value_name = "FILE")]
    pub stub: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a signing key pair: DIR/NAME.key (PKCS#8 PEM, 0600) and DIR/NAME.pub (SPKI PEM);
    /// or, with --key, an Ed25519 key inside a PKCS#11 token or a Vault transit engine. Prints
    /// the key id; with --key also the public key (SPKI PEM) for trust directories.
    Keygen {
        /// DIR/NAME of the key pair to create.
        #[arg(long, value_name = "DIR/NAME", required_unless_present = "key", conflicts_with = "key")]
        out: Option<PathBuf>,
        /// Create the key in this signer (pkcs11:URI with object=LABEL, or vault:[MOUNT/]NAME);
        /// an existing key of that label, id or name is refused.
        #[arg(long, value_name = "SIGNER")]
        key: Option<String>,
        /// With --key: also write the public key (SPKI PEM) to this file.
        #[arg(long = "pub", value_name = "FILE", conflicts_with = "out")]
        public: Option<PathBuf>,
        /// Replace an existing DIR/NAME.key and DIR/NAME.pub (or --pub FILE). The old private key
        /// is lost: installers signed with it can still be verified with its public key only.
        #[arg(long)]
        force: bool,
        /// Print the key id and the files written as one JSON object (with --key: also the
        /// public key); on failure, one JSON object with the error.
        #[arg(long)]
        json: bool,
    },
    /// Build an installer from a Go release tarball or GOROOT directory.
    Build(Build),
    /// Bundle the modules Go projects need (from their go.sum and a module cache) into a signed
    /// installer that puts them beside an installed Go, for builds with no network.
    Modules(Modules),
    /// Download official Go tarballs, verified against the published sha256, into a cache.
    Fetch(Fetch),
    /// Fetch, build and sign every Go version × arch (and module bundle) of a TOML config; write
    /// SHA256SUMS and its signature SHA256SUMS.sig. Unchanged inputs are not rebuilt.
    Release {
        /// The release config (see examples/release.toml).
        config: PathBuf,
        /// Print the result as one JSON object on stdout (on failure too: `ok` false and the
        /// error's code, kind and message).
        #[arg(long)]
        json: bool,
    },
    /// Put a signature made outside the builder into an installer built with --unsigned: the
    /// signature must be --expect-key's over INSTALLER.tosign; the installer is then verified
    /// completely before it replaces the unsigned one.
    Attach {
        /// The installer built with --unsigned.
        installer: PathBuf,
        /// The signature: 64 raw bytes, or their base64 (Vault's vault:vN: prefix allowed).
        #[arg(long, value_name = "FILE")]
        signature: PathBuf,
        /// The public key it was built for (SPKI PEM).
        #[arg(long, value_name = "PUB")]
        expect_key: PathBuf,
        /// Print the result as one JSON object on stdout (on failure too: `ok` false and the
        /// error's code, kind and message).
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
    /// List the targets this builder makes installers for, and the stub of each: Go GOOS/GOARCH,
    /// size, sha256, and the version and commit it was built from. Embedded stubs are checked
    /// against their recorded sha256 (a damaged one makes the command fail).
    Targets {
        /// Print the targets as one JSON object: the builder's version and, for each target,
        /// its triple, GOOS, GOARCH and stub (or null); on failure, one JSON object with the
        /// error.
        #[arg(long)]
        json: bool,
    },
    /// Show what an installer carries (without verifying its signature: use `verify`).
    Inspect {
        /// The installer file to read (any target; nothing is run or verified).
        file: PathBuf,
        /// Print everything shown as one JSON object (`created` in seconds since the epoch); on
        /// failure, one JSON object with the error.
        #[arg(long)]
        json: bool,
    },
    /// Verify an installer as it would verify itself, without installing: trailer, signature
    /// against the trusted keys, manifest, and the sha256 of every region, frame and file.
    Verify {
        /// The installer file to verify (any target; nothing is run or installed).
        file: PathBuf,
        /// Trust this SPKI PEM public key (repeatable) [default: the host trust directory].
        #[arg(long, value_name = "PUB")]
        trusted_key: Vec<PathBuf>,
        /// Print what was verified as one JSON object (what it carries, for which target,
        /// signed by which key); on failure, one JSON object with the error.
        #[arg(long)]
        json: bool,
    },
}

impl Command {
    /// The subcommand's name, as typed (`verify-sums`): the `action` of a `--json` result.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Keygen { .. } => "keygen",
            Command::Build(_) => "build",
            Command::Modules(_) => "modules",
            Command::Fetch(_) => "fetch",
            Command::Release { .. } => "release",
            Command::Attach { .. } => "attach",
            Command::VerifySums { .. } => "verify-sums",
            Command::Targets { .. } => "targets",
            Command::Inspect { .. } => "inspect",
            Command::Verify { .. } => "verify",
        }
    }

    /// Whether `--json` was given: the result, failure included, is then one JSON value on
    /// stdout.
    pub fn json(&self) -> bool {
        match self {
            Command::Keygen { json, .. }
            | Command::Release { json, .. }
            | Command::Attach { json, .. }
            | Command::Targets { json }
            | Command::Inspect { json, .. }
            | Command::Verify { json, .. } => *json,
            Command::Build(b) => b.json,
            Command::Modules(m) => m.json,
            Command::Fetch(f) => f.json,
            Command::VerifySums { .. } => false,
        }
    }
}

/// Whether a command line asks for `--json` (before any `--`), for one that does not parse: its
/// usage error is then a JSON result too. `args` are the arguments after the program's name.
pub fn asks_for_json(args: &[String]) -> bool {
    args.iter().take_while(|a| *a != "--").any(|a| a == "--json")
}

/// The subcommand a command line names, when its first argument is one (the `action` of a usage
/// error's JSON result). `args` are the arguments after the program's name.
pub fn subcommand_named(args: &[String]) -> Option<String> {
    let first = args.first()?;
    <Cli as clap::CommandFactory>::command()
        .get_subcommands()
        .any(|c| c.get_name() == first.as_str())
        .then(|| first.clone())
}

/// `go-offline-builder build`.
#[derive(clap::Args, Debug)]
pub struct Build {
    /// An official go*.tar.gz or a GOROOT directory.
    #[arg(long, value_name = "PATH")]
    pub go: PathBuf,
    /// Build a delta installer: only what changed since this base version (its Go tarball or
    /// GOROOT, or a full installer of it signed by the same key), installable only onto that
    /// base, installed and intact. Default output: go-offline-installer-BASE-to-NEW-OS-ARCH.
    #[arg(long, value_name = "PATH")]
    pub base: Option<PathBuf>,
    /// With --base: the full installer of the new version, whose size the delta is weighed
    /// against [default: estimated].
    #[arg(long, value_name = "FILE", requires = "base")]
    pub full: Option<PathBuf>,
    /// With --base: write the delta even when it is more than half the full installer's size.
    #[arg(long, requires = "base")]
    pub force_delta: bool,
    /// Stub target triple [default: the one matching the Go distribution].
    #[arg(long, value_name = "TRIPLE")]
    pub target: Option<String>,
    #[command(flatten)]
    pub signing: Signing,
    /// Output file [default: go-offline-installer]. An existing file is refused unless --force;
    /// an input (the key, --go, --base, --full, --stub) is refused always.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Replace an existing output file (never one of the inputs).
    #[arg(long)]
    pub force: bool,
    /// Set KEY=VALUE in $GOROOT/go.env (repeatable; defaults GOPROXY=off GOTOOLCHAIN=local+path).
    #[arg(long = "go-env", value_name = "KEY=VALUE")]
    pub go_env: Vec<String>,
    /// zstd compression level, 1..=22.
    #[arg(long, default_value_t = DEFAULT_LEVEL, value_parser = clap::value_parser!(i32).range(1..=22))]
    pub level: i32,
    /// Compression threads [default: all cores]. The output does not depend on it.
    #[arg(long, default_value_t = 0, hide_default_value = true)]
    pub threads: u32,
    /// Split the payload into this many independent zstd frames (whole tar entries each), so
    /// the installer extracts them on that many cores at once; 1 compresses best.
    #[arg(long, default_value_t = DEFAULT_FRAMES, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub frames: u32,
    /// Print the result as one JSON object on stdout (on failure too: `ok` false and the
    /// error's code, kind and message).
    #[arg(long)]
    pub json: bool,
}

/// `go-offline-builder modules`.
#[derive(clap::Args, Debug)]
pub struct Modules {
    /// A Go project (a directory with go.mod and go.sum); repeatable. Without one, every
    /// module version in the cache is bundled.
    #[arg(long, value_name = "DIR")]
    pub project: Vec<PathBuf>,
    /// The module cache (GOMODCACHE, or a module proxy directory) [default: Go's, from
    /// $GOMODCACHE, $GOPATH or $HOME].
    #[arg(long, value_name = "DIR")]
    pub cache: Option<PathBuf>,
    /// Stub target triple: the machines the bundle is for [default: this machine's].
    #[arg(long, value_name = "TRIPLE")]
    pub target: Option<String>,
    #[command(flatten)]
    pub signing: Signing,
    /// Output file. An existing file is refused unless --force; an input (the key, --stub, a
    /// project's go.mod or go.sum, anything in the module cache) is refused always.
    #[arg(long, short, value_name = "FILE", default_value = "go-modules-installer")]
    pub output: PathBuf,
    /// Replace an existing output file (never one of the inputs).
    #[arg(long)]
    pub force: bool,
    /// zstd compression level, 1..=22.
    #[arg(long, default_value_t = DEFAULT_LEVEL, value_parser = clap::value_parser!(i32).range(1..=22))]
    pub level: i32,
    /// The checksum database's name, a host name such as sumdb.example.org [default:
    /// go-offline-KEYID].
    #[arg(long, value_name = "NAME", conflicts_with = "no_sumdb")]
    pub sumdb_name: Option<String>,
    /// The checksum database's log, a state file this command reads and extends (created when
    /// missing); keep it between builds so that each bundle's log extends the one before
    /// [default: a new log of this bundle's modules only].
    #[arg(long, value_name = "FILE", conflicts_with = "no_sumdb")]
    pub sumdb_log: Option<PathBuf>,
    /// Carry no checksum database (then only the projects' go.sum checks the modules).
    #[arg(long)]
    pub no_sumdb: bool,
    /// With --unsigned: the detached signature of the checksum database's tree note, which a
    /// first run without it wrote to OUTPUT.sumdb.tosign; the bundle is then written (and its
    /// statement to sign, OUTPUT.tosign, as for any --unsigned build).
    #[arg(long, value_name = "SIG", requires = "unsigned", conflicts_with = "no_sumdb")]
    pub sumdb_signature: Option<PathBuf>,
    /// An official Go release (.tar.gz or .zip, any GOOS/GOARCH) to carry as a toolchain module
    /// (golang.org/toolchain@v0.0.1-go1.27.3.linux-amd64), which go switches to offline when a
    /// go.mod or GOTOOLCHAIN asks for it (repeatable).
    #[arg(long, value_name = "FILE")]
    pub toolchain: Vec<PathBuf>,
    /// Print the result as one JSON object on stdout (on failure too: `ok` false and the
    /// error's code, kind and message).
    #[arg(long)]
    pub json: bool,
}

/// `go-offline-builder fetch`.
#[derive(clap::Args, Debug)]
pub struct Fetch {
    /// Go version(s), e.g. 1.27.3 (repeatable, or comma-separated).
    #[arg(long = "version", value_name = "VERSION", required = true, value_delimiter = ',')]
    pub versions: Vec<String>,
    /// GOARCH value(s), e.g. amd64,arm64.
    #[arg(long = "arch", value_name = "ARCH", default_value = "amd64", value_delimiter = ',')]
    pub arches: Vec<String>,
    /// Download site or mirror with the same layout [default: Go's download site].
    #[arg(long, value_name = "URL")]
    pub mirror: Option<String>,
    /// Release index (JSON) to take the sha256 from [default: the mirror's `?mode=json&include=all`].
    #[arg(long, value_name = "URL")]
    pub index: Option<String>,
    /// The expected sha256 (one version and arch only); the index is then not read.
    #[arg(long, value_name = "HEX", value_parser = sha256_arg)]
    pub sha256: Option<String>,
    /// Download cache [default: $XDG_CACHE_HOME/go-offline-builder].
    #[arg(long, value_name = "DIR")]
    pub cache: Option<PathBuf>,
    /// Print what was fetched as one JSON array (one object per tarball); on failure, one JSON
    /// object with the error.
    #[arg(long)]
    pub json: bool,
}

/// A `--sha256` value: 64 hex digits, in either case (a bad one is a command-line error, exit 2).
fn sha256_arg(value: &str) -> Result<String, String> {
    if format::manifest::is_sha256_hex(&value.to_ascii_lowercase()) {
        Ok(value.to_string())
    } else {
        Err("expected 64 hex digits".into())
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn help_lists_every_exit_code() {
        let help = Cli::command().render_long_help().to_string();
        for (code, meaning) in crate::exit::TABLE {
            assert!(help.contains(&format!("{code:>3}  {meaning}")), "--help lacks exit code {code}: {help}");
        }
    }

    /// clap's own exit code for a bad command line is the documented one.
    #[test]
    fn bad_command_lines_exit_with_usage() {
        let cases: &[&[&str]] = &[
            &["frobnicate"],
            &["build", "--key", "k"],
            &["build", "--go", "g"],
            &["build", "--go", "g", "--unsigned"],
            &["build", "--go", "g", "--unsigned", "--key", "k", "--expect-key", "p"],
            &["keygen"],
            &["keygen", "--out", "o", "--key", "vault:k"],
            &["keygen", "--out", "o", "--pub", "p"],
            &["attach", "i", "--signature", "s"],
            &["build", "--go", "g", "--key", "k", "--level", "23"],
            &["fetch", "--version", "1.27.3", "--sha256", "xyz"],
        ];
        for args in cases {
            let e = Cli::try_parse_from(std::iter::once("go-offline-builder").chain(args.iter().copied()))
                .expect_err("a bad command line was accepted");
            assert_eq!(e.exit_code(), crate::exit::USAGE, "{args:?}");
        }
    }

    /// `--help` describes every argument of every subcommand (a positional FILE and `--json`
    /// included).
    #[test]
    fn every_argument_has_help() {
        for sub in Cli::command().get_subcommands() {
            for arg in sub.get_arguments().filter(|a| !["help", "version"].contains(&a.get_id().as_str())) {
                assert!(arg.get_help().is_some(), "{} {} has no help", sub.get_name(), arg.get_id());
            }
        }
    }

    /// Every subcommand that takes `--json` says so ([`Command::json`]), under its own name.
    #[test]
    fn json_and_names_of_every_subcommand() {
        let cases: &[&[&str]] = &[
            &["keygen", "--out", "x"],
            &["build", "--go", "g", "--key", "k"],
            &["modules", "--key", "k"],
            &["fetch", "--version", "1.27.3"],
            &["release", "c"],
            &["attach", "i", "--signature", "s", "--expect-key", "p"],
            &["verify-sums", "d", "--key", "k"],
            &["targets"],
            &["inspect", "f"],
            &["verify", "f"],
        ];
        let names: Vec<&str> = cases.iter().map(|c| c[0]).collect();
        for sub in Cli::command().get_subcommands() {
            assert!(names.contains(&sub.get_name()), "no case for {}", sub.get_name());
        }
        for args in cases {
            let name = args[0];
            let parse = |args: &[&str]| {
                Cli::try_parse_from(std::iter::once("go-offline-builder").chain(args.iter().copied()))
                    .unwrap_or_else(|e| panic!("{args:?}: {e}"))
                    .command
            };
            let plain = parse(args);
            assert_eq!(plain.name(), name);
            assert!(!plain.json(), "{name}");
            let takes_json =
                Cli::command().find_subcommand(name).unwrap().get_arguments().any(|a| a.get_id() == "json");
            if takes_json {
                assert!(parse(&[*args, &["--json"][..]].concat()).json(), "{name}");
            }
        }
    }

    #[test]
    fn usage_errors_under_json() {
        let cases: &[(&[&str], bool, Option<&str>)] = &[
            (&["verify", "--json"], true, Some("verify")),
            (&["inspect", "f", "--jsn"], false, Some("inspect")),
            (&["frobnicate", "--json"], true, None),
            (&["build", "--go", "g", "--", "--json"], false, Some("build")),
            (&["--json"], true, None),
            (&[], false, None),
        ];
        for (args, json, action) in cases {
            let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
            assert_eq!(asks_for_json(&args), *json, "{args:?}");
            assert_eq!(subcommand_named(&args).as_deref(), *action, "{args:?}");
        }
    }

    #[test]
    fn sha256_arguments() {
        let cases: &[(&str, bool)] = &[
            (&"ab".repeat(32), true),
            (&"AB".repeat(32), true),
            (&"ab".repeat(31), false),
            (&"g".repeat(64), false),
            ("", false),
        ];
        for (value, accepted) in cases {
            assert_eq!(sha256_arg(value).is_ok(), *accepted, "{value}");
        }
    }
}
