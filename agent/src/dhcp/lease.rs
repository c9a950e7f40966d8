//! A lease as offered or acknowledged by a server, checked and normalized: the address and
//! everything derived from the options (prefix, gateway, DNS, renewal times).

use dhcproto::v4::{DhcpOption, Message, OptionCode};
use serde::Serialize;
use std::net::Ipv4Addr;

/// Lease time meaning "forever" (RFC 2131 §3.3).
pub(crate) const INFINITE: u32 = u32::MAX;

/// resolv.conf reads at most three name servers (MAXNS).
pub(crate) const MAX_DNS: usize = 3;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Lease {
    pub address: Ipv4Addr,
    pub prefix_length: u8,
    pub gateway: Option<Ipv4Addr>,
    pub dns: Vec<Ipv4Addr>,
    pub domain: Option<String>,
    pub server: Ipv4Addr,
    /// Seconds; [`INFINITE`] for a lease that never ends.
    pub lease_seconds: u32,
    /// T1: when to start renewing with the server that gave the lease.
    pub renew_seconds: u32,
    /// T2: when to start asking any server.
    pub rebind_seconds: u32,
}

/// A unicast address a host may hold or route through.
fn usable(a: Ipv4Addr) -> bool {
    !(a.is_unspecified() || a.is_broadcast() || a.is_multicast() || a.is_loopback() || a.octets()[0] == 0)
}

/// Prefix length of a contiguous netmask.
pub(crate) fn prefix_of(mask: Ipv4Addr) -> Option<u8> {
    let bits = u32::from(mask);
    let ones = bits.leading_ones();
    (bits.checked_shl(ones).unwrap_or(0) == 0 && ones > 0).then_some(ones as u8)
}

/// The netmask of a prefix length (0..=32).
pub(crate) fn mask_of(prefix_length: u8) -> Ipv4Addr {
    Ipv4Addr::from(u32::MAX.checked_shl(32 - u32::from(prefix_length.min(32))).unwrap_or(0))
}

/// The pre-CIDR class default, used when a server sends no subnet mask (as the kernel's ipconfig
/// and networkd do).
pub(crate) fn classful_prefix(a: Ipv4Addr) -> u8 {
    match a.octets()[0] {
        0..=127 => 8,
        128..=191 => 16,
        _ => 24,
    }
}

/// A domain name safe to write into resolv.conf: letters, digits, '-', '.', at most 253 bytes.
pub(crate) fn clean_domain(s: &str) -> Option<String> {
    let s = s.trim_end_matches('\0').trim_end_matches('.');
    let ok = !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| !l.is_empty() && l.len() <= 63)
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    ok.then(|| s.to_ascii_lowercase())
}

fn u32_option(m: &Message, code: OptionCode) -> Option<u32> {
    match m.opts().get(code)? {
        DhcpOption::AddressLeaseTime(t) | DhcpOption::Renewal(t) | DhcpOption::Rebinding(t) => Some(*t),
        _ => None,
    }
}

/// T1 and T2: the server's when they make sense (0 < T1 < T2 < lease), else RFC 2131 §4.4.5's
/// defaults of 0.5 and 0.875 of the lease.
pub(crate) fn timers(lease: u32, t1: Option<u32>, t2: Option<u32>) -> (u32, u32) {
    if lease == INFINITE {
        return (INFINITE, INFINITE);
    }
    let default = ((lease as u64 / 2) as u32, (lease as u64 * 7 / 8) as u32);
    let t1 = t1.filter(|&t| t > 0 && t < lease);
    let t2 = t2.filter(|&t| t > 0 && t < lease);
    match (t1, t2) {
        (Some(a), Some(b)) if a < b => (a, b),
        (Some(a), None) if a < default.1 => (a, default.1),
        (None, Some(b)) if default.0 < b => (default.0, b),
        _ => default,
    }
}

impl Lease {
    /// The lease an OFFER or ACK describes; `server` is its server identifier option.
    pub(crate) fn from_reply(m: &Message, server: Option<Ipv4Addr>) -> Result<Lease, String> {
        let address = m.yiaddr();
        if !usable(address) {
            return Err(format!("offered address {address} is not a usable unicast address"));
        }
        let server = server
            .or_else(|| Some(m.siaddr()).filter(|s| !s.is_unspecified()))
            .ok_or("no server identifier")?;
        let lease_seconds = u32_option(m, OptionCode::AddressLeaseTime).ok_or("no lease time")?;
        if lease_seconds == 0 {
            return Err("zero lease time".into());
        }
        let prefix_length = match m.opts().get(OptionCode::SubnetMask) {
            Some(DhcpOption::SubnetMask(mask)) => {
                prefix_of(*mask).ok_or_else(|| format!("subnet mask {mask} is not contiguous"))?
            }
            _ => classful_prefix(address),
        };
        if prefix_length < 31 {
            let host = u32::from(address) & !u32::from(mask_of(prefix_length));
            if host == 0 || host == !u32::from(mask_of(prefix_length)) {
                return Err(format!(
                    "offered address {address}/{prefix_length} is a network or broadcast address"
                ));
            }
        }
        let gateway = match m.opts().get(OptionCode::Router) {
            Some(DhcpOption::Router(list)) => list.iter().copied().find(|&g| usable(g) && g != address),
            _ => None,
        };
        let dns = match m.opts().get(OptionCode::DomainNameServer) {
            Some(DhcpOption::DomainNameServer(list)) => {
                let mut dns: Vec<Ipv4Addr> = Vec::new();
                for &d in list.iter().filter(|&&d| usable(d)) {
                    if !dns.contains(&d) && dns.len() < MAX_DNS {
                        dns.push(d);
                    }
                }
                dns
            }
            _ => Vec::new(),
        };
        let domain = match m.opts().get(OptionCode::DomainName) {
            Some(DhcpOption::DomainName(d)) => clean_domain(d),
            _ => None,
        };
        let (renew_seconds, rebind_seconds) =
            timers(lease_seconds, u32_option(m, OptionCode::Renewal), u32_option(m, OptionCode::Rebinding));
        Ok(Lease {
            address,
            prefix_length,
            gateway,
            dns,
            domain,
            server,
            lease_seconds,
            renew_seconds,
            rebind_seconds,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_and_prefixes() {
        assert_eq!(prefix_of(Ipv4Addr::new(255, 255, 255, 0)), Some(24));
        assert_eq!(prefix_of(Ipv4Addr::new(255, 255, 255, 255)), Some(32));
        assert_eq!(prefix_of(Ipv4Addr::new(255, 0, 255, 0)), None);
        assert_eq!(prefix_of(Ipv4Addr::new(0, 0, 0, 0)), None);
        assert_eq!(mask_of(20), Ipv4Addr::new(255, 255, 240, 0));
        assert_eq!(mask_of(0), Ipv4Addr::new(0, 0, 0, 0));
        assert_eq!(mask_of(32), Ipv4Addr::new(255, 255, 255, 255));
        assert_eq!(classful_prefix(Ipv4Addr::new(10, 1, 2, 3)), 8);
        assert_eq!(classful_prefix(Ipv4Addr::new(172, 16, 0, 1)), 16);
        assert_eq!(classful_prefix(Ipv4Addr::new(192, 168, 1, 1)), 24);
    }

    #[test]
    fn timers_follow_the_server_only_when_they_make_sense() {
        assert_eq!(timers(3600, None, None), (1800, 3150));
        assert_eq!(timers(3600, Some(10), Some(20)), (10, 20));
        assert_eq!(timers(3600, Some(10), None), (10, 3150));
        assert_eq!(timers(3600, Some(20), Some(10)), (1800, 3150));
        assert_eq!(timers(3600, Some(4000), None), (1800, 3150));
        assert_eq!(timers(3600, Some(0), Some(0)), (1800, 3150));
        assert_eq!(timers(1, None, None), (0, 0));
        assert_eq!(timers(INFINITE, Some(5), None), (INFINITE, INFINITE));
    }

    #[test]
    fn domains_that_could_inject_resolver_lines_are_dropped() {
        assert_eq!(clean_domain("Example.org."), Some("example.org".into()));
        assert_eq!(clean_domain("lan\nnameserver 6.6.6.6"), None);
        assert_eq!(clean_domain("a..b"), None);
        assert_eq!(clean_domain(&"a".repeat(64)), None);
        assert_eq!(clean_domain(""), None);
    }
}
