//! `lethe net` against a real dnsmasq: two network namespaces per test joined by a veth pair,
//! dnsmasq on the server side, lethe on the client side (`ip netns exec`). All traffic stays
//! in namespaces the test made; they are removed on drop, also when the test fails. Root only.

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// How long a test waits for something that normally takes well under a second. Not a timed
/// assertion: only a bound so a broken build fails instead of hanging.
const PATIENCE: Duration = Duration::from_secs(60);

fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0]).args(&args[1..]).output().expect("command runs");
    assert!(out.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

struct Lab {
    server: String,
    client: String,
    dir: PathBuf,
    dnsmasq: Option<Child>,
    lethe: Option<Child>,
}

impl Lab {
    /// Namespaces `<tag>-s`/`<tag>-c`; a veth pair s0 (10.77.0.1/24, server) – c0 (client).
    fn new(tag: &str) -> Lab {
        common::require_root();
        let id = format!("lethe-{}-{}-{tag}", std::process::id(), NEXT.fetch_add(1, Ordering::SeqCst));
        let dir = std::env::temp_dir().join(&id);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let lab =
            Lab { server: format!("{id}-s"), client: format!("{id}-c"), dir, dnsmasq: None, lethe: None };
        sh(&["ip", "netns", "add", &lab.server]);
        sh(&["ip", "netns", "add", &lab.client]);
        // `ip netns exec` bind-mounts this over /etc/resolv.conf: lethe writes here, never the host's.
        std::fs::create_dir_all(lab.netns_etc()).unwrap();
        std::fs::write(lab.resolv_conf(), "# placeholder\n").unwrap();
        lab.veth("s0", "c0", None);
        sh(&["ip", "-n", &lab.server, "addr", "add", "10.77.0.1/24", "dev", "s0"]);
        lab
    }

    fn netns_etc(&self) -> PathBuf {
        PathBuf::from("/etc/netns").join(&self.client)
    }

    fn resolv_conf(&self) -> PathBuf {
        self.netns_etc().join("resolv.conf")
    }

    /// A veth pair: `server_end` up in the server namespace, `client_end` down in the client's.
    fn veth(&self, server_end: &str, client_end: &str, mac: Option<&str>) {
        let mut args =
            vec!["ip", "-n", &self.server, "link", "add", server_end, "type", "veth", "peer", "name"];
        args.extend([client_end, "netns", &self.client]);
        if let Some(m) = mac {
            args.extend(["address", m]);
        }
        sh(&args);
        sh(&["ip", "-n", &self.server, "link", "set", server_end, "up"]);
    }

    /// Starts dnsmasq on s0 handing out `range` (`A,B`), plus `extra` options; waits until it
    /// serves.
    fn dnsmasq(&mut self, range: &str, extra: &[&str]) {
        let log = self.dir.join("dnsmasq.log");
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.server, "dnsmasq", "--conf-file=/dev/null", "--keep-in-foreground"])
            .args(["--bind-interfaces", "--interface=s0", "--port=0", "--no-ping", "--log-dhcp"])
            .arg("--log-facility=-")
            .arg(format!("--dhcp-range={range},255.255.255.0,2m"))
            .arg(format!("--dhcp-leasefile={}", self.dir.join("leases").display()))
            .arg(format!("--pid-file={}", self.dir.join("dnsmasq.pid").display()))
            .args(["--dhcp-option=3,10.77.0.1", "--dhcp-option=6,10.77.0.1", "--domain=lab.test"])
            .args(extra)
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::from(std::fs::File::options().append(true).open(&log).unwrap()));
        self.dnsmasq = Some(cmd.spawn().expect("dnsmasq runs"));
        wait_for_text(&log, "DHCP, IP range");
    }

    fn stop_dnsmasq(&mut self) {
        if let Some(mut d) = self.dnsmasq.take() {
            let _ = d.kill();
            let _ = d.wait();
        }
    }

    fn dnsmasq_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("dnsmasq.log")).unwrap_or_default()
    }

    fn config(&self, network: &str) -> PathBuf {
        let path = self.dir.join("config.json");
        std::fs::write(&path, format!("{{\"version\": 1, \"network\": {network}}}")).unwrap();
        path
    }

    fn lethe_command(&self, network: &str, extra: &[&str]) -> Command {
        let config = self.config(network);
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.client])
            .arg(common::lethe())
            .args(["net", "--config"])
            .arg(config)
            .args(["--cmdline", ""])
            .args(extra)
            .env("RUST_LOG", "debug");
        cmd
    }

    /// Runs `lethe net --once` to the end: (exit code, stdout, stderr).
    fn once(&self, network: &str, extra: &[&str]) -> (i32, String, String) {
        let mut args = vec!["--once"];
        args.extend(extra);
        let out = self.lethe_command(network, &args).output().expect("lethe runs");
        (out.status.code().unwrap_or(-1), common::stdout(&out), common::stderr(&out))
    }

    /// Starts `lethe net` (renewing) in the background; returns the JSON line it prints.
    fn start(&mut self, network: &str) -> serde_json::Value {
        let mut child = self
            .lethe_command(network, &[])
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(self.dir.join("lethe.log")).unwrap())
            .spawn()
            .expect("lethe runs");
        let stdout = child.stdout.take().unwrap();
        self.lethe = Some(child);
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let line =
            rx.recv_timeout(PATIENCE).unwrap_or_else(|_| panic!("no lease printed; log:\n{}", self.log()));
        serde_json::from_str(&line).expect("one JSON object")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("lethe.log")).unwrap_or_default()
    }

    /// SIGTERM to the background lethe (`ip netns exec` execs it, so the pid is lethe's).
    fn stop(&mut self) -> i32 {
        let mut child = self.lethe.take().expect("lethe was started");
        sh(&["kill", "-TERM", &child.id().to_string()]);
        child.wait().unwrap().code().unwrap_or(-1)
    }

    fn client(&self, args: &[&str]) -> String {
        let mut all = vec!["ip", "-n", &self.client];
        all.extend(args);
        sh(&all)
    }

    fn addresses(&self, dev: &str) -> String {
        self.client(&["-4", "-o", "addr", "show", "dev", dev])
    }

    fn routes(&self) -> String {
        self.client(&["-4", "route", "show"])
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(mut l) = self.lethe.take() {
            let _ = l.kill();
            let _ = l.wait();
        }
        self.stop_dnsmasq();
        for ns in [&self.server, &self.client] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
        let _ = std::fs::remove_dir_all(self.netns_etc());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn wait_for_text(path: &std::path::Path, text: &str) -> String {
    let end = Instant::now() + PATIENCE;
    loop {
        let content = std::fs::read_to_string(path).unwrap_or_default();
        if content.contains(text) {
            return content;
        }
        assert!(Instant::now() < end, "{} never said {text:?}; it says:\n{content}", path.display());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn lease_is_applied_then_torn_down() {
    let mut lab = Lab::new("lease");
    lab.dnsmasq("10.77.0.100,10.77.0.150", &[]);
    let lease = lab.start(r#"{"linkTimeoutSeconds": 10, "dhcpTimeoutSeconds": 30}"#);
    assert_eq!(lease["interface"], "c0");
    assert_eq!(lease["method"], "dhcp");
    assert_eq!(lease["server"], "10.77.0.1");
    assert_eq!(lease["gateway"], "10.77.0.1");
    assert_eq!(lease["leaseSeconds"], 120);
    let address = lease["address"].as_str().unwrap().to_string();
    assert!(address.starts_with("10.77.0.1"), "{address}");

    let addrs = lab.addresses("c0");
    assert!(addrs.contains(&format!("inet {address}/24 brd 10.77.0.255")), "{addrs}");
    let routes = lab.routes();
    assert!(routes.contains("default via 10.77.0.1 dev c0 proto dhcp"), "{routes}");
    let resolv = std::fs::read_to_string(lab.resolv_conf()).unwrap();
    assert!(resolv.contains("nameserver 10.77.0.1\n") && resolv.contains("search lab.test\n"), "{resolv}");

    assert_eq!(lab.stop(), 0, "log:\n{}", lab.log());
    assert_eq!(lab.addresses("c0"), "", "no address may be left behind");
    assert_eq!(lab.routes(), "");
    let link = lab.client(&["-o", "link", "show", "c0"]);
    assert!(!link.contains(",UP") && !link.contains("<UP"), "link left up: {link}");
    let log = lab.log();
    assert!(log.contains("DHCPRELEASE sent") && log.contains("torn down"), "{log}");
    let server = wait_for_text(&lab.dir.join("dnsmasq.log"), "DHCPRELEASE(s0)");
    assert!(server.contains(&format!("DHCPRELEASE(s0) {address}")), "{server}");
}

#[test]
fn once_applies_prints_and_leaves_no_address() {
    let mut lab = Lab::new("once");
    lab.dnsmasq("10.77.0.100,10.77.0.150", &[]);
    let (code, out, err) = lab.once("{}", &[]);
    assert_eq!(code, 0, "{err}");
    let lease: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON object");
    assert_eq!(lease["prefixLength"], 24);
    assert!(err.contains("DHCP lease 10.77.0.1"), "{err}");
    assert_eq!(lab.addresses("c0"), "");
}

/// On an interface someone else configured (up, with an address and a route of its own),
/// `lethe net --once` removes only the lease it applied and leaves the link up as it found it.
#[test]
fn once_removes_only_what_lethe_added() {
    let mut lab = Lab::new("foreign");
    lab.dnsmasq("10.77.0.100,10.77.0.150", &[]);
    lab.client(&["link", "set", "c0", "up"]);
    lab.client(&["addr", "add", "10.99.0.5/24", "dev", "c0"]);
    lab.client(&["route", "add", "10.98.0.0/16", "via", "10.99.0.1", "dev", "c0"]);
    let (code, _, err) = lab.once("{}", &[]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("DHCP lease 10.77.0.1"), "{err}");
    let addresses = lab.addresses("c0");
    assert!(addresses.contains("inet 10.99.0.5/24"), "the foreign address went: {addresses}\n{err}");
    assert!(!addresses.contains("10.77.0."), "the lease stayed: {addresses}");
    let routes = lab.routes();
    assert!(routes.contains("10.98.0.0/16 via 10.99.0.1 dev c0"), "the foreign route went: {routes}");
    assert!(!routes.contains("default"), "lethe's default route stayed: {routes}");
    assert!(
        lab.client(&["link", "show", "c0"]).contains("state UP")
            || lab.client(&["link", "show", "c0"]).contains(",UP"),
        "the link went down"
    );
    assert!(err.contains("link left up as found"), "{err}");
}

/// A lease whose router the kernel refuses (the subnet's broadcast address) is applied
/// without the route, logged, instead of failing the network for the boot.
#[test]
fn a_router_the_kernel_refuses_is_left_out_of_the_lease() {
    let mut lab = Lab::new("badrouter");
    lab.dnsmasq("10.77.0.100,10.77.0.150", &["--dhcp-option=tag:!none,3,10.77.0.255"]);
    let (code, out, err) = lab.once(r#"{"flushBeforeStage2": false}"#, &[]);
    assert_eq!(code, 0, "{err}\n{}", lab.dnsmasq_log());
    assert!(err.contains("cannot add the default route via 10.77.0.255"), "{err}\n{}", lab.dnsmasq_log());
    assert!(err.contains("without a default route"), "{err}");
    let lease: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON object");
    assert!(lease["gateway"].is_null(), "{lease}");
    assert!(lab.addresses("c0").contains("inet 10.77.0.1"), "{}", lab.addresses("c0"));
    assert!(!lab.routes().contains("default"), "{}", lab.routes());
}

#[test]
fn static_address_without_dhcp() {
    let lab = Lab::new("static");
    let network = r#"{"dhcp": false, "flushBeforeStage2": false,
        "static": {"address": "10.77.0.9", "prefixLength": 24, "gateway": "10.77.0.1", "dns": ["10.77.0.53"]}}"#;
    let (code, out, err) = lab.once(network, &[]);
    assert_eq!(code, 0, "{err}");
    let applied: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(applied["method"], "static");
    // flushBeforeStage2 false: still there after lethe exited.
    assert!(lab.addresses("c0").contains("inet 10.77.0.9/24"), "{}", lab.addresses("c0"));
    // proto boot, which `ip route` does not print.
    assert!(lab.routes().contains("default via 10.77.0.1 dev c0 \n"), "{}", lab.routes());
    assert!(std::fs::read_to_string(lab.resolv_conf()).unwrap().contains("nameserver 10.77.0.53"));
    assert!(!err.contains("DHCPDISCOVER"), "{err}");
    // The server side reaches it: the address really works.
    sh(&["ip", "netns", "exec", &lab.server, "busybox", "ping", "-c", "1", "-W", "5", "10.77.0.9"]);
}

#[test]
fn static_fallback_when_no_server_answers() {
    let lab = Lab::new("fallback");
    let network = r#"{"dhcpTimeoutSeconds": 2,
        "static": {"address": "10.77.0.8", "prefixLength": 24}}"#;
    let (code, out, err) = lab.once(network, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("DHCPDISCOVER sent"), "{err}");
    assert!(err.contains("no DHCP lease after 2 s; applying the static address"), "{err}");
    let applied: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        (applied["method"].as_str(), applied["address"].as_str()),
        (Some("static"), Some("10.77.0.8"))
    );
}

#[test]
fn no_server_retries_with_backoff_then_gives_up() {
    let lab = Lab::new("noserver");
    let (code, out, err) = lab.once(r#"{"dhcpTimeoutSeconds": 7}"#, &[]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(out, "");
    // 0 s, ~4 s: a first DISCOVER and at least one retransmission, each logged.
    assert!(err.contains("c0: DHCPDISCOVER sent"), "{err}");
    assert!(
        err.contains("no answer yet; DHCPDISCOVER again (SELECTING, broadcast, attempt 2, next in"),
        "{err}"
    );
    assert!(err.contains("c0: no DHCP lease after 7 s"), "{err}");
    assert_eq!(lab.addresses("c0"), "");
}

/// A systemd initrd stops lethe-network.service before switch-root whether or not a lease
/// came: SIGTERM while DHCP still waits must end `lethe net` at once (exit 0, nothing left
/// applied), not after dhcpTimeoutSeconds.
#[test]
fn sigterm_while_waiting_for_a_lease_stops_at_once() {
    let mut lab = Lab::new("termwait");
    let child = lab
        .lethe_command(r#"{"dhcpTimeoutSeconds": 60}"#, &[])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(lab.dir.join("lethe.log")).unwrap())
        .spawn()
        .expect("lethe runs");
    lab.lethe = Some(child);
    wait_for_text(&lab.dir.join("lethe.log"), "c0: DHCPDISCOVER sent");
    let asked = Instant::now();
    let code = lab.stop();
    let took = asked.elapsed();
    assert_eq!(code, 0, "{}", lab.log());
    // Not a timing assertion on speed: only that it did not sit out the 60 s DHCP wait.
    assert!(took < Duration::from_secs(30), "stopped after {took:?}; log:\n{}", lab.log());
    assert!(lab.log().contains("stopping before an address was applied"), "{}", lab.log());
    assert_eq!(lab.addresses("c0"), "");
}

#[test]
fn renews_at_t1() {
    let mut lab = Lab::new("renew");
    // dnsmasq's shortest lease is 2 minutes, but it sends the T1 we set (3 s; it ignored 2).
    lab.dnsmasq("10.77.0.100,10.77.0.150", &["--dhcp-option=58,3"]);
    let lease = lab.start("{}");
    assert_eq!(lease["renewSeconds"], 3);
    let address = lease["address"].as_str().unwrap().to_string();
    let log = wait_for_text(&lab.dir.join("lethe.log"), "renewed");
    assert!(log.contains(&format!("lease of {address} renewed for 120 s")), "{log}");
    let server = lab.dnsmasq_log();
    assert!(server.matches(&format!("DHCPACK(s0) {address}")).count() >= 2, "{server}");
    assert!(lab.addresses("c0").contains(&address));
    assert_eq!(lab.stop(), 0);
}

#[test]
fn rebinds_at_t2_when_the_server_is_gone_at_t1() {
    let mut lab = Lab::new("rebind");
    let timers = ["--dhcp-option=58,3", "--dhcp-option=59,6"];
    lab.dnsmasq("10.77.0.100,10.77.0.150", &timers);
    let lease = lab.start("{}");
    assert_eq!((lease["renewSeconds"].as_u64(), lease["rebindSeconds"].as_u64()), (Some(3), Some(6)));
    let address = lease["address"].as_str().unwrap().to_string();
    // Down for the unicast renewal at T1; back (same lease file) for the broadcast at T2.
    lab.stop_dnsmasq();
    wait_for_text(&lab.dir.join("lethe.log"), "DHCPREQUEST sent (RENEWING, to 10.77.0.1)");
    lab.dnsmasq("10.77.0.100,10.77.0.150", &timers);
    let log = wait_for_text(&lab.dir.join("lethe.log"), "renewed");
    assert!(log.contains("DHCPREQUEST sent (REBINDING, broadcast)"), "{log}");
    assert!(log.contains(&format!("lease of {address} renewed")), "{log}");
    let server = lab.dnsmasq_log();
    assert!(server.contains(&format!("DHCPACK(s0) {address}")), "{server}");
    assert_eq!(lab.stop(), 0);
}

#[test]
fn nak_on_renewal_drops_the_address_and_starts_over() {
    let mut lab = Lab::new("nak");
    // T1 5 s: time enough to swap the servers below before the renewal, even on a busy machine.
    lab.dnsmasq("10.77.0.100,10.77.0.150", &["--dhcp-option=58,5"]);
    let lease = lab.start("{}");
    let old = lease["address"].as_str().unwrap().to_string();
    // A new authoritative server that knows nothing of that lease and serves another range:
    // it answers the renewal with a NAK.
    lab.stop_dnsmasq();
    let _ = std::fs::remove_file(lab.dir.join("leases"));
    lab.dnsmasq("10.77.0.200,10.77.0.250", &["--dhcp-authoritative"]);
    let log = wait_for_text(&lab.dir.join("lethe.log"), "DHCP lease 10.77.0.2");
    assert!(log.contains("DHCPNAK from 10.77.0.1"), "{log}");
    assert!(log.contains(&format!("for {old}; removing the address")), "{log}");
    let addrs = lab.addresses("c0");
    assert!(!addrs.contains(&format!("inet {old}/")), "{addrs}");
    assert!(addrs.contains("inet 10.77.0.2"), "{addrs}");
    assert!(lab.dnsmasq_log().contains("DHCPNAK(s0)"));
    assert_eq!(lab.stop(), 0);
}

#[test]
fn interface_chosen_by_mac() {
    let mut lab = Lab::new("mac");
    // c1 comes first and has carrier too: without a MAC, lethe would take it.
    lab.veth("s1", "c1", Some("02:00:00:00:00:c1"));
    sh(&["ip", "-n", &lab.server, "link", "del", "s0"]);
    lab.veth("s0", "c0", Some("02:00:00:00:00:c0"));
    sh(&["ip", "-n", &lab.server, "addr", "add", "10.77.0.1/24", "dev", "s0"]);
    lab.dnsmasq("10.77.0.100,10.77.0.150", &[]);
    // kernelModules: loaded, already there, or (a kernel without a module tree) a warning: never fatal.
    let (code, out, err) =
        lab.once(r#"{"interface": {"mac": "02:00:00:00:00:C0"}, "kernelModules": ["veth"]}"#, &[]);
    assert_eq!(code, 0, "{err}");
    let lease: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!((lease["interface"].as_str(), lease["mac"].as_str()), (Some("c0"), Some("02:00:00:00:00:c0")));
    // The other interface was never touched.
    assert!(!lab.client(&["-o", "link", "show", "c1"]).contains("UP,"));
    // And without a MAC, the first interface with carrier wins.
    let (code, out, err) =
        lab.once(r#"{"dhcpTimeoutSeconds": 1, "static": {"address": "10.78.0.2", "prefixLength": 24}}"#, &[]);
    assert_eq!(code, 0, "{err}");
    let applied: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(applied["interface"], "c1");
    let c0 = lab.client(&["-o", "link", "show", "c0"]);
    assert!(!c0.contains(",UP"), "c0 was brought up to look for carrier, and must be down again: {c0}");
}

#[test]
fn missing_interface_fails_after_the_link_timeout() {
    let lab = Lab::new("nolink");
    let (code, _, err) = lab.once(r#"{"interface": "eth7", "linkTimeoutSeconds": 1}"#, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("network: no carrier on interface eth7 after 1 s; seen: c0"), "{err}");
}

#[test]
fn kernel_ip_parameter_overrides_the_config() {
    let mut lab = Lab::new("ipparam");
    lab.dnsmasq("10.77.0.100,10.77.0.150", &[]);
    let network = r#"{"flushBeforeStage2": false}"#;
    let (code, out, err) =
        lab.once(network, &["--cmdline", "quiet ip=10.77.0.7::10.77.0.1:255.255.255.0::c0:off"]);
    assert_eq!(code, 0, "{err}");
    let applied: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        (applied["method"].as_str(), applied["address"].as_str()),
        (Some("static"), Some("10.77.0.7"))
    );
    assert!(lab.addresses("c0").contains("inet 10.77.0.7/24"));
    let (code, out, err) = lab.once(network, &["--cmdline", "ip=off"]);
    assert_eq!((code, out.as_str()), (0, ""), "{err}");
    let (code, _, err) = lab.once(network, &["--cmdline", "ip=dhcp6"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("kernel parameter ip=dhcp6: autoconf \"dhcp6\": IPv6 is not supported"), "{err}");
}

/// Runs `f` on a thread that has entered the client namespace: threads it starts (the
/// Background's) inherit it, so the library is tested in-process as `lethe init` uses it.
fn in_client_namespace<T: Send + 'static>(lab: &Lab, f: impl FnOnce() -> T + Send + 'static) -> T {
    use std::os::fd::AsRawFd;
    let netns = std::fs::File::open(format!("/run/netns/{}", lab.client)).unwrap();
    std::thread::spawn(move || {
        // SAFETY: setns on a valid namespace descriptor; it affects only this thread.
        assert_eq!(unsafe { libc::setns(netns.as_raw_fd(), libc::CLONE_NEWNET) }, 0, "setns");
        f()
    })
    .join()
    .unwrap()
}

fn network_config(json: &str) -> lethe::config::network::Network {
    let config = lethe::config::Config::parse(&format!("{{\"version\": 1, \"network\": {json}}}")).unwrap();
    config.network.unwrap()
}

#[test]
fn background_api_for_stage1_gets_a_lease_and_tears_down() {
    let mut lab = Lab::new("bg");
    lab.dnsmasq("10.77.0.100,10.77.0.150", &[]);
    let options = lethe::net::Options { give_up: false, resolv_conf: lab.dir.join("resolv.conf") };
    let (summary, background) = in_client_namespace(&lab, move || {
        let mut bg = lethe::net::start_background(network_config("{}"), options).unwrap();
        (bg.wait_up(PATIENCE), bg)
    });
    let summary = summary.expect("an address within the patience bound");
    assert_eq!((summary.interface.as_str(), summary.method), ("c0", "dhcp"));
    let addrs = lab.addresses("c0");
    assert!(addrs.contains(&format!("inet {}/24", summary.address)), "{addrs}");
    let resolv = std::fs::read_to_string(lab.dir.join("resolv.conf")).unwrap();
    assert!(resolv.contains("nameserver 10.77.0.1"), "{resolv}");
    background.teardown().unwrap();
    assert_eq!(lab.addresses("c0"), "");
    assert_eq!(lab.routes(), "");
}

#[test]
fn background_api_never_blocks_without_a_server_and_stops_cleanly() {
    let lab = Lab::new("bgnone");
    let options = lethe::net::Options { give_up: false, resolv_conf: lab.dir.join("resolv.conf") };
    let (summary, background) = in_client_namespace(&lab, move || {
        let mut bg =
            lethe::net::start_background(network_config(r#"{"dhcpTimeoutSeconds": 1}"#), options).unwrap();
        // Nothing answers: the caller gets control back and carries on with the boot.
        (bg.wait_up(Duration::from_secs(2)), bg)
    });
    assert!(summary.is_none());
    background.teardown().unwrap();
    assert_eq!(lab.addresses("c0"), "");
    let link = lab.client(&["-o", "link", "show", "c0"]);
    assert!(!link.contains(",UP"), "link left up: {link}");
}

#[test]
fn bad_arguments_and_configs_are_named() {
    let out = common::run(&["net", "--config", "x.json", "--bogus"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(common::stderr(&out).contains("unexpected argument --bogus"), "{}", common::stderr(&out));
    let out = common::run(&["net", "--once"]);
    assert!(common::stderr(&out).contains("expected --config FILE"), "{}", common::stderr(&out));

    let dir = std::env::temp_dir().join(format!("lethe-net-args-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config.json");
    std::fs::write(&config, r#"{"version": 1, "network": {"interface": {"mac": "nope"}}}"#).unwrap();
    let out = common::run(&["net", "--config", config.to_str().unwrap(), "--once", "--cmdline", ""]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        common::stderr(&out).contains("network.interface.mac: expected a MAC address"),
        "{}",
        common::stderr(&out)
    );
    std::fs::write(&config, r#"{"version": 1}"#).unwrap();
    let out = common::run(&["net", "--config", config.to_str().unwrap(), "--once", "--cmdline", ""]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        common::stderr(&out).contains("no \"network\" section (and no ip= on the kernel command line)"),
        "{}",
        common::stderr(&out)
    );
    let out =
        common::run(&["net", "--config", config.to_str().unwrap(), "--once", "--cmdline", "ip=eth0:rarp"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        common::stderr(&out).contains("kernel parameter ip=eth0:rarp: autoconf \"rarp\" is not supported")
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
