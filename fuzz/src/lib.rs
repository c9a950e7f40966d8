//! The harness shared by the libFuzzer target and the stable mutation loop: one input is fed
//! as a server reply to a DHCP client in every state, and straight to the reply parser. The
//! property: never a panic, and a client that accepted nothing stays where it was.

#[allow(dead_code)]
#[path = "../../agent/src/dhcp"]
pub mod dhcp {
    pub mod client;
    pub mod lease;
    pub mod packet;
}

#[allow(dead_code)]
#[path = "../../agent/src/config/mod.rs"]
pub mod config;
/// The stage-1 parsers of the other fuzz targets ([`parsers`]), compiled in the same way.
#[allow(dead_code)]
#[path = "../../agent/src/error.rs"]
pub mod error;
#[allow(dead_code)]
// A directory path, so that kmod.rs finds its own submodule (kmod/parallel.rs) as in the agent.
#[path = "../../agent/src"]
mod agent_kmod {
    pub mod kmod;
}
pub use agent_kmod::kmod;
#[allow(dead_code)]
#[path = "../../agent/src/access"]
pub mod access {
    pub mod from;
    pub mod keys;
    pub mod request;
}
#[allow(dead_code)]
#[path = "../../agent/src/ssh"]
pub mod ssh {
    pub mod line;
}
#[allow(dead_code)]
#[path = "../../agent/src/exit.rs"]
pub mod exit;
#[allow(dead_code)]
#[path = "../../agent/src/init"]
pub mod init {
    pub mod cmdline;
    pub mod devices;
}
#[allow(dead_code)]
#[path = "../../agent/src/net"]
pub mod net {
    pub mod cmdline;
}
#[allow(dead_code)]
#[path = "../../agent/src/unlock"]
pub mod unlock {
    pub mod agent;
    pub mod line;
    // Stand-ins for the two types agent.rs names from unlock/mod.rs, which would bring in
    // libcryptsetup; the parser under test does not use them.
    pub struct Passphrase(zeroize::Zeroizing<Vec<u8>>);
    impl Passphrase {
        pub fn as_bytes(&self) -> &[u8] {
            &self.0
        }
    }
    pub enum Attempt {
        Unlocked { opened: Vec<String> },
        Failed(String),
        NothingPending,
    }
}
pub mod parsers;

use dhcp::client::{Client, Output};
use dhcp::packet::{build_reply, parse_reply, typical_options};
use dhcproto::v4::{Message, MessageType};
use dhcproto::{Decodable, Decoder};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

pub const MAC: [u8; 6] = [0x02, 0, 0, 0xaa, 0xbb, 0xcc];
pub const SERVER: Ipv4Addr = Ipv4Addr::new(192, 168, 7, 1);
pub const ADDR: Ipv4Addr = Ipv4Addr::new(192, 168, 7, 50);

fn xid_of(out: &[Output]) -> u32 {
    for o in out {
        if let Output::Send(t) = o {
            return Message::decode(&mut Decoder::new(&t.bytes)).expect("our own message decodes").xid();
        }
    }
    panic!("expected a transmission in {out:?}")
}

/// Clients in each state, with the xid a reply must carry: SELECTING, REQUESTING, BOUND,
/// RENEWING, REBINDING.
pub fn clients() -> Vec<(Client, u32, Instant)> {
    let t0 = Instant::now();
    let mut out = Vec::new();
    let mut c = Client::new(MAC, 7, t0);
    let xid = xid_of(&c.on_timeout(t0));
    out.push((c, xid, t0));
    let mut c = out[0].0.clone();
    c.on_reply(&build_reply(MessageType::Offer, xid, &MAC, ADDR, typical_options(SERVER)), t0);
    out.push((c, xid, t0));
    let mut c = out[1].0.clone();
    c.on_reply(&build_reply(MessageType::Ack, xid, &MAC, ADDR, typical_options(SERVER)), t0);
    out.push((c, xid, t0));
    let mut c = out[2].0.clone();
    let t1 = t0 + Duration::from_secs(1800);
    let rxid = xid_of(&c.on_timeout(t1));
    out.push((c, rxid, t1));
    let mut c = out[3].0.clone();
    let t2 = t0 + Duration::from_secs(3150);
    let bxid = xid_of(&c.on_timeout(t2));
    out.push((c, bxid, t2));
    out
}

/// Well-formed replies for every state: the inputs the mutations start from.
pub fn seeds() -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    for (_, xid, _) in clients() {
        for kind in [MessageType::Offer, MessageType::Ack, MessageType::Nak] {
            seeds.push(build_reply(kind, xid, &MAC, ADDR, typical_options(SERVER)));
        }
    }
    seeds
}

/// Feeds `data` to the parser and to a client in every state. Panics only on a bug.
pub fn exercise(data: &[u8]) {
    for (_, xid, _) in clients().iter().take(1) {
        let _ = parse_reply(data, &MAC, *xid);
    }
    for (mut c, xid, now) in clients() {
        let before = c.state_name();
        let out = c.on_reply(data, now);
        if let [Output::Ignored(_)] = &out[..] {
            assert_eq!(c.state_name(), before, "an ignored reply changed the state");
        }
        for o in &out {
            if let Output::Bound(lease) = o {
                assert!(lease.lease_seconds > 0, "bound with a zero lease");
                assert!(lease.prefix_length >= 1 && lease.prefix_length <= 32);
                assert!(lease.dns.len() <= dhcp::lease::MAX_DNS);
                assert!(lease.renew_seconds <= lease.rebind_seconds);
                assert!(lease.rebind_seconds <= lease.lease_seconds);
                assert!(parse_reply(data, &MAC, xid).is_ok());
            }
        }
        // Whatever happened, the client still answers its timers.
        if let Some(d) = c.deadline() {
            let _ = c.on_timeout(d);
        }
    }
}
