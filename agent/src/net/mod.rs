//! Stage-1 networking: kernel modules, link, DHCPv4 lease or static address, renewal, and
//! teardown before stage 2.
//!
//! # Use from the stage-1 flow
//!
//! ```no_run
//! # async fn stage1(config: &lethe::config::Config) -> lethe::error::Result<()> {
//! let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
//! // The config overridden by the kernel's `ip=`; None: no network wanted.
//! if let Some(network) = lethe::net::plan(config.network.as_ref(), &cmdline) {
//!     // Returns at once; DHCP runs (and renews) in a task on the current tokio runtime, so
//!     // the SSH server and the console prompt are never blocked by a missing server.
//!     let mut net = lethe::net::spawn(network, lethe::net::Options::default());
//!     // Optional: wait for the address (e.g. before printing "ssh root@ADDRESS").
//!     if let Ok(summary) = net.wait_up().await {
//!         log::info!("reachable at {}", summary.address);
//!     }
//!     // ... unlock, rollback ...
//!     net.teardown().await?; // before the hand-off: flushes when flushBeforeStage2
//! }
//! # Ok(()) }
//! ```
//!
//! A synchronous caller (lethe init's steps) uses [`start_background`] instead of [`spawn`]:
//! the same, in a thread with its own runtime; `wait_up(timeout)` and `teardown()` block.
//! Simplest of all, two calls that never fail the boot:
//!
//! ```no_run
//! # fn steps(config: &lethe::config::Config, cmdline: &str) {
//! let network = lethe::net::start_for_stage1(config.network.as_ref(), cmdline); // after modules
//! // ... unlock, rollback, mounts ...
//! lethe::net::stop_for_stage2(network); // before switching root
//! # }
//! ```
//!
//! Lower level: [`up`] brings the network up and returns a [`Session`] once an address is
//! applied; [`Session::maintain`] renews for ever; [`Session::teardown`] releases and flushes.
//! `lethe net` ([`command`]) is exactly that sequence, for tests and users.
//!
//! Modules: `cmdline` (`ip=`, pure), `link` (choice of interface, pure + carrier wait),
//! `netlink` (a small rtnetlink client), `resolv` (resolv.conf).

pub mod cmdline;
pub mod link;
pub mod netlink;
pub mod resolv;

use crate::config::network::{Network, StaticAddress};
use crate::dhcp::{self, lease::mask_of, Client, Lease, Output};
use crate::error::{Context, Error, Result};
use netlink::{Addr, Link};
use serde::Serialize;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, watch};

pub use cmdline::effective;

/// How [`up`] behaves beyond the config.
#[derive(Debug, Clone)]
pub struct Options {
    /// With DHCP and no `static` fallback: fail after `dhcpTimeoutSeconds` (`lethe net`)
    /// instead of retrying for ever in the background (stage 1).
    pub give_up: bool,
    /// Where DNS servers go.
    pub resolv_conf: PathBuf,
}

impl Default for Options {
    fn default() -> Options {
        Options { give_up: false, resolv_conf: PathBuf::from(resolv::PATH) }
    }
}

/// What was applied, as `lethe net` prints it (one JSON object).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub interface: String,
    pub mac: Option<String>,
    /// `dhcp` or `static`.
    pub method: &'static str,
    pub address: Ipv4Addr,
    pub prefix_length: u8,
    pub gateway: Option<Ipv4Addr>,
    pub dns: Vec<Ipv4Addr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<Ipv4Addr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease_seconds: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renew_seconds: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rebind_seconds: Option<u32>,
}

/// The config overridden by the kernel command line's `ip=`; `None`: no network. A bad `ip=`
/// is logged and the config is used.
pub fn plan(config: Option<&Network>, cmdline: &str) -> Option<Network> {
    match cmdline::effective(config, cmdline) {
        Ok(n) => {
            if cmdline::find_ip(cmdline).is_some() {
                log::info!("network: following the kernel's ip={}", cmdline::find_ip(cmdline).unwrap_or(""));
            }
            n
        }
        Err(e) => {
            log::error!("{e}; using the config instead");
            config.cloned()
        }
    }
}

struct Dhcp {
    client: Client,
    socket: dhcp::socket::DhcpSocket,
}

/// A network that is up: the interface, what is applied on it, the DHCP client if any.
pub struct Session {
    network: Network,
    options: Options,
    nl: netlink::Socket,
    link: Link,
    dhcp: Option<Dhcp>,
    applied: Option<Summary>,
}

fn random_seed() -> u64 {
    let mut b = [0u8; 8];
    // SAFETY: b is valid for writes of 8 bytes.
    let n = unsafe { libc::getrandom(b.as_mut_ptr().cast(), b.len(), libc::GRND_NONBLOCK) };
    if n != 8 {
        // Early boot before the pool is ready: time and pid still differ between hosts.
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        return t.as_nanos() as u64 ^ (u64::from(std::process::id()) << 32);
    }
    u64::from_ne_bytes(b)
}

/// Loads `kernelModules`, finds the interface, waits for carrier, and applies a lease or the
/// static address. Returns once an address is applied; DHCP without a static fallback keeps
/// trying until then (or fails after `dhcpTimeoutSeconds` with [`Options::give_up`]).
pub async fn up(network: &Network, options: &Options) -> Result<Session> {
    let mut session = Session::start(network, options).await?;
    session.configure().await?;
    Ok(session)
}

impl Session {
    /// Modules, interface choice, link up and carrier: everything before an address.
    pub async fn start(network: &Network, options: &Options) -> Result<Session> {
        if !network.kernel_modules.is_empty() {
            // finit_module blocks (up to a second for some drivers): not on the runtime's thread.
            let modules = network.kernel_modules.clone();
            let loaded = tokio::task::spawn_blocking(move || crate::kmod::load_all(&modules))
                .await
                .map_err(|e| Error::msg(e.to_string()))
                .and_then(|r| r);
            if let Err(e) = loaded {
                // Not fatal: the driver may be built in, or the interface may be there anyway;
                // if it is not, the link wait below says what it saw.
                log::warn!("network.kernelModules: {e}; looking for the interface anyway");
            }
        }
        let mut nl = netlink::Socket::open()?;
        let timeout = Duration::from_secs(u64::from(network.link_timeout_seconds));
        let link = link::wait_for_link(&mut nl, network.interface.as_ref(), timeout).await?;
        log::info!(
            "{}: link up with carrier{}",
            link.name,
            link.mac.map(|m| format!(" ({})", link::mac_text(&m))).unwrap_or_default()
        );
        Ok(Session {
            network: network.clone(),
            options: options.clone(),
            nl,
            link,
            dhcp: None,
            applied: None,
        })
    }

    pub fn interface(&self) -> &str {
        &self.link.name
    }

    /// What is applied now, if anything.
    pub fn summary(&self) -> Option<&Summary> {
        self.applied.as_ref()
    }

    /// Gets the first address: DHCP (falling back to `static` after `dhcpTimeoutSeconds`) or
    /// the static address alone.
    pub async fn configure(&mut self) -> Result<Summary> {
        let fallback = self.network.static_address.clone();
        if !self.network.dhcp {
            let s = fallback.expect("config reader requires static when dhcp is false");
            self.apply_static(&s)?;
            return Ok(self.applied.clone().expect("just applied"));
        }
        let mac = self.link.mac.ok_or_else(|| {
            Error::msg(format!("{}: no Ethernet hardware address, cannot run DHCP on it", self.link.name))
        })?;
        let socket = dhcp::socket::DhcpSocket::open(&self.link.name)?;
        self.dhcp = Some(Dhcp { client: Client::new(mac, random_seed(), Instant::now()), socket });
        let wait = Duration::from_secs(u64::from(self.network.dhcp_timeout_seconds));
        let give_up_at = Instant::now() + wait;
        let use_deadline = fallback.is_some() || self.options.give_up;
        if self.drive(true, Some(give_up_at)).await? {
            return Ok(self.applied.clone().expect("bound"));
        }
        if !use_deadline {
            // Stage 1 without a fallback: the boot goes on (console unlock, SSH on other
            // interfaces); DHCP keeps retransmitting with backoff until a server answers.
            log::warn!(
                "{}: no DHCP lease after {} s; still trying in the background",
                self.link.name,
                wait.as_secs()
            );
            self.drive(true, None).await?;
            return Ok(self.applied.clone().expect("bound"));
        }
        match fallback {
            Some(s) => {
                log::warn!(
                    "{}: no DHCP lease after {} s; applying the static address",
                    self.link.name,
                    wait.as_secs()
                );
                self.dhcp = None;
                self.apply_static(&s)?;
                Ok(self.applied.clone().expect("just applied"))
            }
            None => Err(Error::msg(format!("{}: no DHCP lease after {} s", self.link.name, wait.as_secs()))),
        }
    }

    /// Keeps the lease: renews at T1, rebinds at T2, starts over when it is lost. Returns only
    /// on a socket error; with a static address or an infinite lease it waits for ever.
    pub async fn maintain(&mut self) -> Result<()> {
        if self.dhcp.is_none() {
            std::future::pending::<()>().await;
        }
        self.drive(false, None).await.map(|_| ())
    }

    /// Runs the DHCP client until bound (`until_bound`) or `give_up_at`; true when bound.
    async fn drive(&mut self, until_bound: bool, give_up_at: Option<Instant>) -> Result<bool> {
        let name = self.link.name.clone();
        loop {
            let outputs = {
                let Dhcp { client, socket } = self.dhcp.as_mut().expect("DHCP is running");
                let wake = match (client.deadline(), give_up_at) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                let sleep = async {
                    match wake {
                        Some(w) => tokio::time::sleep_until(tokio::time::Instant::from_std(w)).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = sleep => {
                        let now = Instant::now();
                        if give_up_at.is_some_and(|g| now >= g) {
                            return Ok(false);
                        }
                        client.on_timeout(now)
                    }
                    bytes = socket.recv() => {
                        let bytes = bytes?;
                        client.on_reply(bytes, Instant::now())
                    }
                }
            };
            let mut bound = false;
            for output in outputs {
                match output {
                    Output::Send(t) => {
                        let wait = t.next.saturating_duration_since(Instant::now()).as_secs_f32();
                        let d = self.dhcp.as_ref().expect("DHCP is running");
                        let to = match t.to {
                            dhcp::Destination::Broadcast => "broadcast".to_string(),
                            dhcp::Destination::Server(ip) => format!("to {ip}"),
                        };
                        let state = d.client.state_name();
                        if t.attempt == 1 {
                            log::info!("{name}: {} sent ({state}, {to})", t.what);
                        } else {
                            log::info!(
                                "{name}: no answer yet; {} again ({state}, {to}, attempt {}, next in {wait:.1} s)",
                                t.what,
                                t.attempt
                            );
                        }
                        if let Err(e) = d.socket.send(&t).await {
                            // Transient (no route yet, ENOBUFS): the retransmission timer retries.
                            log::warn!("{e}");
                        }
                    }
                    Output::Bound(lease) => {
                        self.apply_lease(&lease)?;
                        bound = true;
                    }
                    Output::Lost(why) => {
                        log::warn!("{name}: {why}; removing the address");
                        self.flush_addresses();
                    }
                    Output::Restart(why) => log::warn!("{name}: {why}"),
                    Output::Ignored(why) => log::debug!("{name}: ignoring a reply: {why}"),
                }
            }
            if bound && until_bound {
                return Ok(true);
            }
        }
    }

    fn flush_addresses(&mut self) {
        match self.nl.flush(&self.link.name, self.link.index) {
            Ok(_) => {}
            Err(e) => log::error!("{e}"),
        }
        self.applied = None;
    }

    fn apply(
        &mut self,
        address: Ipv4Addr,
        prefix_length: u8,
        gateway: Option<Ipv4Addr>,
        protocol: u8,
    ) -> Result<()> {
        let name = self.link.name.clone();
        if let Some(old) = &self.applied {
            if old.address != address || old.prefix_length != prefix_length {
                self.flush_addresses();
            }
        }
        self.nl.add_address(&name, &Addr { index: self.link.index, address, prefix_length })?;
        if let Some(gw) = gateway {
            let mask = u32::from(mask_of(prefix_length));
            let onlink = u32::from(gw) & mask != u32::from(address) & mask;
            self.nl.add_default_route(&name, self.link.index, gw, protocol, onlink)?;
        }
        Ok(())
    }

    fn write_resolv(&self, dns: &[Ipv4Addr], domain: Option<&str>) {
        if dns.is_empty() {
            return;
        }
        if let Err(e) = resolv::write(&self.options.resolv_conf, &resolv::render(dns, domain)) {
            log::warn!("{e} (DNS will not work in the initrd)");
        }
    }

    fn apply_lease(&mut self, lease: &Lease) -> Result<()> {
        let name = self.link.name.clone();
        let renewal = self.applied.as_ref().is_some_and(|a| {
            a.address == lease.address && a.prefix_length == lease.prefix_length && a.gateway == lease.gateway
        });
        if renewal {
            log::info!("{name}: lease of {} renewed for {} s", lease.address, lease.lease_seconds);
        } else {
            self.apply(lease.address, lease.prefix_length, lease.gateway, netlink::RTPROT_DHCP)?;
            log::info!(
                "{name}: DHCP lease {}/{} from {}{}, {} s",
                lease.address,
                lease.prefix_length,
                lease.server,
                lease.gateway.map(|g| format!(", gateway {g}")).unwrap_or_default(),
                lease.lease_seconds
            );
        }
        self.write_resolv(&lease.dns, lease.domain.as_deref());
        self.applied = Some(Summary {
            interface: name,
            mac: self.link.mac.map(|m| link::mac_text(&m)),
            method: "dhcp",
            address: lease.address,
            prefix_length: lease.prefix_length,
            gateway: lease.gateway,
            dns: lease.dns.clone(),
            domain: lease.domain.clone(),
            server: Some(lease.server),
            lease_seconds: Some(lease.lease_seconds),
            renew_seconds: Some(lease.renew_seconds),
            rebind_seconds: Some(lease.rebind_seconds),
        });
        Ok(())
    }

    fn apply_static(&mut self, s: &StaticAddress) -> Result<()> {
        self.apply(s.address, s.prefix_length, s.gateway, netlink::RTPROT_BOOT)?;
        log::info!(
            "{}: static address {}/{}{}",
            self.link.name,
            s.address,
            s.prefix_length,
            s.gateway.map(|g| format!(", gateway {g}")).unwrap_or_default()
        );
        self.write_resolv(&s.dns, None);
        self.applied = Some(Summary {
            interface: self.link.name.clone(),
            mac: self.link.mac.map(|m| link::mac_text(&m)),
            method: "static",
            address: s.address,
            prefix_length: s.prefix_length,
            gateway: s.gateway,
            dns: s.dns.clone(),
            domain: None,
            server: None,
            lease_seconds: None,
            renew_seconds: None,
            rebind_seconds: None,
        });
        Ok(())
    }

    /// Before stage 2. With `flushBeforeStage2`: DHCPRELEASE (best effort), every IPv4 route
    /// and address of the interface removed, link down. Without: left as it is.
    pub async fn teardown(mut self) -> Result<()> {
        let name = self.link.name.clone();
        if !self.network.flush_before_stage2 {
            log::info!("{name}: left configured for stage 2 (flushBeforeStage2 is false)");
            return Ok(());
        }
        if let Some(Dhcp { client, socket }) = self.dhcp.as_mut() {
            if let Some(t) = client.release(Instant::now()) {
                match socket.send(&t).await {
                    Ok(()) => log::info!("{name}: DHCPRELEASE sent"),
                    Err(e) => log::warn!("{e}"),
                }
            }
        }
        self.dhcp = None; // closes port 68 before stage 2's client wants it
        let (routes, addrs) = self.nl.flush(&name, self.link.index)?;
        self.nl.set_link(&self.link, false)?;
        log::info!("{name}: torn down ({addrs} address(es), {routes} route(s) removed, link down)");
        Ok(())
    }
}

/// Where a background network stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Starting,
    Up(Summary),
    Failed(String),
}

/// A network brought up in the background by [`spawn`].
pub struct Handle {
    status: watch::Receiver<Status>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<()>>,
}

/// Starts [`up`] + [`Session::maintain`] in a task on the current tokio runtime and returns
/// at once. Failures are logged and visible through [`Handle::wait_up`].
pub fn spawn(network: Network, options: Options) -> Handle {
    let (status_tx, status) = watch::channel(Status::Starting);
    let (stop, mut stop_rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let fail = |e: &Error| {
            log::error!("{e}");
            let _ = status_tx.send(Status::Failed(e.to_string()));
        };
        let started = tokio::select! {
            r = Session::start(&network, &options) => Some(r),
            _ = &mut stop_rx => None,
        };
        let mut session = match started {
            None => return Ok(()),
            Some(Err(e)) => {
                // Logged and visible through wait_up; nothing was configured, so the later
                // teardown has nothing to undo and succeeds.
                fail(&e);
                return Ok(());
            }
            Some(Ok(s)) => s,
        };
        let configured = tokio::select! {
            r = session.configure() => Some(r),
            _ = &mut stop_rx => None,
        };
        match configured {
            None => return session.teardown().await,
            Some(Err(e)) => fail(&e),
            Some(Ok(summary)) => {
                let _ = status_tx.send(Status::Up(summary));
                let maintained = tokio::select! {
                    r = session.maintain() => Some(r),
                    _ = &mut stop_rx => None,
                };
                if let Some(Err(e)) = maintained {
                    log::error!("{e}; the address stays until the hand-off");
                    let _ = stop_rx.await;
                }
            }
        }
        session.teardown().await
    });
    Handle { status, stop: Some(stop), task }
}

impl Handle {
    /// Waits until an address is applied (or bringing it up failed).
    pub async fn wait_up(&mut self) -> Result<Summary> {
        loop {
            match &*self.status.borrow_and_update() {
                Status::Up(s) => return Ok(s.clone()),
                Status::Failed(e) => return Err(Error::msg(e.clone())),
                Status::Starting => {}
            }
            if self.status.changed().await.is_err() {
                return Err(Error::msg("network: the network task ended"));
            }
        }
    }

    pub fn status(&self) -> Status {
        self.status.borrow().clone()
    }

    /// Stops renewing and tears down (see [`Session::teardown`]); waits until done.
    pub async fn teardown(mut self) -> Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.await {
            Ok(r) => r,
            Err(e) => Err(Error::msg(format!("network task: {e}"))),
        }
    }
}

/// The network in a thread of its own, with its own tokio runtime: for a synchronous stage 1
/// (`lethe init`'s steps). Same behaviour as [`spawn`]: returns at once, renews until
/// [`Background::teardown`].
pub struct Background {
    stop: Option<oneshot::Sender<()>>,
    up: std::sync::mpsc::Receiver<Option<Summary>>,
    thread: Option<std::thread::JoinHandle<Result<()>>>,
}

/// Starts [`Background`]; an error only when the thread or its runtime cannot be created.
pub fn start_background(network: Network, options: Options) -> Result<Background> {
    let (stop, mut stop_rx) = oneshot::channel::<()>();
    let (up_tx, up) = std::sync::mpsc::channel();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("network: tokio runtime")?;
    let thread = std::thread::Builder::new()
        .name("lethe-net".into())
        .spawn(move || {
            runtime.block_on(async move {
                let mut handle = spawn(network, options);
                tokio::select! {
                    r = handle.wait_up() => {
                        let _ = up_tx.send(r.ok());
                    }
                    _ = &mut stop_rx => return handle.teardown().await,
                }
                let _ = stop_rx.await;
                handle.teardown().await
            })
        })
        .context("network: cannot start its thread")?;
    Ok(Background { stop: Some(stop), up, thread: Some(thread) })
}

impl Background {
    /// Blocks until an address is applied, at most `timeout`; `None` if not (yet), or failed.
    pub fn wait_up(&mut self, timeout: Duration) -> Option<Summary> {
        self.up.recv_timeout(timeout).ok().flatten()
    }

    /// Stops renewing, tears down (see [`Session::teardown`]) and waits for the thread. An
    /// error here is worth a log line, not a failed boot: stage 2 brings its own network up.
    pub fn teardown(mut self) -> Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(Error::msg("network: its thread panicked")),
            None => Ok(()),
        }
    }
}

/// For `lethe init`'s steps: the network the config and the kernel's `ip=` ask for, started
/// in the background ([`start_background`]). Never fails the boot: a problem is logged and
/// `None` returned (as for "no network configured").
pub fn start_for_stage1(config: Option<&Network>, cmdline: &str) -> Option<Background> {
    let network = plan(config, cmdline)?;
    match start_background(network, Options::default()) {
        Ok(bg) => Some(bg),
        Err(e) => {
            log::error!("{e}");
            None
        }
    }
}

/// For `lethe init`, right before stage 2: [`Background::teardown`], errors logged.
pub fn stop_for_stage2(background: Option<Background>) {
    if let Some(bg) = background {
        if let Err(e) = bg.teardown() {
            log::error!("network teardown: {e}");
        }
    }
}

/// SIGINT/SIGTERM as a readable descriptor, so `lethe net` can tear down when stopped.
fn stop_signals() -> Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: sigset_t is plain data initialised by sigemptyset; the calls only read/write it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        let fd = libc::signalfd(-1, &set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC);
        if fd < 0 {
            return Err(std::io::Error::last_os_error()).context("signalfd");
        }
        Ok(std::os::fd::OwnedFd::from_raw_fd(fd))
    }
}

/// `lethe net --config FILE [--once]`: brings the network up as stage 1 does, prints the
/// summary as one JSON line, then renews until SIGINT/SIGTERM (or, with `--once`, tears down
/// at once) and tears down. `cmdline`: the kernel command line to take `ip=` from.
/// Exit status: 0 ok, 1 bad config, 2 network failure.
pub fn command(config: &std::path::Path, once: bool, cmdline: &str) -> std::process::ExitCode {
    use std::process::ExitCode;
    let config = match crate::config::Config::load(config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("lethe: {e}");
            return ExitCode::from(match e {
                crate::config::LoadError::Invalid(_) => 1,
                crate::config::LoadError::Unreadable(_) => 2,
            });
        }
    };
    let network = match cmdline::effective(config.network.as_ref(), cmdline) {
        Ok(Some(n)) => n,
        Ok(None) if cmdline::find_ip(cmdline).is_some() => {
            log::info!("network: ip={} says no network", cmdline::find_ip(cmdline).unwrap_or(""));
            return ExitCode::SUCCESS;
        }
        Ok(None) => {
            eprintln!("lethe: the config has no \"network\" section");
            return ExitCode::from(1);
        }
        Err(e) => {
            eprintln!("lethe: {e}");
            return ExitCode::from(1);
        }
    };
    let signals = match stop_signals() {
        Ok(fd) => fd,
        Err(e) => {
            eprintln!("lethe: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("lethe: tokio runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let options = Options { give_up: true, ..Options::default() };
    let result: Result<()> = runtime.block_on(async move {
        let mut session = Session::start(&network, &options).await?;
        if let Err(e) = session.configure().await {
            session.teardown().await?;
            return Err(e);
        }
        let summary = session.summary().expect("up applies an address");
        println!("{}", serde_json::to_string(summary).expect("summary serializes"));
        if !once {
            // SAFETY: `signals` is an OwnedFd moved into the AsyncFd, which keeps it open for
            // as long as it is registered.
            let signals = unsafe {
                tokio::io::unix::AsyncFd::register_with_interest(signals, tokio::io::Interest::READABLE)
            }
            .map_err(|e| Error::msg(format!("signalfd: {e}")))?;
            tokio::select! {
                r = session.maintain() => r?,
                _ = signals.readable() => log::info!("stopping"),
            }
        }
        session.teardown().await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("{e}");
            ExitCode::from(2)
        }
    }
}

/// `lethe net`'s entry point: `cmdline` `None` reads `/proc/cmdline`.
pub fn main(config: &std::path::Path, once: bool, cmdline: Option<String>) -> std::process::ExitCode {
    let cmdline = cmdline.unwrap_or_else(|| std::fs::read_to_string("/proc/cmdline").unwrap_or_default());
    command(config, once, &cmdline)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn network() -> Network {
        crate::config::Config::parse(r#"{"version": 1, "network": {"interface": "eth0"}}"#)
            .unwrap()
            .network
            .unwrap()
    }

    #[test]
    fn stage1_starts_nothing_without_a_network() {
        assert!(start_for_stage1(None, "quiet").is_none());
        assert!(start_for_stage1(Some(&network()), "quiet ip=off").is_none());
        assert!(plan(None, "").is_none());
    }

    #[test]
    fn a_bad_ip_parameter_falls_back_to_the_config() {
        assert_eq!(plan(Some(&network()), "ip=dhcp6"), Some(network()));
        assert_eq!(plan(None, "ip=dhcp6"), None);
        let n = plan(Some(&network()), "ip=eth1:dhcp").unwrap();
        assert_eq!(n.interface, Some(crate::config::network::Interface::Name("eth1".into())));
    }

    #[test]
    fn the_summary_is_one_json_object_with_camel_case_fields() {
        let s = Summary {
            interface: "eth0".into(),
            mac: Some("52:54:00:12:34:56".into()),
            method: "static",
            address: Ipv4Addr::new(10, 0, 0, 2),
            prefix_length: 24,
            gateway: None,
            dns: vec![],
            domain: None,
            server: None,
            lease_seconds: None,
            renew_seconds: None,
            rebind_seconds: None,
        };
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            r#"{"interface":"eth0","mac":"52:54:00:12:34:56","method":"static","address":"10.0.0.2","prefixLength":24,"gateway":null,"dns":[]}"#
        );
    }
}
