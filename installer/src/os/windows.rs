//! The OS primitives on Windows: `MoveFileExW`, `LockFileEx`, `FlushFileBuffers`,
//! `GetDiskFreeSpaceExW`, the token's elevation, file indexes. See the table in `os/mod.rs` for
//! what each must guarantee; where Windows differs, the function says how the guarantee is kept.
//!
//! Windows has no permission bits: modes are accepted and not applied, and [`KEEPS_MODES`] tells
//! the engine not to compare them. NTFS journals its metadata, so a rename done with
//! `MOVEFILE_WRITE_THROUGH` is durable when it returns and [`sync_dir`] has nothing left to do.

use std::{
    collections::hash_map::RandomState,
    fs::{self, File, OpenOptions},
    hash::{BuildHasher, Hasher},
    io::{self, ErrorKind, Read, Write},
    os::windows::{
        ffi::OsStrExt,
        fs::{MetadataExt, OpenOptionsExt},
        io::AsRawHandle,
    },
    path::{Path, PathBuf},
    process::Command,
};

use windows_sys::Win32::{
    Foundation::{
        CloseHandle, ERROR_ACCESS_DENIED, ERROR_ALREADY_EXISTS, ERROR_FILE_EXISTS, ERROR_FILE_NOT_FOUND,
        ERROR_IO_PENDING, ERROR_LOCK_VIOLATION, ERROR_SHARING_VIOLATION, HANDLE,
    },
    Security::{GetTokenInformation, TokenElevation, TOKEN_ELEVATION, TOKEN_QUERY},
    Storage::FileSystem::{
        FlushFileBuffers, GetDiskFreeSpaceExW, GetDiskFreeSpaceW, GetFileInformationByHandle, LockFileEx, MoveFileExW,
        BY_HANDLE_FILE_INFORMATION, FILE_ATTRIBUTE_REPARSE_POINT, FILE_FLAG_BACKUP_SEMANTICS,
        FILE_FLAG_OPEN_REPARSE_POINT, LOCKFILE_EXCLUSIVE_LOCK, LOCKFILE_FAIL_IMMEDIATELY, MOVEFILE_WRITE_THROUGH,
    },
    System::{
        Console::GetConsoleProcessList,
        Registry::{
            RegCloseKey, RegDeleteValueW, RegOpenKeyExW, RegQueryValueExW, RegSetValueExW, HKEY, HKEY_CURRENT_USER,
            HKEY_LOCAL_MACHINE, KEY_QUERY_VALUE, KEY_SET_VALUE, REG_EXPAND_SZ, REG_SAM_FLAGS, REG_SZ,
        },
        Threading::{GetCurrentProcess, OpenProcessToken},
        IO::OVERLAPPED,
    },
    UI::WindowsAndMessaging::{SendMessageTimeoutW, HWND_BROADCAST, SMTO_ABORTIFHUNG, WM_SETTINGCHANGE},
};

use super::{
    shell::Scope, Exchange, FreeSpace, Host, Kind, LockError, LockMode, ReadError, StoredValue, TreeId, TEMP_PREFIX,
};

/// Whether the file system keeps the permission bits the manifest records (it does not here:
/// `verify-installed` compares contents, sizes and types, not modes).
pub const KEEPS_MODES: bool = false;

/// The lock file in the prefix ([`lock`]): Windows locks byte ranges of files, not directories.
pub const LOCK_FILE: &str = ".go-offline-lock";

/// A path as a NUL-terminated UTF-16 string for the wide Win32 calls.
fn wide(path: &Path) -> Vec<u16> {
    path.as_os_str().encode_wide().chain(Some(0)).collect()
}

/// The variable naming the user's home directory: `USERPROFILE`.
pub const HOME_VAR: &str = "USERPROFILE";

/// Writes `contents` to `path` by temp file + `FlushFileBuffers` + `MoveFileExW` (replace,
/// write-through). Modes are not applied (see the module's comment).
pub fn write_atomic(path: &Path, contents: &[u8], _mode: Option<u32>) -> io::Result<()> {
    let dir = parent(path);
    let mut tmp = tempfile::Builder::new().prefix(TEMP_PREFIX).tempfile_in(dir)?;
    tmp.write_all(contents)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// The directory holding `path` (`.` for a bare name).
fn parent(path: &Path) -> &Path {
    path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// `CreateDirectoryW`; fails if anything is at `path`. The directory inherits its parent's ACL,
/// which is what the prefix's location (`%ProgramFiles%`, `%LOCALAPPDATA%`) sets.
pub fn create_dir(path: &Path, _mode: u32) -> io::Result<()> {
    fs::create_dir(path)
}

/// No permission bits on Windows: nothing to set.
pub fn set_mode(_path: &Path, _mode: u32) -> io::Result<()> {
    Ok(())
}

/// No permission bits on Windows: nothing to set.
pub fn set_file_mode(_file: &File, _mode: u32) -> io::Result<()> {
    Ok(())
}

/// `CREATE_NEW`: fails if anything, a link included, is at the name.
pub fn create_new_file(path: &Path, _mode: u32) -> io::Result<File> {
    OpenOptions::new().write(true).create_new(true).open(path)
}

/// Opens a user's file to append to it, creating it if missing.
pub fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().append(true).create(true).open(path)
}

/// Opens a log of ours to append to it, creating it; a link at its name is refused.
pub fn open_log(path: &Path) -> io::Result<File> {
    if is_link(path) {
        return Err(io::Error::new(ErrorKind::InvalidInput, "a link is at the log's name"));
    }
    OpenOptions::new().append(true).create(true).custom_flags(FILE_FLAG_OPEN_REPARSE_POINT).open(path)
}

/// Whether a reparse point (symbolic link, junction) is at `path`.
fn is_link(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.file_attributes() & FILE_ATTRIBUTE_REPARSE_POINT != 0)
}

/// Reads a file of ours (`None` when missing), refusing a link at its name (opened as the
/// reparse point itself, never followed), anything but a regular file, and a file longer than
/// `max_len`.
pub fn read_nofollow(path: &Path, max_len: u64) -> Result<Option<Vec<u8>>, ReadError> {
    let mut file = match OpenOptions::new().read(true).custom_flags(FILE_FLAG_OPEN_REPARSE_POINT).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ReadError::Io(e)),
    };
    let meta = file.metadata().map_err(ReadError::Io)?;
    if meta.file_attributes() & FILE_ATTRIBUTE_REPARSE_POINT != 0 {
        return Err(ReadError::Symlink);
    }
    if !meta.is_file() || meta.len() > max_len {
        return Err(ReadError::NotRegular);
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(ReadError::Io)?;
    Ok(Some(bytes))
}

/// `MoveFileExW` without `MOVEFILE_REPLACE_EXISTING`: never replaces what is at `to`.
pub fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    // SAFETY: both arguments are NUL-terminated wide strings that outlive the call.
    let ok = unsafe { MoveFileExW(wide(from).as_ptr(), wide(to).as_ptr(), MOVEFILE_WRITE_THROUGH) };
    if ok != 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error().map(|c| c as u32) {
        Some(ERROR_ALREADY_EXISTS | ERROR_FILE_EXISTS) => Err(io::Error::from(ErrorKind::AlreadyExists)),
        _ => Err(e),
    }
}

/// Whether an error of a rename says a program uses what was to be renamed: Windows refuses to
/// rename a directory holding a running image or a file open without delete sharing
/// (`ERROR_ACCESS_DENIED`, `ERROR_SHARING_VIOLATION`).
pub fn in_use(e: &io::Error) -> bool {
    matches!(e.raw_os_error().map(|c| c as u32), Some(ERROR_ACCESS_DENIED | ERROR_SHARING_VIOLATION))
}

/// Windows cannot swap two names in one step: the engine falls back to two renames, journaled.
pub fn rename_exchange(_a: &Path, _b: &Path) -> Result<(), Exchange> {
    Err(Exchange::Unsupported)
}

/// Renames are written through ([`rename_noreplace`]) and NTFS journals them: nothing to do.
pub fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

/// Flushes a file extraction just wrote, while it is still open (`FlushFileBuffers`): Windows has
/// no `syncfs` an unprivileged process may call, and flushing each file as it closes costs no
/// second open (under Wine, the install took 2.5 times as long when each file was reopened).
pub fn flush_extracted(file: &File) -> io::Result<()> {
    // SAFETY: the handle is open for writing for the duration of the call.
    if unsafe { FlushFileBuffers(file.as_raw_handle() as HANDLE) } == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Every file extraction wrote under `dir` was flushed as it closed ([`flush_extracted`]), and
/// NTFS journals the directory entries: nothing is left to do.
pub fn sync_fs(_dir: &Path) -> io::Result<()> {
    Ok(())
}

/// A held lock on a prefix; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

/// Locks `dir` through its lock file ([`LOCK_FILE`], made when missing) with `LockFileEx`;
/// `wait` blocks until the other holder is done instead of failing with [`LockError::Busy`].
pub fn lock(dir: &Path, mode: LockMode, wait: bool) -> Result<Lock, LockError> {
    if !dir.is_dir() {
        return Err(LockError::Open(io::Error::from(ErrorKind::NotFound)));
    }
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .custom_flags(FILE_FLAG_OPEN_REPARSE_POINT)
        .open(&path)
        .map_err(LockError::Open)?;
    let mut flags = 0;
    if mode == LockMode::Exclusive {
        flags |= LOCKFILE_EXCLUSIVE_LOCK;
    }
    if !wait {
        flags |= LOCKFILE_FAIL_IMMEDIATELY;
    }
    // SAFETY: an all-zero OVERLAPPED (offset 0, no event) is valid for a synchronous handle.
    let mut at: OVERLAPPED = unsafe { std::mem::zeroed() };
    // SAFETY: the handle is open for the call; the whole file's range is locked.
    if unsafe { LockFileEx(file.as_raw_handle() as HANDLE, flags, 0, u32::MAX, u32::MAX, &mut at) } != 0 {
        return Ok(Lock { _file: file });
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error().map(|c| c as u32) {
        Some(ERROR_LOCK_VIOLATION | ERROR_IO_PENDING) => Err(LockError::Busy),
        _ => Err(LockError::Io(e)),
    }
}

/// Whether entries can be made in `dir`, asked without writing. Windows has no such question
/// short of trying (its ACLs are evaluated on open), so only a `dir` that is not a directory is
/// refused here; the write itself reports the rest.
pub fn can_write_in(dir: &Path) -> io::Result<()> {
    match fs::metadata(dir)?.is_dir() {
        true => Ok(()),
        false => Err(io::Error::from(ErrorKind::NotADirectory)),
    }
}

/// Whether the existing file `path` may be written, asked without writing: its read-only
/// attribute (see [`can_write_in`]).
pub fn can_write(path: &Path) -> io::Result<()> {
    match fs::metadata(path)?.permissions().readonly() {
        true => Err(io::Error::from(ErrorKind::PermissionDenied)),
        false => Ok(()),
    }
}

/// Free space of the volume holding `dir` for this user (`GetDiskFreeSpaceExW`, which counts
/// quotas); the cluster size is the allocation unit. NTFS has no inode limit to report.
pub fn free_space(dir: &Path) -> io::Result<FreeSpace> {
    let path = wide(dir);
    let (mut avail, mut total, mut free) = (0u64, 0u64, 0u64);
    // SAFETY: the path is NUL-terminated; the out-pointers are valid u64s.
    if unsafe { GetDiskFreeSpaceExW(path.as_ptr(), &mut avail, &mut total, &mut free) } == 0 {
        return Err(io::Error::last_os_error());
    }
    let root = dir.ancestors().last().map(wide);
    let (mut sectors, mut bytes, mut free_clusters, mut clusters) = (0u32, 0u32, 0u32, 0u32);
    // SAFETY: as above; a null root asks for the current directory's volume.
    let block = match unsafe {
        GetDiskFreeSpaceW(
            root.as_ref().map_or(std::ptr::null(), |r| r.as_ptr()),
            &mut sectors,
            &mut bytes,
            &mut free_clusters,
            &mut clusters,
        )
    } {
        0 => 4096,
        _ => u64::from(sectors) * u64::from(bytes),
    };
    Ok(FreeSpace { bytes: avail, block: block.max(512), inodes: None })
}

/// The path to name the running executable by (in messages and receipts).
pub fn own_executable_path() -> PathBuf {
    std::env::current_exe().unwrap_or_else(|_| PathBuf::from("go-offline-installer.exe"))
}

/// The running executable, opened. Windows does not let a running image be replaced or
/// renamed, so its path names the running file.
pub fn own_executable() -> io::Result<File> {
    File::open(std::env::current_exe()?)
}

/// Whether this process runs elevated (the token's `TokenElevation`): the machine-wide prefix
/// and environment are then the defaults, as root's are on Unix.
pub(super) fn is_root() -> bool {
    let mut token: HANDLE = std::ptr::null_mut();
    // SAFETY: GetCurrentProcess returns a pseudo-handle; token is a valid out-pointer.
    if unsafe { OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) } == 0 {
        return false;
    }
    let mut elevation = TOKEN_ELEVATION { TokenIsElevated: 0 };
    let mut len = 0u32;
    // SAFETY: the buffer is a TOKEN_ELEVATION of the size passed; the token is open.
    let ok = unsafe {
        GetTokenInformation(
            token,
            TokenElevation,
            (&mut elevation as *mut TOKEN_ELEVATION).cast(),
            std::mem::size_of::<TOKEN_ELEVATION>() as u32,
            &mut len,
        )
    };
    // SAFETY: the token was opened above and is closed once.
    unsafe { CloseHandle(token) };
    ok != 0 && elevation.TokenIsElevated != 0
}

/// The process's pid.
pub fn pid() -> u32 {
    std::process::id()
}

/// The user running this process: Windows has no numeric uid (0 is recorded), the name from
/// `USERNAME`, the host from `COMPUTERNAME`.
pub(super) fn current_user() -> (u32, Option<String>, String) {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    (0, var("USERNAME"), var("COMPUTERNAME").unwrap_or_default())
}

/// Some bytes no other process or moment shares, for ids: two hashers seeded by the system's
/// random source (what the standard library's `RandomState` draws from).
pub fn entropy() -> String {
    let mut s = String::new();
    for _ in 0..2 {
        let mut h = RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        s.push_str(&format!("{:016x}", h.finish()));
    }
    s
}

/// The identity of the directory at `path` (volume serial number and file index, which a rename
/// on the volume keeps), if a directory, not a link, is there.
pub fn tree_id(path: &Path) -> Option<TreeId> {
    let m = fs::symlink_metadata(path).ok()?;
    if !m.is_dir() || m.file_attributes() & FILE_ATTRIBUTE_REPARSE_POINT != 0 {
        return None;
    }
    let dir = OpenOptions::new()
        .read(true)
        .custom_flags(FILE_FLAG_BACKUP_SEMANTICS | FILE_FLAG_OPEN_REPARSE_POINT)
        .open(path)
        .ok()?;
    // SAFETY: an all-zero BY_HANDLE_FILE_INFORMATION is a valid value of the plain C struct.
    let mut info: BY_HANDLE_FILE_INFORMATION = unsafe { std::mem::zeroed() };
    // SAFETY: the handle is open; info is a valid out-pointer.
    if unsafe { GetFileInformationByHandle(dir.as_raw_handle() as HANDLE, &mut info) } == 0 {
        return None;
    }
    let ino = (u64::from(info.nFileIndexHigh) << 32) | u64::from(info.nFileIndexLow);
    Some(TreeId { dev: u64::from(info.dwVolumeSerialNumber), ino })
}

/// Why a link cannot be made here.
fn no_links() -> io::Error {
    io::Error::new(
        ErrorKind::Unsupported,
        "symbolic links are not made on Windows (Go's Windows trees have none, and the active version is the tree at PREFIX\\go itself)",
    )
}

/// Go's Windows trees hold no symbolic links; a manifest with one is refused here.
pub fn symlink(_target: &str, _at: &Path) -> io::Result<()> {
    Err(no_links())
}

/// The target of a link at `path`, if one is there and can be read.
pub fn link_target(path: &Path) -> Option<String> {
    if !is_link(path) {
        return None;
    }
    fs::read_link(path).ok().and_then(|t| t.to_str().map(str::to_string))
}

/// Not used on Windows: the prefix is in `Layout::Tree` there (see prefix.rs), where a switch
/// is two journaled renames of trees, not a link.
pub fn switch_link(dir: &Path, name: &str, target: Option<&str>) -> io::Result<()> {
    if link_target(&dir.join(name)).as_deref() == target {
        return Ok(());
    }
    Err(no_links())
}

/// See [`switch_link`].
pub fn temp_link(_dir: &Path, _target: &str) -> io::Result<PathBuf> {
    Err(no_links())
}

/// No permission bits on Windows: 0 (see [`KEEPS_MODES`]).
pub(super) fn mode(_meta: &fs::Metadata) -> u32 {
    0
}

/// The type of what `meta` describes: any reparse point is a link to the installer.
pub(super) fn kind(meta: &fs::Metadata) -> Kind {
    if meta.file_attributes() & FILE_ATTRIBUTE_REPARSE_POINT != 0 {
        Kind::Symlink
    } else if meta.is_dir() {
        Kind::Dir
    } else if meta.is_file() {
        Kind::File
    } else {
        Kind::Other
    }
}

/// A command running the tree's `go.exe` (under the check runner, if any) in a clean
/// environment, from the root of the tree's drive (where no `go.mod` is): only `SystemRoot`
/// is kept, which Windows programs need to start.
pub fn go_command(goroot: &Path, runner: &[String]) -> Command {
    let mut cmd = super::under_runner(&goroot.join("bin").join("go.exe"), runner);
    let drive = goroot.ancestors().last().unwrap_or(goroot);
    cmd.current_dir(drive).env_clear();
    if let Some(root) = std::env::var_os("SystemRoot") {
        cmd.env("SystemRoot", root);
    }
    cmd.env("GOENV", "off").env("GOTOOLCHAIN", "local").env("GOPROXY", "off").env("GOCACHE", "off");
    cmd
}

/// The known folders this installer uses, from their variables (`None` when not set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folders {
    /// `%ProgramData%`: the machine's state.
    pub program_data: Option<PathBuf>,
    /// `%LOCALAPPDATA%`: the user's programs and state.
    pub local_app_data: Option<PathBuf>,
    /// `%ProgramFiles%`: the machine's programs.
    pub program_files: Option<PathBuf>,
}

impl Folders {
    pub(super) fn read() -> Folders {
        let folder = |var: &str| std::env::var_os(var).filter(|s| !s.is_empty()).map(PathBuf::from);
        Folders {
            program_data: folder("ProgramData"),
            local_app_data: folder("LOCALAPPDATA"),
            program_files: folder("ProgramFiles"),
        }
    }
}

/// The host log: `%ProgramData%\go-offline-installer\log.jsonl` elevated, else
/// `%LOCALAPPDATA%\go-offline-installer\log.jsonl`.
pub fn host_log_path(host: &Host) -> Option<PathBuf> {
    let base = if host.admin { &host.folders.program_data } else { &host.folders.local_app_data };
    Some(base.as_ref()?.join("go-offline-installer").join("log.jsonl"))
}

/// The default prefix: `%ProgramFiles%\go-offline` elevated, `%LOCALAPPDATA%\Programs\go-offline`
/// for a user (where per-user programs go).
pub fn default_prefix(host: &Host) -> Option<PathBuf> {
    if host.admin {
        host.folders.program_files.as_ref().map(|p| p.join("go-offline"))
    } else {
        host.folders.local_app_data.as_ref().map(|p| p.join("Programs").join("go-offline"))
    }
}

/// Where an install's environment goes: the `Path` of the machine (`machine`) or of the user.
pub fn environment_scope(_host: &Host, machine: bool) -> Option<Scope> {
    Some(Scope::Registry { store: if machine { Store::Machine } else { Store::User } })
}

/// Whether environment variables can be written to a machine-wide store: the registry's
/// machine environment.
pub const HAS_MACHINE_STORE: bool = true;

/// The host trust directory: `%ProgramFiles%\go-offline-installer\trusted-keys`, which only
/// administrators may write (unlike `%ProgramData%` or a drive's root, where any user may create
/// a directory, and so could make a policy of their own authoritative).
pub fn host_trust_dir(host: &Host) -> PathBuf {
    let base = host.folders.program_files.clone().unwrap_or_else(|| PathBuf::from(r"C:\Program Files"));
    base.join("go-offline-installer").join("trusted-keys")
}

/// `arg` as `cmd` reads it back: bare when it is plain, else in double quotes.
pub fn quote_arg(arg: &str) -> String {
    if super::is_plain_arg(arg) {
        arg.to_string()
    } else {
        format!("\"{arg}\"")
    }
}

/// What to do for an environment just written (`changed`, the first value changed) to take
/// effect.
pub fn reopen_advice(changed: &Path) -> String {
    format!("open a new command prompt or terminal to use it ({} was changed)", changed.display())
}

/// The help's words on how versions sit in a prefix (the tree layout: no links).
pub const LAYOUT_HELP: &str = "Versions:\n  The active version is the tree at PREFIX\\go; the others wait beside it as PREFIX\\go-VERSION.\n  Receipts in PREFIX\\.go-offline list every file; status, use, rollback, uninstall and\n  verify-installed manage them. Every install, use, rollback and uninstall is logged to the host log.\n\n";

/// The help's words on where the host log goes ([`host_log_path`]).
pub const HOST_LOG_HELP: &str = "%ProgramData%\\go-offline-installer\\log.jsonl elevated, %LOCALAPPDATA%\\go-offline-installer\\log.jsonl otherwise";

/// Whether this process is alone on its console: started by a double click from Explorer, which
/// made the console for it and closes it when the process exits.
pub fn owns_console() -> bool {
    let mut ids = [0u32; 2];
    // SAFETY: the buffer holds two ids, and its length is passed.
    let n = unsafe { GetConsoleProcessList(ids.as_mut_ptr(), ids.len() as u32) };
    n == 1
}

/// Opens the key of `store`'s variables.
fn store_key(store: Store, access: REG_SAM_FLAGS) -> io::Result<HKEY> {
    let (root, sub) = match store {
        Store::User => (HKEY_CURRENT_USER, "Environment"),
        Store::Machine => (HKEY_LOCAL_MACHINE, r"SYSTEM\CurrentControlSet\Control\Session Manager\Environment"),
    };
    let sub: Vec<u16> = sub.encode_utf16().chain(Some(0)).collect();
    let mut key: HKEY = std::ptr::null_mut();
    // SAFETY: the subkey is NUL-terminated; key is a valid out-pointer.
    match unsafe { RegOpenKeyExW(root, sub.as_ptr(), 0, access, &mut key) } {
        0 => Ok(key),
        e => Err(io::Error::from_raw_os_error(e as i32)),
    }
}

/// Closes a key opened by [`store_key`] when dropped.
struct Key(HKEY);

impl Drop for Key {
    fn drop(&mut self) {
        // SAFETY: the key was opened by store_key and is closed once.
        unsafe { RegCloseKey(self.0) };
    }
}

fn path_value_name() -> Vec<u16> {
    super::PATH_VALUE.encode_utf16().chain(Some(0)).collect()
}

/// The `Path` value of `store` (`None` when it has none); one that is not a string, or not
/// UTF-16, is an error: it is never rewritten.
pub fn read_stored_path(store: Store) -> io::Result<Option<StoredValue>> {
    let key = Key(store_key(store, KEY_QUERY_VALUE)?);
    let name = path_value_name();
    let (mut kind, mut len) = (0u32, 0u32);
    // SAFETY: a null data pointer asks for the length only; the out-pointers are valid.
    let r =
        unsafe { RegQueryValueExW(key.0, name.as_ptr(), std::ptr::null(), &mut kind, std::ptr::null_mut(), &mut len) };
    if r == ERROR_FILE_NOT_FOUND {
        return Ok(None);
    }
    if r != 0 {
        return Err(io::Error::from_raw_os_error(r as i32));
    }
    if kind != REG_SZ && kind != REG_EXPAND_SZ {
        return Err(io::Error::new(
            ErrorKind::InvalidData,
            format!("{}\\Path is not a string (type {kind})", store.key()),
        ));
    }
    let mut buf = vec![0u16; (len as usize).div_ceil(2) + 1];
    let mut bytes = (buf.len() * 2) as u32;
    // SAFETY: the buffer holds `bytes` bytes; the out-pointers are valid.
    let r = unsafe {
        RegQueryValueExW(key.0, name.as_ptr(), std::ptr::null(), &mut kind, buf.as_mut_ptr().cast(), &mut bytes)
    };
    if r != 0 {
        return Err(io::Error::from_raw_os_error(r as i32));
    }
    buf.truncate(bytes as usize / 2);
    while buf.last() == Some(&0) {
        buf.pop();
    }
    let data = String::from_utf16(&buf)
        .map_err(|_| io::Error::new(ErrorKind::InvalidData, format!("{}\\Path is not valid UTF-16", store.key())))?;
    Ok(Some(StoredValue { data, expand: kind == REG_EXPAND_SZ }))
}

/// Sets (or, for `None`, deletes) the `Path` value of `store`, then tells running programs
/// (Explorer, so that new shells see it) with a `WM_SETTINGCHANGE` broadcast for "Environment".
pub fn write_stored_path(store: Store, value: Option<&StoredValue>) -> io::Result<()> {
    let key = Key(store_key(store, KEY_SET_VALUE)?);
    let name = path_value_name();
    let r = match value {
        Some(v) => {
            let data: Vec<u16> = v.data.encode_utf16().chain(Some(0)).collect();
            let kind = if v.expand { REG_EXPAND_SZ } else { REG_SZ };
            // SAFETY: data is a NUL-terminated UTF-16 string of the length passed, in bytes.
            unsafe { RegSetValueExW(key.0, name.as_ptr(), 0, kind, data.as_ptr().cast(), (data.len() * 2) as u32) }
        }
        // SAFETY: the name is NUL-terminated.
        None => match unsafe { RegDeleteValueW(key.0, name.as_ptr()) } {
            ERROR_FILE_NOT_FOUND => 0,
            r => r,
        },
    };
    if r != 0 {
        return Err(io::Error::from_raw_os_error(r as i32));
    }
    let what: Vec<u16> = "Environment".encode_utf16().chain(Some(0)).collect();
    let mut result = 0usize;
    // SAFETY: the string outlives the call, which waits at most 5 s for each window.
    unsafe {
        SendMessageTimeoutW(
            HWND_BROADCAST,
            WM_SETTINGCHANGE,
            0,
            what.as_ptr() as isize,
            SMTO_ABORTIFHUNG,
            5000,
            &mut result,
        )
    };
    Ok(())
}

/// Where a persistent environment variable lives (the registry): the user's
/// (`HKEY_CURRENT_USER\Environment`) or the machine's
/// (`HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Control\Session Manager\Environment`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Store {
    User,
    Machine,
}

impl Store {
    /// The key of its variables.
    pub fn key(self) -> &'static str {
        match self {
            Store::User => r"HKEY_CURRENT_USER\Environment",
            Store::Machine => r"HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Control\Session Manager\Environment",
        }
    }
}

/// Whether a link can be switched by one rename: not here (a symbolic link needs a right users
/// lack), so the active tree itself is moved (`Layout::Tree`).
pub const SWITCHES_LINKS: bool = false;

/// Ends this process at once, as `TerminateProcess` does (no destructor, no flush): a crash
/// test's failpoint.
#[cfg(feature = "failpoints")]
pub fn kill_self() {
    use windows_sys::Win32::System::Threading::TerminateProcess;
    // SAFETY: ends this process; nothing runs after it.
    unsafe {
        TerminateProcess(GetCurrentProcess(), 137);
    }
}

/// Sleeps until the test kills this process (a crash test's failpoint).
#[cfg(feature = "failpoints")]
pub fn pause_self() {
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}
