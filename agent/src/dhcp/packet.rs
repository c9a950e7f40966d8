//! DHCPv4 messages: building the client's requests and judging every reply (pure). A reply is
//! used only when it is a BOOTREPLY with our xid and our hardware address and carries a usable
//! lease; anything else is ignored with a reason, never a panic.

use super::lease::Lease;
use dhcproto::v4::{self, DhcpOption, Message, MessageType, Opcode, OptionCode};
use dhcproto::{Decodable, Decoder, Encodable, Encoder};
use std::net::Ipv4Addr;

/// Who we are on the wire for one exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Identity {
    pub mac: [u8; 6],
    pub xid: u32,
    /// Seconds since the client began this acquisition or renewal (`secs`).
    pub secs: u16,
}

/// What a request is for; decides its fields (RFC 2131 table 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Request {
    Discover,
    /// SELECTING: the offer we take, from the server that made it.
    Select {
        address: Ipv4Addr,
        server: Ipv4Addr,
    },
    /// RENEWING (unicast) or REBINDING (broadcast): `ciaddr` is the address we hold.
    Extend {
        address: Ipv4Addr,
    },
    Release {
        address: Ipv4Addr,
        server: Ipv4Addr,
    },
}

/// Options we ask servers for.
const WANTED: &[OptionCode] = &[
    OptionCode::SubnetMask,
    OptionCode::Router,
    OptionCode::DomainNameServer,
    OptionCode::DomainName,
    OptionCode::AddressLeaseTime,
    OptionCode::Renewal,
    OptionCode::Rebinding,
];

/// BOOTP relays and old servers drop messages shorter than this (RFC 1542 §2.1).
const MIN_LEN: usize = 300;

pub(crate) fn build(id: Identity, request: Request) -> Vec<u8> {
    let mut m = Message::new_with_id(
        id.xid,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        &id.mac,
    );
    m.set_secs(id.secs);
    let kind = match request {
        Request::Discover => MessageType::Discover,
        Request::Select { .. } | Request::Extend { .. } => MessageType::Request,
        Request::Release { .. } => MessageType::Release,
    };
    let opts = m.opts_mut();
    opts.insert(DhcpOption::MessageType(kind));
    let mut client_id = vec![1u8]; // hardware type Ethernet, then the address (RFC 2132 §9.14)
    client_id.extend_from_slice(&id.mac);
    opts.insert(DhcpOption::ClientIdentifier(client_id));
    match request {
        Request::Discover => {}
        Request::Select { address, server } => {
            opts.insert(DhcpOption::RequestedIpAddress(address));
            opts.insert(DhcpOption::ServerIdentifier(server));
        }
        Request::Extend { .. } => {}
        Request::Release { server, .. } => {
            opts.insert(DhcpOption::ServerIdentifier(server));
        }
    }
    if !matches!(request, Request::Release { .. }) {
        opts.insert(DhcpOption::ParameterRequestList(WANTED.to_vec()));
        opts.insert(DhcpOption::MaxMessageSize(1500));
    }
    match request {
        // No address yet: the reply must be broadcast, we could not receive a unicast one.
        Request::Discover | Request::Select { .. } => {
            m.set_flags(v4::Flags::default().set_broadcast());
        }
        Request::Extend { address } | Request::Release { address, .. } => {
            m.set_ciaddr(address);
        }
    }
    let mut buf = Vec::with_capacity(MIN_LEN);
    m.encode(&mut Encoder::new(&mut buf)).expect("encoding a DHCP message into a Vec cannot fail");
    if buf.len() < MIN_LEN {
        buf.resize(MIN_LEN, 0); // Pad options after End
    }
    buf
}

/// A reply that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reply {
    Offer(Lease),
    Ack(Lease),
    Nak { server: Option<Ipv4Addr>, message: Option<String> },
}

/// Why a reply was ignored (for the debug log).
pub(crate) type Ignored = String;

/// Offset of the options: the fixed BOOTP header (236 bytes), then the magic cookie.
const OPTIONS_AT: usize = 240;

/// Whether option `code` with `data` is one we use, well formed. Everything else is blanked
/// before dhcproto sees it: its decoder has `debug_assert!`s and unchecked arithmetic on the
/// lengths of options we never read (found by fuzz/), and an undecodable option makes it drop
/// every option after it.
fn keep_option(code: u8, data: &[u8]) -> bool {
    let ascii = || data.iter().all(|&b| b.is_ascii() && b != 0);
    match code {
        53 => data.len() == 1,                                       // message type
        1 | 54 => data.len() == 4,                                   // netmask, server id
        51 | 58 | 59 => data.len() == 4,                             // lease time, T1, T2
        3 | 6 => !data.is_empty() && data.len().is_multiple_of(4),   // routers, DNS servers
        15 => !data.is_empty() && data.iter().all(|b| b.is_ascii()), // domain name
        56 => !data.is_empty() && ascii(),                           // message (in NAKs)
        _ => false,
    }
}

/// The reply with every option we do not use (or that is malformed) turned into Pad bytes,
/// options cut at the first length that runs past the end.
pub(crate) fn sanitize(bytes: &[u8]) -> Result<Vec<u8>, Ignored> {
    if bytes.len() < OPTIONS_AT {
        return Err(format!("{} bytes, shorter than a DHCP header", bytes.len()));
    }
    if bytes[236..OPTIONS_AT] != v4::MAGIC {
        return Err("no DHCP magic cookie".into());
    }
    let mut out = bytes[..OPTIONS_AT].to_vec();
    let mut i = OPTIONS_AT;
    while i < bytes.len() {
        let code = bytes[i];
        if code == 0 {
            out.push(0);
            i += 1;
            continue;
        }
        if code == 255 || i + 1 >= bytes.len() {
            break;
        }
        let len = usize::from(bytes[i + 1]);
        let Some(data) = bytes.get(i + 2..i + 2 + len) else { break };
        if keep_option(code, data) {
            out.extend_from_slice(&bytes[i..i + 2 + len]);
        } else {
            out.resize(out.len() + 2 + len, 0);
        }
        i += 2 + len;
    }
    out.push(255);
    Ok(out)
}

/// Decodes and checks a reply to the exchange `xid` of the client with hardware address `mac`.
pub(crate) fn parse_reply(bytes: &[u8], mac: &[u8; 6], xid: u32) -> Result<Reply, Ignored> {
    let clean = sanitize(bytes)?;
    let m = Message::decode(&mut Decoder::new(&clean)).map_err(|e| format!("undecodable ({e})"))?;
    if m.opcode() != Opcode::BootReply {
        return Err("not a BOOTREPLY".into());
    }
    if m.xid() != xid {
        return Err(format!("xid {:#010x} is not ours ({xid:#010x})", m.xid()));
    }
    // Check hlen before chaddr(): dhcproto slices chaddr by hlen, which a hostile reply sets.
    if m.hlen() != 6 || m.chaddr() != mac {
        return Err("chaddr is not our hardware address".into());
    }
    let kind = m.opts().msg_type().ok_or("no DHCP message type")?;
    let server = match m.opts().get(OptionCode::ServerIdentifier) {
        Some(DhcpOption::ServerIdentifier(s)) => Some(*s),
        _ => None,
    };
    match kind {
        MessageType::Offer => Lease::from_reply(&m, server).map(Reply::Offer),
        MessageType::Ack => Lease::from_reply(&m, server).map(Reply::Ack),
        MessageType::Nak => {
            let message = match m.opts().get(OptionCode::Message) {
                Some(DhcpOption::Message(s)) => Some(printable(s, 120)),
                _ => None,
            };
            Ok(Reply::Nak { server, message })
        }
        other => Err(format!("unexpected message type {other:?}")),
    }
}

/// A server-supplied string made safe to log: printable ASCII only, bounded.
pub(crate) fn printable(s: &str, max: usize) -> String {
    s.chars().take(max).map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '?' }).collect()
}

/// A server's reply, as tests and the fuzz target need them: `options` follow the message type.
#[allow(dead_code)] // for the unit tests and fuzz/, which compiles this file
pub(crate) fn build_reply(
    kind: MessageType,
    xid: u32,
    mac: &[u8; 6],
    yiaddr: Ipv4Addr,
    options: Vec<DhcpOption>,
) -> Vec<u8> {
    let mut m = Message::new_with_id(
        xid,
        Ipv4Addr::UNSPECIFIED,
        yiaddr,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        mac,
    );
    m.set_opcode(Opcode::BootReply);
    m.opts_mut().insert(DhcpOption::MessageType(kind));
    for o in options {
        m.opts_mut().insert(o);
    }
    let mut buf = Vec::new();
    m.encode(&mut Encoder::new(&mut buf)).expect("encoding a DHCP message into a Vec cannot fail");
    buf
}

/// The options of a typical good lease from `server`: /24, router and DNS = server, 1 hour.
#[allow(dead_code)] // for the unit tests and fuzz/, which compiles this file
pub(crate) fn typical_options(server: Ipv4Addr) -> Vec<DhcpOption> {
    vec![
        DhcpOption::ServerIdentifier(server),
        DhcpOption::AddressLeaseTime(3600),
        DhcpOption::SubnetMask(Ipv4Addr::new(255, 255, 255, 0)),
        DhcpOption::Router(vec![server]),
        DhcpOption::DomainNameServer(vec![server]),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: [u8; 6] = [0x52, 0x54, 0, 0x12, 0x34, 0x56];

    #[test]
    fn discover_is_broadcast_padded_and_asks_for_the_lease_options() {
        let bytes = build(Identity { mac: MAC, xid: 0x1234, secs: 3 }, Request::Discover);
        assert!(bytes.len() >= MIN_LEN);
        let m = Message::decode(&mut Decoder::new(&bytes)).unwrap();
        assert_eq!(m.opcode(), Opcode::BootRequest);
        assert!(m.flags().broadcast());
        assert_eq!((m.xid(), m.secs(), m.chaddr()), (0x1234, 3, &MAC[..]));
        assert_eq!(m.opts().msg_type(), Some(MessageType::Discover));
        assert!(m.opts().get(OptionCode::ParameterRequestList).is_some());
    }

    #[test]
    fn select_names_the_offer_and_its_server() {
        let address = Ipv4Addr::new(10, 0, 0, 9);
        let server = Ipv4Addr::new(10, 0, 0, 1);
        let bytes = build(Identity { mac: MAC, xid: 1, secs: 0 }, Request::Select { address, server });
        let m = Message::decode(&mut Decoder::new(&bytes)).unwrap();
        assert_eq!(
            m.opts().get(OptionCode::RequestedIpAddress),
            Some(&DhcpOption::RequestedIpAddress(address))
        );
        assert_eq!(m.opts().get(OptionCode::ServerIdentifier), Some(&DhcpOption::ServerIdentifier(server)));
        assert_eq!(m.ciaddr(), Ipv4Addr::UNSPECIFIED);
    }

    #[test]
    fn options_we_do_not_use_or_cannot_trust_are_blanked() {
        let server = Ipv4Addr::new(10, 0, 0, 1);
        let good =
            build_reply(MessageType::Offer, 9, &MAC, Ipv4Addr::new(10, 0, 0, 9), typical_options(server));
        // Rapid commit (80) must be empty: dhcproto debug-asserts it; a lease time of 2 bytes;
        // a bulk lease query status (151) of length 0, which dhcproto computes len - 1 on.
        let mut hostile = good[..OPTIONS_AT].to_vec();
        hostile.extend_from_slice(&[80, 1, 0, 51, 2, 0, 9, 151, 0, 15, 3, 0xff, 0xfe, 0]);
        hostile.extend_from_slice(&good[OPTIONS_AT..]);
        let clean = sanitize(&hostile).unwrap();
        assert_eq!(clean.len(), hostile.len(), "blanked in place");
        assert_eq!(&clean[OPTIONS_AT..OPTIONS_AT + 7], &[0; 7]);
        assert!(matches!(parse_reply(&hostile, &MAC, 9), Ok(Reply::Offer(l)) if l.lease_seconds == 3600));
        // An option running past the end cuts the options there.
        let mut cut = good[..OPTIONS_AT].to_vec();
        cut.extend_from_slice(&[53, 1, 2, 54, 4, 10, 0, 0, 1, 51, 200, 1]);
        assert_eq!(parse_reply(&cut, &MAC, 9), Err("no lease time".into()));
        let mut no_cookie = good.clone();
        no_cookie[236] = 0;
        assert_eq!(parse_reply(&no_cookie, &MAC, 9), Err("no DHCP magic cookie".into()));
    }

    #[test]
    fn renewal_uses_ciaddr_and_no_server_id() {
        let address = Ipv4Addr::new(10, 0, 0, 9);
        let bytes = build(Identity { mac: MAC, xid: 1, secs: 0 }, Request::Extend { address });
        let m = Message::decode(&mut Decoder::new(&bytes)).unwrap();
        assert_eq!(m.ciaddr(), address);
        assert!(!m.flags().broadcast());
        assert!(m.opts().get(OptionCode::ServerIdentifier).is_none());
        assert!(m.opts().get(OptionCode::RequestedIpAddress).is_none());
    }
}
