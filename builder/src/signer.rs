//! Who signs: one interface for every signature the builder makes (installers, module bundles,
//! a release's `SHA256SUMS`), whatever holds the key.
//!
//! A signer is named by one string, on the command line (`--key`) and in a release config
//! (`key =`) alike ([`SignerSpec::parse`]):
//!
//! - `file:PATH`, or a bare `PATH`: a PKCS#8 PEM Ed25519 key on this machine;
//! - `pkcs11:…`: an RFC 7512 URI naming a key in a PKCS#11 token (an HSM, a smart card,
//!   SoftHSM), used through the module it names with `CKM_EDDSA`; the key never leaves the token
//!   ([`pkcs11`]);
//! - `vault:[MOUNT/]NAME[?addr=URL]`: an `ed25519` key of a Vault or OpenBao transit engine,
//!   signing over its HTTP API ([`vault`]).
//!
//! A fourth way needs no signer here at all: `build --unsigned` writes the installer with an
//! empty signature and the statement to sign beside it, and `attach` puts the signature in.
//!
//! Every command that signs opens its signer with [`open_named`]. Keys are made here too:
//! [`keygen`] writes a key file pair, [`keygen_in`] creates a key inside a token or engine.
//!
//! **Invariant: fail closed.** [`Signer::sign`] returns a signature only after it verified it,
//! strictly, against the public key the signer was opened with, which is `--expect-key` when
//! given ([`open`]). A wrong PIN, a missing token or key, an unreachable server, a key of another
//! type, another key than the expected one, a signature that does not verify: a [`SignError`]
//! naming the signer and the fix, before any output is written.

pub mod pkcs11;
pub mod vault;

use std::{
    fmt, fs,
    io::{self, Write},
    os::unix::fs::OpenOptionsExt,
    path::{Path, PathBuf},
};

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use format::{keys, layout::SignatureBytes};

pub use crate::error::SignError;
use crate::{
    error::BuildError,
    output::{check_output, write_file},
};

/// Where the signing key lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignerSpec {
    /// A PKCS#8 PEM private key file.
    File(PathBuf),
    /// A key in a PKCS#11 token.
    Pkcs11(pkcs11::Uri),
    /// A key of a Vault or OpenBao transit engine.
    Vault(vault::KeyRef),
}

impl SignerSpec {
    /// Reads a signer string: `file:PATH`, `pkcs11:…`, `vault:…`, or a path.
    pub fn parse(s: &str) -> Result<SignerSpec, SignError> {
        if let Some(path) = s.strip_prefix("file:") {
            return non_empty_path(s, path).map(SignerSpec::File);
        }
        if s.starts_with("pkcs11:") {
            return pkcs11::Uri::parse(s).map(SignerSpec::Pkcs11);
        }
        if let Some(rest) = s.strip_prefix("vault:") {
            return vault::KeyRef::parse(rest).map(SignerSpec::Vault);
        }
        // `kms:…`, `gcpkms://…`: a scheme we do not know, not a file name.
        if let Some((scheme, _)) = s.split_once(':') {
            let is_scheme = !scheme.is_empty()
                && scheme.len() > 1
                && scheme.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+-.".contains(&b));
            if is_scheme {
                return Err(SignError::Spec {
                    spec: s.into(),
                    problem: format!("'{scheme}:' is not a signer this builder knows"),
                    fix: "use file:PATH, pkcs11:URI or vault:KEY; for any other signer build with --unsigned and `attach` its signature (to name a file whose name has a colon, write file:NAME)".into(),
                });
            }
        }
        non_empty_path(s, s).map(SignerSpec::File)
    }

    /// The key file this signer reads (`file:PATH`), if any: an input no output may replace.
    pub fn key_file(&self) -> Option<&Path> {
        match self {
            SignerSpec::File(p) => Some(p),
            _ => None,
        }
    }

    /// The same signer with a relative key file taken from `dir` (a release config's directory).
    pub fn relative_to(self, dir: &Path) -> SignerSpec {
        match self {
            SignerSpec::File(p) if p.is_relative() => SignerSpec::File(dir.join(p)),
            other => other,
        }
    }
}

fn non_empty_path(spec: &str, path: &str) -> Result<PathBuf, SignError> {
    if path.is_empty() {
        return Err(SignError::Spec {
            spec: spec.into(),
            problem: "names no file".into(),
            fix: "write file:PATH with the PKCS#8 key file".into(),
        });
    }
    Ok(PathBuf::from(path))
}

/// For messages: the signer without secrets (a PIN is never part of a spec).
impl fmt::Display for SignerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignerSpec::File(p) => write!(f, "file:{}", p.display()),
            SignerSpec::Pkcs11(u) => write!(f, "{u}"),
            SignerSpec::Vault(k) => write!(f, "{k}"),
        }
    }
}

/// An open signer and its public key.
pub struct Signer {
    spec: SignerSpec,
    public: VerifyingKey,
    key_id: String,
    backend: Backend,
}

enum Backend {
    File(SigningKey),
    Pkcs11(pkcs11::Open),
    Vault(vault::Open),
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer").field("spec", &self.spec).field("key_id", &self.key_id).finish_non_exhaustive()
    }
}

/// Opens the signer `spec` names (logs in to the token, reads the transit key) and reads its
/// public key; refuses it when `expect` is given and is another key.
pub fn open(spec: &SignerSpec, expect: Option<&VerifyingKey>) -> Result<Signer, SignError> {
    let (backend, public) = match spec {
        SignerSpec::File(path) => {
            let key = keys::read_private_key(path)?;
            let public = key.verifying_key();
            (Backend::File(key), public)
        }
        SignerSpec::Pkcs11(uri) => {
            let open = pkcs11::open(uri)?;
            let public = open.public_key();
            (Backend::Pkcs11(open), public)
        }
        SignerSpec::Vault(key) => {
            let open = vault::open(key)?;
            let public = open.public_key();
            (Backend::Vault(open), public)
        }
    };
    let key_id = keys::key_id(&public);
    if let Some(expected) = expect.filter(|e| **e != public) {
        return Err(SignError::NotExpected {
            signer: spec.to_string(),
            found: key_id,
            expected: keys::key_id(expected),
        });
    }
    Ok(Signer { spec: spec.clone(), public, key_id, backend })
}

impl Signer {
    pub fn public_key(&self) -> &VerifyingKey {
        &self.public
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    pub fn spec(&self) -> &SignerSpec {
        &self.spec
    }

    /// The key file this signer reads (`file:PATH`), if any.
    pub fn key_file(&self) -> Option<&Path> {
        self.spec.key_file()
    }

    /// A pure Ed25519 signature of `message`, verified strictly against the public key before it
    /// is returned.
    pub fn sign(&self, message: &[u8]) -> Result<SignatureBytes, SignError> {
        let signature = match &self.backend {
            Backend::File(key) => key.sign(message).to_bytes(),
            Backend::Pkcs11(open) => open.sign(message)?,
            Backend::Vault(open) => open.sign(message)?,
        };
        self.public
            .verify_strict(message, &Signature::from_bytes(&signature))
            .map_err(|_| SignError::BadSignature { signer: self.spec.to_string(), key_id: self.key_id.clone() })?;
        Ok(signature)
    }
}

/// Opens the signer the string `spec` names (`--key`, a release config's `key`), refusing it
/// unless it holds the key of the public key file `expect_key` when one is given: how every
/// command that signs opens its signer.
pub fn open_named(spec: &str, expect_key: Option<&Path>) -> Result<Signer, BuildError> {
    let expect = expect_key.map(keys::read_public_key).transpose()?;
    Ok(open(&SignerSpec::parse(spec)?, expect.as_ref())?)
}

/// Writes a new key pair `NAME.key` (0600) and `NAME.pub` for `out` = `DIR/NAME`; returns the key id.
/// An existing key file is refused unless `force`, and then replaced atomically.
pub fn keygen(out: &Path, force: bool) -> Result<String, BuildError> {
    let key = SigningKey::generate(&mut rand_core::OsRng);
    let private = out.with_extension("key");
    let public = out.with_extension("pub");
    for p in [&private, &public] {
        check_output(p, &[], force).map_err(|e| match e {
            BuildError::OutputExists(p) => BuildError::KeyExists(p),
            e => e,
        })?;
    }
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(|e| BuildError::io("create", dir, e))?;
    }
    if force {
        write_file(&private, keys::private_key_pem(&key).as_bytes(), 0o600)?;
    } else {
        // O_EXCL: a key that appeared since the check is not replaced either.
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&private)
            .map_err(|e| BuildError::io("create", &private, e))?;
        f.write_all(keys::private_key_pem(&key).as_bytes()).map_err(|e| BuildError::io("write", &private, e))?;
    }
    write_file(&public, keys::public_key_pem(&key.verifying_key()).as_bytes(), 0o644)?;
    Ok(keys::key_id(&key.verifying_key()))
}

/// Creates a new Ed25519 key inside the token or transit engine `spec` names (refusing one that
/// exists) and returns its public key, written also to `public` when given (refused if that file
/// exists, unless `force`). A key file is made by [`keygen`] instead.
pub fn keygen_in(spec: &SignerSpec, public: Option<&Path>, force: bool) -> Result<VerifyingKey, BuildError> {
    if let Some(path) = public {
        check_output(path, &[], force).map_err(|e| match e {
            BuildError::OutputExists(p) => BuildError::KeyExists(p),
            e => e,
        })?;
    }
    let key = match spec {
        SignerSpec::File(path) => Err(SignError::Spec {
            spec: spec.to_string(),
            problem: format!("'{}' is a key file", path.display()),
            fix: "make a key file with `keygen --out DIR/NAME`; --key creates keys in a pkcs11: token or vault: engine"
                .into(),
        }),
        SignerSpec::Pkcs11(uri) => pkcs11::keygen(uri),
        SignerSpec::Vault(key) => vault::keygen(key),
    }?;
    if let Some(path) = public {
        write_public_key(path, &keys::public_key_pem(&key), force)?;
    }
    Ok(key)
}

/// Writes a public key file (SPKI PEM), refusing to overwrite one unless `force`.
fn write_public_key(path: &Path, pem: &str, force: bool) -> Result<(), BuildError> {
    if force {
        return write_file(path, pem.as_bytes(), 0o644);
    }
    let mut f = fs::OpenOptions::new().write(true).create_new(true).open(path).map_err(|e| match e.kind() {
        io::ErrorKind::AlreadyExists => BuildError::KeyExists(path.into()),
        _ => BuildError::io("create", path, e),
    })?;
    f.write_all(pem.as_bytes()).map_err(|e| BuildError::io("write", path, e))
}

/// Reads a detached signature made outside the builder: 64 raw bytes, or their base64 (with or
/// without Vault's `vault:vN:` prefix, as KMS command-line tools and Vault print them).
pub fn parse_detached_signature(bytes: &[u8]) -> Result<SignatureBytes, String> {
    if let Ok(raw) = SignatureBytes::try_from(bytes) {
        return Ok(raw);
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|_| format!("it is {} bytes: neither a raw 64-byte signature nor base64 text", bytes.len()))?
        .trim();
    let text = match text.strip_prefix("vault:") {
        Some(rest) => rest.split_once(':').map(|(_, b64)| b64).unwrap_or(rest),
        None => text,
    };
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| format!("it is neither a raw 64-byte signature nor base64 ({e})"))?;
    SignatureBytes::try_from(raw.as_slice())
        .map_err(|_| format!("its base64 decodes to {} bytes, not the 64 of an Ed25519 signature", raw.len()))
}

#[cfg(test)]
mod tests {
    use format::layout;

    use super::*;
    use crate::exit;

    #[test]
    fn signer_strings_name_their_kind() {
        let cases: &[(&str, Result<&str, &str>)] = &[
            ("keys/org.key", Ok("file:keys/org.key")),
            ("file:keys/org.key", Ok("file:keys/org.key")),
            ("file:a:b.key", Ok("file:a:b.key")),
            ("./a:b.key", Ok("file:./a:b.key")),
            ("/abs/org.key", Ok("file:/abs/org.key")),
            ("file:", Err("names no file")),
            ("", Err("names no file")),
            ("kms:alias/org", Err("'kms:' is not a signer")),
            ("pkcs11:token=ci;object=org?module-path=/m.so", Ok("pkcs11:token=ci;object=org?module-path=/m.so")),
            ("pkcs11:token=ci?module-path=/m.so", Err("names no key")),
            ("pkcs11:object=org?module-path=/m.so&pin-value=1234", Err("never on the command line")),
            (
                "vault:org-release?addr=http://127.0.0.1:8200",
                Ok("vault:transit/org-release?addr=http://127.0.0.1:8200"),
            ),
            ("vault:keys/signing/org?addr=https://v:8200", Ok("vault:keys/signing/org?addr=https://v:8200")),
            ("vault:?addr=http://x", Err("names no key")),
            ("vault:org?addr=ftp://x", Err("http:// or https://")),
            ("vault:org?adress=http://x", Err("unknown")),
        ];
        for (input, want) in cases {
            match (SignerSpec::parse(input), want) {
                (Ok(spec), Ok(shown)) => assert_eq!(&spec.to_string(), shown, "{input}"),
                (Err(e), Err(says)) => assert!(e.to_string().contains(says), "{input}: {e}"),
                (got, want) => panic!("{input}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn detached_signatures_in_every_common_form() {
        use base64::Engine as _;
        let raw = [7u8; layout::SIGNATURE_LEN as usize];
        let b64 = base64::engine::general_purpose::STANDARD.encode(raw);
        type Want = Result<SignatureBytes, &'static str>;
        let cases: Vec<(Vec<u8>, Want)> = vec![
            (raw.to_vec(), Ok(raw)),
            (format!("{b64}\n").into_bytes(), Ok(raw)),
            (format!("vault:v3:{b64}").into_bytes(), Ok(raw)),
            (vec![7u8; 63], Err("neither")),
            (b"AAAA".to_vec(), Err("decodes to 3 bytes")),
            (vec![0xff; 65], Err("neither a raw")),
        ];
        for (input, want) in cases {
            match (parse_detached_signature(&input), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want),
                (Err(e), Err(says)) => assert!(e.contains(says), "{e}"),
                (got, want) => panic!("got {got:?}, want {want:?}"),
            }
        }
    }

    /// A signer whose signatures are not its public key's is refused at the first signature, and
    /// nothing comes back to be written (the check every backend's signature goes through).
    #[test]
    fn a_signature_that_does_not_verify_is_refused() {
        let key = SigningKey::from_bytes(&[3; 32]);
        let claimed = SigningKey::from_bytes(&[4; 32]).verifying_key();
        let signer = Signer {
            spec: SignerSpec::File("hsm-that-lies".into()),
            public: claimed,
            key_id: keys::key_id(&claimed),
            backend: Backend::File(key),
        };
        let e = signer.sign(b"statement").unwrap_err();
        assert!(matches!(e, SignError::BadSignature { .. }), "{e}");
        assert!(
            e.to_string().contains("does not verify with its public key")
                && e.to_string().contains("nothing was written")
        );
        assert_eq!(e.exit_code(), exit::SIGN_FAILED);
    }

    /// A file signer signs what verifies; `--expect-key` of another key is refused at open.
    #[test]
    fn a_file_signer_checks_the_expected_key() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("org");
        keygen(&out, false).unwrap();
        let spec = SignerSpec::parse(out.with_extension("key").to_str().unwrap()).unwrap();
        let signer = open(&spec, None).unwrap();
        let sig = signer.sign(b"statement").unwrap();
        assert!(signer.public_key().verify_strict(b"statement", &Signature::from_bytes(&sig)).is_ok());
        let other = SigningKey::from_bytes(&[9; 32]).verifying_key();
        let e = open(&spec, Some(&other)).unwrap_err();
        assert!(matches!(e, SignError::NotExpected { .. }), "{e}");
        assert_eq!(e.exit_code(), exit::SIGN_FAILED);
        assert!(open(&spec, Some(signer.public_key())).is_ok());
    }
}
