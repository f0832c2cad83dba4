//! Fleet roll-out with the real Ansible (Debian's `ansible-playbook`) and `examples/ansible/`,
//! against three hosts on this machine: each its own network namespace (a veth pair, its own
//! address) running its own `sshd`, in a mount namespace with its own `/usr/local`, `/etc` (an
//! overlay: `/etc/profile.d` and the trust directory are the host's own), `/var/log` and `/tmp`.
//! No step is mocked: Ansible logs in over ssh, copies the installers, runs them.
//!
//! Without network namespaces, sshd or ansible-playbook the test fails and says which is missing.

use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
};

use serde_json::Value;

use crate::support::*;

const HOSTS: usize = 3;

/// Debian's `ansible-playbook`, which carries the `ansible.posix` collection (its `json`
/// callback): by path, since a pip-installed `ansible-core` (as `ansible-lint` brings) earlier
/// on PATH has no collections.
const ANSIBLE_PLAYBOOK: &str = "/usr/bin/ansible-playbook";

/// One test host: a network namespace and the sshd serving it.
struct Host {
    name: String,
    netns: String,
    veth: String,
    address: String,
    dir: PathBuf,
    sshd: Option<Child>,
}

impl Drop for Host {
    fn drop(&mut self) {
        if let Some(mut c) = self.sshd.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        // Deleting the namespace deletes its end of the veth pair, and with it ours.
        let _ = Command::new("ip").args(["netns", "del", &self.netns]).status();
        let _ = Command::new("ip").args(["link", "del", &self.veth]).stderr(Stdio::null()).status();
    }
}

fn require(what: &str, ok: bool, why: &str) {
    assert!(ok, "the fleet test cannot run: {what} ({why}); it fails rather than passing silently");
}

fn works(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

/// Starts host `i` (1-based): namespace, veth, addresses, directories, sshd.
fn start_host(ctx: &TestContext, i: usize, client_pub: &str) -> Host {
    let tag = format!("{}{}", std::process::id() % 100_000, i);
    let mut host = Host {
        name: format!("h{i}"),
        netns: format!("goo-fleet-{tag}"),
        veth: format!("goo{tag}a"),
        address: format!("10.231.{i}.2"),
        dir: ctx.path(&format!("hosts/h{i}")),
        sshd: None,
    };
    for d in ["usr-local", "etc-upper", "etc-work", "var-log", "ssh"] {
        fs::create_dir_all(host.dir.join(d)).unwrap();
    }
    let peer = format!("goo{tag}b");
    for args in [
        vec!["netns", "add", &host.netns],
        vec!["link", "add", &host.veth, "type", "veth", "peer", "name", &peer],
        vec!["link", "set", &peer, "netns", &host.netns],
        vec!["addr", "add", &format!("10.231.{i}.1/24"), "dev", &host.veth],
        vec!["link", "set", &host.veth, "up"],
        vec!["-n", &host.netns, "addr", "add", &format!("{}/24", host.address), "dev", &peer],
        vec!["-n", &host.netns, "link", "set", &peer, "up"],
        vec!["-n", &host.netns, "link", "set", "lo", "up"],
    ] {
        ok(Command::new("ip").args(&args));
    }
    let ssh = host.dir.join("ssh");
    ok(Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-f"]).arg(ssh.join("host_key")));
    fs::write(ssh.join("authorized_keys"), client_pub).unwrap();
    let config = ssh.join("sshd_config");
    // Paths double-quoted: sshd splits arguments at white space, and the checkout may have a space.
    fs::write(
        &config,
        format!(
            "ListenAddress {}\nPort 22\nHostKey \"{}\"\nAuthorizedKeysFile \"{}\"\nPidFile none\n\
             PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             UsePAM no\nStrictModes no\nSubsystem sftp internal-sftp\n",
            host.address,
            ssh.join("host_key").display(),
            ssh.join("authorized_keys").display()
        ),
    )
    .unwrap();
    let d = |p: &str| sh_quote(&host.dir.join(p));
    // The host's /tmp is a fresh tmpfs with tmpfs's defaults (mode 1777, executable), as on a
    // usual machine.
    let setup = format!(
        "set -e; mount --bind {} /usr/local; \
         mount -t overlay overlay -o lowerdir=/etc,upperdir={},workdir={} /etc; \
         mount --bind {} /var/log; {}mount -t tmpfs tmpfs /run; mkdir -p /run/sshd; \
         exec /usr/sbin/sshd -D -e -f {}",
        d("usr-local"),
        d("etc-upper"),
        d("etc-work"),
        d("var-log"),
        private_tmp("mode=1777"),
        sh_quote(&config)
    );
    let log = fs::File::create(host.dir.join("sshd.log")).unwrap();
    host.sshd = Some(
        Command::new("ip")
            .args(["netns", "exec", &host.netns, "unshare", "--mount", "--propagation", "private", "sh", "-c", &setup])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    host
}

/// Runs `ssh root@host COMMAND` with the test's key.
fn ssh(ctx: &TestContext, host: &Host, command: &str) -> Output {
    run(Command::new("ssh")
        .args(["-i"])
        .arg(ctx.path("client_key"))
        .args(["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes"])
        .args(["-o", "ControlMaster=no", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=5"])
        .arg(format!("root@{}", host.address))
        .arg(command))
}

/// Writes the inventory (YAML; JSON is YAML): clusters `cluster_a` (h1, h2) and `cluster_b`
/// (h3), the release's installer and sha256 for all, and for `odd` one host given another file
/// (with that file's own sha256).
fn write_inventory(ctx: &TestContext, hosts: &[Host], installer: &Path, odd: Option<(&str, &Path)>) {
    write_inventory_with(ctx, hosts, installer, odd, serde_json::json!({}));
}

/// [`write_inventory`] with more variables for all hosts (`vars`, an object).
fn write_inventory_with(ctx: &TestContext, hosts: &[Host], installer: &Path, odd: Option<(&str, &Path)>, vars: Value) {
    let host = |h: &Host| {
        let mut v = serde_json::json!({ "ansible_host": h.address });
        if let Some((_, file)) = odd.filter(|(n, _)| *n == h.name) {
            v["go_offline_installer"] = file.display().to_string().into();
            v["go_offline_installer_sha256"] = sha256_file(file).into();
        }
        (h.name.clone(), v)
    };
    let group = |hs: &[Host]| serde_json::json!({ "hosts": hs.iter().map(host).collect::<serde_json::Map<_, _>>() });
    let mut inventory = serde_json::json!({
        "all": {
            "vars": {
                "ansible_user": "root",
                // Ansible logs in as root (these hosts have no sudo); variables override the
                // playbooks' `become: true`.
                "ansible_become": false,
                "ansible_ssh_private_key_file": ctx.path("client_key"),
                "ansible_python_interpreter": "/usr/bin/python3",
                "go_offline_installer": installer,
                "go_offline_installer_sha256": sha256_file(installer),
                "go_offline_org_keys": [release_key().public.clone()],
                "go_offline_extra_args": ["--no-build-check"],
            },
            "children": {
                "clusters": {
                    "children": { "cluster_a": group(&hosts[..2]), "cluster_b": group(&hosts[2..]) },
                },
            },
        },
    });
    for (k, v) in vars.as_object().into_iter().flatten() {
        inventory["all"]["vars"][k] = v.clone();
    }
    fs::write(ctx.path("inventory.yml"), serde_json::to_string_pretty(&inventory).unwrap()).unwrap();
}

/// `ansible-playbook PLAYBOOK` from examples/ansible with the JSON callback; returns the per-host
/// stats (`ok`, `changed`, `failures`, ...) and the whole JSON result.
fn playbook(ctx: &TestContext, name: &str) -> (BTreeMap<String, Value>, Value) {
    playbook_on(ctx, name, None)
}

/// [`playbook`] on the hosts `limit` names only (`--limit`).
fn playbook_on(ctx: &TestContext, name: &str, limit: Option<&str>) -> (BTreeMap<String, Value>, Value) {
    let examples = workspace().join("examples/ansible");
    let mut cmd = Command::new(ANSIBLE_PLAYBOOK);
    cmd.current_dir(&examples).arg("-i").arg(ctx.path("inventory.yml")).arg(name);
    if let Some(l) = limit {
        cmd.args(["--limit", l]);
    }
    cmd.env("ANSIBLE_CONFIG", examples.join("ansible.cfg"))
        .env("ANSIBLE_STDOUT_CALLBACK", "json")
        .env("ANSIBLE_SSH_ARGS", "-o ControlMaster=no -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null")
        .env("ANSIBLE_HOST_KEY_CHECKING", "False")
        .env("ANSIBLE_REMOTE_TMP", "/tmp/.ansible-remote")
        .env("ANSIBLE_LOCAL_TEMP", ctx.path("ansible-local"))
        .env("ANSIBLE_NOCOLOR", "1")
        .env("HOME", ctx.path("controller-home"));
    let out = run(&mut cmd);
    let result: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("ansible-playbook printed no JSON ({e}): {}", stderr(&out)));
    let stats = result["stats"].as_object().cloned().unwrap_or_default().into_iter().collect();
    (stats, result)
}

fn count(stats: &BTreeMap<String, Value>, host: &str, what: &str) -> u64 {
    stats.get(host).and_then(|s| s[what].as_u64()).unwrap_or_else(|| panic!("no {what} for {host} in {stats:?}"))
}

/// The messages of failed tasks for `host` in the JSON callback's result.
fn failures(result: &Value, host: &str) -> Vec<String> {
    let mut out = Vec::new();
    for play in result["plays"].as_array().into_iter().flatten() {
        for task in play["tasks"].as_array().into_iter().flatten() {
            let r = &task["hosts"][host];
            if r["failed"] == true {
                out.push(r["msg"].as_str().unwrap_or_default().to_string());
            }
        }
    }
    out
}

/// The installers the role ran on `host`, in order: each file's name and its exit code.
fn installers_run(result: &Value, host: &str) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    for play in result["plays"].as_array().into_iter().flatten() {
        for task in play["tasks"].as_array().into_iter().flatten() {
            let r = &task["hosts"][host];
            if let (Some(argv), Some(rc)) = (r["cmd"].as_array(), r["rc"].as_i64()) {
                let file = argv.first().and_then(|a| a.as_str()).unwrap_or_default();
                out.push((file.rsplit('/').next().unwrap_or_default().to_string(), rc));
            }
        }
    }
    out
}

fn file_name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

/// The Go version active on a host, from its own `/usr/local` seen from outside.
fn active(host: &Host) -> String {
    let link = fs::read_link(host.dir.join("usr-local/go")).unwrap();
    link.to_string_lossy().into_owned()
}

#[test]
fn ansible_rolls_out_in_batches_rolls_back_and_fails_only_the_tampered_host() {
    require("network namespaces", works(Command::new("ip").args(["netns", "list"])), "`ip netns` does not work");
    require("sshd", Path::new("/usr/sbin/sshd").exists(), "install Debian's openssh-server");
    require("ansible-playbook", works(Command::new(ANSIBLE_PLAYBOOK).arg("--version")), "install Debian's ansible");
    let ctx = TestContext::new();
    ok(Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-f"]).arg(ctx.path("client_key")));
    let client_pub = fs::read_to_string(ctx.path("client_key.pub")).unwrap();
    let hosts: Vec<Host> = (1..=HOSTS).map(|i| start_host(&ctx, i, &client_pub)).collect();
    // Wait until every sshd answers (a guard against a hang, not a speed check).
    for h in &hosts {
        let up = (0..200).any(|_| {
            let o = ssh(&ctx, h, "true");
            o.status.success() || {
                std::thread::sleep(std::time::Duration::from_millis(100));
                false
            }
        });
        assert!(up, "sshd of {} never answered: {}", h.name, fs::read_to_string(h.dir.join("sshd.log")).unwrap());
    }

    let older = older_installer();
    let newer = installer("amd64");

    // 0. h1 and h2 get go1.26.5, the base of a delta; then a byte of h2's tree changes.
    let base = crate::delta::full_installer(crate::delta::OLDER_BASE_VERSION);
    write_inventory(&ctx, &hosts, &base, None);
    let (stats, _) = playbook_on(&ctx, "site.yml", Some("h1,h2"));
    for h in &hosts[..2] {
        assert_eq!(count(&stats, &h.name, "failures"), 0, "{stats:?}");
        assert_eq!(active(h), "go-1.26.5");
    }
    let drifted = hosts[1].dir.join("usr-local/go-1.26.5/src/fmt/print.go");
    let mut bytes = fs::read(&drifted).unwrap();
    bytes[100] ^= 0x20;
    fs::write(&drifted, bytes).unwrap();

    // 1. Everyone gets the older Go, with the delta from go1.26.5 on offer: h1 takes the delta,
    // h2's drifted base is refused (exit 26) and it takes the full installer, h3 has no base.
    let (delta, _) = crate::delta::older_delta();
    let deltas = serde_json::json!({
        "go_offline_version": OLDER_GO_VERSION,
        "go_offline_deltas": [{ "base": crate::delta::OLDER_BASE_VERSION, "installer": delta, "sha256": sha256_file(delta) }],
    });
    write_inventory_with(&ctx, &hosts, &older, None, deltas.clone());
    let (stats, result) = playbook(&ctx, "site.yml");
    let (delta_name, full_name) = (file_name(delta), file_name(&older));
    assert_eq!(installers_run(&result, "h1"), [(delta_name.clone(), 0)]);
    assert_eq!(installers_run(&result, "h2"), [(delta_name, 26), (full_name.clone(), 0)]);
    assert_eq!(installers_run(&result, "h3"), [(full_name, 0)]);
    let receipt = |h: &Host| -> Value {
        serde_json::from_slice(&fs::read(h.dir.join("usr-local/.go-offline/receipts/go-1.26.6.json")).unwrap()).unwrap()
    };
    assert_eq!(receipt(&hosts[0])["from_delta"]["base_version"], "go1.26.5");
    assert!(receipt(&hosts[1]).get("from_delta").is_none());
    // Again: the version is active everywhere, so nothing is copied or run.
    let (again, again_result) = playbook(&ctx, "site.yml");
    for h in &hosts {
        assert_eq!((count(&again, &h.name, "changed"), count(&again, &h.name, "failures")), (0, 0), "{again:?}");
        assert!(installers_run(&again_result, &h.name).is_empty(), "{}", h.name);
    }
    write_inventory(&ctx, &hosts, &older, None);
    for h in &hosts {
        assert_eq!(count(&stats, &h.name, "failures"), 0, "{stats:?}");
        assert!(count(&stats, &h.name, "changed") > 0);
        assert_eq!(active(h), "go-1.26.6");
        // Each host wrote its own environment, trust directory and host log.
        assert!(h.dir.join("etc-upper/profile.d/go.sh").exists());
        assert!(h.dir.join("etc-upper/go-offline-installer/trusted-keys").is_dir());
        assert!(h.dir.join("var-log/go-offline-installer.log").exists());
    }

    // 2. The newer Go, with h3 given a tampered file whose sha256 was published with it (a
    // compromised mirror): h3 fails with the installer's message, the others go on.
    let tampered = ctx.path("tampered/go-offline-installer");
    fs::create_dir_all(tampered.parent().unwrap()).unwrap();
    let mut bytes = fs::read(&newer).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x20;
    fs::write(&tampered, bytes).unwrap();
    write_inventory(&ctx, &hosts, &newer, Some(("h3", &tampered)));
    let (stats, result) = playbook(&ctx, "site.yml");
    for h in &hosts[..2] {
        assert_eq!(count(&stats, &h.name, "failures"), 0, "{stats:?}");
        assert_eq!(active(h), "go-1.27.3");
    }
    assert_eq!(count(&stats, "h3", "failures"), 1, "{stats:?}");
    assert_eq!(active(&hosts[2]), "go-1.26.6", "the failed host keeps its Go");
    let messages = failures(&result, "h3");
    assert!(
        messages.iter().any(|m| m.contains("exit 11") && m.contains("digest mismatch")),
        "h3 did not fail with the installer's message: {messages:?}"
    );

    // 3. The released file for h3 too: only h3 changes.
    write_inventory(&ctx, &hosts, &newer, None);
    let (stats, _) = playbook(&ctx, "site.yml");
    for h in &hosts {
        assert_eq!(count(&stats, &h.name, "failures"), 0, "{stats:?}");
        assert_eq!(active(h), "go-1.27.3");
    }
    assert_eq!((count(&stats, "h1", "changed"), count(&stats, "h2", "changed")), (0, 0), "{stats:?}");
    assert!(count(&stats, "h3", "changed") > 0, "{stats:?}");

    // 4. A second run changes nothing anywhere.
    let (stats, _) = playbook(&ctx, "site.yml");
    for h in &hosts {
        assert_eq!((count(&stats, &h.name, "changed"), count(&stats, &h.name, "failures")), (0, 0), "{stats:?}");
    }

    // 5. The rollback play: everyone back on the older Go, which still runs.
    let (stats, _) = playbook(&ctx, "rollback.yml");
    for h in &hosts {
        assert_eq!(count(&stats, &h.name, "failures"), 0, "{stats:?}");
        assert!(count(&stats, &h.name, "changed") > 0);
        assert_eq!(active(h), "go-1.26.6");
        let v = ssh(&ctx, h, "/usr/local/go/bin/go version");
        assert!(stdout(&v).contains("go1.26.6"), "{}", stderr(&v));
    }
    drop(hosts);
}
