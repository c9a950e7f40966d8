//! Choosing the interface and waiting for its carrier. [`pick`] decides from a listing (pure);
//! [`wait_for_link`] polls the kernel until it decides, bringing candidates up on the way.

use super::netlink::{Link, Socket};
use crate::config::network::{parse_mac, Interface};
use crate::error::{Error, Result};
use std::time::{Duration, Instant};

/// What a listing of links says about the interface we want.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Pick {
    /// This one, with carrier.
    Ready(Link),
    /// Not yet: bring these up (those that are down) and look again.
    Wait(Vec<Link>),
}

pub(crate) fn mac_text(mac: &[u8; 6]) -> String {
    mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

fn matches(link: &Link, want: &Interface) -> bool {
    match want {
        Interface::Name(name) => link.name == *name,
        Interface::Mac { mac } => parse_mac(mac).is_some_and(|m| link.mac == Some(m)),
    }
}

/// `want` `None`: the first non-loopback link (lowest index) that has carrier.
pub(crate) fn pick(links: &[Link], want: Option<&Interface>) -> Pick {
    let candidates: Vec<&Link> = links
        .iter()
        .filter(|l| match want {
            Some(w) => matches(l, w),
            None => !l.is_loopback(),
        })
        .collect();
    match candidates.iter().find(|l| l.is_up() && l.has_carrier()) {
        Some(l) => Pick::Ready((*l).clone()),
        None => Pick::Wait(candidates.into_iter().cloned().collect()),
    }
}

pub(crate) fn describe_want(want: Option<&Interface>) -> String {
    match want {
        Some(Interface::Name(n)) => format!("interface {n}"),
        Some(Interface::Mac { mac }) => format!("the interface with MAC {mac}"),
        None => "any interface".to_string(),
    }
}

fn describe(links: &[Link]) -> String {
    let seen: Vec<String> = links
        .iter()
        .filter(|l| !l.is_loopback())
        .map(|l| {
            let state = if !l.is_up() {
                "down"
            } else if l.has_carrier() {
                "carrier"
            } else {
                "no carrier"
            };
            match &l.mac {
                Some(m) => format!("{} ({}, {state})", l.name, mac_text(m)),
                None => format!("{} ({state})", l.name),
            }
        })
        .collect();
    if seen.is_empty() {
        "no network interfaces at all (is the NIC's kernel module in network.kernelModules?)".into()
    } else {
        format!("seen: {}", seen.join(", "))
    }
}

/// Polls until [`pick`] finds a link with carrier, bringing matching links up; after
/// `timeout`, an error listing what was seen. Links brought up here and not chosen are set
/// down again.
pub(crate) async fn wait_for_link(
    nl: &mut Socket,
    want: Option<&Interface>,
    timeout: Duration,
) -> Result<Link> {
    let end = Instant::now() + timeout;
    let mut raised: Vec<Link> = Vec::new();
    let mut said_waiting = false;
    let chosen = loop {
        let links = nl.links()?;
        match pick(&links, want) {
            Pick::Ready(link) => break Ok(link),
            Pick::Wait(candidates) => {
                let mut raised_now = false;
                for l in candidates.iter().filter(|l| !l.is_up()) {
                    raised_now = true;
                    log::debug!("{}: setting the link up", l.name);
                    nl.set_link(l, true)?;
                    if !raised.iter().any(|r| r.index == l.index) {
                        raised.push(l.clone());
                    }
                }
                if !said_waiting && !candidates.is_empty() {
                    let names: Vec<&str> = candidates.iter().map(|l| l.name.as_str()).collect();
                    log::info!("waiting for carrier on {}", names.join(", "));
                    said_waiting = true;
                }
                if raised_now && Instant::now() < end {
                    // Many links (veth, virtio) have carrier as soon as they are up: look again
                    // at once rather than after a poll interval.
                    continue;
                }
            }
        }
        if Instant::now() >= end {
            break Err(Error::msg(format!(
                "network: no carrier on {} after {} s; {}",
                describe_want(want),
                timeout.as_secs(),
                describe(&links)
            )));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    for l in &raised {
        if chosen.as_ref().map_or(true, |c| c.index != l.index) {
            if let Err(e) = nl.set_link(l, false) {
                log::warn!("{e}");
            }
        }
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(index: u32, name: &str, mac: u8, flags: u32) -> Link {
        Link { index, name: name.into(), mac: Some([2, 0, 0, 0, 0, mac]), flags, kind: 1 }
    }

    const UP: u32 = 0x1;
    const CARRIER: u32 = 0x1 | 0x10000;

    #[test]
    fn first_with_carrier_skips_loopback_and_links_without_carrier() {
        let lo = Link { index: 1, name: "lo".into(), mac: None, flags: UP | 0x8 | 0x10000, kind: 772 };
        let links = vec![lo, link(2, "eth0", 1, UP), link(3, "eth1", 2, CARRIER)];
        assert_eq!(pick(&links, None), Pick::Ready(links[2].clone()));
        let links = vec![link(2, "eth0", 1, 0), link(3, "eth1", 2, UP)];
        assert_eq!(pick(&links, None), Pick::Wait(links.clone()));
    }

    #[test]
    fn by_name_and_by_mac() {
        let links = vec![link(2, "eth0", 1, CARRIER), link(3, "eth1", 2, CARRIER)];
        assert_eq!(pick(&links, Some(&Interface::Name("eth1".into()))), Pick::Ready(links[1].clone()));
        let mac = Interface::Mac { mac: "02:00:00:00:00:02".into() };
        assert_eq!(pick(&links, Some(&mac)), Pick::Ready(links[1].clone()));
        let mac = Interface::Mac { mac: "02:00:00:00:00:09".into() };
        assert_eq!(pick(&links, Some(&mac)), Pick::Wait(vec![]));
        // A named link without carrier is waited for, never replaced by another.
        let links = vec![link(2, "eth0", 1, CARRIER), link(3, "eth1", 2, 0)];
        assert_eq!(pick(&links, Some(&Interface::Name("eth1".into()))), Pick::Wait(vec![links[1].clone()]));
    }

    #[test]
    fn describes_what_it_saw() {
        let links = vec![link(2, "eth0", 1, 0), link(3, "eth1", 2, UP)];
        assert_eq!(
            describe(&links),
            "seen: eth0 (02:00:00:00:00:01, down), eth1 (02:00:00:00:00:02, no carrier)"
        );
        assert!(describe(&[]).contains("kernelModules"));
    }
}
