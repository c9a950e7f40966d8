//! The kernel's `ip=` parameter (Documentation/admin-guide/nfs/nfsroot.rst), which overrides
//! the config's `network` as initrd conventions expect. Pure: a string in, a decision out.
//!
//! Accepted forms (the last `ip=` on the command line wins, as in the kernel):
//! - `ip=off` | `ip=none`: no network in the initrd.
//! - `ip=dhcp` | `on` | `any` | `bootp` | `both`: DHCP (on the config's interface, else the first
//!   with carrier).
//! - `ip=IFACE:dhcp` (dracut's short form).
//! - `ip=<client-ip>:<server-ip>:<gw-ip>:<netmask>:<hostname>:<device>:<autoconf>:<dns0>:<dns1>:<ntp0>`:
//!   with a client address and autoconf `off`/`none`/empty, a static address (netmask empty:
//!   the class default, as the kernel does); with autoconf `dhcp`/`on`/`any`, DHCP on
//!   `<device>`. `server-ip`, `hostname` and `ntp0` are not used. A number in the dns fields
//!   (dracut's MTU) is skipped.
//!
//! IPv6 (`dhcp6`, `auto6`), `rarp` and `ibft` are refused with a message; the caller then keeps
//! the config.

use crate::config::network::{Interface, Network, StaticAddress};
use crate::dhcp::lease::{classful_prefix, prefix_of};
use std::net::Ipv4Addr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum IpParam {
    /// `ip=off`: no network at all.
    Off,
    Configure {
        interface: Option<String>,
        dhcp: bool,
        static_address: Option<StaticAddress>,
    },
}

/// The value of the last `ip=` word of a kernel command line.
pub(crate) fn find_ip(cmdline: &str) -> Option<&str> {
    cmdline.split_ascii_whitespace().filter_map(|w| w.strip_prefix("ip=")).next_back()
}

enum Auto {
    Off,
    Dhcp,
}

fn autoconf(s: &str) -> Result<Auto, String> {
    match s {
        "" | "off" | "none" => Ok(Auto::Off),
        "on" | "any" | "dhcp" | "bootp" | "both" => Ok(Auto::Dhcp),
        "dhcp6" | "auto6" | "either6" => Err(format!("autoconf {s:?}: IPv6 is not supported (IPv4 only)")),
        "rarp" | "ibft" => Err(format!("autoconf {s:?} is not supported (use dhcp or a static address)")),
        other => Err(format!("autoconf {other:?}: expected off, none, dhcp, on or any")),
    }
}

fn interface_name(s: &str) -> Result<Option<String>, String> {
    if s.is_empty() {
        return Ok(None);
    }
    if s.len() > 15 || s.contains('/') || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("device {s:?} is not an interface name"));
    }
    Ok(Some(s.to_string()))
}

fn ip_field(fields: &[&str], i: usize, what: &str) -> Result<Option<Ipv4Addr>, String> {
    match fields.get(i).copied().unwrap_or("") {
        "" => Ok(None),
        s => s.parse().map(Some).map_err(|_| format!("{what} {s:?} is not an IPv4 address")),
    }
}

pub(crate) fn parse_ip(value: &str) -> Result<IpParam, String> {
    match value {
        "off" | "none" => return Ok(IpParam::Off),
        "" => return Err("empty value".into()),
        _ => {}
    }
    let fields: Vec<&str> = value.split(':').collect();
    if fields.len() == 1 {
        return match autoconf(value)? {
            Auto::Dhcp => Ok(IpParam::Configure { interface: None, dhcp: true, static_address: None }),
            Auto::Off => Ok(IpParam::Off),
        };
    }
    // dracut: ip=IFACE:dhcp[:mtu[:mac]]
    if fields[0].parse::<Ipv4Addr>().is_err() && !fields[0].is_empty() && fields.len() <= 4 {
        let interface = interface_name(fields[0])?;
        return match autoconf(fields[1])? {
            Auto::Dhcp => Ok(IpParam::Configure { interface, dhcp: true, static_address: None }),
            Auto::Off => Err(format!("{value:?}: an interface with autoconf off needs an address")),
        };
    }
    if fields.len() > 10 {
        return Err(format!("{} fields, at most 10 expected", fields.len()));
    }
    let client = ip_field(&fields, 0, "client address")?;
    let gateway = ip_field(&fields, 2, "gateway")?;
    let mask = ip_field(&fields, 3, "netmask")?;
    let interface = interface_name(fields.get(5).copied().unwrap_or(""))?;
    let auto = autoconf(fields.get(6).copied().unwrap_or(""))?;
    let mut dns = Vec::new();
    for i in [7, 8] {
        match fields.get(i).copied().unwrap_or("") {
            "" => {}
            s if s.chars().all(|c| c.is_ascii_digit()) => {} // dracut's MTU field
            s => dns.push(s.parse().map_err(|_| format!("DNS server {s:?} is not an IPv4 address"))?),
        }
    }
    match (auto, client) {
        (Auto::Dhcp, _) => Ok(IpParam::Configure { interface, dhcp: true, static_address: None }),
        (Auto::Off, None) if fields.get(6).is_some_and(|a| !a.is_empty()) => Ok(IpParam::Off),
        (Auto::Off, None) => Ok(IpParam::Configure { interface, dhcp: true, static_address: None }),
        (Auto::Off, Some(address)) => {
            let prefix_length = match mask {
                Some(m) => prefix_of(m).ok_or_else(|| format!("netmask {m} is not contiguous"))?,
                None => classful_prefix(address),
            };
            Ok(IpParam::Configure {
                interface,
                dhcp: false,
                static_address: Some(StaticAddress { address, prefix_length, gateway, dns }),
            })
        }
    }
}

/// The network the initrd brings up: the config, overridden by `ip=` when the command line has
/// one. `Ok(None)`: no network. An `ip=` that cannot be parsed is an error naming why.
pub(crate) fn effective(config: Option<&Network>, cmdline: &str) -> Result<Option<Network>, String> {
    let Some(value) = find_ip(cmdline) else {
        return Ok(config.cloned());
    };
    let param = parse_ip(value).map_err(|e| format!("kernel parameter ip={value}: {e}"))?;
    let IpParam::Configure { interface, dhcp, static_address } = param else {
        return Ok(None);
    };
    let mut network = config.cloned().unwrap_or_else(|| Network {
        interface: None,
        kernel_modules: Vec::new(),
        dhcp: true,
        static_address: None,
        link_timeout_seconds: 30,
        dhcp_timeout_seconds: 30,
        flush_before_stage2: true,
    });
    if let Some(name) = interface {
        network.interface = Some(Interface::Name(name));
    }
    network.dhcp = dhcp;
    network.static_address = static_address;
    Ok(Some(network))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dhcp_on(i: Option<&str>) -> IpParam {
        IpParam::Configure { interface: i.map(String::from), dhcp: true, static_address: None }
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn table() {
        let stat = |a: &str, p, g: Option<&str>, dns: &[&str], i: Option<&str>| IpParam::Configure {
            interface: i.map(String::from),
            dhcp: false,
            static_address: Some(StaticAddress {
                address: ip(a),
                prefix_length: p,
                gateway: g.map(ip),
                dns: dns.iter().map(|d| ip(d)).collect(),
            }),
        };
        let cases: Vec<(&str, Result<IpParam, &str>)> = vec![
            ("off", Ok(IpParam::Off)),
            ("none", Ok(IpParam::Off)),
            ("dhcp", Ok(dhcp_on(None))),
            ("on", Ok(dhcp_on(None))),
            ("any", Ok(dhcp_on(None))),
            ("eth0:dhcp", Ok(dhcp_on(Some("eth0")))),
            ("enp1s0:on:9000", Ok(dhcp_on(Some("enp1s0")))),
            ("::::::dhcp", Ok(dhcp_on(None))),
            (":::::eth1:dhcp", Ok(dhcp_on(Some("eth1")))),
            ("::::::off", Ok(IpParam::Off)),
            (
                "10.0.0.5::10.0.0.1:255.255.255.0:myhost:eth0:none:1.1.1.1:9.9.9.9",
                Ok(stat("10.0.0.5", 24, Some("10.0.0.1"), &["1.1.1.1", "9.9.9.9"], Some("eth0"))),
            ),
            ("10.0.0.5:::::", Ok(stat("10.0.0.5", 8, None, &[], None))),
            (
                "192.168.1.9::192.168.1.1:255.255.255.0::eth0:off",
                Ok(stat("192.168.1.9", 24, Some("192.168.1.1"), &[], Some("eth0"))),
            ),
            (
                "192.168.1.9:::255.255.255.0::eth0:off:1500",
                Ok(stat("192.168.1.9", 24, None, &[], Some("eth0"))),
            ),
            ("10.0.0.5::10.0.0.1:255.255.255.0::eth0:dhcp", Ok(dhcp_on(Some("eth0")))),
            ("dhcp6", Err("IPv6 is not supported")),
            ("eth0:auto6", Err("IPv6 is not supported")),
            ("rarp", Err("not supported")),
            ("bogus", Err("expected off, none, dhcp")),
            ("10.0.0.300::::", Err("client address \"10.0.0.300\" is not an IPv4 address")),
            ("10.0.0.5:::255.0.255.0", Err("not contiguous")),
            ("10.0.0.5::::::off:dns.example", Err("DNS server \"dns.example\"")),
            ("10.0.0.5:::::a-very-long-interface-name:off", Err("is not an interface name")),
            ("1:2:3:4:5:6:7:8:9:10:11", Err("at most 10")),
            ("", Err("empty")),
        ];
        for (input, want) in cases {
            let got = parse_ip(input);
            match want {
                Ok(w) => assert_eq!(got, Ok(w), "ip={input}"),
                Err(part) => {
                    let e = got.expect_err(input);
                    assert!(e.contains(part), "ip={input}: {e}");
                }
            }
        }
    }

    #[test]
    fn the_last_ip_word_wins_and_overrides_the_config() {
        assert_eq!(find_ip("quiet ip=dhcp root=/dev/vda ip=off"), Some("off"));
        assert_eq!(find_ip("quiet vip=1 root=/dev/vda"), None);
        let config = Network {
            interface: Some(Interface::Mac { mac: "52:54:00:12:34:56".into() }),
            kernel_modules: vec!["virtio_net".into()],
            dhcp: true,
            static_address: None,
            link_timeout_seconds: 5,
            dhcp_timeout_seconds: 7,
            flush_before_stage2: false,
        };
        assert_eq!(effective(Some(&config), "quiet"), Ok(Some(config.clone())));
        assert_eq!(effective(Some(&config), "ip=off"), Ok(None));
        let n = effective(Some(&config), "ip=10.1.1.2:::255.255.0.0::eth9:off").unwrap().unwrap();
        assert_eq!(n.interface, Some(Interface::Name("eth9".into())));
        assert!(!n.dhcp);
        assert_eq!(n.static_address.unwrap().prefix_length, 16);
        assert_eq!(
            (n.kernel_modules, n.link_timeout_seconds, n.flush_before_stage2),
            (vec!["virtio_net".to_string()], 5, false)
        );
        // ip=dhcp without a device keeps the configured interface.
        let n = effective(Some(&config), "ip=dhcp").unwrap().unwrap();
        assert_eq!(n.interface, config.interface);
        // No config: ip= alone is enough.
        let n = effective(None, "ip=dhcp").unwrap().unwrap();
        assert!(n.dhcp && n.flush_before_stage2 && n.interface.is_none());
        assert_eq!(effective(None, ""), Ok(None));
        assert!(effective(Some(&config), "ip=dhcp6").unwrap_err().starts_with("kernel parameter ip=dhcp6: "));
    }
}
