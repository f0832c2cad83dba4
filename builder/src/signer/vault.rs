//! Signing with an `ed25519` key of a Vault or OpenBao transit engine, over its HTTP API.
//!
//! `vault:[MOUNT/]NAME[?addr=URL]`: the key `NAME` of the transit engine mounted at `MOUNT`
//! (default `transit`) of the server at `URL` (default `$VAULT_ADDR`, then `$BAO_ADDR`). The token
//! comes from `$VAULT_TOKEN` (then `$BAO_TOKEN`), never from the command line; `$VAULT_NAMESPACE`
//! is sent when set. Over `https://` the server must prove itself to the public web roots built
//! into the builder, or to the CA certificates (PEM) in `$VAULT_CACERT` (then `$BAO_CACERT`);
//! there is no way to skip that check (`VAULT_SKIP_VERIFY` is not read). The private key never leaves the server: the builder sends the statement
//! (base64) to `MOUNT/sign/NAME` and gets a pure Ed25519 signature back, pinned to the key version
//! whose public key it read.

use std::{fmt, path::Path, sync::Arc, time::Duration};

use base64::{engine::general_purpose::STANDARD as B64, Engine as _};
use ed25519_dalek::VerifyingKey;
use format::layout::{SignatureBytes, SIGNATURE_LEN};
use serde_json::{json, Value};

use super::SignError;

/// A transit key, as a signer string names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRef {
    /// The server, when the string names it (else the environment's).
    pub addr: Option<String>,
    pub mount: String,
    pub name: String,
}

impl KeyRef {
    /// Reads what follows `vault:`.
    pub fn parse(rest: &str) -> Result<KeyRef, SignError> {
        let spec = format!("vault:{rest}");
        let bad = |problem: String, fix: &str| SignError::Spec { spec: spec.clone(), problem, fix: fix.into() };
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (mount, name) = match path.rsplit_once('/') {
            Some((mount, name)) => (mount.trim_matches('/'), name),
            None => ("transit", path),
        };
        let name_ok = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !name_ok(name) {
            return Err(bad(
                format!("names no key ('{name}')"),
                "write vault:NAME or vault:MOUNT/NAME, NAME of letters, digits, '-', '_' or '.'",
            ));
        }
        if mount.is_empty() || !mount.split('/').all(name_ok) {
            return Err(bad(
                format!("the mount '{mount}' is not a path"),
                "write vault:MOUNT/NAME, e.g. vault:transit/org-release",
            ));
        }
        let mut addr = None;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("addr", url)) => {
                    addr = Some(check_addr(url).map_err(|p| bad(p, "write addr=https://HOST:PORT"))?)
                }
                _ => return Err(bad(format!("the query '{pair}' is unknown"), "the only query is addr=URL")),
            }
        }
        Ok(KeyRef { addr, mount: mount.into(), name: name.into() })
    }
}

fn check_addr(url: &str) -> Result<String, String> {
    if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() < 10 {
        return Err(format!("the address '{url}' is not an http:// or https:// URL"));
    }
    Ok(url.trim_end_matches('/').into())
}

impl fmt::Display for KeyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "vault:{}/{}", self.mount, self.name)?;
        if let Some(a) = &self.addr {
            write!(f, "?addr={a}")?;
        }
        Ok(())
    }
}

/// A connection to the server, with the key's version and public key read.
pub struct Open {
    client: Client,
    version: u64,
    public: VerifyingKey,
}

impl Open {
    pub fn public_key(&self) -> VerifyingKey {
        self.public
    }

    /// Asks the server to sign `message` with the key version whose public key was read.
    pub fn sign(&self, message: &[u8]) -> Result<SignatureBytes, SignError> {
        let c = &self.client;
        let body = json!({ "input": B64.encode(message), "key_version": self.version });
        let answer = c.call("POST", &format!("{}/sign/{}", c.key.mount, c.key.name), Some(&body))?;
        let text = answer["data"]["signature"].as_str().ok_or_else(|| c.refused("its answer has no data.signature"))?;
        let (version, b64) = text
            .strip_prefix("vault:v")
            .and_then(|r| r.split_once(':'))
            .ok_or_else(|| c.refused(&format!("its signature '{text}' is not vault:vN:BASE64")))?;
        if version != self.version.to_string() {
            return Err(c.refused(&format!("it signed with key version {version}, not {}", self.version)));
        }
        let raw = B64.decode(b64).map_err(|e| c.refused(&format!("its signature is not base64 ({e})")))?;
        SignatureBytes::try_from(raw.as_slice())
            .map_err(|_| c.refused(&format!("its signature is {} bytes, not {SIGNATURE_LEN}", raw.len())))
    }
}

/// Connects and reads the key: it must exist and be `ed25519`.
pub fn open(key: &KeyRef) -> Result<Open, SignError> {
    let client = Client::new(key)?;
    let (version, public) = client.read_key()?;
    Ok(Open { client, version, public })
}

/// Creates the key as a non-exportable `ed25519` transit key; refuses a name that exists (the
/// server itself would answer "ok" and keep the old key, of whatever type).
pub fn keygen(key: &KeyRef) -> Result<VerifyingKey, SignError> {
    let client = Client::new(key)?;
    match client.read_key() {
        Err(SignError::NoKey { .. }) => {}
        Ok(_) | Err(SignError::KeyType { .. }) => {
            return Err(SignError::KeyExists {
                signer: client.signer(),
                problem: format!("the transit key '{}' exists already", key.name),
            })
        }
        Err(e) => return Err(e),
    }
    let body = json!({ "type": "ed25519", "exportable": false, "allow_plaintext_backup": false });
    client.call("POST", &format!("{}/keys/{}", key.mount, key.name), Some(&body))?;
    Ok(client.read_key()?.1)
}

/// TLS that trusts the public web roots and the CA certificates in the PEM file `ca`.
fn tls_with_ca(ca: &Path) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls_pki_types::{pem::PemObject, CertificateDer};
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let mut added = 0;
    for cert in CertificateDer::pem_file_iter(ca).map_err(|e| format!("cannot be read ({e})"))? {
        let cert = cert.map_err(|e| format!("is not PEM ({e})"))?;
        roots.add(cert).map_err(|e| format!("holds a certificate that is not a usable CA ({e})"))?;
        added += 1;
    }
    if added == 0 {
        return Err("holds no certificate".into());
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot be used ({e})"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

struct Client {
    key: KeyRef,
    addr: String,
    token: String,
    namespace: Option<String>,
    agent: ureq::Agent,
}

impl Client {
    fn new(key: &KeyRef) -> Result<Client, SignError> {
        let env = |names: &[&str]| names.iter().find_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()));
        let signer = key.to_string();
        let addr = match &key.addr {
            Some(a) => a.clone(),
            None => {
                let a = env(&["VAULT_ADDR", "BAO_ADDR"]).ok_or_else(|| SignError::Spec {
                    spec: signer.clone(),
                    problem: "names no server".into(),
                    fix: "set VAULT_ADDR or write vault:NAME?addr=https://HOST:PORT".into(),
                })?;
                check_addr(&a).map_err(|problem| SignError::Spec {
                    spec: signer.clone(),
                    problem: format!("VAULT_ADDR: {problem}"),
                    fix: "set VAULT_ADDR=https://HOST:PORT".into(),
                })?
            }
        };
        let token = env(&["VAULT_TOKEN", "BAO_TOKEN"]).ok_or_else(|| SignError::Denied {
            signer: signer.clone(),
            problem: "no token".into(),
            fix: "set VAULT_TOKEN to a token allowed to use this transit key (it is never read from the command line)"
                .into(),
        })?;
        let mut agent =
            ureq::AgentBuilder::new().timeout_connect(Duration::from_secs(10)).timeout(Duration::from_secs(60));
        if let Some(ca) = env(&["VAULT_CACERT", "BAO_CACERT"]) {
            let tls = tls_with_ca(Path::new(&ca)).map_err(|problem| SignError::Spec {
                spec: signer.clone(),
                problem: format!("VAULT_CACERT '{ca}' {problem}"),
                fix: "set VAULT_CACERT to the PEM file of the CA that signed the server's certificate".into(),
            })?;
            agent = agent.tls_config(tls);
        }
        let agent = agent.build();
        Ok(Client { key: key.clone(), addr, token, namespace: env(&["VAULT_NAMESPACE"]), agent })
    }

    fn signer(&self) -> String {
        KeyRef { addr: Some(self.addr.clone()), ..self.key.clone() }.to_string()
    }

    fn refused(&self, problem: &str) -> SignError {
        SignError::Refused { signer: self.signer(), problem: format!("the server's answer is unusable: {problem}") }
    }

    /// The latest version of the key and its public key.
    fn read_key(&self) -> Result<(u64, VerifyingKey), SignError> {
        let answer = self.call("GET", &format!("{}/keys/{}", self.key.mount, self.key.name), None)?;
        let data = &answer["data"];
        let kind = data["type"].as_str().unwrap_or("of no type");
        if kind != "ed25519" {
            return Err(SignError::KeyType { signer: self.signer(), found: format!("a transit key of type {kind}") });
        }
        let version = data["latest_version"].as_u64().ok_or_else(|| self.refused("the key has no latest_version"))?;
        let b64 = data["keys"][version.to_string()]["public_key"]
            .as_str()
            .ok_or_else(|| self.refused(&format!("key version {version} has no public_key")))?;
        let raw = B64.decode(b64).map_err(|e| self.refused(&format!("the public key is not base64 ({e})")))?;
        let raw = <[u8; 32]>::try_from(raw.as_slice())
            .map_err(|_| self.refused(&format!("the public key is {} bytes, not 32", raw.len())))?;
        let public =
            VerifyingKey::from_bytes(&raw).map_err(|e| self.refused(&format!("the public key is invalid ({e})")))?;
        Ok((version, public))
    }

    /// One API call; an HTTP error becomes the [`SignError`] its status means.
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, SignError> {
        let url = format!("{}/v1/{path}", self.addr);
        let mut request = self.agent.request(method, &url).set("X-Vault-Token", &self.token);
        if let Some(ns) = &self.namespace {
            request = request.set("X-Vault-Namespace", ns);
        }
        let result = match body {
            Some(b) => request.set("Content-Type", "application/json").send_string(&b.to_string()),
            None => request.call(),
        };
        let signer = self.signer();
        let response = match result {
            Ok(r) => r,
            Err(ureq::Error::Status(status, r)) => {
                let errors: Value =
                    r.into_string().ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or(Value::Null);
                let said: Vec<&str> =
                    errors["errors"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
                let said = if said.is_empty() { String::new() } else { format!(": {}", said.join("; ").trim()) };
                let problem = format!("the server answered {status} to {method} /v1/{path}{said}");
                return Err(match status {
                    401 | 403 => SignError::Denied {
                        signer,
                        problem,
                        fix: "check VAULT_TOKEN: it must be valid and allowed to read and sign with this transit key"
                            .into(),
                    },
                    404 if said.contains("no handler for route") => SignError::NoKey {
                        signer,
                        problem: format!("no transit engine is mounted at '{}'{said}", self.key.mount),
                        fix: "check the mount in vault:MOUNT/NAME, or enable one: bao secrets enable transit".into(),
                    },
                    404 | 400 if path.contains("/keys/") || said.contains("not found") => SignError::NoKey {
                        signer,
                        problem: format!("there is no transit key '{}' ({problem})", self.key.name),
                        fix: format!("check the name, or create it: go-offline-builder keygen --key {}", self.key),
                    },
                    _ => SignError::Refused { signer, problem },
                });
            }
            Err(ureq::Error::Transport(t)) => {
                let text = t.to_string();
                let fix = if text.contains("certificate") {
                    "the server's certificate is not trusted: set VAULT_CACERT to the PEM file of its CA"
                } else {
                    "check that it runs and that the address is right (VAULT_ADDR or addr=)"
                };
                return Err(SignError::Unreachable {
                    signer,
                    problem: format!("cannot reach the server ({text})"),
                    fix: fix.into(),
                });
            }
        };
        let text = response.into_string().map_err(|e| self.refused(&format!("its body cannot be read ({e})")))?;
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).map_err(|e| self.refused(&format!("its body is not JSON ({e})")))
    }
}
