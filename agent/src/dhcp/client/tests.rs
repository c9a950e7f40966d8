use super::*;
use crate::dhcp::packet::{build_reply, typical_options};
use dhcproto::v4::{DhcpOption, Message, MessageType, OptionCode};
use dhcproto::{Decodable, Decoder};

const MAC: [u8; 6] = [0x02, 0, 0, 0xaa, 0xbb, 0xcc];
const SERVER: Ipv4Addr = Ipv4Addr::new(192, 168, 7, 1);
const ADDR: Ipv4Addr = Ipv4Addr::new(192, 168, 7, 50);

fn sent(out: &[Output]) -> &Transmit {
    match out.last() {
        Some(Output::Send(t)) => t,
        other => panic!("expected a transmission, got {other:?}"),
    }
}

fn decode(t: &Transmit) -> Message {
    Message::decode(&mut Decoder::new(&t.bytes)).unwrap()
}

fn reply(kind: MessageType, xid: u32, options: Vec<DhcpOption>) -> Vec<u8> {
    build_reply(kind, xid, &MAC, ADDR, options)
}

/// A client that has sent its DISCOVER: (client, xid, time).
fn selecting() -> (Client, u32, Instant) {
    let t0 = Instant::now();
    let mut c = Client::new(MAC, 42, t0);
    let out = c.on_timeout(t0);
    let m = decode(sent(&out));
    assert_eq!(m.opts().msg_type(), Some(MessageType::Discover));
    assert_eq!(sent(&out).to, Destination::Broadcast);
    (c, m.xid(), t0)
}

fn bound() -> (Client, u32, Instant) {
    let (mut c, xid, t0) = selecting();
    let out = c.on_reply(&reply(MessageType::Offer, xid, typical_options(SERVER)), t0);
    assert_eq!(sent(&out).what, "DHCPREQUEST");
    let out = c.on_reply(&reply(MessageType::Ack, xid, typical_options(SERVER)), t0);
    assert!(matches!(&out[..], [Output::Bound(_)]), "{out:?}");
    (c, xid, t0)
}

#[test]
fn discover_offer_request_ack() {
    let (mut c, xid, t0) = selecting();
    let out = c.on_reply(&reply(MessageType::Offer, xid, typical_options(SERVER)), t0);
    let m = decode(sent(&out));
    assert_eq!(m.xid(), xid, "the REQUEST keeps the DISCOVER's xid");
    assert_eq!(m.opts().get(OptionCode::RequestedIpAddress), Some(&DhcpOption::RequestedIpAddress(ADDR)));
    assert_eq!(m.opts().get(OptionCode::ServerIdentifier), Some(&DhcpOption::ServerIdentifier(SERVER)));
    assert!(m.flags().broadcast());
    let out = c.on_reply(&reply(MessageType::Ack, xid, typical_options(SERVER)), t0);
    let [Output::Bound(lease)] = &out[..] else { panic!("{out:?}") };
    assert_eq!(lease.address, ADDR);
    assert_eq!(lease.prefix_length, 24);
    assert_eq!(lease.gateway, Some(SERVER));
    assert_eq!(lease.dns, vec![SERVER]);
    assert_eq!((lease.lease_seconds, lease.renew_seconds, lease.rebind_seconds), (3600, 1800, 3150));
    assert_eq!(c.deadline(), Some(t0 + Duration::from_secs(1800)));
    assert_eq!(c.state_name(), "BOUND");
}

#[test]
fn retransmissions_back_off_exponentially_with_jitter() {
    let (mut c, xid, t0) = selecting();
    let mut now = t0;
    let mut waits = Vec::new();
    for _ in 0..7 {
        let next = c.deadline().unwrap();
        waits.push(next - now);
        now = next;
        let out = c.on_timeout(now);
        assert_eq!(decode(sent(&out)).xid(), xid);
    }
    for (wait, base) in waits.iter().zip([4u64, 8, 16, 32, 64, 64, 64]) {
        let ms = wait.as_millis() as u64;
        assert!((base * 1000 - 1000..=base * 1000 + 1000).contains(&ms), "wait {ms} ms, base {base} s");
    }
    // The jitter differs between attempts (a fixed value would synchronize clients).
    let jitters: Vec<i64> = waits
        .iter()
        .zip([4i64, 8, 16, 32, 64, 64, 64])
        .map(|(w, b)| w.as_millis() as i64 - b * 1000)
        .collect();
    assert!(jitters.windows(2).any(|w| w[0] != w[1]), "{jitters:?}");
}

#[test]
fn early_timeouts_do_nothing() {
    let (mut c, _, t0) = selecting();
    assert!(c.on_timeout(t0 + Duration::from_secs(1)).is_empty());
}

#[test]
fn hostile_or_foreign_replies_are_ignored() {
    let (mut c, xid, t0) = selecting();
    let good = reply(MessageType::Offer, xid, typical_options(SERVER));
    let mut cases: Vec<(&str, Vec<u8>)> = vec![
        ("wrong xid", reply(MessageType::Offer, xid ^ 1, typical_options(SERVER))),
        (
            "wrong chaddr",
            build_reply(MessageType::Offer, xid, &[2, 0, 0, 0, 0, 1], ADDR, typical_options(SERVER)),
        ),
        ("truncated header", good[..100].to_vec()),
        ("empty", Vec::new()),
        (
            "zero lease",
            reply(MessageType::Offer, xid, {
                let mut o = typical_options(SERVER);
                o[1] = DhcpOption::AddressLeaseTime(0);
                o
            }),
        ),
        ("no lease time", reply(MessageType::Offer, xid, vec![DhcpOption::ServerIdentifier(SERVER)])),
        (
            "no server id",
            build_reply(MessageType::Offer, xid, &MAC, ADDR, vec![DhcpOption::AddressLeaseTime(60)]),
        ),
        (
            "broadcast address",
            build_reply(MessageType::Offer, xid, &MAC, Ipv4Addr::BROADCAST, typical_options(SERVER)),
        ),
        (
            "zero address",
            build_reply(MessageType::Offer, xid, &MAC, Ipv4Addr::UNSPECIFIED, typical_options(SERVER)),
        ),
        (
            "network address",
            build_reply(
                MessageType::Offer,
                xid,
                &MAC,
                Ipv4Addr::new(192, 168, 7, 0),
                typical_options(SERVER),
            ),
        ),
        (
            "holey netmask",
            reply(MessageType::Offer, xid, {
                let mut o = typical_options(SERVER);
                o[2] = DhcpOption::SubnetMask(Ipv4Addr::new(255, 0, 255, 0));
                o
            }),
        ),
        ("no message type", {
            let mut b = good.clone();
            b.truncate(240);
            b
        }),
        ("an ACK while selecting", reply(MessageType::Ack, xid, typical_options(SERVER))),
    ];
    // hlen beyond 16: dhcproto's chaddr() would slice out of bounds.
    let mut long_hlen = good.clone();
    long_hlen[2] = 200;
    cases.push(("hlen 200", long_hlen));
    let mut request = good.clone();
    request[0] = 1;
    cases.push(("a BOOTREQUEST", request));
    // The lease time option claims 4 bytes but the packet ends after 2.
    let mut cut = good[..240].to_vec();
    cut.extend_from_slice(&[53, 1, 2, 54, 4, 192, 168, 7, 1, 51, 4, 0, 0]);
    cases.push(("truncated lease time", cut));
    for (what, bytes) in cases {
        let out = c.on_reply(&bytes, t0);
        assert!(matches!(&out[..], [Output::Ignored(_)]), "{what}: {out:?}");
        assert_eq!(c.state_name(), "SELECTING", "{what}");
    }
    // After all that, the good offer still works.
    assert_eq!(sent(&c.on_reply(&good, t0)).what, "DHCPREQUEST");
}

#[test]
fn oversized_options_are_bounded() {
    let (mut c, xid, t0) = selecting();
    let mut options = typical_options(SERVER);
    options[4] = DhcpOption::DomainNameServer((1..=60).map(|i| Ipv4Addr::new(10, 0, 0, i)).collect());
    options.push(DhcpOption::DomainName("x".repeat(250)));
    c.on_reply(&reply(MessageType::Offer, xid, options.clone()), t0);
    let out = c.on_reply(&reply(MessageType::Ack, xid, options), t0);
    let [Output::Bound(lease)] = &out[..] else { panic!("{out:?}") };
    assert_eq!(lease.dns.len(), 3);
    assert_eq!(lease.domain, None, "a 250-byte label is not a domain");
}

#[test]
fn nak_while_requesting_restarts_and_repeated_naks_back_off() {
    let (mut c, xid, t0) = selecting();
    c.on_reply(&reply(MessageType::Offer, xid, typical_options(SERVER)), t0);
    let nak = reply(
        MessageType::Nak,
        xid,
        vec![DhcpOption::ServerIdentifier(SERVER), DhcpOption::Message("no\nway".into())],
    );
    let out = c.on_reply(&nak, t0);
    let [Output::Restart(why)] = &out[..] else { panic!("{out:?}") };
    assert!(why.contains("DHCPNAK from 192.168.7.1 (no?way)"), "{why}");
    assert_eq!(c.deadline(), Some(t0), "the first NAK restarts at once");
    let out = c.on_timeout(t0);
    let xid2 = decode(sent(&out)).xid();
    assert_ne!(xid2, xid, "a new exchange gets a new xid");
    c.on_reply(&reply(MessageType::Offer, xid2, typical_options(SERVER)), t0);
    c.on_reply(&reply(MessageType::Nak, xid2, vec![DhcpOption::ServerIdentifier(SERVER)]), t0);
    assert_eq!(c.deadline(), Some(t0 + Duration::from_secs(1)), "the second waits");
}

#[test]
fn nak_from_another_server_is_ignored() {
    let (mut c, xid, t0) = selecting();
    c.on_reply(&reply(MessageType::Offer, xid, typical_options(SERVER)), t0);
    let other = Ipv4Addr::new(192, 168, 7, 2);
    let out = c.on_reply(&reply(MessageType::Nak, xid, vec![DhcpOption::ServerIdentifier(other)]), t0);
    assert!(matches!(&out[..], [Output::Ignored(_)]), "{out:?}");
    assert_eq!(c.state_name(), "REQUESTING");
}

#[test]
fn no_answer_to_request_starts_over() {
    let (mut c, xid, t0) = selecting();
    c.on_reply(&reply(MessageType::Offer, xid, typical_options(SERVER)), t0);
    let mut last = Vec::new();
    for _ in 0..REQUEST_ATTEMPTS {
        last = c.on_timeout(c.deadline().unwrap());
    }
    assert!(
        matches!(&last[..], [Output::Restart(_), Output::Send(t)] if t.what == "DHCPDISCOVER"),
        "{last:?}"
    );
}

#[test]
fn renews_at_t1_rebinds_at_t2_and_loses_the_lease_at_expiry() {
    let (mut c, _, t0) = bound();
    let t1 = t0 + Duration::from_secs(1800);
    let out = c.on_timeout(t1);
    let t = sent(&out);
    assert_eq!(t.to, Destination::Server(SERVER));
    let m = decode(t);
    assert_eq!(m.ciaddr(), ADDR);
    assert_eq!(c.state_name(), "RENEWING");
    // Half of the 1350 s left to T2.
    assert_eq!(c.deadline(), Some(t1 + Duration::from_secs(675)));
    let mut now = t1;
    while c.state_name() == "RENEWING" {
        now = c.deadline().unwrap();
        c.on_timeout(now);
    }
    assert_eq!(now, t0 + Duration::from_secs(3150), "rebinding starts exactly at T2");
    assert_eq!(c.state_name(), "REBINDING");
    let mut out = Vec::new();
    while c.state_name() == "REBINDING" {
        now = c.deadline().unwrap();
        out = c.on_timeout(now);
    }
    assert_eq!(now, t0 + Duration::from_secs(3600));
    assert!(matches!(&out[..], [Output::Lost(_), Output::Send(t)] if t.what == "DHCPDISCOVER"), "{out:?}");
    assert!(c.lease().is_none());
}

#[test]
fn renewal_ack_rebinds_the_timers() {
    let (mut c, _, t0) = bound();
    let t1 = t0 + Duration::from_secs(1800);
    let out = c.on_timeout(t1);
    let xid = decode(sent(&out)).xid();
    let out = c.on_reply(&reply(MessageType::Ack, xid, typical_options(SERVER)), t1);
    assert!(matches!(&out[..], [Output::Bound(l)] if l.address == ADDR), "{out:?}");
    assert_eq!(c.deadline(), Some(t1 + Duration::from_secs(1800)));
}

#[test]
fn nak_while_renewing_loses_the_address() {
    let (mut c, _, t0) = bound();
    let out = c.on_timeout(t0 + Duration::from_secs(1800));
    let xid = decode(sent(&out)).xid();
    let out = c.on_reply(&reply(MessageType::Nak, xid, vec![]), t0);
    let [Output::Lost(why)] = &out[..] else { panic!("{out:?}") };
    assert!(why.contains("192.168.7.50"), "{why}");
    assert_eq!(c.state_name(), "INIT");
}

#[test]
fn a_moved_address_on_renewal_drops_the_old_one_first() {
    let (mut c, _, t0) = bound();
    let out = c.on_timeout(t0 + Duration::from_secs(1800));
    let xid = decode(sent(&out)).xid();
    let moved =
        build_reply(MessageType::Ack, xid, &MAC, Ipv4Addr::new(192, 168, 7, 60), typical_options(SERVER));
    let out = c.on_reply(&moved, t0);
    assert!(
        matches!(&out[..], [Output::Lost(_), Output::Bound(l)] if l.address == Ipv4Addr::new(192, 168, 7, 60)),
        "{out:?}"
    );
}

#[test]
fn replies_while_bound_are_ignored() {
    let (mut c, xid, t0) = bound();
    for kind in [MessageType::Offer, MessageType::Ack, MessageType::Nak] {
        let out = c.on_reply(&reply(kind, xid, typical_options(SERVER)), t0);
        assert!(matches!(&out[..], [Output::Ignored(_)]), "{out:?}");
    }
    assert_eq!(c.state_name(), "BOUND");
}

#[test]
fn infinite_lease_never_renews() {
    let (mut c, xid, t0) = selecting();
    let mut options = typical_options(SERVER);
    options[1] = DhcpOption::AddressLeaseTime(INFINITE);
    c.on_reply(&reply(MessageType::Offer, xid, options.clone()), t0);
    c.on_reply(&reply(MessageType::Ack, xid, options), t0);
    assert_eq!(c.deadline(), None);
}

#[test]
fn release_names_the_lease() {
    let (mut c, _, t0) = bound();
    let t = c.release(t0).unwrap();
    let m = decode(&t);
    assert_eq!(m.opts().msg_type(), Some(MessageType::Release));
    assert_eq!(m.ciaddr(), ADDR);
    assert_eq!(t.to, Destination::Server(SERVER));
    assert!(c.lease().is_none());
    assert!(c.release(t0).is_none());
}
