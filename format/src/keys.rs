//! Signing keys, key ids and the set of keys an installer trusts.
//!
//! Keys are ed25519 in the formats OpenSSL uses: private keys as PKCS#8 PEM (`openssl genpkey
//! -algorithm ed25519`), public keys as SPKI PEM (`openssl pkey -pubout`). A key id is the first 16
//! hex digits of the sha256 of the raw 32-byte public key, so an auditor can compute it with
//! `openssl pkey -pubin -in KEY.pub -outform DER | tail -c 32 | sha256sum | cut -c1-16`.
//!
//! Trust comes from three places. When the host trust directory
//! ([`HOST_TRUST_DIR`]) exists it is authoritative: only its keys are trusted and keys from the
//! command line or compiled into the stub are ignored, so a host's policy cannot be widened by
//! whoever runs the installer. Otherwise keys given with `--trusted-key` and keys compiled into the
//! stub are trusted.

use std::{
    fmt, fs,
    path::{Path, PathBuf},
};

use ed25519_dalek::{
    pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePublicKey},
    Signature, SigningKey, VerifyingKey,
};
use sha2::{Digest, Sha256};

/// The host trust directory on Unix: `*.pub` files, one SPKI PEM public key each (the installer
/// asks its OS layer where the directory is on other systems).
pub const HOST_TRUST_DIR: &str = "/etc/go-offline-installer/trusted-keys";

/// Name of the revocation list beside the trust directory: one key id a line, `#` comments. A
/// key listed there is never trusted, whichever source offers it.
pub const REVOKED_FILE: &str = "revoked-keys";

/// A public key compiled into the stub (`cargo xtask stubs --trust-key`): its file name and PEM.
#[derive(Debug, Clone, Copy)]
pub struct EmbeddedKey<'a> {
    pub name: &'a str,
    pub pem: &'a str,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("could not read key file '{path}': {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("'{path}' is not an ed25519 public key in SPKI PEM form (make one with `go-offline-builder keygen` or `openssl pkey -pubout`): {problem}")]
    BadPublic { path: PathBuf, problem: String },
    #[error("'{path}' is not an ed25519 private key in PKCS#8 PEM form (make one with `go-offline-builder keygen` or `openssl genpkey -algorithm ed25519`): {problem}")]
    BadPrivate { path: PathBuf, problem: String },
    #[error("could not read host trust directory '{path}': {source}")]
    TrustDir { path: PathBuf, source: std::io::Error },
    #[error(
        "revocation list '{path}' is unreadable or malformed ({problem}); refusing to trust any key until it is fixed"
    )]
    Revocation { path: PathBuf, problem: String },
}

/// The key id of a public key: first 16 hex digits of sha256 of its 32 raw bytes.
pub fn key_id(key: &VerifyingKey) -> String {
    hex::encode(&Sha256::digest(key.as_bytes())[..8])
}

/// Whether `signature` is `key`'s over `message`, verified strictly (no small-order points, no
/// malleable `S`): the one Ed25519 check of the crate, compiled once into the stub for every
/// caller (installer signatures, checksum database notes).
#[inline(never)]
pub fn verifies(key: &VerifyingKey, message: &[u8], signature: &Signature) -> bool {
    key.verify_strict(message, signature).is_ok()
}

/// Reads an SPKI PEM public key.
pub fn read_public_key(path: &Path) -> Result<VerifyingKey, KeyError> {
    let pem = fs::read_to_string(path).map_err(|source| KeyError::Read { path: path.into(), source })?;
    parse_public_key(&pem).map_err(|problem| KeyError::BadPublic { path: path.into(), problem })
}

/// Parses an SPKI PEM public key.
pub fn parse_public_key(pem: &str) -> Result<VerifyingKey, String> {
    let key = VerifyingKey::from_public_key_pem(pem.trim()).map_err(|e| e.to_string())?;
    // A small-order key has no secret behind it: under non-strict verification a forged
    // signature (R = identity, S = 0) matches any message. `verify_strict` already rejects such
    // signatures; refusing the key itself fails earlier, with a message that names the problem.
    if key.is_weak() {
        return Err("it is a weak (small-order) ed25519 key that anyone can forge signatures for; \
                    remove it and trust the publisher's real key"
            .into());
    }
    Ok(key)
}

/// Reads a PKCS#8 PEM private key.
pub fn read_private_key(path: &Path) -> Result<SigningKey, KeyError> {
    let pem = fs::read_to_string(path).map_err(|source| KeyError::Read { path: path.into(), source })?;
    SigningKey::from_pkcs8_pem(pem.trim())
        .map_err(|e| KeyError::BadPrivate { path: path.into(), problem: e.to_string() })
}

/// PKCS#8 PEM text of a private key: version 1 (RFC 8410's form, the private key alone), which
/// every tool reads; OpenSSL 3.0 refuses version 2, which appends the public key.
pub fn private_key_pem(key: &SigningKey) -> String {
    use ed25519_dalek::pkcs8::{EncodePrivateKey, KeypairBytes};
    KeypairBytes { secret_key: key.to_bytes(), public_key: None }
        .to_pkcs8_pem(Default::default())
        .expect("ed25519 key encodes")
        .to_string()
}

/// SPKI PEM text of a public key.
pub fn public_key_pem(key: &VerifyingKey) -> String {
    key.to_public_key_pem(Default::default()).expect("ed25519 key encodes")
}

/// A key the installer trusts, and where the trust came from.
#[derive(Clone)]
pub struct TrustedKey {
    pub key: VerifyingKey,
    pub id: String,
    /// For messages: a file path, or `compiled into the installer`.
    pub origin: String,
}

impl fmt::Debug for TrustedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.id, self.origin)
    }
}

/// Where trust came from, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustSource {
    /// The host trust directory exists and is authoritative.
    HostDirectory,
    /// `--trusted-key` files and keys compiled into the stub.
    CommandLineAndEmbedded,
}

/// The set of keys a verification accepts.
#[derive(Debug, Clone)]
pub struct TrustStore {
    pub keys: Vec<TrustedKey>,
    pub source: TrustSource,
    /// `--trusted-key` files that were ignored because the host directory is authoritative.
    pub ignored_cli_keys: Vec<PathBuf>,
    /// Key ids of the revocation list, and its path.
    pub revoked: Vec<String>,
    pub revocation_list: Option<PathBuf>,
    /// The host trust directory that was looked at (`None` for a store made of keys).
    pub host_dir: Option<PathBuf>,
}

impl TrustStore {
    /// Builds the trust store the rules above describe. `host_dir` is [`HOST_TRUST_DIR`] except in
    /// tests; `embedded` are the keys compiled into the stub (none for the builder).
    pub fn load(cli_keys: &[PathBuf], host_dir: &Path, embedded: &[EmbeddedKey]) -> Result<TrustStore, KeyError> {
        let list = host_dir.with_file_name(REVOKED_FILE);
        let revoked = read_revocation_list(&list)?;
        let mut store = TrustStore::load_keys(cli_keys, host_dir, embedded)?;
        store.keys.retain(|k| !revoked.contains(&k.id));
        store.revocation_list = list.exists().then_some(list);
        store.revoked = revoked;
        store.host_dir = Some(host_dir.to_path_buf());
        Ok(store)
    }

    fn load_keys(cli_keys: &[PathBuf], host_dir: &Path, embedded: &[EmbeddedKey]) -> Result<TrustStore, KeyError> {
        if host_dir.is_dir() {
            let mut keys = Vec::new();
            let read_dir =
                fs::read_dir(host_dir).map_err(|source| KeyError::TrustDir { path: host_dir.into(), source })?;
            let mut paths: Vec<PathBuf> = Vec::new();
            for entry in read_dir {
                let entry = entry.map_err(|source| KeyError::TrustDir { path: host_dir.into(), source })?;
                let path = entry.path();
                if path.extension().is_some_and(|e| e == "pub") {
                    paths.push(path);
                }
            }
            paths.sort();
            for path in paths {
                let key = read_public_key(&path)?;
                keys.push(TrustedKey { id: key_id(&key), key, origin: path.display().to_string() });
            }
            return Ok(TrustStore {
                keys,
                source: TrustSource::HostDirectory,
                ignored_cli_keys: cli_keys.to_vec(),
                ..TrustStore::from_keys(Vec::new())
            });
        }
        let mut keys = Vec::new();
        for path in cli_keys {
            let key = read_public_key(path)?;
            keys.push(TrustedKey { id: key_id(&key), key, origin: path.display().to_string() });
        }
        for file in embedded {
            let key = parse_public_key(file.pem).map_err(|problem| KeyError::BadPublic {
                path: PathBuf::from("(compiled in)").join(file.name),
                problem,
            })?;
            keys.push(TrustedKey { id: key_id(&key), key, origin: "compiled into the installer".into() });
        }
        Ok(TrustStore::from_keys(keys))
    }

    /// A store holding exactly these keys (for the builder and tests).
    pub fn from_keys(keys: Vec<TrustedKey>) -> TrustStore {
        TrustStore {
            keys,
            source: TrustSource::CommandLineAndEmbedded,
            ignored_cli_keys: Vec::new(),
            revoked: Vec::new(),
            revocation_list: None,
            host_dir: None,
        }
    }

    /// One line naming where trust comes from, for error messages.
    pub fn describe(&self) -> String {
        let ids: Vec<&str> = self.keys.iter().map(|k| k.id.as_str()).collect();
        let ids = if ids.is_empty() { "none".to_string() } else { ids.join(", ") };
        match self.source {
            TrustSource::HostDirectory => {
                let dir = self.host_dir.as_deref().unwrap_or(Path::new(HOST_TRUST_DIR));
                format!("trusted keys from {} (authoritative): {ids}", dir.display())
            }
            TrustSource::CommandLineAndEmbedded => {
                format!("trusted keys from --trusted-key and the installer itself: {ids}")
            }
        }
    }
}

/// Reads a revocation list; a missing file is an empty list, anything unreadable or malformed is
/// an error (failing closed: a list that cannot be read cannot be honoured).
fn read_revocation_list(path: &Path) -> Result<Vec<String>, KeyError> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(KeyError::Revocation { path: path.into(), problem: e.to_string() }),
    };
    let mut ids = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let id = line.split('#').next().unwrap_or_default().trim();
        if id.is_empty() {
            continue;
        }
        if id.len() != 16 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(KeyError::Revocation {
                path: path.into(),
                problem: format!("line {} is not a 16-digit key id", n + 1),
            });
        }
        ids.push(id.to_ascii_lowercase());
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_round_trip_and_key_id() {
        let sk = SigningKey::from_bytes(&[7u8; 32]);
        let pem = private_key_pem(&sk);
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        // Version 1: 48 bytes of DER, `30 2e 02 01 00`, no public key after the private one.
        assert!(pem.contains("\nMC4CAQAwBQYDK2VwBCIEI"), "{pem}");
        let back = SigningKey::from_pkcs8_pem(&pem).unwrap();
        assert_eq!(back.to_bytes(), sk.to_bytes());
        let public = public_key_pem(&sk.verifying_key());
        assert!(public.starts_with("-----BEGIN PUBLIC KEY-----"));
        assert_eq!(parse_public_key(&public).unwrap(), sk.verifying_key());
        assert_eq!(key_id(&sk.verifying_key()).len(), 16);
        assert!(parse_public_key("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----").is_err());
    }

    #[test]
    fn weak_keys_are_refused() {
        use ed25519_dalek::Verifier;
        // The identity point and a point of order 2 (y = -1): both small-order.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let mut order_two = [0xffu8; 32];
        order_two[0] = 0xec;
        order_two[31] = 0x7f;
        for bytes in [identity, order_two] {
            let weak = VerifyingKey::from_bytes(&bytes).unwrap();
            assert!(weak.is_weak());
            // Why it matters: non-strict verification accepts R = identity, S = 0 for any message.
            let mut sig = [0u8; 64];
            sig[0] = 1;
            let forged = ed25519_dalek::Signature::from_bytes(&sig);
            if bytes == identity {
                assert!(weak.verify(b"anything", &forged).is_ok());
            }
            assert!(weak.verify_strict(b"anything", &forged).is_err());
            let err = parse_public_key(&public_key_pem(&weak)).unwrap_err();
            assert!(err.contains("weak"), "{err}");
        }
    }
}
