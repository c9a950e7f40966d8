//! `network`: how stage 1 reaches the network (DHCPv4, or a static address as fallback or
//! instead), and whether it is torn down before stage 2.

use super::reader::{error, At, Result};
use serde::Serialize;
use std::net::Ipv4Addr;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Network {
    /// `None`: the first non-loopback interface that gets carrier.
    pub interface: Option<Interface>,
    pub kernel_modules: Vec<String>,
    pub dhcp: bool,
    #[serde(rename = "static")]
    pub static_address: Option<StaticAddress>,
    pub link_timeout_seconds: u32,
    /// With `dhcp` and `static` both set: how long DHCP is tried before `static` is applied.
    /// DHCP alone: stage 1 warns after this long and keeps trying in the background (the boot
    /// goes on); `lethe net` gives up (exit status 2).
    pub dhcp_timeout_seconds: u32,
    /// Before stage 2: DHCPRELEASE, every IPv4 address and route of the interface removed,
    /// link down.
    pub flush_before_stage2: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Interface {
    Name(String),
    Mac { mac: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StaticAddress {
    pub address: Ipv4Addr,
    pub prefix_length: u8,
    pub gateway: Option<Ipv4Addr>,
    pub dns: Vec<Ipv4Addr>,
}

const FIELDS: &[&str] = &[
    "interface",
    "kernelModules",
    "dhcp",
    "static",
    "linkTimeoutSeconds",
    "dhcpTimeoutSeconds",
    "flushBeforeStage2",
];

pub fn module_name(at: At<'_>) -> Result<String> {
    let s = at.string()?;
    let ok = !s.is_empty()
        && s.len() <= 55
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(s)
    } else {
        at.expected("a kernel module name (like \"r8169\")")
    }
}

fn interface_name(at: At<'_>) -> Result<String> {
    let s = at.string()?;
    // The kernel's own rule (dev_valid_name): 1..15 bytes, no '/', ':' or whitespace.
    let ok = !s.is_empty()
        && s.len() < 16
        && s != "."
        && s != ".."
        && !s.chars().any(|c| c == '/' || c == ':' || c.is_whitespace());
    if ok {
        Ok(s)
    } else {
        at.expected("an interface name of 1 to 15 characters without '/', ':' or spaces")
    }
}

/// `aa:bb:cc:dd:ee:ff`, normalized to lower case.
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return None;
    }
    let mut mac = [0u8; 6];
    for (byte, part) in mac.iter_mut().zip(parts) {
        if part.len() != 2 {
            return None;
        }
        *byte = u8::from_str_radix(part, 16).ok()?;
    }
    Some(mac)
}

fn interface(at: At<'_>) -> Result<Interface> {
    if at.value.is_string() {
        return interface_name(at).map(Interface::Name);
    }
    let obj = at
        .object_of(&["mac"])
        .or_else(|_| at.expected("an interface name or { \"mac\": \"aa:bb:cc:dd:ee:ff\" }"))?;
    let mac = obj.required("mac", |v| {
        let s = v.string()?;
        match parse_mac(&s) {
            Some(_) => Ok(s.to_ascii_lowercase()),
            None => v.expected("a MAC address like \"52:54:00:12:34:56\""),
        }
    })?;
    Ok(Interface::Mac { mac })
}

fn ipv4(at: At<'_>) -> Result<Ipv4Addr> {
    at.string()?.parse().or_else(|_| at.expected("an IPv4 address like \"192.168.1.10\""))
}

fn static_address(at: At<'_>) -> Result<StaticAddress> {
    let obj = at.object_of(&["address", "prefixLength", "gateway", "dns"])?;
    Ok(StaticAddress {
        address: obj.required("address", ipv4)?,
        prefix_length: obj.required("prefixLength", |v| v.uint("a prefix length", 1, 32))? as u8,
        gateway: obj.optional("gateway", ipv4)?,
        dns: obj.optional("dns", |v| v.list(ipv4))?.unwrap_or_default(),
    })
}

pub fn read(at: At<'_>) -> Result<Network> {
    let obj = at.object_of(FIELDS)?;
    let network = Network {
        interface: obj.optional("interface", interface)?,
        kernel_modules: obj.optional("kernelModules", |v| v.list(module_name))?.unwrap_or_default(),
        dhcp: obj.optional("dhcp", |v| v.bool())?.unwrap_or(true),
        static_address: obj.optional("static", static_address)?,
        link_timeout_seconds: obj
            .optional("linkTimeoutSeconds", |v| v.uint("a number of seconds", 1, 3600))?
            .unwrap_or(30) as u32,
        dhcp_timeout_seconds: obj
            .optional("dhcpTimeoutSeconds", |v| v.uint("a number of seconds", 1, 86400))?
            .unwrap_or(30) as u32,
        flush_before_stage2: obj.optional("flushBeforeStage2", |v| v.bool())?.unwrap_or(true),
    };
    if !network.dhcp && network.static_address.is_none() {
        return Err(error(
            &obj.child_path("static"),
            "required when dhcp is false (no way to get an address otherwise)",
        ));
    }
    Ok(network)
}
