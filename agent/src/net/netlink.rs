//! A small rtnetlink client: the handful of requests lethe needs (list links, set a link up or
//! down, add/list/delete IPv4 addresses and routes). No netlink crate is in the dependency set and
//! these few messages are simple; the byte layout is built and parsed by pure functions
//! (unit-tested), the socket is a thin layer.
//!
//! Layout reference: `<linux/netlink.h>`, `<linux/rtnetlink.h>`, `<linux/if_addr.h>`,
//! `<linux/if_link.h>`. Every integer is in host byte order except addresses (network order).

use crate::error::{Context, Error, Result};
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
pub(crate) const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
pub(crate) const RTM_NEWADDR: u16 = 20;
pub(crate) const RTM_DELADDR: u16 = 21;
const RTM_GETADDR: u16 = 22;
pub(crate) const RTM_NEWROUTE: u16 = 24;
pub(crate) const RTM_DELROUTE: u16 = 25;
const RTM_GETROUTE: u16 = 26;

const F_REQUEST: u16 = 0x1;
const F_ACK: u16 = 0x4;
const F_DUMP: u16 = 0x300;
const F_REPLACE: u16 = 0x100;
const F_CREATE: u16 = 0x400;

const AF_INET: u8 = 2;
const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_BROADCAST: u16 = 4;
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_TABLE: u16 = 15;

const IFF_UP: u32 = 0x1;
const IFF_LOOPBACK: u32 = 0x8;
const IFF_LOWER_UP: u32 = 0x10000;
const ARPHRD_LOOPBACK: u16 = 772;

pub(crate) const RT_TABLE_MAIN: u8 = 254;
/// Routes lethe adds carry this protocol (`proto dhcp` in `ip route`), static ones `boot`.
pub(crate) const RTPROT_BOOT: u8 = 3;
pub(crate) const RTPROT_DHCP: u8 = 16;
const RT_SCOPE_UNIVERSE: u8 = 0;
const RTN_UNICAST: u8 = 1;
const RTNH_F_ONLINK: u32 = 4;

const HEADER_LEN: usize = 16;

/// One network interface as the kernel lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Link {
    pub index: u32,
    pub name: String,
    /// Hardware address, when it is a 6-byte (Ethernet-like) one.
    pub mac: Option<[u8; 6]>,
    pub flags: u32,
    pub kind: u16,
}

impl Link {
    pub(crate) fn is_loopback(&self) -> bool {
        self.kind == ARPHRD_LOOPBACK || self.flags & IFF_LOOPBACK != 0
    }

    pub(crate) fn is_up(&self) -> bool {
        self.flags & IFF_UP != 0
    }

    /// Carrier: the kernel's `IFF_LOWER_UP` (`LOWER_UP` in `ip link`).
    pub(crate) fn has_carrier(&self) -> bool {
        self.flags & IFF_LOWER_UP != 0
    }
}

/// An IPv4 address on an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Addr {
    pub index: u32,
    pub address: Ipv4Addr,
    pub prefix_length: u8,
}

/// An IPv4 route, as far as lethe cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Route {
    pub index: Option<u32>,
    pub destination: Ipv4Addr,
    pub prefix_length: u8,
    pub gateway: Option<Ipv4Addr>,
    pub table: u32,
}

/// A netlink message under construction: header, fixed part, attributes.
struct Builder(Vec<u8>);

impl Builder {
    fn new(kind: u16, flags: u16, seq: u32) -> Builder {
        let mut buf = Vec::with_capacity(64);
        buf.extend_from_slice(&0u32.to_ne_bytes()); // length, set in finish()
        buf.extend_from_slice(&kind.to_ne_bytes());
        buf.extend_from_slice(&flags.to_ne_bytes());
        buf.extend_from_slice(&seq.to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills it in
        Builder(buf)
    }

    fn bytes(mut self, data: &[u8]) -> Builder {
        self.0.extend_from_slice(data);
        self
    }

    fn attr(mut self, kind: u16, data: &[u8]) -> Builder {
        let len = 4 + data.len();
        self.0.extend_from_slice(&(len as u16).to_ne_bytes());
        self.0.extend_from_slice(&kind.to_ne_bytes());
        self.0.extend_from_slice(data);
        self.0.resize(align(self.0.len()), 0);
        self
    }

    fn finish(mut self) -> Vec<u8> {
        let len = self.0.len() as u32;
        self.0[..4].copy_from_slice(&len.to_ne_bytes());
        self.0
    }
}

fn align(n: usize) -> usize {
    (n + 3) & !3
}

/// `struct ifinfomsg`: family, pad, type, index, flags, change.
fn ifinfomsg(index: u32, flags: u32, change: u32) -> [u8; 16] {
    let mut m = [0u8; 16];
    m[4..8].copy_from_slice(&index.to_ne_bytes());
    m[8..12].copy_from_slice(&flags.to_ne_bytes());
    m[12..16].copy_from_slice(&change.to_ne_bytes());
    m
}

/// `struct ifaddrmsg`: family, prefixlen, flags, scope, index.
fn ifaddrmsg(prefix_length: u8, index: u32) -> [u8; 8] {
    let mut m = [AF_INET, prefix_length, 0, RT_SCOPE_UNIVERSE, 0, 0, 0, 0];
    m[4..8].copy_from_slice(&index.to_ne_bytes());
    m
}

pub(crate) fn set_link_request(seq: u32, index: u32, up: bool) -> Vec<u8> {
    let flags = if up { IFF_UP } else { 0 };
    Builder::new(RTM_NEWLINK, F_REQUEST | F_ACK, seq).bytes(&ifinfomsg(index, flags, IFF_UP)).finish()
}

pub(crate) fn add_address_request(seq: u32, addr: &Addr) -> Vec<u8> {
    let mut b = Builder::new(RTM_NEWADDR, F_REQUEST | F_ACK | F_CREATE | F_REPLACE, seq)
        .bytes(&ifaddrmsg(addr.prefix_length, addr.index))
        .attr(IFA_LOCAL, &addr.address.octets())
        .attr(IFA_ADDRESS, &addr.address.octets());
    if addr.prefix_length < 31 {
        let host_bits = u32::MAX.checked_shr(u32::from(addr.prefix_length)).unwrap_or(0);
        let broadcast = Ipv4Addr::from(u32::from(addr.address) | host_bits);
        b = b.attr(IFA_BROADCAST, &broadcast.octets());
    }
    b.finish()
}

/// The default route (0.0.0.0/0) through `gateway` on interface `index`. `onlink`: the gateway
/// is outside the interface's subnet, reach it on the link anyway (as networkd does).
pub(crate) fn add_default_route_request(
    seq: u32,
    index: u32,
    gateway: Ipv4Addr,
    protocol: u8,
    onlink: bool,
) -> Vec<u8> {
    let rtmsg = [
        AF_INET,
        0, // dst_len
        0, // src_len
        0, // tos
        RT_TABLE_MAIN,
        protocol,
        RT_SCOPE_UNIVERSE,
        RTN_UNICAST,
    ];
    let flags: u32 = if onlink { RTNH_F_ONLINK } else { 0 };
    Builder::new(RTM_NEWROUTE, F_REQUEST | F_ACK | F_CREATE | F_REPLACE, seq)
        .bytes(&rtmsg)
        .bytes(&flags.to_ne_bytes())
        .attr(RTA_GATEWAY, &gateway.octets())
        .attr(RTA_OIF, &index.to_ne_bytes())
        .finish()
}

fn dump_request(kind: u16, seq: u32, family: u8) -> Vec<u8> {
    // A dump request only needs the family; the kernel reads a fixed part of at least
    // `struct rtgenmsg`, padded here to the largest of those we use.
    let mut fixed = [0u8; 16];
    fixed[0] = family;
    let len = if kind == RTM_GETLINK {
        16
    } else if kind == RTM_GETADDR {
        8
    } else {
        12
    };
    Builder::new(kind, F_REQUEST | F_DUMP, seq).bytes(&fixed[..len]).finish()
}

/// Turns a message from a dump into a request of type `kind` with the same body: how
/// `ip addr flush` / `ip route flush` delete exactly what they listed.
pub(crate) fn resend_as(message: &[u8], kind: u16, seq: u32) -> Vec<u8> {
    let mut m = message.to_vec();
    m[4..6].copy_from_slice(&kind.to_ne_bytes());
    m[6..8].copy_from_slice(&(F_REQUEST | F_ACK).to_ne_bytes());
    m[8..12].copy_from_slice(&seq.to_ne_bytes());
    m
}

/// One message read back from the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Message<'a> {
    pub kind: u16,
    pub seq: u32,
    /// The whole message, header included (for [`resend_as`]).
    pub raw: &'a [u8],
    pub body: &'a [u8],
}

/// Splits a datagram into messages; a malformed length ends the walk with an error.
pub(crate) fn split(mut buf: &[u8]) -> Result<Vec<Message<'_>>> {
    let mut out = Vec::new();
    while buf.len() >= HEADER_LEN {
        let len = u32::from_ne_bytes(buf[0..4].try_into().unwrap()) as usize;
        if len < HEADER_LEN || len > buf.len() {
            return Err(Error::msg(format!("netlink: message length {len} out of bounds")));
        }
        let kind = u16::from_ne_bytes(buf[4..6].try_into().unwrap());
        let seq = u32::from_ne_bytes(buf[8..12].try_into().unwrap());
        out.push(Message { kind, seq, raw: &buf[..len], body: &buf[HEADER_LEN..len] });
        buf = &buf[align(len).min(buf.len())..];
    }
    Ok(out)
}

/// The attributes after a fixed part of `fixed` bytes: (type, data) pairs.
fn attrs(body: &[u8], fixed: usize) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    let mut rest = body.get(fixed..).unwrap_or_default();
    while rest.len() >= 4 {
        let len = u16::from_ne_bytes([rest[0], rest[1]]) as usize;
        let kind = u16::from_ne_bytes([rest[2], rest[3]]) & 0x3fff; // strip NLA_F_NESTED etc.
        if len < 4 || len > rest.len() {
            break;
        }
        out.push((kind, &rest[4..len]));
        rest = &rest[align(len).min(rest.len())..];
    }
    out
}

fn ipv4(data: &[u8]) -> Option<Ipv4Addr> {
    <[u8; 4]>::try_from(data).ok().map(Ipv4Addr::from)
}

fn u32_of(data: &[u8]) -> Option<u32> {
    <[u8; 4]>::try_from(data).ok().map(u32::from_ne_bytes)
}

pub(crate) fn parse_link(body: &[u8]) -> Option<Link> {
    if body.len() < 16 {
        return None;
    }
    let kind = u16::from_ne_bytes([body[2], body[3]]);
    let index = u32::from_ne_bytes(body[4..8].try_into().unwrap());
    let flags = u32::from_ne_bytes(body[8..12].try_into().unwrap());
    let mut link = Link { index, name: String::new(), mac: None, flags, kind };
    for (attr, data) in attrs(body, 16) {
        match attr {
            IFLA_IFNAME => {
                let name = data.split(|&b| b == 0).next().unwrap_or_default();
                link.name = String::from_utf8_lossy(name).into_owned();
            }
            IFLA_ADDRESS => link.mac = <[u8; 6]>::try_from(data).ok(),
            _ => {}
        }
    }
    Some(link)
}

pub(crate) fn parse_addr(body: &[u8]) -> Option<Addr> {
    if body.len() < 8 || body[0] != AF_INET {
        return None;
    }
    let index = u32::from_ne_bytes(body[4..8].try_into().unwrap());
    let attrs = attrs(body, 8);
    let find = |k| attrs.iter().find(|(a, _)| *a == k).and_then(|(_, d)| ipv4(d));
    let address = find(IFA_LOCAL).or_else(|| find(IFA_ADDRESS))?;
    Some(Addr { index, address, prefix_length: body[1] })
}

pub(crate) fn parse_route(body: &[u8]) -> Option<Route> {
    if body.len() < 12 || body[0] != AF_INET {
        return None;
    }
    let mut route = Route {
        index: None,
        destination: Ipv4Addr::UNSPECIFIED,
        prefix_length: body[1],
        gateway: None,
        table: u32::from(body[4]),
    };
    for (attr, data) in attrs(body, 12) {
        match attr {
            RTA_DST => route.destination = ipv4(data).unwrap_or(route.destination),
            RTA_OIF => route.index = u32_of(data),
            RTA_GATEWAY => route.gateway = ipv4(data),
            RTA_TABLE => route.table = u32_of(data).unwrap_or(route.table),
            _ => {}
        }
    }
    Some(route)
}

/// A `NETLINK_ROUTE` socket.
pub(crate) struct Socket {
    fd: OwnedFd,
    seq: u32,
}

impl Socket {
    pub(crate) fn open() -> Result<Socket> {
        // SAFETY: plain socket(2) call; the result is checked before use.
        let fd = unsafe {
            libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, libc::NETLINK_ROUTE)
        };
        if fd < 0 {
            return Err(std::io::Error::last_os_error()).context("netlink: cannot open a route socket");
        }
        // SAFETY: fd is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Socket { fd, seq: 1 })
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    fn send(&self, message: &[u8]) -> Result<()> {
        // SAFETY: sockaddr_nl is plain data; all-zero is the kernel's address.
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        // SAFETY: message and addr outlive the call; lengths are theirs.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                message.as_ptr().cast(),
                message.len(),
                0,
                (&addr as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if n < 0 {
            return Err(std::io::Error::last_os_error()).context("netlink: send");
        }
        Ok(())
    }

    fn recv(&self, buf: &mut [u8]) -> Result<usize> {
        loop {
            // SAFETY: buf is valid for writes of its length.
            let n = unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n >= 0 {
                return Ok(n as usize);
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(e).context("netlink: receive");
            }
        }
    }

    /// Sends a request that asks for an acknowledgement; returns the kernel's error, if any.
    fn request(&mut self, build: impl FnOnce(u32) -> Vec<u8>) -> Result<(), std::io::Error> {
        let seq = self.next_seq();
        self.send(&build(seq)).map_err(|e| std::io::Error::other(e.to_string()))?;
        let mut buf = vec![0u8; 8192];
        loop {
            let n = self.recv(&mut buf).map_err(|e| std::io::Error::other(e.to_string()))?;
            let messages = split(&buf[..n]).map_err(|e| std::io::Error::other(e.to_string()))?;
            for m in messages {
                if m.seq != seq || m.kind != NLMSG_ERROR || m.body.len() < 4 {
                    continue;
                }
                let errno = i32::from_ne_bytes(m.body[0..4].try_into().unwrap());
                return if errno == 0 { Ok(()) } else { Err(std::io::Error::from_raw_os_error(-errno)) };
            }
        }
    }

    /// Runs a dump; calls `each(kind, raw message, body)` for every entry.
    fn dump(&mut self, kind: u16, family: u8, mut each: impl FnMut(&[u8], &[u8])) -> Result<()> {
        let seq = self.next_seq();
        self.send(&dump_request(kind, seq, family))?;
        let mut buf = vec![0u8; 65536];
        loop {
            let n = self.recv(&mut buf)?;
            for m in split(&buf[..n])? {
                if m.seq != seq {
                    continue;
                }
                match m.kind {
                    NLMSG_DONE => return Ok(()),
                    NLMSG_ERROR => {
                        let errno = m.body.get(0..4).map(|b| i32::from_ne_bytes(b.try_into().unwrap()));
                        let e = std::io::Error::from_raw_os_error(-errno.unwrap_or(-libc::EIO));
                        return Err(e).context("netlink: dump");
                    }
                    _ => each(m.raw, m.body),
                }
            }
        }
    }

    pub(crate) fn links(&mut self) -> Result<Vec<Link>> {
        let mut links = Vec::new();
        self.dump(RTM_GETLINK, 0, |_, body| links.extend(parse_link(body)))?;
        links.sort_by_key(|l| l.index);
        Ok(links)
    }

    pub(crate) fn set_link(&mut self, link: &Link, up: bool) -> Result<()> {
        let (index, word) = (link.index, if up { "up" } else { "down" });
        self.request(|seq| set_link_request(seq, index, up))
            .with_context(|| format!("{}: cannot set the link {word}", link.name))
    }

    pub(crate) fn addresses(&mut self, index: u32) -> Result<Vec<Addr>> {
        let mut out = Vec::new();
        self.dump(RTM_GETADDR, AF_INET, |_, body| out.extend(parse_addr(body).filter(|a| a.index == index)))?;
        Ok(out)
    }

    pub(crate) fn add_address(&mut self, name: &str, addr: &Addr) -> Result<()> {
        self.request(|seq| add_address_request(seq, addr))
            .with_context(|| format!("{name}: cannot add address {}/{}", addr.address, addr.prefix_length))
    }

    pub(crate) fn add_default_route(
        &mut self,
        name: &str,
        index: u32,
        gateway: Ipv4Addr,
        protocol: u8,
        onlink: bool,
    ) -> Result<()> {
        self.request(|seq| add_default_route_request(seq, index, gateway, protocol, onlink))
            .with_context(|| format!("{name}: cannot add the default route via {gateway}"))
    }

    /// Deletes what lethe added on `index`: its default route via `gateway` (main table),
    /// then `addr` (the kernel takes the address's subnet route with it). Addresses and routes
    /// that others put on the interface stay. Returns how many routes and addresses went.
    pub(crate) fn remove_added(
        &mut self,
        name: &str,
        addr: &Addr,
        gateway: Option<Ipv4Addr>,
    ) -> Result<(usize, usize)> {
        let mut routes = Vec::new();
        if gateway.is_some() {
            self.dump(RTM_GETROUTE, AF_INET, |raw, body| {
                if let Some(r) = parse_route(body) {
                    let ours = r.index == Some(addr.index)
                        && r.table == u32::from(RT_TABLE_MAIN)
                        && r.prefix_length == 0
                        && r.gateway == gateway;
                    if ours {
                        routes.push((raw.to_vec(), r));
                    }
                }
            })?;
        }
        for (raw, r) in &routes {
            match self.request(|seq| resend_as(raw, RTM_DELROUTE, seq)) {
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
                other => other.with_context(|| {
                    format!(
                        "{name}: cannot delete the default route via {}",
                        r.gateway.unwrap_or(r.destination)
                    )
                })?,
            }
        }
        let present = self.addresses(addr.index)?.iter().any(|a| a.address == addr.address);
        if present {
            self.delete_address(name, addr)?;
        }
        Ok((routes.len(), usize::from(present)))
    }

    /// Deletes one address (a lease that was lost or replaced).
    pub(crate) fn delete_address(&mut self, name: &str, addr: &Addr) -> Result<()> {
        let request = |seq| {
            let mut m = add_address_request(seq, addr);
            m[4..6].copy_from_slice(&RTM_DELADDR.to_ne_bytes());
            m[6..8].copy_from_slice(&(F_REQUEST | F_ACK).to_ne_bytes());
            m
        };
        match self.request(request) {
            Err(e) if e.raw_os_error() == Some(libc::EADDRNOTAVAIL) => Ok(()),
            other => other.with_context(|| {
                format!("{name}: cannot delete address {}/{}", addr.address, addr.prefix_length)
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_an_address_request_with_broadcast() {
        let addr = Addr { index: 7, address: Ipv4Addr::new(10, 0, 2, 15), prefix_length: 24 };
        let m = add_address_request(9, &addr);
        assert_eq!(m.len(), 16 + 8 + 3 * 8);
        assert_eq!(u32::from_ne_bytes(m[0..4].try_into().unwrap()) as usize, m.len());
        assert_eq!(u16::from_ne_bytes(m[4..6].try_into().unwrap()), RTM_NEWADDR);
        assert_eq!(&m[16..20], &[AF_INET, 24, 0, 0]);
        assert_eq!(u32::from_ne_bytes(m[20..24].try_into().unwrap()), 7);
        let parsed = parse_addr(&m[16..]).unwrap();
        assert_eq!(parsed, addr);
        let a = attrs(&m[16..], 8);
        assert_eq!(a[2], (IFA_BROADCAST, &[10, 0, 2, 255][..]));
    }

    #[test]
    fn point_to_point_prefixes_have_no_broadcast() {
        let addr = Addr { index: 1, address: Ipv4Addr::new(10, 0, 0, 1), prefix_length: 32 };
        assert_eq!(attrs(&add_address_request(1, &addr)[16..], 8).len(), 2);
    }

    #[test]
    fn default_route_round_trips() {
        let m = add_default_route_request(3, 5, Ipv4Addr::new(10, 0, 2, 2), RTPROT_DHCP, true);
        let messages = split(&m).unwrap();
        assert_eq!(messages.len(), 1);
        let r = parse_route(messages[0].body).unwrap();
        assert_eq!(r.index, Some(5));
        assert_eq!(r.gateway, Some(Ipv4Addr::new(10, 0, 2, 2)));
        assert_eq!((r.destination, r.prefix_length, r.table), (Ipv4Addr::UNSPECIFIED, 0, 254));
        assert_eq!(u32::from_ne_bytes(m[24..28].try_into().unwrap()), RTNH_F_ONLINK);
    }

    #[test]
    fn resend_keeps_the_body_and_changes_the_kind() {
        let m = set_link_request(1, 4, true);
        let d = resend_as(&m, RTM_DELROUTE, 77);
        let parsed = split(&d).unwrap();
        assert_eq!((parsed[0].kind, parsed[0].seq), (RTM_DELROUTE, 77));
        assert_eq!(parsed[0].body, &m[16..]);
    }

    #[test]
    fn link_parse_reads_name_mac_and_flags() {
        let m = Builder::new(RTM_NEWLINK, 0, 1)
            .bytes(&ifinfomsg(3, IFF_UP | IFF_LOWER_UP, 0))
            .attr(IFLA_IFNAME, b"eth0\0")
            .attr(IFLA_ADDRESS, &[0x52, 0x54, 0, 0x12, 0x34, 0x56])
            .finish();
        let link = parse_link(&m[16..]).unwrap();
        assert_eq!(link.name, "eth0");
        assert_eq!(link.mac, Some([0x52, 0x54, 0, 0x12, 0x34, 0x56]));
        assert!(link.is_up() && link.has_carrier() && !link.is_loopback());
    }

    #[test]
    fn malformed_input_is_an_error_or_ignored_never_a_panic() {
        assert!(split(&[0xff; 20]).is_err());
        assert!(split(&[4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
        assert!(parse_link(&[0; 3]).is_none());
        assert!(parse_addr(&[AF_INET, 24, 0]).is_none());
        // An attribute claiming more bytes than there are ends the walk.
        let mut body = ifaddrmsg(24, 1).to_vec();
        body.extend_from_slice(&[200, 0, 2, 0, 10, 0]);
        assert!(parse_addr(&body).is_none());
    }
}
