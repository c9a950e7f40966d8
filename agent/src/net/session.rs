//! One network brought up: the chosen link, what is applied on it, the DHCP client driving
//! renewals, and the teardown.

use super::{link, netlink, resolv, Options, Summary};
use crate::config::network::{Network, StaticAddress};
use crate::dhcp::{self, lease::mask_of, Client, Lease, Output};
use crate::error::{Error, Result};
use netlink::{Addr, Link};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

struct Dhcp {
    client: Client,
    socket: dhcp::socket::DhcpSocket,
}

/// A network that is up: the interface, what is applied on it, the DHCP client if any.
pub(crate) struct Session {
    network: Network,
    options: Options,
    nl: netlink::Socket,
    link: Link,
    dhcp: Option<Dhcp>,
    applied: Option<Summary>,
    /// The link was down before lethe brought it up: teardown takes it down again, and only then.
    brought_up: bool,
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

impl Session {
    /// Modules, interface choice, link up and carrier: everything before an address.
    pub(crate) async fn start(network: &Network, options: &Options) -> Result<Session> {
        if !network.kernel_modules.is_empty() {
            // finit_module blocks (up to a second for some drivers): not on the runtime's thread.
            let modules = network.kernel_modules.clone();
            let errors = match tokio::task::spawn_blocking(move || crate::kmod::load_each(&modules)).await {
                Ok((_, errors)) => errors,
                Err(e) => vec![Error::msg(e.to_string())],
            };
            // Not fatal: the driver may be built in, or the interface may be there anyway; if
            // it is not, the link wait below says what it saw.
            for e in errors {
                log::warn!("network.kernelModules: {e}; looking for the interface anyway");
            }
        }
        let mut nl = netlink::Socket::open()?;
        let up_before: Vec<u32> = nl.links()?.iter().filter(|l| l.is_up()).map(|l| l.index).collect();
        let timeout = Duration::from_secs(u64::from(network.link_timeout_seconds));
        let link = link::wait_for_link(&mut nl, network.interface.as_ref(), timeout).await?;
        log::info!(
            "{}: link up with carrier{}",
            link.name,
            link.mac.map(|m| format!(" ({})", link::mac_text(&m))).unwrap_or_default()
        );
        let brought_up = !up_before.contains(&link.index);
        Ok(Session {
            network: network.clone(),
            options: options.clone(),
            nl,
            link,
            dhcp: None,
            applied: None,
            brought_up,
        })
    }

    /// What is applied now, if anything.
    pub(crate) fn summary(&self) -> Option<&Summary> {
        self.applied.as_ref()
    }

    /// Gets the first address: DHCP (falling back to `static` after `dhcpTimeoutSeconds`) or
    /// the static address alone.
    pub(crate) async fn configure(&mut self) -> Result<Summary> {
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
    pub(crate) async fn maintain(&mut self) -> Result<()> {
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
                    Output::Bound(lease) => match self.apply_lease(&lease) {
                        Ok(()) => bound = true,
                        // Nothing usable (the kernel refused the address): not bound for us; the
                        // static fallback, if any, applies at dhcpTimeoutSeconds as with no reply.
                        Err(e) => log::error!("{e}; ignoring the lease from {}", lease.server),
                    },
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

    /// Removes the address (and default route) lethe applied, nothing else.
    fn flush_addresses(&mut self) {
        if let Err(e) = self.remove_applied() {
            log::error!("{e}");
        }
        self.applied = None;
    }

    fn remove_applied(&mut self) -> Result<(usize, usize)> {
        let Some(a) = &self.applied else { return Ok((0, 0)) };
        let addr = Addr { index: self.link.index, address: a.address, prefix_length: a.prefix_length };
        self.nl.remove_added(&self.link.name, &addr, a.gateway)
    }

    /// Puts `address` on the interface and, if the kernel takes it, the default route via
    /// `gateway`. Returns the gateway applied: a router the kernel refuses (the subnet's
    /// broadcast address, say) is logged and left out, as the address alone still serves the
    /// LAN (SSH from the same subnet) and failing here would leave no network at all.
    fn apply(
        &mut self,
        address: Ipv4Addr,
        prefix_length: u8,
        gateway: Option<Ipv4Addr>,
        protocol: u8,
    ) -> Result<Option<Ipv4Addr>> {
        let name = self.link.name.clone();
        if let Some(old) = &self.applied {
            if old.address != address || old.prefix_length != prefix_length {
                self.flush_addresses();
            }
        }
        self.nl.add_address(&name, &Addr { index: self.link.index, address, prefix_length })?;
        let Some(gw) = gateway else { return Ok(None) };
        let mask = u32::from(mask_of(prefix_length));
        let onlink = u32::from(gw) & mask != u32::from(address) & mask;
        match self.nl.add_default_route(&name, self.link.index, gw, protocol, onlink) {
            Ok(()) => Ok(Some(gw)),
            Err(e) => {
                log::warn!("{e}; using {address}/{prefix_length} without a default route");
                Ok(None)
            }
        }
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
        let mut gateway = self.applied.as_ref().and_then(|a| a.gateway);
        if renewal {
            log::info!("{name}: lease of {} renewed for {} s", lease.address, lease.lease_seconds);
        } else {
            gateway = self.apply(lease.address, lease.prefix_length, lease.gateway, netlink::RTPROT_DHCP)?;
            log::info!(
                "{name}: DHCP lease {}/{} from {}{}, {} s",
                lease.address,
                lease.prefix_length,
                lease.server,
                gateway.map(|g| format!(", gateway {g}")).unwrap_or_default(),
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
            gateway,
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
        let gateway = self.apply(s.address, s.prefix_length, s.gateway, netlink::RTPROT_BOOT)?;
        log::info!(
            "{}: static address {}/{}{}",
            self.link.name,
            s.address,
            s.prefix_length,
            gateway.map(|g| format!(", gateway {g}")).unwrap_or_default()
        );
        self.write_resolv(&s.dns, None);
        self.applied = Some(Summary {
            interface: self.link.name.clone(),
            mac: self.link.mac.map(|m| link::mac_text(&m)),
            method: "static",
            address: s.address,
            prefix_length: s.prefix_length,
            gateway,
            dns: s.dns.clone(),
            domain: None,
            server: None,
            lease_seconds: None,
            renew_seconds: None,
            rebind_seconds: None,
        });
        Ok(())
    }

    /// Before stage 2. With `flushBeforeStage2`: DHCPRELEASE (best effort), the address and
    /// default route lethe applied removed (others' stay), and the link down if lethe brought
    /// it up. Without: left as it is.
    pub(crate) async fn teardown(mut self) -> Result<()> {
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
        let (routes, addrs) = self.remove_applied()?;
        self.applied = None;
        let link = if self.brought_up {
            self.nl.set_link(&self.link, false)?;
            "link down"
        } else {
            "link left up as found"
        };
        log::info!("{name}: torn down ({addrs} address(es), {routes} route(s) removed, {link})");
        Ok(())
    }
}
