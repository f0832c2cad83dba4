//! Module bundles: exactly the modules some Go projects need, taken from a module cache, checked
//! against the projects' `go.sum`, and signed into an installer of their own.
//!
//! The bundle is a module proxy directory (the layout of `$GOMODCACHE/cache/download`): for each
//! module version `PATH/@v/VERSION.mod`, `.info` and, when its packages are built, `.zip`; one
//! `PATH/@v/list` per module; and a `go.sum` at the top with every line the projects' go.sum files
//! hold for the bundled versions. Paths and versions are case-encoded as Go does (`!` before a
//! lower-cased capital). Every zip and go.mod is hashed the way Go hashes them (`h1:`, the
//! dirhash of `golang.org/x/mod`) and compared with go.sum before anything is written; the hashes
//! go into the signed manifest. Unless `--no-sumdb`, the directory also serves the organisation's
//! checksum database (`sumdb/NAME/`, see [`crate::checksum_db`]), which lists every module
//! version it carries, so that the go command checks a module no go.sum lists yet.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    io::{self, Read},
    path::{Path, PathBuf},
};

use format::{
    manifest::{self, escape_module, Manifest, Module, Payload, Product, Region, Source},
    platform::Target,
};
use sha2::{Digest, Sha256};

use crate::{
    checksum_db::{self, add_database, SumdbOptions, SumdbSummary},
    error::BuildError,
    output::write_file,
    pack::Compression,
    seal::{check_sealed_output, seal, BuildSummary, Seal, Sealing},
    source::{Node, SourceKind, Tree},
};

/// Options of [`build_modules`].
#[derive(Debug, Clone)]
pub struct ModulesOptions {
    /// Project directories: each one's go.sum lists the module versions to carry.
    pub projects: Vec<PathBuf>,
    /// The module cache (`GOMODCACHE`, or its `cache/download`); by default the one Go uses.
    pub cache: Option<PathBuf>,
    /// Stub target triple (the machines the bundle is for).
    pub target: String,
    /// Stub file; by default the one [`crate::stubs::resolve`] picks for the target.
    pub stub: Option<PathBuf>,
    pub output: PathBuf,
    pub compression: Compression,
    /// Build time; by default the newest mtime of the files carried.
    pub source_date_epoch: Option<u64>,
    /// Replace an existing output (never one of the inputs: see [`crate::output::check_output`]).
    pub force: bool,
    /// Files the caller read that the output must never replace, besides those named here (the
    /// signing key, `--expect-key`).
    pub keep: Vec<PathBuf>,
    /// The bundle's checksum database; `None`: the bundle carries none (`--no-sumdb`).
    pub sumdb: Option<SumdbOptions>,
    /// Official Go releases (`.tar.gz` or `.zip`) to carry as toolchain modules
    /// (`golang.org/toolchain@v0.0.1-go1.27.3.linux-amd64`), for `GOTOOLCHAIN` switches.
    pub toolchains: Vec<PathBuf>,
}

/// What [`build_modules`] produced.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ModulesSummary {
    #[serde(flatten)]
    pub installer: BuildSummary,
    /// Module versions carried, and how many of them with their zip.
    pub modules: usize,
    pub zips: usize,
    /// The proxy directory they were taken from.
    pub cache: PathBuf,
    /// Its checksum database, if it carries one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sumdb: Option<SumdbSummary>,
}

/// The `go.sum` hashes wanted for one module version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Sums {
    zip: Option<String>,
    go_mod: Option<String>,
}

/// What [`build_modules`] did.
#[derive(Debug, Clone)]
pub enum Modules {
    /// The bundle was written.
    Built(Box<ModulesSummary>),
    /// Signing later with a checksum database, first run: the tree note to sign was written to
    /// `path`; run again with its signature (`--sumdb-signature`) to write the bundle.
    NoteToSign { path: PathBuf, tree_size: u64 },
}

/// Builds a module bundle installer.
pub fn build_modules(opts: &ModulesOptions, seal_with: Seal) -> Result<Modules, BuildError> {
    let target = Target::from_triple(&opts.target).ok_or_else(|| {
        let known: Vec<_> = format::platform::TARGETS.iter().map(|t| t.triple).collect();
        BuildError::Mismatch(format!("unknown target '{}': supported targets are {}", opts.target, known.join(", ")))
    })?;
    let stub = crate::stubs::resolve(&target, opts.stub.as_deref())?;
    // A bundle of toolchains only needs no module cache.
    let toolchains_only = opts.projects.is_empty() && opts.cache.is_none() && !opts.toolchains.is_empty();
    let cache = if toolchains_only { PathBuf::new() } else { proxy_dir(opts.cache.as_deref())? };
    check_modules_output(opts, &stub, &cache, seal_with)?;
    let wanted = if toolchains_only {
        BTreeMap::new()
    } else if opts.projects.is_empty() {
        from_cache(&cache)?
    } else {
        from_projects(&opts.projects)?
    };
    if wanted.is_empty() && opts.toolchains.is_empty() {
        return Err(BuildError::Source {
            path: opts.projects.first().cloned().unwrap_or_else(|| cache.clone()),
            problem: "lists no module: there is nothing to bundle".into(),
        });
    }
    let (mut tree, mut modules) = collect(&cache, &wanted)?;
    for release in &opts.toolchains {
        add_toolchain(&mut tree, &mut modules, release)?;
    }
    let (sumdb, sumdb_summary, log_state) = match &opts.sumdb {
        None => (None, None, None),
        Some(o) => {
            let extended = checksum_db::extend_log(&modules, seal_with.public_key(), o)?;
            let signature = match (seal_with, &o.signature) {
                (Seal::Now(signer), _) => checksum_db::sign_now(&extended, signer)?,
                (Seal::Later(key), Some(path)) => checksum_db::signed_later(&extended, path, key)?,
                // Signing later: the tree note first, the bundle once it is signed.
                (Seal::Later(_), None) => {
                    let path = checksum_db::note_to_sign_path(&opts.output);
                    crate::output::check_output(&path, &[], true)?;
                    write_file(&path, extended.note_text().as_bytes(), 0o644)?;
                    return Ok(Modules::NoteToSign { path, tree_size: extended.tree_size() });
                }
            };
            let (db, summary, state) = add_database(&mut tree, &modules, extended, &signature, o);
            add_parent_dirs(&mut tree);
            (Some(db), Some(summary), state)
        }
    };
    let zips = modules.iter().filter(|m| m.zip_h1.is_some()).count();
    let count = modules.len();
    let name = if opts.projects.is_empty() {
        cache.display().to_string()
    } else {
        let names: Vec<String> = opts.projects.iter().map(|p| project_name(p)).collect();
        names.join(",")
    };
    let manifest = Manifest {
        format: manifest::MANIFEST_FORMAT,
        product: Product::GoModules,
        go_version: String::new(),
        goos: target.goos.into(),
        goarch: target.goarch.into(),
        goarm: None,
        target: target.triple.into(),
        created: opts.source_date_epoch.unwrap_or(tree.newest_mtime),
        signer_key_id: String::new(),
        stub: Region { len: 0, sha256: String::new() },
        payload: Payload::default(),
        source: Source { kind: SourceKind::Modules.name().into(), name, ..Default::default() },
        go_env: BTreeMap::new(),
        file_count: 0,
        files: Vec::new(),
        modules: Some(modules),
        delta: None,
        sumdb,
    };
    let installer = seal(
        manifest,
        Sealing { tree: &tree, stub: &stub, seal_with, compression: opts.compression, output: &opts.output },
    )?;
    // The log grows only once its bundle is written.
    if let Some(state) = log_state {
        state.write()?;
    }
    Ok(Modules::Built(Box::new(ModulesSummary { installer, modules: count, zips, cache, sumdb: sumdb_summary })))
}

/// [`check_sealed_output`] for a bundle: its inputs are the stub, the module cache (nothing may
/// be written inside it), each project's go.mod and go.sum, the signing key and `opts.keep`.
fn check_modules_output(
    opts: &ModulesOptions,
    stub: &crate::stubs::Stub,
    cache: &Path,
    seal_with: Seal,
) -> Result<(), BuildError> {
    let project_files: Vec<PathBuf> = opts.projects.iter().flat_map(|p| [p.join("go.mod"), p.join("go.sum")]).collect();
    let mut inputs: Vec<&Path> = vec![cache].into_iter().filter(|c| !c.as_os_str().is_empty()).collect();
    inputs.extend(opts.cache.as_deref());
    inputs.extend(stub.origin.path());
    inputs.extend(opts.stub.as_deref());
    inputs.extend(seal_with.key_file());
    inputs.extend(opts.keep.iter().map(PathBuf::as_path));
    inputs.extend(project_files.iter().map(PathBuf::as_path));
    inputs.extend(opts.sumdb.as_ref().and_then(|s| s.log.as_deref()));
    inputs.extend(opts.toolchains.iter().map(PathBuf::as_path));
    check_sealed_output(&opts.output, &inputs, opts.force, seal_with)
}

fn project_name(p: &Path) -> String {
    fs::canonicalize(p)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| p.display().to_string())
}

/// The module proxy directory inside a module cache: `DIR/cache/download` when it exists (DIR is
/// a `GOMODCACHE`), else DIR itself. Without DIR, Go's own: `$GOMODCACHE`, else the first
/// `$GOPATH` entry's `pkg/mod`, else `$HOME/go/pkg/mod`.
fn proxy_dir(dir: Option<&Path>) -> Result<PathBuf, BuildError> {
    let dir = match dir {
        Some(d) => d.to_path_buf(),
        None => {
            let var = |k| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
            var("GOMODCACHE")
                .or_else(|| var("GOPATH").and_then(|g| std::env::split_paths(&g).next()).map(|g| g.join("pkg/mod")))
                .or_else(|| var("HOME").map(|h| h.join("go/pkg/mod")))
                .ok_or_else(|| BuildError::Mismatch("no module cache: pass --cache DIR".into()))?
        }
    };
    let download = dir.join("cache/download");
    let found = if download.is_dir() { download } else { dir.clone() };
    if !found.is_dir() {
        return Err(BuildError::Source {
            path: dir,
            problem:
                "is not a module cache directory: run `go mod download` in the projects first, or pass --cache DIR"
                    .into(),
        });
    }
    Ok(found)
}

/// The module versions the projects' go.sum files list, with their hashes.
fn from_projects(projects: &[PathBuf]) -> Result<BTreeMap<(String, String), Sums>, BuildError> {
    let mut wanted: BTreeMap<(String, String), Sums> = BTreeMap::new();
    for project in projects {
        let go_sum = project.join("go.sum");
        if !project.join("go.mod").is_file() {
            return Err(BuildError::Source {
                path: project.join("go.mod"),
                problem: "is missing: not a Go module".into(),
            });
        }
        let text = match fs::read_to_string(&go_sum) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(BuildError::Source {
                    path: go_sum,
                    problem: "is missing: run `go mod tidy` in the project (where the modules can be downloaded) so that every module's sum is known".into(),
                })
            }
            Err(e) => return Err(BuildError::io("read", go_sum, e)),
        };
        for (n, line) in text.lines().enumerate() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let bad = |problem: &str| BuildError::Source {
                path: go_sum.clone(),
                problem: format!("line {}: {problem}: '{}'", n + 1, line.escape_debug()),
            };
            let [path, version, hash] = fields.as_slice() else {
                if fields.is_empty() {
                    continue;
                }
                return Err(bad("expected MODULE VERSION HASH"));
            };
            let (version, is_mod) = match version.strip_suffix("/go.mod") {
                Some(v) => (v, true),
                None => (*version, false),
            };
            if !hash.starts_with("h1:") {
                continue; // a future hash kind: Go ignores it too
            }
            if escape_module(path).is_none() || escape_module(version).is_none() {
                return Err(bad("not a module path and version"));
            }
            let sums = wanted.entry((path.to_string(), version.to_string())).or_default();
            let slot = if is_mod { &mut sums.go_mod } else { &mut sums.zip };
            match slot {
                Some(old) if old != hash => {
                    return Err(bad(&format!("conflicts with another go.sum, which has {old} for it")));
                }
                _ => *slot = Some(hash.to_string()),
            }
        }
    }
    Ok(wanted)
}

/// Every module version in a proxy directory (its sums are then computed from the files, not
/// checked: prefer `--project`).
fn from_cache(dir: &Path) -> Result<BTreeMap<(String, String), Sums>, BuildError> {
    let mut wanted = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let read = fs::read_dir(&d).map_err(|e| BuildError::io("read", &d, e))?;
        for entry in read {
            let entry = entry.map_err(|e| BuildError::io("read", &d, e))?;
            let path = entry.path();
            let kind = entry.file_type().map_err(|e| BuildError::io("read", &path, e))?;
            if kind.is_dir() && entry.file_name() == "@v" {
                let module = path
                    .parent()
                    .and_then(|p| p.strip_prefix(dir).ok())
                    .and_then(|p| p.to_str())
                    .and_then(unescape_module);
                let Some(module) = module else { continue };
                for f in fs::read_dir(&path).map_err(|e| BuildError::io("read", &path, e))? {
                    let f = f.map_err(|e| BuildError::io("read", &path, e))?;
                    let name = f.file_name().to_string_lossy().into_owned();
                    if let Some(version) = name.strip_suffix(".mod").and_then(unescape_module) {
                        let zip = path.join(format!("{}.zip", escape_module(&version).unwrap_or_default()));
                        wanted.insert(
                            (module.clone(), version),
                            Sums { zip: zip.is_file().then(String::new), go_mod: Some(String::new()) },
                        );
                    }
                }
            } else if kind.is_dir() && path.strip_prefix(dir).ok() != Some(Path::new("sumdb")) {
                stack.push(path);
            }
        }
    }
    Ok(wanted)
}

/// A file's bytes and modification time.
type Loaded = (Vec<u8>, u64);

/// Reads every wanted file from the proxy directory, checks its hash, and lays the bundle out.
fn collect(dir: &Path, wanted: &BTreeMap<(String, String), Sums>) -> Result<(Tree, Vec<Module>), BuildError> {
    let mut tree = Tree::default();
    let mut modules = Vec::new();
    let mut lists: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut go_sum = String::new();
    for ((path, version), sums) in wanted {
        let module = collect_module(dir, path, version, sums, &mut tree)?;
        lists.entry(escape_module(path).unwrap_or_default()).or_default().insert(version.clone());
        go_sum.push_str(&module.sum_lines());
        modules.push(module);
    }
    for (esc, versions) in lists {
        let text: String = versions.iter().map(|v| format!("{v}\n")).collect();
        tree.nodes.insert(format!("{esc}/@v/list"), Node::File { mode: 0o444, data: text.into_bytes() });
    }
    tree.nodes.insert("go.sum".into(), Node::File { mode: 0o444, data: go_sum.into_bytes() });
    add_parent_dirs(&mut tree);
    Ok((tree, modules))
}

/// The module path of Go toolchains.
const TOOLCHAIN_MODULE: &str = "golang.org/toolchain";

/// Adds the official Go release `release` to the bundle as a toolchain module, in the form Go's
/// own release process gives it (`cmd/distpack`): the binary distribution without `api/`,
/// `doc/`, `misc/` and `test/`, under the prefix `golang.org/toolchain@v0.0.1-go1.27.3.linux-amd64/`,
/// every `go.mod` renamed `_go.mod` (a module zip holds only its root's); so its `h1:` hash is
/// the one `sum.golang.org` lists for it. The zip is stored, not deflated: the bundle's zstd
/// compresses it. Its go.mod is `module golang.org/toolchain`; go sets the execute bits of
/// `bin/` and `pkg/tool/` itself when it switches to it.
fn add_toolchain(tree: &mut Tree, modules: &mut Vec<Module>, release: &Path) -> Result<(), BuildError> {
    let (dist_tree, _) = crate::source::read(release)?;
    let dist = crate::build::identify(&dist_tree, release)?;
    let version = format!("v0.0.1-{}.{}-{}", dist.go_version, dist.goos, dist.goarch);
    if modules.iter().any(|m| m.path == TOOLCHAIN_MODULE && m.version == version) {
        return Err(BuildError::Mismatch(format!("toolchain {version} is given twice")));
    }
    let prefix = format!("{TOOLCHAIN_MODULE}@{version}/");
    let mut files: Vec<(String, &[u8])> = Vec::new();
    for (path, node) in &dist_tree.nodes {
        let Node::File { data, .. } = node else { continue };
        if ["api/", "doc/", "misc/", "test/"].iter().any(|d| path.starts_with(d)) {
            continue;
        }
        let name = match path.strip_suffix("go.mod") {
            Some(dir) if dir.is_empty() || dir.ends_with('/') => format!("{prefix}{dir}_go.mod"),
            _ => format!("{prefix}{path}"),
        };
        files.push((name, data));
    }
    let zip_h1 = h1(files.clone());
    let mut zip = zip::ZipWriter::new(io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .last_modified_time(zip::DateTime::default())
        .large_file(false);
    let zip_err =
        |e: zip::result::ZipError| BuildError::Mismatch(format!("could not make the toolchain module zip: {e}"));
    for (name, data) in &files {
        zip.start_file(name.as_str(), options).map_err(zip_err)?;
        io::Write::write_all(&mut zip, data).map_err(|e| BuildError::io("write", release, e))?;
    }
    let zip = zip.finish().map_err(zip_err)?.into_inner();
    let go_mod = format!("module {TOOLCHAIN_MODULE}\n").into_bytes();
    let mod_h1 = h1(vec![("go.mod".to_string(), go_mod.as_slice())]);
    let info = format!("{{\"Version\":\"{version}\",\"Time\":\"2000-01-01T00:00:00Z\"}}\n").into_bytes();
    let stem = format!("{TOOLCHAIN_MODULE}/@v/{version}.");
    for (ext, data) in [("zip", zip), ("mod", go_mod), ("info", info)] {
        tree.nodes.insert(format!("{stem}{ext}"), Node::File { mode: 0o444, data });
    }
    let list = format!("{TOOLCHAIN_MODULE}/@v/list");
    let mut versions = match tree.nodes.get(&list) {
        Some(Node::File { data, .. }) => String::from_utf8_lossy(data).into_owned(),
        _ => String::new(),
    };
    versions.push_str(&format!("{version}\n"));
    tree.nodes.insert(list, Node::File { mode: 0o444, data: versions.into_bytes() });
    let module = Module { path: TOOLCHAIN_MODULE.into(), version, mod_h1, zip_h1: Some(zip_h1) };
    if let Some(Node::File { data, .. }) = tree.nodes.get_mut("go.sum") {
        data.extend_from_slice(module.sum_lines().as_bytes());
    }
    modules.push(module);
    modules.sort_by(|a, b| (&a.path, &a.version).cmp(&(&b.path, &b.version)));
    add_parent_dirs(tree);
    Ok(())
}

/// Lists every parent directory of the tree's entries (the map is sorted by path bytes, and a
/// directory's name sorts before "name/...").
fn add_parent_dirs(tree: &mut Tree) {
    let dirs: BTreeSet<String> = tree
        .nodes
        .keys()
        .flat_map(|p| p.match_indices('/').map(|(i, _)| p[..i].to_string()).collect::<Vec<_>>())
        .collect();
    for d in dirs {
        tree.nodes.insert(d, Node::Dir);
    }
}

/// Reads the `.mod`, `.zip` (when wanted) and `.info` of module `path` at `version` from the proxy
/// directory, checks their hashes against `sums`, and puts them into `tree`.
fn collect_module(dir: &Path, path: &str, version: &str, sums: &Sums, tree: &mut Tree) -> Result<Module, BuildError> {
    let stem =
        format!("{}/@v/{}.", escape_module(path).unwrap_or_default(), escape_module(version).unwrap_or_default());
    let read = |ext: &str| -> Result<(PathBuf, Option<Loaded>), BuildError> {
        let file = dir.join(format!("{stem}{ext}"));
        let loaded = read_cached(&file)?;
        Ok((file, loaded))
    };
    let missing = |file: &Path| {
        BuildError::Source {
        path: file.to_path_buf(),
        problem: format!(
            "is missing, so {path}@{version} is not in the module cache: run `go mod download` in the project (or `go mod download {path}@{version}`) first"
        ),
    }
    };
    let (mod_file, go_mod) = read("mod")?;
    let (go_mod, mod_time) = go_mod.ok_or_else(|| missing(&mod_file))?;
    let mod_h1 = h1(vec![("go.mod".to_string(), go_mod.as_slice())]);
    check_sum(&mod_file, path, version, "go.mod", sums.go_mod.as_deref(), &mod_h1)?;
    let mut zip_h1 = None;
    let mut times = vec![mod_time];
    if let Some(want) = &sums.zip {
        let (zip_file, zip) = read("zip")?;
        let (zip, zip_time) = zip.ok_or_else(|| missing(&zip_file))?;
        let found = zip_h1_of(&zip).map_err(|problem| BuildError::Source {
            path: zip_file.clone(),
            problem: format!("is not a readable module zip ({problem}): the cache is damaged; run `go clean -modcache` and download again"),
        })?;
        check_sum(&zip_file, path, version, "zip", Some(want.as_str()).filter(|w| !w.is_empty()), &found)?;
        tree.nodes.insert(format!("{stem}zip"), Node::File { mode: 0o444, data: zip });
        times.push(zip_time);
        zip_h1 = Some(found);
    }
    let info = match read("info")? {
        (_, Some((data, t))) => {
            times.push(t);
            data
        }
        // Go reads .info for version queries; a cache filled by `go mod download` has it.
        (_, None) => format!("{{\"Version\":\"{version}\"}}\n").into_bytes(),
    };
    tree.nodes.insert(format!("{stem}info"), Node::File { mode: 0o444, data: info });
    tree.nodes.insert(format!("{stem}mod"), Node::File { mode: 0o444, data: go_mod });
    tree.newest_mtime = times.into_iter().fold(tree.newest_mtime, u64::max);
    Ok(Module { path: path.into(), version: version.into(), mod_h1, zip_h1 })
}

/// A file of the module cache and its modification time, or `None` when it is not there.
fn read_cached(file: &Path) -> Result<Option<Loaded>, BuildError> {
    match fs::read(file) {
        Ok(data) => {
            let mtime = fs::metadata(file)
                .ok()
                .and_then(|m| m.modified().ok())
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_secs());
            Ok(Some((data, mtime)))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(BuildError::io("read", file, e)),
    }
}

/// Compares a computed `h1:` hash with go.sum's (none: the cache alone is the source).
fn check_sum(
    file: &Path,
    path: &str,
    version: &str,
    what: &str,
    want: Option<&str>,
    found: &str,
) -> Result<(), BuildError> {
    match want {
        Some(w) if !w.is_empty() && w != found => Err(BuildError::Mismatch(format!(
            "{path}@{version}: the {what} in the module cache ('{}') hashes to {found} but go.sum says {w}: the cache was altered or the go.sum is wrong; run `go clean -modcache` and `go mod download` again, and refuse to ship it until they agree",
            file.display()
        ))),
        _ => Ok(()),
    }
}

/// Go's `h1:` hash of a list of files (`dirhash.Hash1`): the sha256 of the lines
/// `HEX_SHA256  NAME\n`, sorted by name, in base64.
pub fn h1(mut files: Vec<(String, &[u8])>) -> String {
    files.sort_by(|a, b| a.0.cmp(&b.0));
    let mut summary = Sha256::new();
    for (name, data) in files {
        summary.update(format!("{}  {name}\n", hex::encode(Sha256::digest(data))));
    }
    format!("h1:{}", format::sumdb::base64_encode(&summary.finalize()))
}

/// The `h1:` hash of a module zip: every file in it, by its name in the zip.
pub fn zip_h1_of(zip: &[u8]) -> Result<String, String> {
    let mut archive = zip::ZipArchive::new(io::Cursor::new(zip)).map_err(|e| e.to_string())?;
    let mut files = Vec::with_capacity(archive.len());
    for i in 0..archive.len() {
        let mut f = archive.by_index(i).map_err(|e| e.to_string())?;
        let name = f.name().to_string();
        if name.contains('\n') {
            return Err(format!("file name '{}' contains a newline", name.escape_debug()));
        }
        let mut data = Vec::with_capacity(f.size().min(1 << 30) as usize);
        f.read_to_end(&mut data).map_err(|e| format!("{name}: {e}"))?;
        files.push((name, data));
    }
    Ok(h1(files.iter().map(|(n, d)| (n.clone(), d.as_slice())).collect()))
}

/// The inverse of [`escape_module`] (`None` for names it would not produce).
fn unescape_module(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut bang = false;
    for c in s.chars() {
        match (bang, c) {
            (true, 'a'..='z') => {
                out.push(c.to_ascii_uppercase());
                bang = false;
            }
            (true, _) | (false, 'A'..='Z') => return None,
            (false, '!') => bang = true,
            (false, _) => out.push(c),
        }
    }
    (!bang && escape_module(&out).as_deref() == Some(s)).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn h1_sorts_names_and_has_gos_shape() {
        // That it equals Go's own hashes is checked end to end against go.sum files the real go
        // command wrote (tests/it/modules.rs).
        let a = h1(vec![("b".into(), b"2"), ("a".into(), b"1")]);
        let b = h1(vec![("a".into(), b"1"), ("b".into(), b"2")]);
        assert_eq!(a, b);
        assert_ne!(a, h1(vec![("a".into(), b"2"), ("b".into(), b"1")]));
        assert!(a.starts_with("h1:") && a.len() == 47 && a.ends_with('='), "{a}");
    }

    #[test]
    fn module_paths_escape_and_unescape() {
        let cases = [
            ("github.com/Azure/azure-sdk", Some("github.com/!azure/azure-sdk")),
            ("example.com/greet", Some("example.com/greet")),
            ("v1.2.3-RC1", Some("v1.2.3-!r!c1")),
            ("example.com/../etc", None),
            ("/abs", None),
            ("a b", None),
            ("a!b", None),
            ("", None),
        ];
        for (input, want) in cases {
            let got = escape_module(input);
            assert_eq!(got.as_deref(), want, "{input}");
            if let Some(e) = got {
                assert_eq!(unescape_module(&e).as_deref(), Some(input), "{e}");
            }
        }
        assert_eq!(unescape_module("example.com/Greet"), None);
        assert_eq!(unescape_module("example.com/!"), None);
    }
}
