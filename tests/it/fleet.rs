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
    /// The interfaces this host added to the root namespace (deleted with it).
    links: Vec<String>,
    address: String,
    dir: PathBuf,
    /// The shell line that mounts the host's private directories and runs its sshd.
    setup: String,
    sshd: Option<Child>,
}

impl Drop for Host {
    fn drop(&mut self) {
        self.stop();
        // Deleting the namespace deletes its ends of the veth pairs, and with them ours.
        let _ = Command::new("ip").args(["netns", "del", &self.netns]).status();
        for link in &self.links {
            let _ = Command::new("ip").args(["link", "del", link]).stderr(Stdio::null()).status();
        }
    }
}

impl Host {
    /// The host's directories, ssh host key and sshd configuration (listening on `address`); the
    /// network namespace is the caller's to make.
    fn new(ctx: &TestContext, name: &str, netns: String, address: String, client_pub: &str) -> Host {
        let dir = ctx.path(&format!("hosts/{name}"));
        for d in ["usr-local", "etc-upper", "etc-work", "var-log", "var-cache", "ssh"] {
            fs::create_dir_all(dir.join(d)).unwrap();
        }
        let ssh = dir.join("ssh");
        ok(Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-f"]).arg(ssh.join("host_key")));
        fs::write(ssh.join("authorized_keys"), client_pub).unwrap();
        let config = ssh.join("sshd_config");
        // Paths double-quoted: sshd splits arguments at white space, and the checkout may have a space.
        fs::write(
            &config,
            format!(
                "ListenAddress {address}\nPort 22\nHostKey \"{}\"\nAuthorizedKeysFile \"{}\"\nPidFile none\n\
                 PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 UsePAM no\nStrictModes no\nMaxStartups 100\nSubsystem sftp internal-sftp\n",
                ssh.join("host_key").display(),
                ssh.join("authorized_keys").display()
            ),
        )
        .unwrap();
        let d = |p: &str| sh_quote(&dir.join(p));
        // The host's /tmp is a fresh tmpfs with tmpfs's defaults (mode 1777, executable), as on a
        // usual machine.
        let setup = format!(
            "set -e; mount --bind {} /usr/local; \
             mount -t overlay overlay -o lowerdir=/etc,upperdir={},workdir={} /etc; \
             mount --bind {} /var/log; mount --bind {} /var/cache; {}mount -t tmpfs tmpfs /run; mkdir -p /run/sshd; \
             exec /usr/sbin/sshd -D -e -f {}",
            d("usr-local"),
            d("etc-upper"),
            d("etc-work"),
            d("var-log"),
            d("var-cache"),
            private_tmp("mode=1777"),
            sh_quote(&config)
        );
        Host { name: name.to_string(), netns, links: Vec::new(), address, dir, setup, sshd: None }
    }

    /// Starts the host's sshd in its namespaces.
    fn start(&mut self) {
        assert!(self.sshd.is_none(), "{} is running", self.name);
        let log = fs::OpenOptions::new().create(true).append(true).open(self.dir.join("sshd.log")).unwrap();
        self.sshd = Some(
            Command::new("ip")
                .args(["netns", "exec", &self.netns, "unshare", "--mount", "--propagation", "private", "sh", "-c"])
                .arg(&self.setup)
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap(),
        );
    }

    /// Stops the host's sshd (its namespace, addresses and files stay).
    fn stop(&mut self) {
        if let Some(mut c) = self.sshd.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn require(what: &str, ok: bool, why: &str) {
    assert!(ok, "the fleet test cannot run: {what} ({why}); it fails rather than passing silently");
}

fn works(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

fn ip(args: &[&str]) {
    ok(Command::new("ip").args(args));
}

/// Starts host `i` (1-based) of the three-host test: namespace, a veth pair to the root
/// namespace (10.231.i.0/24), directories, sshd.
fn start_host(ctx: &TestContext, i: usize, client_pub: &str) -> Host {
    let tag = format!("{}{}", std::process::id() % 100_000, i);
    let mut host = Host::new(ctx, &format!("h{i}"), format!("goo-fleet-{tag}"), format!("10.231.{i}.2"), client_pub);
    let (ours, peer) = (format!("goo{tag}a"), format!("goo{tag}b"));
    ip(&["netns", "add", &host.netns]);
    host.links.push(ours.clone());
    ip(&["link", "add", &ours, "type", "veth", "peer", "name", &peer]);
    ip(&["link", "set", &peer, "netns", &host.netns]);
    ip(&["addr", "add", &format!("10.231.{i}.1/24"), "dev", &ours]);
    ip(&["link", "set", &ours, "up"]);
    ip(&["-n", &host.netns, "addr", "add", &format!("{}/24", host.address), "dev", &peer]);
    ip(&["-n", &host.netns, "link", "set", &peer, "up"]);
    ip(&["-n", &host.netns, "link", "set", "lo", "up"]);
    host.start();
    host
}

/// Waits until every host's sshd answers (a guard against a hang, not a speed check).
fn wait_for_sshd(ctx: &TestContext, hosts: &[&Host]) {
    for h in hosts {
        let up = (0..200).any(|_| {
            let o = ssh(ctx, h, "true");
            o.status.success() || {
                std::thread::sleep(std::time::Duration::from_millis(100));
                false
            }
        });
        assert!(up, "sshd of {} never answered: {}", h.name, fs::read_to_string(h.dir.join("sshd.log")).unwrap());
    }
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
            "vars": common_vars(installer, Some(&ctx.path("client_key"))),
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

/// The variables every test host gets: root login (these hosts have no sudo; variables override
/// the playbooks' `become: true`), with `key` (else the ssh agent's), and the release's installer.
fn common_vars(installer: &Path, key: Option<&Path>) -> Value {
    let mut vars = serde_json::json!({
        "ansible_user": "root",
        "ansible_become": false,
        "ansible_python_interpreter": "/usr/bin/python3",
        "go_offline_installer": installer,
        "go_offline_installer_sha256": sha256_file(installer),
        "go_offline_org_keys": [release_key().public.clone()],
        "go_offline_extra_args": ["--no-build-check"],
    });
    if let Some(k) = key {
        vars["ansible_ssh_private_key_file"] = k.display().to_string().into();
    }
    vars
}

/// `ansible-playbook PLAYBOOK` from examples/ansible with the JSON callback; returns the per-host
/// stats (`ok`, `changed`, `failures`, ...) and the whole JSON result.
fn playbook(ctx: &TestContext, name: &str) -> (BTreeMap<String, Value>, Value) {
    playbook_on(ctx, name, None)
}

/// [`playbook`] on the hosts `limit` names only (`--limit`).
fn playbook_on(ctx: &TestContext, name: &str, limit: Option<&str>) -> (BTreeMap<String, Value>, Value) {
    playbook_with(ctx, name, limit, None)
}

/// [`playbook_on`], logging in with the keys of the ssh agent at `agent` (forwarded: a relay's
/// rsync logs in to its hosts with them) when there is one. The fleet report goes to
/// `report.json` in the test's directory.
fn playbook_with(
    ctx: &TestContext,
    name: &str,
    limit: Option<&str>,
    agent: Option<&Path>,
) -> (BTreeMap<String, Value>, Value) {
    let examples = workspace().join("examples/ansible");
    let mut cmd = Command::new(ANSIBLE_PLAYBOOK);
    cmd.current_dir(&examples).arg("-i").arg(ctx.path("inventory.yml")).arg(name);
    if let Some(l) = limit {
        cmd.args(["--limit", l]);
    }
    // One ssh connection per host for the whole run, as Ansible's default: each task then costs
    // a session, not a handshake. The sockets live in the test's short control directory.
    let control = ControlDir::path(ctx);
    fs::create_dir_all(&control).unwrap();
    let mut ssh_args = format!(
        "-o ControlMaster=auto -o ControlPersist=30s -o ControlPath={}/%C \
         -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
        control.display()
    );
    match agent {
        Some(sock) => {
            ssh_args.push_str(" -o ForwardAgent=yes -o LogLevel=ERROR");
            cmd.env("SSH_AUTH_SOCK", sock);
        }
        None => {
            cmd.env_remove("SSH_AUTH_SOCK");
        }
    }
    cmd.env("ANSIBLE_CONFIG", examples.join("ansible.cfg"))
        .env("ANSIBLE_STDOUT_CALLBACK", "json")
        .env("ANSIBLE_SSH_ARGS", ssh_args)
        .env("ANSIBLE_HOST_KEY_CHECKING", "False")
        .env("ANSIBLE_REMOTE_TMP", "/tmp/.ansible-remote")
        .env("ANSIBLE_LOCAL_TEMP", ctx.path("ansible-local"))
        .env("ANSIBLE_NOCOLOR", "1")
        .env("GO_OFFLINE_REPORT", ctx.path("report.json"))
        .env("HOME", ctx.path("controller-home"));
    let out = run(&mut cmd);
    let result: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("ansible-playbook printed no JSON ({e}): {}", stderr(&out)));
    let stats = result["stats"].as_object().cloned().unwrap_or_default().into_iter().collect();
    (stats, result)
}

/// The directory of a test's ssh control sockets: short (a socket's path holds at most 107
/// bytes, the test's own directory may be longer), removed with this guard, after the masters
/// in it are told to exit.
struct ControlDir(PathBuf);

impl ControlDir {
    fn path(ctx: &TestContext) -> PathBuf {
        let unique = ctx.root.path().file_name().unwrap().to_string_lossy().replace("go-offline-ctx.", "");
        std::env::temp_dir().join(format!("goi-ssh.{unique}"))
    }

    fn new(ctx: &TestContext) -> ControlDir {
        ControlDir(ControlDir::path(ctx))
    }
}

impl Drop for ControlDir {
    fn drop(&mut self) {
        for socket in fs::read_dir(&self.0).into_iter().flatten().flatten() {
            let _ = Command::new("ssh")
                .arg("-o")
                .arg(format!("ControlPath={}", socket.path().display()))
                .args(["-O", "exit", "unused"])
                .stderr(Stdio::null())
                .status();
        }
        let _ = fs::remove_dir_all(&self.0);
    }
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
    let _control = ControlDir::new(&ctx);
    ok(Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-f"]).arg(ctx.path("client_key")));
    let client_pub = fs::read_to_string(ctx.path("client_key.pub")).unwrap();
    let hosts: Vec<Host> = (1..=HOSTS).map(|i| start_host(&ctx, i, &client_pub)).collect();
    wait_for_sshd(&ctx, &hosts.iter().collect::<Vec<_>>());

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

/// Relays: clusters of hosts behind a relay each, and how many bytes the control node sends.
const CLUSTERS: usize = 3;
const HOSTS_PER_CLUSTER: usize = 8;

/// A cluster: its relay (a host on a veth to the root namespace, 10.232.c.0/24, routing for the
/// cluster's network, a bridge on 10.233.c.0/24) and the hosts behind it. Everything the control
/// node sends to the cluster crosses `wan`, the root namespace's end of the relay's veth.
struct Cluster {
    relay: Host,
    hosts: Vec<Host>,
    wan: String,
}

impl Cluster {
    /// Bytes the control node has sent into this cluster so far.
    fn sent(&self) -> u64 {
        let counter = format!("/sys/class/net/{}/statistics/tx_bytes", self.wan);
        fs::read_to_string(&counter).unwrap().trim().parse().unwrap()
    }
}

fn start_cluster(ctx: &TestContext, c: usize, client_pub: &str) -> Cluster {
    let tag = format!("{}{c}", std::process::id() % 100_000);
    let mut relay = Host::new(ctx, &format!("r{c}"), format!("goo-relay-{tag}"), format!("10.232.{c}.2"), client_pub);
    let (wan, peer) = (format!("gor{tag}w"), format!("gor{tag}v"));
    let r = relay.netns.clone();
    ip(&["netns", "add", &r]);
    relay.links.push(wan.clone());
    ip(&["link", "add", &wan, "type", "veth", "peer", "name", &peer]);
    ip(&["link", "set", &peer, "netns", &r]);
    ip(&["addr", "add", &format!("10.232.{c}.1/24"), "dev", &wan]);
    ip(&["link", "set", &wan, "up"]);
    ip(&["-n", &r, "addr", "add", &format!("{}/24", relay.address), "dev", &peer]);
    ip(&["-n", &r, "link", "set", &peer, "up"]);
    ip(&["-n", &r, "link", "set", "lo", "up"]);
    ip(&["-n", &r, "link", "add", "br0", "type", "bridge"]);
    ip(&["-n", &r, "addr", "add", &format!("10.233.{c}.1/24"), "dev", "br0"]);
    ip(&["-n", &r, "link", "set", "br0", "up"]);
    ok(Command::new("ip").args(["netns", "exec", &r, "sysctl", "-qw", "net.ipv4.ip_forward=1"]));
    ip(&["route", "add", &format!("10.233.{c}.0/24"), "via", &relay.address]);
    relay.start();
    let hosts = (1..=HOSTS_PER_CLUSTER)
        .map(|i| {
            let tag = format!("{tag}{i:02}");
            let name = format!("c{c}h{i}");
            let mut host =
                Host::new(ctx, &name, format!("goo-host-{tag}"), format!("10.233.{c}.{}", 10 + i), client_pub);
            let (on_bridge, peer) = (format!("goh{tag}a"), format!("goh{tag}b"));
            ip(&["netns", "add", &host.netns]);
            ip(&["link", "add", &on_bridge, "type", "veth", "peer", "name", &peer]);
            ip(&["link", "set", &on_bridge, "netns", &r]);
            ip(&["-n", &r, "link", "set", &on_bridge, "master", "br0"]);
            ip(&["-n", &r, "link", "set", &on_bridge, "up"]);
            ip(&["link", "set", &peer, "netns", &host.netns]);
            ip(&["-n", &host.netns, "addr", "add", &format!("{}/24", host.address), "dev", &peer]);
            ip(&["-n", &host.netns, "link", "set", &peer, "up"]);
            ip(&["-n", &host.netns, "link", "set", "lo", "up"]);
            ip(&["-n", &host.netns, "route", "add", "default", "via", &format!("10.233.{c}.1")]);
            host.start();
            host
        })
        .collect();
    Cluster { relay, hosts, wan }
}

/// An ssh agent holding the test's client key, as an operator's workstation has: Ansible logs in
/// with it and forwards it, so a relay's rsync logs in to its hosts with the same key.
struct Agent {
    process: Child,
    socket: PathBuf,
    /// The socket's directory: under /tmp, since a unix socket's path has at most 107 bytes and
    /// the checkout's may be long.
    _dir: tempfile::TempDir,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

fn start_agent(ctx: &TestContext) -> Agent {
    let dir = tempfile::Builder::new().prefix("goo-agent.").tempdir_in("/tmp").unwrap();
    let socket = dir.path().join("sock");
    let process = Command::new("ssh-agent").arg("-D").arg("-a").arg(&socket).stdout(Stdio::null()).spawn().unwrap();
    let added = (0..100).any(|_| {
        works(Command::new("ssh-add").arg(ctx.path("client_key")).env("SSH_AUTH_SOCK", &socket)) || {
            std::thread::sleep(std::time::Duration::from_millis(50));
            false
        }
    });
    assert!(added, "ssh-add could not add the test key to the agent");
    Agent { process, socket, _dir: dir }
}

/// The inventory of the relay test: group `relays`, and under `clusters` one group per cluster
/// naming its relay (`go_offline_relay`). No key file: Ansible logs in with the agent's key.
fn write_relay_inventory(ctx: &TestContext, clusters: &[Cluster], installer: &Path) {
    let host = |h: &Host| (h.name.clone(), serde_json::json!({ "ansible_host": h.address }));
    let groups: serde_json::Map<_, _> = clusters
        .iter()
        .enumerate()
        .map(|(c, cl)| {
            let group = serde_json::json!({
                "vars": { "go_offline_relay": cl.relay.name },
                "hosts": cl.hosts.iter().map(host).collect::<serde_json::Map<_, _>>(),
            });
            (format!("cluster_{}", c + 1), group)
        })
        .collect();
    let inventory = serde_json::json!({
        "all": {
            "vars": common_vars(installer, None),
            "children": {
                "relays": { "hosts": clusters.iter().map(|cl| host(&cl.relay)).collect::<serde_json::Map<_, _>>() },
                "clusters": { "children": groups },
            },
        },
    });
    fs::write(ctx.path("inventory.yml"), serde_json::to_string_pretty(&inventory).unwrap()).unwrap();
}

/// The fleet report the run wrote, by host.
fn report(ctx: &TestContext) -> BTreeMap<String, Value> {
    let report: Value = serde_json::from_slice(&fs::read(ctx.path("report.json")).unwrap()).unwrap();
    report["hosts"].as_array().unwrap().iter().map(|h| (h["host"].as_str().unwrap().to_string(), h.clone())).collect()
}

#[test]
fn relays_carry_one_installer_per_cluster_and_a_dead_relay_fails_only_its_cluster() {
    require("network namespaces", works(Command::new("ip").args(["netns", "list"])), "`ip netns` does not work");
    require("sshd", Path::new("/usr/sbin/sshd").exists(), "install Debian's openssh-server");
    require("rsync", works(Command::new("rsync").arg("--version")), "install Debian's rsync");
    require("ansible-playbook", works(Command::new(ANSIBLE_PLAYBOOK).arg("--version")), "install Debian's ansible");
    let ctx = TestContext::new();
    let _control = ControlDir::new(&ctx);
    ok(Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-f"]).arg(ctx.path("client_key")));
    let client_pub = fs::read_to_string(ctx.path("client_key.pub")).unwrap();
    let agent = start_agent(&ctx);
    let mut clusters: Vec<Cluster> = (1..=CLUSTERS).map(|c| start_cluster(&ctx, c, &client_pub)).collect();
    wait_for_sshd(&ctx, &clusters.iter().flat_map(|c| std::iter::once(&c.relay).chain(&c.hosts)).collect::<Vec<_>>());
    let installer = older_installer();
    let size = fs::metadata(&installer).unwrap().len();
    write_relay_inventory(&ctx, &clusters, &installer);
    let sent = |clusters: &[Cluster]| clusters.iter().map(Cluster::sent).collect::<Vec<_>>();
    let run = |clusters: &[Cluster]| {
        let (before, started) = (sent(clusters), std::time::Instant::now());
        let (stats, _) = playbook_with(&ctx, "site.yml", None, Some(&agent.socket));
        let after = sent(clusters);
        eprintln!("site.yml on {} hosts took {:.1?}", CLUSTERS * HOSTS_PER_CLUSTER, started.elapsed());
        (stats, before.iter().zip(after).map(|(b, a)| a - b).collect::<Vec<u64>>(), report(&ctx))
    };
    let hosts_of = |c: usize| (1..=HOSTS_PER_CLUSTER).map(move |i| format!("c{c}h{i}"));

    // 1. The relay of cluster 3 is down: cluster 3 fails, naming it, and is not touched; the
    // others are rolled out, their installer crossing each cluster's link once.
    clusters[2].relay.stop();
    let (stats, bytes, by_host) = run(&clusters);
    eprintln!("relays, cluster 3's down: bytes sent per cluster {bytes:?} (installer {size})");
    assert_eq!(by_host.len(), CLUSTERS * HOSTS_PER_CLUSTER, "the report lists every host: {by_host:?}");
    for c in 1..=2 {
        for h in hosts_of(c) {
            assert_eq!(count(&stats, &h, "failures"), 0, "{h}: {stats:?}");
            let e = &by_host[&h];
            assert_eq!(
                (e["before"].as_str(), e["after"].as_str(), e["changed"].as_bool()),
                (Some(""), Some(OLDER_GO_VERSION), Some(true)),
                "{e}"
            );
            assert!(e["receipt_id"].as_str().is_some_and(|r| !r.is_empty()) && e["error"].is_null(), "{e}");
        }
        let b = bytes[c - 1];
        assert!(b >= size && b < size + size / 2, "cluster {c}: {b} bytes sent for one installer of {size}");
    }
    for h in hosts_of(3) {
        assert_eq!(count(&stats, &h, "failures"), 1, "{h}: {stats:?}");
        let e = &by_host[&h];
        assert_eq!(e["error"]["kind"], "relay-unreachable", "{e}");
        let message = e["error"]["message"].as_str().unwrap();
        assert!(message.contains("relay r3 (10.232.3.2) did not answer") && message.contains("run again"), "{message}");
    }
    assert!(bytes[2] < size / 10, "cluster 3's relay is down, yet {} bytes went its way", bytes[2]);
    for h in &clusters[2].hosts {
        assert_eq!(fs::read_dir(h.dir.join("usr-local")).unwrap().count(), 0, "{} was touched", h.name);
    }

    // 2. The relay is back: the run completes cluster 3 and leaves the others as they are.
    clusters[2].relay.start();
    wait_for_sshd(&ctx, &[&clusters[2].relay]);
    let (stats, bytes, by_host) = run(&clusters);
    eprintln!("relays, all up: bytes sent per cluster {bytes:?} (installer {size})");
    for c in 1..=CLUSTERS {
        for h in hosts_of(c) {
            assert_eq!(count(&stats, &h, "failures"), 0, "{h}: {stats:?}");
            assert_eq!(
                (by_host[&h]["after"].as_str(), by_host[&h]["changed"].as_bool()),
                (Some(OLDER_GO_VERSION), Some(c == 3)),
                "{h}"
            );
        }
    }
    assert!(
        bytes[2] >= size && bytes[2] < size + size / 2,
        "cluster 3: {} bytes for one installer of {size}",
        bytes[2]
    );
    // Ansible's own traffic (its modules, sent per task and host) is about a megabyte per host
    // and run; no installer crossed.
    assert!(bytes[0] < size / 2 && bytes[1] < size / 2, "the done clusters were sent {bytes:?}");
    for h in &clusters[2].hosts {
        assert_eq!(active(h), "go-1.26.6");
        assert!(h.dir.join(format!("var-cache/go-offline-installer/{}", file_name(&installer))).exists());
    }
    assert!(clusters[2]
        .relay
        .dir
        .join(format!("var-cache/go-offline-installer/relay/{}", file_name(&installer)))
        .exists());

    // 3. Again: nothing changes anywhere.
    let (stats, bytes, by_host) = run(&clusters);
    eprintln!("relays, nothing to do: bytes sent per cluster {bytes:?}");
    assert!(bytes.iter().all(|b| *b < size / 2), "nothing to do, yet {bytes:?} bytes were sent");
    for c in 1..=CLUSTERS {
        for h in hosts_of(c) {
            assert_eq!((count(&stats, &h, "changed"), count(&stats, &h, "failures")), (0, 0), "{h}: {stats:?}");
            assert_eq!(by_host[&h]["changed"], false);
        }
    }
    drop(clusters);
    drop(agent);
}
