//! The DHCPv4 client's decisions (RFC 2131 §4.4), free of sockets and clocks: the caller feeds
//! it replies and timeouts with the current time, and does what it answers (send this, apply
//! this lease, remove the address). Unit-tested without a network.
//!
//! States: INIT → SELECTING (DISCOVER sent) → REQUESTING (REQUEST sent) → BOUND → at T1
//! RENEWING (unicast REQUEST to our server) → at T2 REBINDING (broadcast REQUEST) → at expiry
//! back to INIT. A NAK sends us back to INIT, dropping the address if we held one.
//! Retransmissions follow §4.1: 4 s, doubled each time up to 64 s, each ±1 s of random jitter;
//! while renewing or rebinding, half the time left until T2 (or expiry), at least 60 s.

use super::lease::{Lease, INFINITE};
use super::packet::{self, Identity, Reply, Request};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

/// Where a message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Destination {
    Broadcast,
    Server(Ipv4Addr),
}

/// A message to send now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Transmit {
    pub bytes: Vec<u8>,
    pub to: Destination,
    /// For the log: `DHCPDISCOVER`, `DHCPREQUEST`...
    pub what: &'static str,
    /// 1 for the first transmission of this message, then counting retransmissions.
    pub attempt: u32,
    /// When the client gives up waiting for its answer.
    pub next: Instant,
}

/// What the caller must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Output {
    Send(Transmit),
    /// Apply this lease (a new one, or a renewal: compare with what is applied).
    Bound(Lease),
    /// The address we held is no longer ours: remove it. The client is back in INIT.
    Lost(String),
    /// We held no address yet; the exchange starts over (a NAK, or no answer to REQUEST).
    Restart(String),
    /// A reply that was not for us or not acceptable now, with why.
    Ignored(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Init,
    Selecting { attempt: u32 },
    Requesting { offer: Lease, attempt: u32 },
    Bound { lease: Lease, at: Instant },
    Renewing { lease: Lease, at: Instant, attempt: u32 },
    Rebinding { lease: Lease, at: Instant, attempt: u32 },
}

/// How many REQUESTs (in SELECTING) before starting over with a DISCOVER.
const REQUEST_ATTEMPTS: u32 = 4;

/// A small PRNG for xids and jitter (xorshift64*); seeded from the kernel by the caller.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `-range..=range` milliseconds.
    fn jitter_ms(&mut self, range: u64) -> i64 {
        (self.next_u64() % (2 * range + 1)) as i64 - range as i64
    }
}

/// The §4.1 retransmission delay before attempt `attempt + 1`: 4, 8, 16, 32, 64, 64... s ±1 s.
pub(crate) fn backoff(attempt: u32, rng: &mut Rng) -> Duration {
    let base_ms = 4000u64 << attempt.saturating_sub(1).min(4);
    Duration::from_millis((base_ms as i64 + rng.jitter_ms(1000)) as u64)
}

/// §4.4.5: wait half the time left until `limit`, at least 60 s, never past `limit`.
fn extend_wait(now: Instant, limit: Instant) -> Instant {
    let left = limit.saturating_duration_since(now);
    (now + (left / 2).max(Duration::from_secs(60))).min(limit)
}

fn after(at: Instant, seconds: u32) -> Option<Instant> {
    (seconds != INFINITE).then(|| at + Duration::from_secs(u64::from(seconds)))
}

#[derive(Debug, Clone)]
pub struct Client {
    mac: [u8; 6],
    rng: Rng,
    state: State,
    xid: u32,
    /// When the current acquisition or renewal began (for `secs`).
    began: Instant,
    deadline: Option<Instant>,
    naks: u32,
}

impl Client {
    /// A client in INIT that sends its first DISCOVER at the first [`Client::on_timeout`].
    pub(crate) fn new(mac: [u8; 6], seed: u64, now: Instant) -> Client {
        let mut rng = Rng::new(seed);
        let xid = rng.next_u64() as u32;
        Client { mac, rng, state: State::Init, xid, began: now, deadline: Some(now), naks: 0 }
    }

    /// When [`Client::on_timeout`] must be called next; `None`: never (an infinite lease).
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The lease we hold, if bound, renewing or rebinding.
    pub(crate) fn lease(&self) -> Option<&Lease> {
        match &self.state {
            State::Bound { lease, .. } | State::Renewing { lease, .. } | State::Rebinding { lease, .. } => {
                Some(lease)
            }
            _ => None,
        }
    }

    /// A short name of the state, for the log.
    pub(crate) fn state_name(&self) -> &'static str {
        name_of(&self.state)
    }

    fn identity(&self, now: Instant) -> Identity {
        let secs = now.saturating_duration_since(self.began).as_secs().min(u64::from(u16::MAX)) as u16;
        Identity { mac: self.mac, xid: self.xid, secs }
    }

    fn transmit(
        &mut self,
        now: Instant,
        request: Request,
        to: Destination,
        attempt: u32,
        next: Instant,
    ) -> Output {
        let what = match request {
            Request::Discover => "DHCPDISCOVER",
            Request::Select { .. } | Request::Extend { .. } => "DHCPREQUEST",
            Request::Release { .. } => "DHCPRELEASE",
        };
        self.deadline = Some(next);
        Output::Send(Transmit { bytes: packet::build(self.identity(now), request), to, what, attempt, next })
    }

    fn new_exchange(&mut self, now: Instant) {
        self.xid = self.rng.next_u64() as u32;
        self.began = now;
    }

    fn discover(&mut self, now: Instant, attempt: u32) -> Output {
        if attempt == 1 {
            self.new_exchange(now);
        }
        self.state = State::Selecting { attempt };
        let next = now + backoff(attempt, &mut self.rng);
        self.transmit(now, Request::Discover, Destination::Broadcast, attempt, next)
    }

    fn select(&mut self, now: Instant, offer: Lease, attempt: u32) -> Output {
        let request = Request::Select { address: offer.address, server: offer.server };
        self.state = State::Requesting { offer, attempt };
        let next = now + backoff(attempt, &mut self.rng);
        self.transmit(now, request, Destination::Broadcast, attempt, next)
    }

    fn renew(&mut self, now: Instant, lease: Lease, at: Instant, attempt: u32) -> Output {
        if attempt == 1 {
            self.new_exchange(now);
        }
        let t2 = after(at, lease.rebind_seconds).unwrap_or(now);
        let (request, to) = (Request::Extend { address: lease.address }, Destination::Server(lease.server));
        self.state = State::Renewing { lease, at, attempt };
        self.transmit(now, request, to, attempt, extend_wait(now, t2))
    }

    fn rebind(&mut self, now: Instant, lease: Lease, at: Instant, attempt: u32) -> Output {
        if attempt == 1 {
            self.new_exchange(now);
        }
        let expiry = after(at, lease.lease_seconds).unwrap_or(now);
        let request = Request::Extend { address: lease.address };
        self.state = State::Rebinding { lease, at, attempt };
        self.transmit(now, request, Destination::Broadcast, attempt, extend_wait(now, expiry))
    }

    /// Back to INIT; the next DISCOVER goes out at `when`.
    fn restart(&mut self, when: Instant) {
        self.state = State::Init;
        self.deadline = Some(when);
    }

    /// The deadline has passed: retransmit, move on to the next state, or give up on a lease.
    pub(crate) fn on_timeout(&mut self, now: Instant) -> Vec<Output> {
        if self.deadline.is_none_or(|d| now < d) {
            return Vec::new();
        }
        match self.state.clone() {
            State::Init => vec![self.discover(now, 1)],
            State::Selecting { attempt } => vec![self.discover(now, attempt + 1)],
            State::Requesting { offer, attempt } if attempt < REQUEST_ATTEMPTS => {
                vec![self.select(now, offer, attempt + 1)]
            }
            State::Requesting { offer, .. } => {
                let why = format!(
                    "no answer from {} to {REQUEST_ATTEMPTS} DHCPREQUESTs; starting over",
                    offer.server
                );
                vec![Output::Restart(why), self.discover(now, 1)]
            }
            State::Bound { lease, at } => vec![self.renew(now, lease, at, 1)],
            State::Renewing { lease, at, attempt } => {
                if after(at, lease.rebind_seconds).is_some_and(|t2| now >= t2) {
                    vec![self.rebind(now, lease, at, 1)]
                } else {
                    vec![self.renew(now, lease, at, attempt + 1)]
                }
            }
            State::Rebinding { lease, at, attempt } => {
                if after(at, lease.lease_seconds).is_some_and(|end| now >= end) {
                    let why = format!("lease of {} expired without an answer from any server", lease.address);
                    vec![Output::Lost(why), self.discover(now, 1)]
                } else {
                    vec![self.rebind(now, lease, at, attempt + 1)]
                }
            }
        }
    }

    /// A datagram arrived on port 68.
    pub(crate) fn on_reply(&mut self, bytes: &[u8], now: Instant) -> Vec<Output> {
        let reply = match packet::parse_reply(bytes, &self.mac, self.xid) {
            Ok(r) => r,
            Err(why) => return vec![Output::Ignored(why)],
        };
        match (self.state.clone(), reply) {
            (State::Selecting { .. }, Reply::Offer(offer)) => vec![self.select(now, offer, 1)],
            (State::Requesting { offer, .. }, Reply::Ack(lease)) => {
                if lease.server != offer.server {
                    return vec![Output::Ignored(format!(
                        "DHCPACK from {}, we asked {}",
                        lease.server, offer.server
                    ))];
                }
                self.bind(now, lease)
            }
            (State::Renewing { lease: old, .. } | State::Rebinding { lease: old, .. }, Reply::Ack(lease)) => {
                if lease.address != old.address {
                    // A server that moves us elsewhere on renewal: the old address must go.
                    let why = format!("server moved us from {} to {}", old.address, lease.address);
                    let mut out = vec![Output::Lost(why)];
                    out.extend(self.bind(now, lease));
                    return out;
                }
                self.bind(now, lease)
            }
            (State::Requesting { offer, .. }, Reply::Nak { server, message }) => {
                if server.is_some_and(|s| s != offer.server) {
                    return vec![Output::Ignored(format!(
                        "DHCPNAK from {}, not our server",
                        server.unwrap()
                    ))];
                }
                // Repeated NAKs back off (0, 1, 2, 4... 64 s) so a confused server is not flooded.
                let delay = if self.naks == 0 { 0 } else { (1u64 << (self.naks - 1).min(6)).min(64) };
                self.naks += 1;
                self.restart(now + Duration::from_secs(delay));
                vec![Output::Restart(nak_text(offer.server, message))]
            }
            (
                State::Renewing { lease, .. } | State::Rebinding { lease, .. },
                Reply::Nak { server, message },
            ) => {
                self.naks += 1;
                self.restart(now);
                let from = server.unwrap_or(lease.server);
                vec![Output::Lost(format!("{} for {}", nak_text(from, message), lease.address))]
            }
            (state, reply) => {
                let what = match reply {
                    Reply::Offer(_) => "DHCPOFFER",
                    Reply::Ack(_) => "DHCPACK",
                    Reply::Nak { .. } => "DHCPNAK",
                };
                vec![Output::Ignored(format!("unexpected {what} in state {}", name_of(&state)))]
            }
        }
    }

    fn bind(&mut self, now: Instant, lease: Lease) -> Vec<Output> {
        self.naks = 0;
        self.deadline = after(now, lease.renew_seconds);
        self.state = State::Bound { lease: lease.clone(), at: now };
        vec![Output::Bound(lease)]
    }

    /// The DHCPRELEASE for the lease we hold (sent on teardown), and back to INIT with no deadline.
    pub(crate) fn release(&mut self, now: Instant) -> Option<Transmit> {
        let lease = self.lease()?.clone();
        self.new_exchange(now);
        let request = Request::Release { address: lease.address, server: lease.server };
        let out = self.transmit(now, request, Destination::Server(lease.server), 1, now);
        self.state = State::Init;
        self.deadline = None;
        match out {
            Output::Send(t) => Some(t),
            _ => None,
        }
    }
}

fn nak_text(server: Ipv4Addr, message: Option<String>) -> String {
    match message {
        Some(m) => format!("DHCPNAK from {server} ({m})"),
        None => format!("DHCPNAK from {server}"),
    }
}

fn name_of(state: &State) -> &'static str {
    match state {
        State::Init => "INIT",
        State::Selecting { .. } => "SELECTING",
        State::Requesting { .. } => "REQUESTING",
        State::Bound { .. } => "BOUND",
        State::Renewing { .. } => "RENEWING",
        State::Rebinding { .. } => "REBINDING",
    }
}

#[cfg(test)]
mod tests;
