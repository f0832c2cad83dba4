//! `build`: a Go distribution (tarball, zip or GOROOT) to one installer.
//!
//! `prepare` reads the distribution ([`crate::source`]), says what it is (`identify`: version,
//! GOOS, GOARCH from `bin/go`), chooses the stub's target (`choose_target`), checks a download
//! against its publisher (`check_published`), writes the offline `go.env`
//! ([`crate::go_env`]) and starts the manifest; [`build`] then has it sealed ([`crate::seal`]).
//! A delta ([`crate::delta`]) prepares the same way. This module knows the Go distribution and
//! nothing of the codec or the byte layout.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use format::{
    manifest::{self, Manifest, Payload, Product, Region, Source},
    platform::{elf_machine, Target},
};

use crate::{
    error::BuildError,
    go_env::{go_env_overrides, offline_go_env},
    pack::Compression,
    seal::{check_sealed_output, seal, BuildSummary, Seal, Sealing},
    source::{self, Tree},
    stubs,
};

/// Options of [`build`].
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// A `go*.tar.gz` or a GOROOT directory.
    pub go: PathBuf,
    /// Stub target triple; by default the one matching the distribution.
    pub target: Option<String>,
    /// Stub file; by default the one [`stubs::resolve`] picks for the target.
    pub stub: Option<PathBuf>,
    pub output: PathBuf,
    /// `--go-env KEY=VALUE` overrides, applied after [`crate::go_env::OFFLINE_DEFAULTS`].
    pub go_env: Vec<String>,
    /// Compression level (1..=22, see [`crate::pack`]).
    pub level: i32,
    /// Worker threads for compression (0: all cores).
    pub threads: u32,
    /// Independent compressed frames of the payload (1..=256), extracted in parallel by the installer.
    pub frames: u32,
    /// Build time; by default the newest mtime of the source.
    pub source_date_epoch: Option<u64>,
    /// Where the tarball was downloaded from and the sha256 published for it (recorded in the
    /// manifest; the tarball must have that sha256).
    pub provenance: Option<Provenance>,
    /// Replace an existing output (never one of the inputs: see [`crate::output::check_output`]).
    pub force: bool,
    /// Files the caller read that the output must never replace, besides those named here (the
    /// signing key, `--expect-key`, `--full`).
    pub keep: Vec<PathBuf>,
}

impl BuildOptions {
    /// How the payload of this build is compressed.
    pub fn compression(&self) -> Compression {
        Compression { level: self.level, threads: self.threads, frames: self.frames }
    }
}

/// Where a tarball came from (see [`format::manifest::Source`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    pub url: String,
    pub published_sha256: String,
    pub published_by: String,
}

/// Builds an installer.
pub fn build(opts: &BuildOptions, seal_with: Seal) -> Result<BuildSummary, BuildError> {
    let Prepared { tree, manifest, stub, .. } = prepare(opts)?;
    check_build_output(&opts.output, opts, &stub, &[], seal_with)?;
    let compression = opts.compression();
    seal(manifest, Sealing { tree: &tree, stub: &stub, seal_with, compression, output: &opts.output })
}

/// [`check_sealed_output`] for a build's `output`: its inputs are the distribution, the stub file,
/// the signing key file, `opts.keep` and `more`.
pub(crate) fn check_build_output(
    output: &Path,
    opts: &BuildOptions,
    stub: &stubs::Stub,
    more: &[&Path],
    seal_with: Seal,
) -> Result<(), BuildError> {
    let mut inputs: Vec<&Path> = vec![&opts.go];
    inputs.extend(stub.origin.path());
    inputs.extend(opts.stub.as_deref());
    inputs.extend(seal_with.key_file());
    inputs.extend(opts.keep.iter().map(PathBuf::as_path));
    inputs.extend(more);
    check_sealed_output(output, &inputs, opts.force, seal_with)
}

/// A Go distribution read and made ready to pack: its tree with the offline `go.env`, the
/// manifest to complete, the stub.
pub(crate) struct Prepared {
    pub tree: Tree,
    pub manifest: Manifest,
    pub stub: stubs::Stub,
    /// The `--go-env` overrides applied (a delta's base gets the same).
    pub overrides: BTreeMap<String, String>,
}

/// Reads, identifies and checks the distribution of `opts`, and writes its `go.env`.
pub(crate) fn prepare(opts: &BuildOptions) -> Result<Prepared, BuildError> {
    let (mut tree, source) = source::read(&opts.go)?;
    let dist = identify(&tree, &opts.go)?;
    let target = choose_target(opts.target.as_deref(), &dist)?;
    let stub = stubs::resolve(&target, opts.stub.as_deref())?;
    if let Some(p) = &opts.provenance {
        check_published(&opts.go, &source, p)?;
    }
    let overrides = go_env_overrides(&opts.go_env)?;
    let go_env = offline_go_env(&mut tree, &overrides);
    let created = opts.source_date_epoch.unwrap_or(tree.newest_mtime);
    let manifest = Manifest {
        format: manifest::MANIFEST_FORMAT,
        product: Product::Go,
        go_version: dist.go_version,
        goos: dist.goos.into(),
        goarch: dist.goarch.into(),
        goarm: dist.goarm.clone(),
        target: target.triple.into(),
        created,
        signer_key_id: String::new(),
        stub: Region { len: 0, sha256: String::new() },
        payload: Payload::default(),
        source: Source {
            kind: source.kind.name().into(),
            name: source.name.clone(),
            sha256: source.sha256.clone(),
            url: opts.provenance.as_ref().map(|p| p.url.clone()),
            published_sha256: opts.provenance.as_ref().map(|p| p.published_sha256.clone()),
            published_by: opts.provenance.as_ref().map(|p| p.published_by.clone()),
        },
        go_env,
        file_count: 0,
        files: Vec::new(),
        modules: None,
        delta: None,
        sumdb: None,
    };
    Ok(Prepared { tree, manifest, stub, overrides })
}

/// What a Go distribution says it is.
pub(crate) struct Distribution {
    /// The first line of `VERSION`, e.g. `go1.27.3`.
    pub go_version: String,
    pub goos: &'static str,
    /// From the ELF header of `bin/go`.
    pub goarch: &'static str,
    /// For `arm`, the `GOARM` level in `bin/go`'s build information, when it records one.
    pub goarm: Option<String>,
}

/// Reads the version and platform of the Go distribution `tree`, read from `go`; refuses a tree
/// that is not a Linux Go distribution.
pub(crate) fn identify(tree: &Tree, go: &Path) -> Result<Distribution, BuildError> {
    let go_version = tree
        .file("VERSION")
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|v| v.lines().next())
        .map(str::to_string)
        .filter(|v| manifest::is_go_version(v))
        .ok_or_else(|| BuildError::Source {
            path: go.join("VERSION"),
            problem: "is missing or does not start with a Go version line: not a Go distribution".into(),
        })?;
    // A Windows distribution has bin/go.exe (a PE file), every other one bin/go (ELF here).
    if let Some(exe) = tree.file("bin/go.exe").filter(|_| tree.file("bin/go").is_none()) {
        let bad_exe = |problem: String| BuildError::Source { path: go.join("bin/go.exe"), problem };
        let machine = format::platform::pe_machine(exe).ok_or_else(|| bad_exe("is not a PE executable".into()))?;
        let goarch = format::platform::pe_goarch(machine)
            .ok_or_else(|| bad_exe(format!("is for PE machine {machine:#06x}, which Go does not ship for Windows")))?;
        return Ok(Distribution { go_version, goos: "windows", goarch, goarm: None });
    }
    let bad_go = |problem: String| BuildError::Source { path: go.join("bin/go"), problem };
    let go_bin =
        tree.file("bin/go").ok_or_else(|| bad_go("is missing (and so is bin/go.exe): not a Go distribution".into()))?;
    let elf = elf_machine(go_bin).ok_or_else(|| {
        bad_go("is not an ELF executable: only Linux and Windows Go distributions are supported".into())
    })?;
    let goarch =
        elf.goarch().ok_or_else(|| bad_go(format!("is for ELF machine {}, which Go does not support", elf.machine)))?;
    let goarm =
        (goarch == "arm").then(|| format::platform::go_build_setting(go_bin, "GOARM").map(str::to_string)).flatten();
    Ok(Distribution { go_version, goos: "linux", goarch, goarm })
}

/// The stub target: `requested` (a triple), else the one for the distribution's platform; refuses
/// a target for another platform than the distribution's.
fn choose_target(requested: Option<&str>, dist: &Distribution) -> Result<Target, BuildError> {
    let Distribution { go_version, goos, goarch, .. } = dist;
    let target = match requested {
        Some(t) => Target::from_triple(t).ok_or_else(|| {
            let known: Vec<_> = format::platform::TARGETS.iter().map(|t| t.triple).collect();
            BuildError::Mismatch(format!("unknown target '{t}': supported targets are {}", known.join(", ")))
        })?,
        None => Target::from_go(goos, goarch).ok_or_else(|| {
            let known: Vec<_> = format::platform::TARGETS.iter().map(|t| format!("{}/{}", t.goos, t.goarch)).collect();
            BuildError::Mismatch(format!(
                "the Go distribution is {go_version} {goos}/{goarch}, and this builder makes installers for {} only: there is no stub for {goos}/{goarch} yet",
                known.join(", ")
            ))
        })?,
    };
    if target.goarch != *goarch || target.goos != *goos {
        return Err(BuildError::Mismatch(format!(
            "the Go distribution is {go_version} {goos}/{goarch} but the target {} is {}/{}: build with the distribution for {}/{} or pass --target for {goos}/{goarch}",
            target.triple, target.goos, target.goarch, target.goos, target.goarch
        )));
    }
    Ok(target)
}

/// Refuses a source (read from `go`) that is not the tarball its publisher lists.
fn check_published(go: &Path, source: &source::SourceInfo, p: &Provenance) -> Result<(), BuildError> {
    if source.sha256.as_deref() == Some(p.published_sha256.as_str()) {
        return Ok(());
    }
    Err(BuildError::NotPublished {
        path: go.to_path_buf(),
        found: source.sha256.clone().unwrap_or_else(|| "(a directory, not a tarball)".into()),
        published_sha256: p.published_sha256.clone(),
        published_by: p.published_by.clone(),
        url: p.url.clone(),
    })
}
