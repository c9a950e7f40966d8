//! Per-source-address penalties: failed logins lock an address out for a growing time, wrong
//! passphrases make the next answer wait longer, and a passphrase try waits for its address's
//! and its key's turn before the key derivation runs. Pure (the clock is an argument), so the
//! policy is unit-tested without waiting. Also the admission of new connections.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Failed logins an address may have before it is locked out (a user with several keys in
/// their agent, or a typo in the user name, should not be locked out at once).
pub(crate) const FREE_FAILED_LOGINS: u32 = 3;
pub(crate) const MAX_LOCKOUT: Duration = Duration::from_secs(60);
pub(crate) const MAX_PASSPHRASE_DELAY: Duration = Duration::from_secs(30);
/// Records untouched this long are forgotten, so the table stays small.
const FORGET_AFTER: Duration = Duration::from_secs(3600);
const MAX_RECORDS: usize = 4096;

/// How long a claimed passphrase try may stay unsettled before its turn is given back anyway
/// (a try that never reports its result must not block its address for the boot).
const TRY_IN_FLIGHT: Duration = Duration::from_secs(120);

#[derive(Default)]
pub(crate) struct Penalties {
    records: HashMap<IpAddr, Record>,
    /// Per authorized key (its fingerprint): the same key from many addresses shares one turn.
    keys: HashMap<String, Turn>,
}

#[derive(Clone, Copy)]
struct Record {
    failed_logins: u32,
    locked_until: Option<Instant>,
    turn: Turn,
    last: Instant,
}

/// Whose turn a passphrase try is: wrong tries so far, and when the next may start.
#[derive(Clone, Copy, Default)]
struct Turn {
    wrong: u32,
    next_try: Option<Instant>,
}

impl Turn {
    fn wait(&self, now: Instant) -> Option<Duration> {
        let left = self.next_try?.saturating_duration_since(now);
        (!left.is_zero()).then_some(left)
    }
}

/// 1, 2, 4, ... seconds, capped.
fn doubling(n: u32, cap: Duration) -> Duration {
    let secs = 1u64.checked_shl(n.saturating_sub(1).min(20)).unwrap_or(u64::MAX);
    Duration::from_secs(secs).min(cap)
}

impl Penalties {
    fn record(&mut self, ip: IpAddr, now: Instant) -> &mut Record {
        if self.records.len() >= MAX_RECORDS && !self.records.contains_key(&ip) {
            self.records.retain(|_, r| now.saturating_duration_since(r.last) < FORGET_AFTER);
            if self.records.len() >= MAX_RECORDS {
                // Still full: forget the oldest rather than grow without bound.
                if let Some(oldest) = self.records.iter().min_by_key(|(_, r)| r.last).map(|(ip, _)| *ip) {
                    self.records.remove(&oldest);
                }
            }
        }
        let r = self.records.entry(ip).or_insert(Record {
            failed_logins: 0,
            locked_until: None,
            turn: Turn::default(),
            last: now,
        });
        r.last = now;
        r
    }

    /// How long `ip` is still locked out, if it is.
    pub(crate) fn locked(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let until = self.records.get(&ip)?.locked_until?;
        let left = until.saturating_duration_since(now);
        (!left.is_zero()).then_some(left)
    }

    /// A connection from `ip` ended without logging in after a refused attempt. Returns the
    /// lockout it now has, if any: none for the first few, then 1 s, 2 s, 4 s ... up to 60 s.
    pub(crate) fn failed_login(&mut self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let r = self.record(ip, now);
        r.failed_logins += 1;
        if r.failed_logins <= FREE_FAILED_LOGINS {
            return None;
        }
        let lockout = doubling(r.failed_logins - FREE_FAILED_LOGINS, MAX_LOCKOUT);
        r.locked_until = Some(now + lockout);
        Some(lockout)
    }

    /// Claims the turn for one passphrase try from `ip` with `key`, before the key derivation
    /// runs: `Err(wait)` while an earlier try of the address or the key is under way or its
    /// delay runs. So parallel session channels, or connections, take turns, and a wrong
    /// passphrase's delay holds before the next derivation, not after it.
    pub(crate) fn claim_try(&mut self, ip: IpAddr, key: &str, now: Instant) -> Result<(), Duration> {
        let by_key = self.keys.get(key).and_then(|t| t.wait(now));
        let by_ip = self.records.get(&ip).and_then(|r| r.turn.wait(now));
        if let Some(wait) = by_key.max(by_ip) {
            return Err(wait);
        }
        let until = Some(now + TRY_IN_FLIGHT);
        self.record(ip, now).turn.next_try = until;
        self.keys.entry(key.to_string()).or_default().next_try = until;
        Ok(())
    }

    /// The claimed try was wrong (or opened nothing): the address and the key wait before
    /// their next try, 1 s, 2 s, 4 s ... up to 30 s, growing across sessions so reconnecting
    /// does not reset it. Returns that wait.
    pub(crate) fn wrong_passphrase(&mut self, ip: IpAddr, key: &str, now: Instant) -> Duration {
        let record = &mut self.record(ip, now).turn;
        record.wrong += 1;
        let by_ip = doubling(record.wrong, MAX_PASSPHRASE_DELAY);
        let by_key = self.keys.entry(key.to_string()).or_default();
        by_key.wrong += 1;
        let delay = by_ip.max(doubling(by_key.wrong, MAX_PASSPHRASE_DELAY));
        by_key.next_try = Some(now + delay);
        self.record(ip, now).turn.next_try = Some(now + delay);
        delay
    }

    /// The claimed try is settled without a wrong passphrase: the next may start at once.
    pub(crate) fn try_settled(&mut self, ip: IpAddr, key: &str, now: Instant) {
        self.record(ip, now).turn.next_try = None;
        self.keys.entry(key.to_string()).or_default().next_try = None;
    }

    /// `ip` logged in: its failed logins are forgiven (its wrong passphrases are not).
    pub(crate) fn logged_in(&mut self, ip: IpAddr, now: Instant) {
        let r = self.record(ip, now);
        r.failed_logins = 0;
        r.locked_until = None;
    }
}

/// Session channels one connection may have open: each can run a prompt, and a passphrase
/// try of each waits for its turn anyway, so more only hold memory.
pub(crate) const MAX_SESSIONS_PER_CONNECTION: u32 = 4;

/// Connections that have not logged in yet, at once. A waiting connection costs a task and a
/// few KiB until its key exchange, and the exchanges offered cost well under a millisecond,
/// so the table can be large: a flood must fill many slots before anyone is cut, and the
/// owner's connection, which logs in within a few round trips, is rarely the oldest one.
pub(crate) const MAX_WAITING: usize = 256;
/// Waiting connections one address may hold: a silent or slow client holds a slot until the
/// login grace time, so one address must not hold many. More are refused.
pub(crate) const MAX_WAITING_PER_ADDRESS: usize = 3;
/// Waiting connections one network may hold (IPv4 /24, IPv6 /64: what one LAN or one host
/// with IPv6 privacy addresses has). More evict that network's own oldest one, so a flood from
/// many addresses of one network competes with itself, not with everyone else.
pub(crate) const MAX_WAITING_PER_NETWORK: usize = 32;

/// The network an address belongs to for the per-network limit: IPv4 /24, IPv6 /64, an
/// IPv4-mapped IPv6 address as the IPv4 address it is.
pub(crate) fn network(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            IpAddr::from([a, b, c, 0])
        }
        IpAddr::V6(v6) => IpAddr::V6(std::net::Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
    }
}

/// One open connection, as the accept loop sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Slot {
    pub ip: IpAddr,
    /// The key exchange is done: the client has asked to authenticate.
    pub authenticating: bool,
    pub logged_in: bool,
}

/// What to do with a new connection from an address.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Admit {
    Yes,
    /// Take it, and cut the open connection at this index (`live` is oldest first) to make room.
    Evict(usize),
    Refuse(&'static str),
}

pub(crate) const TOO_MANY_FROM_ADDRESS: &str =
    "too many connections from this address that have not logged in";

/// Whether a new connection from `ip` gets a slot among `live` (oldest first). Logged-in
/// connections are never cut and never count. Among the waiting ones:
/// - an address holding [`MAX_WAITING_PER_ADDRESS`] is refused;
/// - a network holding [`MAX_WAITING_PER_NETWORK`] gives up one of its own;
/// - a full table ([`MAX_WAITING`]) gives up one of anyone's.
///
/// The one given up ([`victim`]) is one that has not finished its key exchange if any (a
/// client that has is about to log in, or has paid for the exchange), from the network, then
/// the address, holding the most, the oldest of those: silent floods cut themselves, and a
/// flood from as many networks as slots cuts its oldest, while a fresh login gets through.
pub(crate) fn admit(live: &[Slot], ip: IpAddr) -> Admit {
    let ip = ip.to_canonical();
    let waiting: Vec<(usize, &Slot)> = live.iter().enumerate().filter(|(_, s)| !s.logged_in).collect();
    if waiting.iter().filter(|(_, s)| s.ip.to_canonical() == ip).count() >= MAX_WAITING_PER_ADDRESS {
        return Admit::Refuse(TOO_MANY_FROM_ADDRESS);
    }
    let net = network(ip);
    let same_net: Vec<(usize, &Slot)> =
        waiting.iter().copied().filter(|(_, s)| network(s.ip) == net).collect();
    let pool = if same_net.len() >= MAX_WAITING_PER_NETWORK {
        same_net
    } else if waiting.len() >= MAX_WAITING {
        waiting
    } else {
        return Admit::Yes;
    };
    victim(&pool).map_or(Admit::Refuse("too many connections"), Admit::Evict)
}

/// The index (in `live`) of the waiting connection to cut among `pool` (oldest first).
fn victim(pool: &[(usize, &Slot)]) -> Option<usize> {
    let mut per_net: HashMap<IpAddr, usize> = HashMap::new();
    let mut per_ip: HashMap<IpAddr, usize> = HashMap::new();
    for (_, s) in pool {
        *per_net.entry(network(s.ip)).or_default() += 1;
        *per_ip.entry(s.ip.to_canonical()).or_default() += 1;
    }
    // max_by_key keeps the last of equals: iterate newest first so the oldest wins a tie.
    pool.iter()
        .rev()
        .max_by_key(|(_, s)| (!s.authenticating, per_net[&network(s.ip)], per_ip[&s.ip.to_canonical()]))
        .map(|(i, _)| *i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn lockout_grows_per_address() {
        let t0 = Instant::now();
        let mut p = Penalties::default();
        let a = ip("192.0.2.1");
        let got: Vec<Option<u64>> = (0..10).map(|_| p.failed_login(a, t0).map(|d| d.as_secs())).collect();
        assert_eq!(got, [None, None, None, Some(1), Some(2), Some(4), Some(8), Some(16), Some(32), Some(60)]);
        assert_eq!(p.locked(a, t0), Some(Duration::from_secs(60)));
        assert_eq!(p.locked(a, t0 + Duration::from_secs(60)), None);
        // Another address is not affected.
        assert_eq!(p.locked(ip("192.0.2.2"), t0), None);
        p.logged_in(a, t0);
        assert_eq!(p.locked(a, t0), None);
        assert_eq!(p.failed_login(a, t0), None);
    }

    #[test]
    fn passphrase_delay_grows_and_survives_login() {
        let t0 = Instant::now();
        let mut p = Penalties::default();
        let a = ip("2001:db8::1");
        let got: Vec<u64> = (0..7).map(|_| p.wrong_passphrase(a, "k", t0).as_secs()).collect();
        assert_eq!(got, [1, 2, 4, 8, 16, 30, 30]);
        p.logged_in(a, t0);
        assert_eq!(p.wrong_passphrase(a, "k", t0).as_secs(), 30);
        for _ in 0..100 {
            p.wrong_passphrase(a, "k", t0);
        }
        assert_eq!(p.wrong_passphrase(a, "k", t0), MAX_PASSPHRASE_DELAY);
    }

    #[test]
    fn passphrase_tries_take_turns_per_address_and_key() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut p = Penalties::default();
        let (a, b) = (ip("192.0.2.1"), ip("192.0.2.2"));
        assert_eq!(p.claim_try(a, "k", t0), Ok(()));
        // While it runs, neither the address (with another key) nor the key (from elsewhere)
        // may start another.
        assert!(p.claim_try(a, "other", t0).is_err());
        assert!(p.claim_try(b, "k", t0).is_err());
        assert_eq!(p.claim_try(b, "other", t0), Ok(()));
        p.try_settled(b, "other", t0);
        // Wrong: 1 s before the next, for the address and for the key.
        assert_eq!(p.wrong_passphrase(a, "k", t0), s(1));
        assert_eq!(p.claim_try(a, "k", t0), Err(s(1)));
        assert_eq!(p.claim_try(b, "k", t0), Err(s(1)));
        assert_eq!(p.claim_try(a, "k", t0 + s(1)), Ok(()));
        assert_eq!(p.wrong_passphrase(a, "k", t0 + s(1)), s(2));
        assert_eq!(p.claim_try(a, "k", t0 + s(2)), Err(s(1)));
        // An unsettled try gives its turn back after a while.
        assert_eq!(p.claim_try(a, "k", t0 + s(3)), Ok(()));
        assert!(p.claim_try(a, "k", t0 + s(100)).is_err());
        assert_eq!(p.claim_try(a, "k", t0 + s(3) + TRY_IN_FLIGHT), Ok(()));
        // 30 parallel claims at once: one goes, the rest wait.
        let mut q = Penalties::default();
        let granted = (0..30).filter(|_| q.claim_try(a, "k", t0).is_ok()).count();
        assert_eq!(granted, 1);
        // The same address, IPv4-mapped, is one address (the server canonicalizes first).
        assert_eq!(ip("::ffff:192.0.2.1").to_canonical(), a);
    }

    fn slot(a: &str, authenticating: bool, logged_in: bool) -> Slot {
        Slot { ip: ip(a), authenticating, logged_in }
    }

    fn silent(a: &str) -> Slot {
        slot(a, false, false)
    }

    #[test]
    fn networks() {
        let cases = [
            ("192.0.2.77", "192.0.2.0"),
            ("::ffff:192.0.2.77", "192.0.2.0"),
            ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::"),
            ("2001:db8:1:2::ffff", "2001:db8:1:2::"),
            ("fe80::1", "fe80::"),
        ];
        for (a, want) in cases {
            assert_eq!(network(ip(a)), ip(want), "{a}");
        }
        assert_ne!(network(ip("2001:db8:1:2::1")), network(ip("2001:db8:1:3::1")));
    }

    #[test]
    fn per_address() {
        let a = "192.0.2.1";
        assert_eq!(admit(&[], ip(a)), Admit::Yes);
        assert_eq!(admit(&[silent(a), silent(a)], ip(a)), Admit::Yes);
        let three = [silent(a), slot(a, true, false), silent(a)];
        assert_eq!(admit(&three, ip(a)), Admit::Refuse(TOO_MANY_FROM_ADDRESS));
        // The same address written as IPv4-mapped IPv6 is the same address.
        assert_eq!(admit(&three, ip("::ffff:192.0.2.1")), Admit::Refuse(TOO_MANY_FROM_ADDRESS));
        // Logged-in connections do not count against it.
        let logged = [slot(a, true, true), slot(a, true, true), slot(a, true, true), silent(a)];
        assert_eq!(admit(&logged, ip(a)), Admit::Yes);
        // An IPv6 address: the cap is per address, not per network.
        let v6 = [silent("2001:db8::1"), silent("2001:db8::1"), silent("2001:db8::1")];
        assert_eq!(admit(&v6, ip("2001:db8::1")), Admit::Refuse(TOO_MANY_FROM_ADDRESS));
        assert_eq!(admit(&v6, ip("2001:db8::2")), Admit::Yes);
    }

    #[test]
    fn a_full_network_gives_up_its_own_oldest() {
        let v4 = |i: u32| format!("198.51.100.{i}");
        let v6 = |i: u32| format!("2001:db8:5:5::{i:x}");
        let mapped = |i: u32| format!("::ffff:198.51.100.{i}");
        let nets: [&dyn Fn(u32) -> String; 3] = [&v4, &v6, &mapped];
        for addr in nets {
            let mut live = vec![silent("192.0.2.1"), slot("192.0.2.2", true, false)];
            live.extend((1..=MAX_WAITING_PER_NETWORK as u32).map(|i| silent(&addr(i))));
            let newcomer = ip(&addr(200));
            // From that network: its oldest goes, not the other network's older ones.
            assert_eq!(admit(&live, newcomer), Admit::Evict(2), "{newcomer}");
            // From elsewhere: room left in the table.
            assert_eq!(admit(&live, ip("203.0.113.1")), Admit::Yes, "{newcomer}");
            // Among the network's own, one still in key exchange goes before one authenticating.
            live[2].authenticating = true;
            assert_eq!(admit(&live, newcomer), Admit::Evict(3), "{newcomer}");
        }
    }

    #[test]
    fn a_full_table_gives_up_a_silent_one_from_the_busiest_network() {
        // One per network, all silent: the oldest goes.
        let distinct: Vec<Slot> = (0..MAX_WAITING as u32)
            .map(|i| Slot {
                ip: IpAddr::V4(std::net::Ipv4Addr::from((10 << 24) | (i << 8) | 1)),
                authenticating: false,
                logged_in: false,
            })
            .collect();
        assert_eq!(admit(&distinct, ip("192.0.2.9")), Admit::Evict(0));
        // Two from one network: that network's oldest goes first.
        let mut two = distinct.clone();
        two[200].ip = ip("10.0.7.2");
        assert_eq!(admit(&two, ip("192.0.2.9")), Admit::Evict(7));
        // Those that finished their key exchange go last: the oldest silent one goes.
        let mut exchanged = distinct.clone();
        for s in &mut exchanged[..10] {
            s.authenticating = true;
        }
        assert_eq!(admit(&exchanged, ip("192.0.2.9")), Admit::Evict(10));
        // Only logged-in connections besides: none is cut, the table is not full of waiting ones.
        let mut mixed: Vec<Slot> = (0..16).map(|_| slot("192.0.2.100", true, true)).collect();
        mixed.push(silent("192.0.2.1"));
        assert_eq!(admit(&mixed, ip("192.0.2.9")), Admit::Yes);
    }

    #[test]
    fn table_is_bounded() {
        let t0 = Instant::now();
        let mut p = Penalties::default();
        for i in 0..(MAX_RECORDS as u32 + 50) {
            p.failed_login(IpAddr::from(i.to_be_bytes()), t0);
        }
        assert!(p.records.len() <= MAX_RECORDS);
    }
}
