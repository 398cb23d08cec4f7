//! Real DNS consumers of the blocklists: `dnsmasq`, `unbound` and BIND 9's `named`, each run in
//! the foreground in a temporary directory of its own, on a free loopback port (UDP and TCP), and
//! killed in `Drop`; `dig` asks them. Every name under `example.` answers 192.0.2.1 unless the
//! loaded list blocks it. A missing program fails the test, naming the Debian package to install.

#![allow(dead_code)]

use std::fs;
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The address every name under `example.` has unless a list blocks it.
pub const EXAMPLE_ADDR: &str = "192.0.2.1";

/// How many times a daemon is started on a fresh port when it could not bind the one picked.
const START_ATTEMPTS: usize = 5;
/// How long a daemon has to answer its first query.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The path of the program `name`, looked up in `PATH` and the sbin directories (which a
/// non-root `PATH` often lacks); fails naming the Debian package that has it.
pub fn require(name: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let sbin = ["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from);
    for dir in std::env::split_paths(&path).chain(sbin) {
        let candidate = dir.join(name);
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!(
        "`{name}` is not installed (looked in PATH and the sbin directories): this test needs \
         the Debian package `{package}` (apt-get install -y {package})"
    );
}

/// A UDP and TCP port both free on 127.0.0.1 (released again: the caller binds it).
pub fn free_port() -> u16 {
    for _ in 0..50 {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("binding a UDP socket on 127.0.0.1");
        let port = udp.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("found no port free for both UDP and TCP on 127.0.0.1 in 50 tries");
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Runs a configuration checker; fails with its output unless it succeeds.
fn check(what: &str, cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("running {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} rejected the configuration ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A started daemon: killed (SIGKILL) and reaped in `Drop`.
struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a daemon on a fresh free port, retrying on another port if it exits before it
/// answers (another process took the port between our check and its bind), and waits until it
/// answers a query and `extra_ready` holds of its log. `spawn(port)` starts it with its output
/// going to `log`.
fn start_daemon(
    name: &'static str,
    log: &Path,
    mut spawn: impl FnMut(u16) -> Child,
    extra_ready: impl Fn(&str) -> bool,
) -> (Daemon, u16) {
    let mut last_log = String::new();
    for _ in 0..START_ATTEMPTS {
        let port = free_port();
        let mut d = Daemon { child: spawn(port), log: log.to_path_buf() };
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = d.child.try_wait().unwrap() {
                last_log = d.log_text();
                assert!(
                    last_log.to_ascii_lowercase().contains("in use"),
                    "{name} exited ({status}) before answering on port {port}; its log:\n{last_log}"
                );
                break; // the port was taken: try another one
            }
            if try_dig(port, "ready.probe.example", "SOA", 1).is_some() && extra_ready(&d.log_text()) {
                return (d, port);
            }
            assert!(
                Instant::now() < deadline,
                "{name} did not answer on 127.0.0.1:{port} within {READY_TIMEOUT:?}; its log:\n{}",
                d.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    panic!("{name} could not bind a free port in {START_ATTEMPTS} attempts; last log:\n{last_log}");
}

/// Standard output and error of a daemon, both to the (new) file `path`.
fn log_to(cmd: &mut Command, path: &Path) {
    let file = fs::File::create(path).unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
    cmd.stdin(Stdio::null()).stdout(file.try_clone().unwrap()).stderr(file);
}

/// `dnsmasq` with the list loaded as a configuration file (its `local=/d/`, `address=/d/`,
/// `server=/d/` lines), answering 192.0.2.1 for every other name under `example`.
pub struct Dnsmasq {
    daemon: Daemon,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl Dnsmasq {
    pub fn start(list_file: &Path) -> Dnsmasq {
        let bin = require("dnsmasq", "dnsmasq-base");
        require("dig", "dnsutils");
        let dir = tempfile::tempdir().unwrap();
        let list_file = fs::canonicalize(list_file).unwrap();
        let log = dir.path().join("dnsmasq.log");
        let pid = dir.path().join("dnsmasq.pid");
        // A syntax error in the list makes dnsmasq exit with it: check first, for a clear message.
        check(
            "dnsmasq --test",
            Command::new(&bin)
                .args(["--test", "--conf-file=/dev/null"])
                .arg(format!("--conf-file={}", list_file.display())),
        );
        let (daemon, port) = start_daemon(
            "dnsmasq",
            &log,
            |port| {
                let mut cmd = Command::new(&bin);
                cmd.args(["--keep-in-foreground", "--no-resolv", "--no-hosts", "--no-poll"])
                    .arg(format!("--port={port}"))
                    .args(["--listen-address=127.0.0.1", "--bind-interfaces", "--conf-file=/dev/null"])
                    .arg(format!("--conf-file={}", list_file.display()))
                    .arg(format!("--address=/example/{EXAMPLE_ADDR}"))
                    .arg(format!("--pid-file={}", pid.display()))
                    .arg("--log-facility=-");
                if is_root() {
                    cmd.arg("--user=root"); // else it drops to the `dnsmasq` user
                }
                log_to(&mut cmd, &log);
                cmd.spawn().expect("starting dnsmasq")
            },
            |_| true,
        );
        Dnsmasq { daemon, port, dir }
    }

    pub fn log(&self) -> String {
        self.daemon.log_text()
    }
}

/// `unbound` with the list `include:`d in its `server:` clause (the list may open its own
/// `server:` clause and have comments), answering 192.0.2.1 for every other name under `example.`.
pub struct Unbound {
    daemon: Daemon,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl Unbound {
    pub fn start(list_file: &Path) -> Unbound {
        let bin = require("unbound", "unbound");
        let checkconf = require("unbound-checkconf", "unbound");
        require("dig", "dnsutils");
        let dir = tempfile::tempdir().unwrap();
        let list_file = fs::canonicalize(list_file).unwrap();
        let d = dir.path().display().to_string();
        let conf = dir.path().join("unbound.conf");
        let log = dir.path().join("unbound.log");
        let write_conf = |port: u16| {
            let text = format!(
                r#"server:
    interface: 127.0.0.1
    port: {port}
    do-ip6: no
    do-daemonize: no
    username: ""
    chroot: ""
    directory: "{d}"
    pidfile: "{d}/unbound.pid"
    use-syslog: no
    logfile: ""
    verbosity: 1
    num-threads: 1
    module-config: "iterator"
    local-zone: "example." redirect
    local-data: "example. A {EXAMPLE_ADDR}"
    include: "{list}"
remote-control:
    control-enable: no
"#,
                list = list_file.display()
            );
            fs::write(&conf, text).unwrap();
        };
        write_conf(53); // unbound-checkconf wants a valid port
        check("unbound-checkconf", Command::new(&checkconf).arg(&conf));
        let (daemon, port) = start_daemon(
            "unbound",
            &log,
            |port| {
                write_conf(port);
                let mut cmd = Command::new(&bin);
                cmd.arg("-d").arg("-c").arg(&conf);
                log_to(&mut cmd, &log);
                cmd.spawn().expect("starting unbound")
            },
            |_| true,
        );
        Unbound { daemon, port, dir }
    }

    pub fn log(&self) -> String {
        self.daemon.log_text()
    }
}

/// BIND 9's `named`, recursive for 127.0.0.1, authoritative for `example` (every name 192.0.2.1)
/// and with the list as its response-policy zone `rpz.local`.
pub struct Named {
    daemon: Daemon,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

/// The origin of the response-policy zone (owner names in the list are relative to it).
pub const RPZ_ORIGIN: &str = "rpz.local";

impl Named {
    pub fn start_rpz(zone_file: &Path) -> Named {
        let bin = require("named", "bind9");
        let checkconf = require("named-checkconf", "bind9-utils");
        let checkzone = require("named-checkzone", "bind9-utils");
        require("dig", "dnsutils");
        let dir = tempfile::tempdir().unwrap();
        let zone_file = fs::canonicalize(zone_file).unwrap();
        let d = dir.path().display().to_string();
        let example_zone = dir.path().join("example.zone");
        fs::write(
            &example_zone,
            format!(
                "$TTL 60\n@ IN SOA localhost. hostmaster.localhost. 1 3600 600 86400 60\n\
                 @ IN NS localhost.\n@ IN A {EXAMPLE_ADDR}\n* IN A {EXAMPLE_ADDR}\n"
            ),
        )
        .unwrap();
        let conf = dir.path().join("named.conf");
        let log = dir.path().join("named.log");
        let write_conf = |port: u16| {
            let text = format!(
                r#"options {{
    directory "{d}";
    pid-file "{d}/named.pid";
    session-keyfile "{d}/session.key";
    managed-keys-directory "{d}";
    listen-on port {port} {{ 127.0.0.1; }};
    listen-on-v6 {{ none; }};
    recursion yes;
    allow-query {{ 127.0.0.1; }};
    allow-recursion {{ 127.0.0.1; }};
    dnssec-validation no;
    response-policy {{ zone "{RPZ_ORIGIN}"; }};
}};
controls {{ }};
zone "example" {{ type master; file "{example}"; }};
zone "{RPZ_ORIGIN}" {{ type master; file "{rpz}"; }};
"#,
                example = example_zone.display(),
                rpz = zone_file.display()
            );
            fs::write(&conf, text).unwrap();
        };
        write_conf(53); // named-checkconf wants a valid port
        check("named-checkconf", Command::new(&checkconf).arg(&conf));
        check("named-checkzone example", Command::new(&checkzone).arg("example").arg(&example_zone));
        check(&format!("named-checkzone {RPZ_ORIGIN}"), Command::new(&checkzone).arg(RPZ_ORIGIN).arg(&zone_file));
        let (daemon, port) = start_daemon(
            "named",
            &log,
            |port| {
                write_conf(port);
                let mut cmd = Command::new(&bin);
                cmd.args(["-g", "-4", "-n", "1", "-c"]).arg(&conf);
                if is_root() {
                    cmd.args(["-u", "root"]);
                }
                log_to(&mut cmd, &log);
                cmd.spawn().expect("starting named")
            },
            // named answers before it has built the policy from the RPZ zone: wait for that too.
            |log| log.contains(&format!("rpz: {RPZ_ORIGIN}: reload done")),
        );
        let log_now = daemon.log_text();
        assert!(
            log_now.contains(&format!("rpz: {RPZ_ORIGIN}: reload done: success")),
            "named did not load the response-policy zone; its log:\n{log_now}"
        );
        Named { daemon, port, dir }
    }

    pub fn log(&self) -> String {
        self.daemon.log_text()
    }
}

/// What `dig` got: the header's status (NOERROR, NXDOMAIN, SERVFAIL, …) and the A records of
/// the answer section; `output` is dig's whole output, for messages.
#[derive(Clone, Debug)]
pub struct DigAnswer {
    pub status: String,
    pub addresses: Vec<String>,
    pub output: String,
}

/// Asks 127.0.0.1:`port` for the A records of `name` (UDP, one try, 2 s); fails if no answer.
pub fn dig(port: u16, name: &str) -> DigAnswer {
    try_dig(port, name, "A", 2).unwrap_or_else(|| panic!("dig got no answer for {name} from 127.0.0.1:{port}"))
}

/// `dig` for `name`/`rtype`; `None` when no server answered (or no header was printed).
fn try_dig(port: u16, name: &str, rtype: &str, time: u32) -> Option<DigAnswer> {
    let bin = require("dig", "dnsutils");
    let out: Output = Command::new(bin)
        .arg("@127.0.0.1")
        .args(["-p", &port.to_string(), "+tries=1", &format!("+time={time}"), "+nocmd", name, rtype])
        .stdin(Stdio::null())
        .output()
        .expect("running dig");
    let output = String::from_utf8_lossy(&out.stdout).into_owned();
    let answer = parse_dig(&output);
    (!answer.status.is_empty()).then_some(answer)
}

/// Parses dig's default output: `status: X,` in the header line, and the A records of the
/// ANSWER SECTION (`name ttl class A address`).
pub fn parse_dig(output: &str) -> DigAnswer {
    let status = output
        .lines()
        .find_map(|l| l.split_once("status: ").map(|(_, rest)| rest.split(',').next().unwrap_or("").trim().to_owned()))
        .unwrap_or_default();
    let mut addresses = Vec::new();
    let mut in_answer = false;
    for line in output.lines() {
        if line.starts_with(";; ANSWER SECTION:") {
            in_answer = true;
            continue;
        }
        if in_answer {
            if line.trim().is_empty() || line.starts_with(";;") {
                break;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() >= 5 && fields[2] == "IN" && fields[3] == "A" {
                addresses.push(fields[4].to_owned());
            }
        }
    }
    DigAnswer { status, addresses, output: output.to_owned() }
}

/// Whether the answer is a block: NXDOMAIN, or NOERROR with no address or only 0.0.0.0.
pub fn is_blocked(a: &DigAnswer) -> bool {
    a.status == "NXDOMAIN" || (a.status == "NOERROR" && a.addresses.iter().all(|ip| ip == "0.0.0.0"))
}

/// Asserts that `name` is blocked by the server on `port` (`who` names it in the message).
pub fn assert_blocked(who: &str, port: u16, name: &str) -> DigAnswer {
    let a = dig(port, name);
    assert!(is_blocked(&a), "{who}: {name} should be blocked, got {} {:?}:\n{}", a.status, a.addresses, a.output);
    a
}

/// Asserts that `name` is not blocked: it answers NOERROR with exactly 192.0.2.1.
pub fn assert_resolves(who: &str, port: u16, name: &str) -> DigAnswer {
    let a = dig(port, name);
    assert!(
        a.status == "NOERROR" && a.addresses == [EXAMPLE_ADDR],
        "{who}: {name} should resolve to {EXAMPLE_ADDR}, got {} {:?}:\n{}",
        a.status,
        a.addresses,
        a.output
    );
    a
}
