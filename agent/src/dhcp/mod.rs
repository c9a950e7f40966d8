//! DHCPv4 client (RFC 2131) on `dhcproto`. The decisions are pure and unit-tested:
//! [`packet`] builds requests and judges replies (xid, chaddr, op, message type, lease sanity),
//! [`client`] is the state machine (what to send when, NAK → restart, T1 renew / T2 rebind,
//! backoff with jitter). [`socket`] is the thin UDP layer; `net` drives them together.

pub(crate) mod client;
pub(crate) mod lease;
pub(crate) mod packet;
pub(crate) mod socket;

pub(crate) use client::{Client, Destination, Output};
pub(crate) use lease::Lease;
