//! What a running install reports as it goes: typed events, for the caller to show (the stub
//! draws them on a terminal, and nothing on a pipe). The engine only says which phase it is in
//! and how many bytes it got through; how (or whether) that is drawn is not its business.

/// A phase of an install, in the order they come. Each begins with [`Event::Phase`]; it ends
/// where the next begins, or where the install returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The signature, the manifest and the digests of the installer file: the caller's
    /// `format::verify::verify_with_progress`, before the install is decided. `bytes`: about
    /// what [`Event::Bytes`] will add up to.
    Verify { bytes: u64 },
    /// The payload into the staging directory (a delta's changed files, a bundle's modules):
    /// [`Event::Bytes`] adds up to `bytes`, the file data it carries.
    Extract { bytes: u64 },
    /// The new tree's `go version` and `go env GOROOT`, and with `build` the build and run of
    /// hello world (seconds, with no byte count).
    Check { build: bool },
    /// Activating what was installed: the link (or a bundle's directory), the environment, the
    /// receipts.
    Switch,
}

impl Phase {
    /// The phase's name: `verify`, `extract`, `check`, `switch`.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Verify { .. } => "verify",
            Phase::Extract { .. } => "extract",
            Phase::Check { .. } => "check",
            Phase::Switch => "switch",
        }
    }

    /// The bytes a byte-counted phase goes through; `None` for one that counts none.
    pub fn bytes(self) -> Option<u64> {
        match self {
            Phase::Verify { bytes } | Phase::Extract { bytes } => Some(bytes),
            Phase::Check { .. } | Phase::Switch => None,
        }
    }
}

/// One report of a running install.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A phase begins; the one before it, if any, is finished.
    Phase(Phase),
    /// This many more bytes of the current phase are done (from several threads at once).
    Bytes(u64),
}

/// Hears an install's [`Event`]s (called from several threads).
pub type Progress<'a> = &'a (dyn Fn(Event) + Sync);
