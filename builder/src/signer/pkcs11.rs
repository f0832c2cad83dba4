//! Signing with an Ed25519 key inside a PKCS#11 token (an HSM, a smart card, SoftHSM), through
//! the token's module and `CKM_EDDSA`: the key never leaves the token.
//!
//! The key is named by an RFC 7512 URI:
//!
//! ```text
//! pkcs11:token=org;object=org-release?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin
//! ```
//!
//! - path attributes: `token` (label), `serial` (of the token), `object` (key label), `id` (key
//!   id, percent-encoded bytes), `type=private`; `object` or `id` is required; without `token` or
//!   `serial` the only initialized token is used;
//! - query attributes: `module-path` (default `$GO_OFFLINE_PKCS11_MODULE`) and `pin-source`
//!   (`file:PATH`; default: the PIN in `$GO_OFFLINE_PKCS11_PIN`). `pin-value` is refused: a PIN
//!   on a command line is seen by every user of the machine and kept in shell histories.
//!
//! The module is a shared library loaded at run time (`dlopen`), which a statically linked
//! program cannot do: the release builders `cargo xtask dist` makes are static, so there this
//! signer says so and names the ways that work (a builder built from source, or sign later).

use std::{fmt, path::PathBuf};

use super::SignError;

/// Where the PIN comes from (never the URI itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinSource {
    /// `pin-source=file:PATH`: the file's first line.
    File(PathBuf),
    /// `$GO_OFFLINE_PKCS11_PIN`.
    Env,
}

/// The PIN's environment variable.
pub const PIN_ENV: &str = "GO_OFFLINE_PKCS11_PIN";
/// The module's environment variable, when the URI names none.
pub const MODULE_ENV: &str = "GO_OFFLINE_PKCS11_MODULE";

/// A parsed `pkcs11:` URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uri {
    /// The URI as given (it holds no secret: `pin-value` is refused).
    text: String,
    pub module: Option<PathBuf>,
    pub token: Option<String>,
    pub serial: Option<String>,
    pub object: Option<String>,
    pub id: Option<Vec<u8>>,
    pub pin: PinSource,
}

impl Uri {
    pub fn parse(text: &str) -> Result<Uri, SignError> {
        let bad = |problem: String, fix: &str| SignError::Spec { spec: text.into(), problem, fix: fix.into() };
        let rest = text.strip_prefix("pkcs11:").unwrap_or(text);
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut uri = Uri {
            text: text.into(),
            module: None,
            token: None,
            serial: None,
            object: None,
            id: None,
            pin: PinSource::Env,
        };
        for attr in path.split(';').filter(|a| !a.is_empty()) {
            let (name, value) =
                attr.split_once('=').ok_or_else(|| bad(format!("'{attr}' is not NAME=VALUE"), "see RFC 7512"))?;
            let bytes =
                percent_decode(value).map_err(|p| bad(format!("{name}: {p}"), "percent-encode bytes as %HH"))?;
            let text = || {
                String::from_utf8(bytes.clone()).map_err(|_| bad(format!("{name} is not UTF-8"), "use id= for bytes"))
            };
            match name {
                "token" => uri.token = Some(text()?),
                "serial" => uri.serial = Some(text()?),
                "object" => uri.object = Some(text()?),
                "id" => uri.id = Some(bytes),
                "type" if value == "private" => {}
                "type" => {
                    return Err(bad(format!("type={value}"), "the signing key is type=private (or leave type out)"))
                }
                other => {
                    return Err(bad(
                        format!("the attribute '{other}' is not one this builder matches on"),
                        "use token=, serial=, object=, id= and type=private",
                    ))
                }
            }
        }
        for attr in query.split('&').filter(|a| !a.is_empty()) {
            let (name, value) = attr.split_once('=').unwrap_or((attr, ""));
            let value = String::from_utf8(
                percent_decode(value).map_err(|p| bad(format!("{name}: {p}"), "percent-encode as %HH"))?,
            )
            .map_err(|_| bad(format!("{name} is not UTF-8"), "write a path"))?;
            match name {
                "module-path" => uri.module = Some(PathBuf::from(value)),
                "pin-source" => {
                    let path = value.strip_prefix("file:").unwrap_or(&value);
                    if path.is_empty() {
                        return Err(bad("pin-source names no file".into(), "write pin-source=file:PATH"));
                    }
                    uri.pin = PinSource::File(PathBuf::from(path));
                }
                "pin-value" => {
                    return Err(bad(
                        "pin-value puts the PIN on the command line, where every user of this machine sees it; it is never on the command line".into(),
                        &format!("use pin-source=file:PATH, or set {PIN_ENV}"),
                    ))
                }
                other => return Err(bad(format!("the query '{other}' is unknown"), "use module-path= and pin-source=")),
            }
        }
        if uri.object.is_none() && uri.id.is_none() {
            return Err(bad("it names no key".into(), "add object=LABEL or id=%HH… to name the key"));
        }
        Ok(uri)
    }

    // Used by the token session, which a static (musl) builder compiles out.
    #[cfg_attr(target_env = "musl", allow(dead_code))]
    fn module_path(&self) -> Result<PathBuf, SignError> {
        self.module
            .clone()
            .or_else(|| std::env::var_os(MODULE_ENV).filter(|v| !v.is_empty()).map(PathBuf::from))
            .ok_or_else(|| SignError::Spec {
                spec: self.text.clone(),
                problem: "names no PKCS#11 module".into(),
                fix: format!("add ?module-path=/path/to/module.so, or set {MODULE_ENV}"),
            })
    }

    /// The PIN, from its source.
    // Used by the token session, which a static (musl) builder compiles out.
    #[cfg_attr(target_env = "musl", allow(dead_code))]
    fn pin(&self) -> Result<String, SignError> {
        let denied = |problem: String, fix: String| SignError::Denied { signer: self.text.clone(), problem, fix };
        match &self.pin {
            PinSource::File(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    denied(
                        format!("cannot read the PIN from '{}' ({e})", path.display()),
                        "check pin-source=file:PATH".into(),
                    )
                })?;
                Ok(text.lines().next().unwrap_or("").to_string())
            }
            PinSource::Env => std::env::var(PIN_ENV)
                .map_err(|_| denied("no PIN".into(), format!("set {PIN_ENV}, or add pin-source=file:PATH to the URI"))),
        }
    }

    /// What names the key, for messages.
    // Used by the token session, which a static (musl) builder compiles out.
    #[cfg_attr(target_env = "musl", allow(dead_code))]
    fn key_name(&self) -> String {
        match (&self.object, &self.id) {
            (Some(label), _) => format!("labelled '{label}'"),
            (None, Some(id)) => format!("with id {}", hex::encode(id)),
            (None, None) => "(none named)".into(),
        }
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn percent_decode(s: &str) -> Result<Vec<u8>, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3).ok_or_else(|| format!("'%' at {i} is not followed by two hex digits"))?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| format!("'%{hex}' is not two hex digits"))?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Ok(out)
}

pub use imp::{keygen, open, Open};

#[cfg(not(target_env = "musl"))]
mod imp {
    use cryptoki::{
        context::{CInitializeArgs, CInitializeFlags, Pkcs11},
        error::{Error as P11Error, RvError},
        mechanism::{
            eddsa::{EddsaParams, EddsaSignatureScheme},
            Mechanism,
        },
        object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle},
        session::{Session, UserType},
        slot::Slot,
        types::AuthPin,
    };
    use ed25519_dalek::VerifyingKey;

    use format::layout::SignatureBytes;

    use super::{SignError, Uri};

    /// `CKA_EC_PARAMS` of Ed25519: the curve name as a PrintableString (what OpenSC writes), or
    /// the OID 1.3.101.112 (RFC 8410); PKCS#11 3.0 allows both.
    const EDWARDS25519_NAME: &[u8] = b"\x13\x0cedwards25519";
    const ED25519_OID: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];

    /// A logged-in session and the key found in it.
    pub struct Open {
        session: Option<Session>,
        context: Option<Pkcs11>,
        key: ObjectHandle,
        public: VerifyingKey,
        signer: String,
    }

    impl Open {
        pub fn public_key(&self) -> VerifyingKey {
            self.public
        }

        pub fn sign(&self, message: &[u8]) -> Result<SignatureBytes, SignError> {
            let session = self.session.as_ref().ok_or_else(|| SignError::Refused {
                signer: self.signer.clone(),
                problem: "the session is closed".into(),
            })?;
            let mechanism = Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure));
            let signature = session.sign(&mechanism, self.key, message).map_err(|e| SignError::Refused {
                signer: self.signer.clone(),
                problem: format!("the token refused to sign with CKM_EDDSA ({})", short(&e)),
            })?;
            SignatureBytes::try_from(signature.as_slice()).map_err(|_| SignError::Refused {
                signer: self.signer.clone(),
                problem: format!("the token returned a {}-byte signature, not the 64 of Ed25519", signature.len()),
            })
        }
    }

    impl Drop for Open {
        fn drop(&mut self) {
            drop(self.session.take());
            if let Some(context) = self.context.take() {
                // Nothing to do about a module that fails to finalize: we are done with it.
                let _ = context.finalize();
            }
        }
    }

    /// Loads the module, finds the token, logs in and finds the key and its public key.
    pub fn open(uri: &Uri) -> Result<Open, SignError> {
        let (context, session) = login(uri)?;
        let signer = uri.to_string();
        let key = find_private_key(&session, uri)?;
        let public = public_key(&session, uri, key)?;
        Ok(Open { session: Some(session), context: Some(context), key, public, signer })
    }

    /// Generates an Ed25519 key pair inside the token: the private key sensitive, never
    /// extractable, for signing only; refuses a label or id that is taken.
    pub fn keygen(uri: &Uri) -> Result<VerifyingKey, SignError> {
        let signer = uri.to_string();
        let label = uri.object.clone().ok_or_else(|| SignError::Spec {
            spec: signer.clone(),
            problem: "names no label for the new key".into(),
            fix: "add object=LABEL".into(),
        })?;
        let (context, session) = login(uri)?;
        let mut taken = vec![Attribute::Label(label.clone().into_bytes())];
        if let Some(id) = &uri.id {
            taken.push(Attribute::Id(id.clone()));
        }
        for attr in taken {
            if !session.find_objects(&[attr]).map_err(|e| refused(&signer, "search the token", &e))?.is_empty() {
                return Err(SignError::KeyExists {
                    signer: signer.clone(),
                    problem: format!("the token already holds an object {}", uri.key_name()),
                });
            }
        }
        let mut common = vec![Attribute::Token(true), Attribute::Label(label.into_bytes())];
        if let Some(id) = &uri.id {
            common.push(Attribute::Id(id.clone()));
        }
        let private: Vec<Attribute> = common
            .iter()
            .cloned()
            .chain([
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Extractable(false),
                Attribute::Sign(true),
                Attribute::Decrypt(false),
                Attribute::Unwrap(false),
                Attribute::Derive(false),
            ])
            .collect();
        let mut generated = Err(P11Error::NotSupported);
        for params in [EDWARDS25519_NAME, ED25519_OID] {
            let public: Vec<Attribute> = common
                .iter()
                .cloned()
                .chain([
                    Attribute::Verify(true),
                    Attribute::Encrypt(false),
                    Attribute::Wrap(false),
                    Attribute::EcParams(params.to_vec()),
                ])
                .collect();
            generated = session.generate_key_pair(&Mechanism::EccEdwardsKeyPairGen, &public, &private);
            if generated.is_ok() {
                break;
            }
        }
        let (_, private_handle) = generated.map_err(|e| refused(&signer, "generate an Ed25519 key pair", &e))?;
        let public = public_key(&session, uri, private_handle)?;
        drop(session);
        let _ = context.finalize();
        Ok(public)
    }

    fn login(uri: &Uri) -> Result<(Pkcs11, Session), SignError> {
        let signer = uri.to_string();
        let module = uri.module_path()?;
        let unreachable = |problem: String| SignError::Unreachable {
            signer: signer.clone(),
            problem,
            fix: "check module-path (or GO_OFFLINE_PKCS11_MODULE): it must be the token's PKCS#11 module".into(),
        };
        let context = Pkcs11::new(&module)
            .map_err(|e| unreachable(format!("cannot load the PKCS#11 module '{}' ({e})", module.display())))?;
        context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)).map_err(|e| {
            unreachable(format!("the module '{}' does not initialize ({})", module.display(), short(&e)))
        })?;
        let slot = find_token(&context, uri)?;
        let pin = uri.pin()?;
        let session = context.open_rw_session(slot).map_err(|e| refused(&signer, "open a session", &e))?;
        match session.login(UserType::User, Some(&AuthPin::new(pin.into()))) {
            Ok(()) | Err(P11Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
            Err(P11Error::Pkcs11(rv @ (RvError::PinIncorrect | RvError::PinLocked | RvError::PinExpired), _)) => {
                let problem = match rv {
                    RvError::PinLocked => "the token's user PIN is locked (too many wrong PINs)",
                    RvError::PinExpired => "the token's user PIN has expired",
                    _ => "the PIN is wrong",
                };
                return Err(SignError::Denied {
                    signer,
                    problem: problem.into(),
                    fix: format!(
                        "check the PIN in {} (a token locks itself after a few wrong PINs)",
                        match &uri.pin {
                            super::PinSource::File(p) => format!("'{}'", p.display()),
                            super::PinSource::Env => format!("${}", super::PIN_ENV),
                        }
                    ),
                });
            }
            Err(e) => return Err(refused(&signer, "log in", &e)),
        }
        Ok((context, session))
    }

    fn find_token(context: &Pkcs11, uri: &Uri) -> Result<Slot, SignError> {
        let signer = uri.to_string();
        let slots = context.get_slots_with_initialized_token().map_err(|e| refused(&signer, "list the slots", &e))?;
        let mut tokens = Vec::new();
        for slot in slots {
            let info = context.get_token_info(slot).map_err(|e| refused(&signer, "read a token", &e))?;
            let label = info.label().trim().to_string();
            let serial = info.serial_number().trim().to_string();
            let wanted =
                uri.token.as_ref().is_none_or(|t| *t == label) && uri.serial.as_ref().is_none_or(|s| *s == serial);
            tokens.push((slot, label, serial, wanted));
        }
        let named = uri.token.is_some() || uri.serial.is_some();
        let mut wanted = tokens.iter().filter(|t| t.3);
        match (wanted.next(), wanted.next()) {
            (Some(t), None) => Ok(t.0),
            (first, second) => {
                let have: Vec<String> = tokens.iter().map(|t| format!("'{}' (serial {})", t.1, t.2)).collect();
                let have = if have.is_empty() { "none".to_string() } else { have.join(", ") };
                let problem = match (first, second, named) {
                    (None, _, true) => format!("no initialized token matches (tokens: {have})"),
                    (None, _, false) => "the module has no initialized token".to_string(),
                    _ => format!("more than one token matches (tokens: {have})"),
                };
                Err(SignError::NoKey { signer, problem, fix: "name the token with token=LABEL or serial=".into() })
            }
        }
    }

    fn key_filter(uri: &Uri, class: ObjectClass) -> Vec<Attribute> {
        let mut filter = vec![Attribute::Class(class)];
        if let Some(label) = &uri.object {
            filter.push(Attribute::Label(label.clone().into_bytes()));
        }
        if let Some(id) = &uri.id {
            filter.push(Attribute::Id(id.clone()));
        }
        filter
    }

    fn find_private_key(session: &Session, uri: &Uri) -> Result<ObjectHandle, SignError> {
        let signer = uri.to_string();
        let found = session
            .find_objects(&key_filter(uri, ObjectClass::PRIVATE_KEY))
            .map_err(|e| refused(&signer, "search the token", &e))?;
        let key = match found.as_slice() {
            [key] => *key,
            [] => {
                return Err(SignError::NoKey {
                    signer: signer.clone(),
                    problem: format!("the token holds no private key {}", uri.key_name()),
                    fix: format!(
                        "check object= and id=, or create the key: go-offline-builder keygen --key '{signer}'"
                    ),
                })
            }
            many => {
                return Err(SignError::NoKey {
                    signer,
                    problem: format!("{} private keys are {}", many.len(), uri.key_name()),
                    fix: "name one with both object= and id=".into(),
                })
            }
        };
        match session
            .get_attributes(key, &[AttributeType::KeyType])
            .map_err(|e| refused(&signer, "read the key", &e))?
            .first()
        {
            Some(Attribute::KeyType(t)) if *t == KeyType::EC_EDWARDS => Ok(key),
            Some(Attribute::KeyType(t)) => {
                Err(SignError::KeyType { signer, found: format!("a PKCS#11 key of type {t}") })
            }
            _ => Err(SignError::KeyType { signer, found: "a PKCS#11 key of unknown type".into() }),
        }
    }

    /// The public key beside `private` (same label and id), which must be Ed25519.
    fn public_key(session: &Session, uri: &Uri, private: ObjectHandle) -> Result<VerifyingKey, SignError> {
        let signer = uri.to_string();
        let ids = session
            .get_attributes(private, &[AttributeType::Label, AttributeType::Id])
            .map_err(|e| refused(&signer, "read the key", &e))?;
        let mut filter = vec![Attribute::Class(ObjectClass::PUBLIC_KEY)];
        filter.extend(ids.into_iter().filter(|a| matches!(a, Attribute::Label(_) | Attribute::Id(_))));
        let found = session.find_objects(&filter).map_err(|e| refused(&signer, "search the token", &e))?;
        let no_public = |problem: String| SignError::NoKey {
            signer: signer.clone(),
            problem,
            fix: "keep the key pair's public key object in the token, with the private key's label and id".into(),
        };
        let [public] = found.as_slice() else {
            return Err(no_public(format!("{} public keys match the private key {}", found.len(), uri.key_name())));
        };
        let attrs = session
            .get_attributes(*public, &[AttributeType::EcParams, AttributeType::EcPoint])
            .map_err(|e| refused(&signer, "read the public key", &e))?;
        let (mut params, mut point) = (None, None);
        for a in attrs {
            match a {
                Attribute::EcParams(p) => params = Some(p),
                Attribute::EcPoint(p) => point = Some(p),
                _ => {}
            }
        }
        if !matches!(params.as_deref(), Some(EDWARDS25519_NAME | ED25519_OID)) {
            return Err(SignError::KeyType {
                signer,
                found: format!("an Edwards key with curve parameters {}", hex::encode(params.unwrap_or_default())),
            });
        }
        let point = point.ok_or_else(|| no_public("the public key has no CKA_EC_POINT".into()))?;
        let raw: &[u8] = match point.as_slice() {
            [0x04, 0x20, rest @ ..] if rest.len() == 32 => rest,
            raw if raw.len() == 32 => raw,
            other => return Err(no_public(format!("its CKA_EC_POINT {} is not an Ed25519 point", hex::encode(other)))),
        };
        let raw = <[u8; 32]>::try_from(raw).map_err(|_| no_public("its CKA_EC_POINT is not 32 bytes".into()))?;
        VerifyingKey::from_bytes(&raw).map_err(|e| no_public(format!("its CKA_EC_POINT is not a valid key ({e})")))
    }

    fn refused(signer: &str, action: &str, e: &P11Error) -> SignError {
        SignError::Refused { signer: signer.into(), problem: format!("could not {action} ({})", short(e)) }
    }

    /// The return value's name (`CKR_…` as cryptoki names it), not the spec's paragraph.
    fn short(e: &P11Error) -> String {
        match e {
            P11Error::Pkcs11(rv, function) => format!("{rv:?} in {function:?}"),
            other => other.to_string(),
        }
    }
}

/// A statically linked builder cannot load a module: every call says so.
#[cfg(target_env = "musl")]
mod imp {
    use ed25519_dalek::VerifyingKey;

    use format::layout::SignatureBytes;

    use super::{SignError, Uri};

    pub enum Open {}

    impl Open {
        pub fn public_key(&self) -> VerifyingKey {
            match *self {}
        }
        pub fn sign(&self, _: &[u8]) -> Result<SignatureBytes, SignError> {
            match *self {}
        }
    }

    fn unsupported(uri: &Uri) -> SignError {
        SignError::Unreachable {
            signer: uri.to_string(),
            problem: "this go-offline-builder is statically linked, and a static program cannot load a PKCS#11 module".into(),
            fix: "use a builder built from source (cargo install --path builder), or build with --unsigned, sign NAME.tosign with the token (pkcs11-tool --sign --mechanism EDDSA) and `attach` the signature".into(),
        }
    }

    pub fn open(uri: &Uri) -> Result<Open, SignError> {
        Err(unsupported(uri))
    }

    pub fn keygen(uri: &Uri) -> Result<VerifyingKey, SignError> {
        Err(unsupported(uri))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_are_read_as_rfc_7512_says() {
        let u = Uri::parse("pkcs11:token=My%20Token;id=%01%ff;type=private?module-path=/m.so&pin-source=file:/run/pin")
            .unwrap();
        assert_eq!(u.token.as_deref(), Some("My Token"));
        assert_eq!(u.id.as_deref(), Some(&[1u8, 0xff][..]));
        assert_eq!(u.module.as_deref(), Some(std::path::Path::new("/m.so")));
        assert_eq!(u.pin, PinSource::File("/run/pin".into()));
        let refused: &[(&str, &str)] = &[
            ("pkcs11:object=k;type=cert", "type=private"),
            ("pkcs11:object=k;slot-id=1", "not one this builder matches"),
            ("pkcs11:object=k%zz", "not two hex digits"),
            ("pkcs11:object=k%4", "two hex digits"),
            ("pkcs11:object=k?pin-source=", "names no file"),
            ("pkcs11:object=k?module-name=softhsm2", "unknown"),
            ("pkcs11:token=t", "names no key"),
        ];
        for (text, says) in refused {
            let e = Uri::parse(text).unwrap_err();
            assert!(e.to_string().contains(says), "{text}: {e}");
        }
    }
}
