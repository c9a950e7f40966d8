//! DHCPv4 client (RFC 2131) on `dhcproto`. The decisions are pure and unit-tested:
//! [`packet`] builds requests and judges replies (xid, chaddr, op, message type, lease sanity),
//! [`client`] is the state machine (what to send when, NAK → restart, T1 renew / T2 rebind,
//! backoff with jitter). [`socket`] is the thin UDP layer; `net` drives them together.

pub mod client;
pub mod lease;
pub mod packet;
pub mod socket;

pub use client::{Client, Destination, Output, Transmit};
pub use lease::Lease;
