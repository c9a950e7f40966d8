//! Stage-1 networking: kernel modules, link, DHCPv4 lease or static address, renewal, and
//! teardown before stage 2.
//!
//! # Use from the stage-1 flow
//!
//! [`plan`] gives the network the config asks for, overridden by the kernel's `ip=` (None: no
//! network wanted). `background::spawn` starts it in a task on the current tokio runtime and
//! returns at once (DHCP runs and renews there, so the SSH server and the console prompt are
//! never blocked by a missing server); its handle's `wait_up` waits for the address (e.g.
//! before printing "ssh root@ADDRESS") and `teardown` flushes before the hand-off when
//! `flushBeforeStage2` says so.
//!
//! A synchronous caller (lethe init's steps) uses [`start_background`] instead: the same, in a
//! thread with its own runtime; `wait_up(timeout)` and `teardown()` block. Simplest of all, two
//! calls that never fail the boot: [`start_for_stage1`] after the modules, [`stop_for_stage2`]
//! before switching root.
//!
//! Lower level: [`Session::start`] brings the network up and returns a [`Session`];
//! `Session::configure` applies an address, `Session::maintain` renews for ever,
//! `Session::teardown` releases and removes what lethe added. `lethe net` ([`command`]) is
//! exactly that sequence, for tests and users.
//!
//! Modules: `cmdline` (`ip=`, pure), `link` (choice of interface, pure + carrier wait),
//! `netlink` (a small rtnetlink client), `resolv` (resolv.conf), `session` (one network up:
//! apply, renew, tear down), `background` (task or thread running a session), `command`
//! (`lethe net`).

mod background;
pub(crate) mod cmdline;
pub mod command;
pub(crate) mod link;
pub(crate) mod netlink;
pub(crate) mod resolv;
mod session;

pub use background::{start_background, Background};
pub(crate) use session::Session;

use crate::config::network::Network;
use serde::Serialize;
use std::net::Ipv4Addr;
use std::path::PathBuf;

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
pub(crate) fn plan(config: Option<&Network>, cmdline: &str) -> Option<Network> {
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

/// For `lethe init`'s steps: the network the config and the kernel's `ip=` ask for, started
/// in the background ([`start_background`]). Never fails the boot: a problem is logged and
/// `None` returned (as for "no network configured").
pub(crate) fn start_for_stage1(config: Option<&Network>, cmdline: &str) -> Option<Background> {
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
pub(crate) fn stop_for_stage2(background: Option<Background>) {
    if let Some(bg) = background {
        if let Err(e) = bg.teardown() {
            log::error!("network teardown: {e}");
        }
    }
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
