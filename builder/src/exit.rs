//! The builder's exit codes: one per class of failure, so that a release script can tell a bug
//! from a refused input or a failed download without reading the message.
//!
//! The codes are a contract: `go-offline-builder --help` prints [`TABLE`], README.md lists it, and
//! a test keeps the two in step. `verify` and `verify-sums` reuse the installer's codes for the
//! same failures ([`format::exit`]), so a script that checks installers one way or the other sees
//! the same numbers. Which [`crate::BuildError`] gives which code is
//! [`crate::BuildError::exit_code`].

pub use format::exit::{INTEGRITY, INTERNAL, MALFORMED, OK, UNTRUSTED, USAGE};

/// A download failed, or what was downloaded does not have the sha256 its publisher lists
/// (`fetch`, `release`).
pub const FETCH_FAILED: i32 = 3;
/// The build was refused: an input is missing, unreadable or wrong (not a Go distribution, not a
/// go-offline-installer stub or the stub for another machine, a bad `--go-env` or config, a key
/// that exists already, a module cache that disagrees with go.sum), or the output cannot be
/// written (it exists and `--force` was not given, or it is one of the inputs). The message names
/// the file and the fix.
pub const BAD_INPUT: i32 = 4;
/// Signing failed: the signer (a key file's PKCS#11 token or Vault transit engine) could not be
/// reached, refused the PIN or token, has no such key or one of another type, holds another key
/// than `--expect-key`, or returned a signature that does not verify. Nothing was written.
pub const SIGN_FAILED: i32 = 5;
/// `verify`, `inspect`: the installer file could not be read. The number is the installer's
/// [`format::exit::IO`], for the same failure; the meaning is the builder's own (it writes
/// nothing when it verifies).
pub const READ_FAILED: i32 = format::exit::IO;

/// Every code with a one-line meaning, for `--help` and README.md.
///
/// The installer's [`format::exit::WRONG_PLATFORM`] is absent on purpose: `verify` checks an
/// installer for any platform (a release machine signs installers for every architecture), so it
/// never refuses one for being built for another.
pub const TABLE: &[(i32, &str)] = &[
    (OK, "success"),
    (INTERNAL, "internal error (a bug: please report it)"),
    (USAGE, "bad command line (or SOURCE_DATE_EPOCH is not a number of seconds)"),
    (FETCH_FAILED, "fetch, release: a download failed, or its sha256 differs from the published one"),
    (
        BAD_INPUT,
        "refused: a bad input or output (missing or unreadable file, not a Go distribution, not a go-offline-installer stub, wrong stub or target, bad --go-env or config, key or output exists without --force, output is an input); the message names the file and the fix",
    ),
    (
        SIGN_FAILED,
        "signing failed: the PKCS#11 token or Vault could not be reached, refused the PIN or token, has no such Ed25519 key, holds another key than --expect-key, or returned a bad signature; nothing was written",
    ),
    (MALFORMED, "verify, inspect: not a well-formed installer (truncated, extended, corrupt trailer or manifest)"),
    (
        INTEGRITY,
        "verify, verify-sums: signature or digest mismatch: the file was modified after signing (or is not signed yet); attach: the signature is not --expect-key's over the installer's statement; build, targets: a stub embedded in this builder is damaged (download the builder again)",
    ),
    (UNTRUSTED, "verify: signer not trusted or revoked (its key id is printed), or no key is trusted"),
    (READ_FAILED, "verify, inspect: the installer file could not be read"),
];

/// The `Exit codes:` section of `--help`, from [`TABLE`].
pub fn help_section() -> String {
    let mut s = String::from("Exit codes:\n");
    for (code, meaning) in TABLE {
        s.push_str(&format!("  {code:>3}  {meaning}\n"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_sorted_and_within_a_byte() {
        let codes: Vec<i32> = TABLE.iter().map(|r| r.0).collect();
        assert!(codes.windows(2).all(|w| w[0] < w[1]), "{codes:?}");
        assert!(codes.iter().all(|c| (0..=255).contains(c)), "{codes:?}");
    }

    /// `verify` exits as the installer does: the codes it shares keep the installer's numbers.
    #[test]
    fn verify_codes_are_the_installers() {
        for code in [MALFORMED, INTEGRITY, UNTRUSTED, READ_FAILED] {
            assert!(format::exit::TABLE.iter().any(|r| r.0 == code), "{code} is not an installer code");
        }
        for (code, meaning) in TABLE {
            assert!(help_section().contains(&format!("{code:>3}  {meaning}\n")), "{code}");
        }
    }
}
