//! Per-source-address penalties: failed logins lock an address out for a growing time, wrong
//! passphrases make the next answer wait longer. Pure (the clock is an argument), so the
//! policy is unit-tested without waiting.

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

#[derive(Default)]
pub(crate) struct Penalties {
    records: HashMap<IpAddr, Record>,
}

#[derive(Clone, Copy)]
struct Record {
    failed_logins: u32,
    wrong_passphrases: u32,
    locked_until: Option<Instant>,
    last: Instant,
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
            wrong_passphrases: 0,
            locked_until: None,
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

    /// A wrong passphrase from `ip`: how long to wait before answering or asking again. Grows
    /// across sessions, so reconnecting does not reset it: 1 s, 2 s, 4 s ... up to 30 s.
    pub(crate) fn wrong_passphrase(&mut self, ip: IpAddr, now: Instant) -> Duration {
        let r = self.record(ip, now);
        r.wrong_passphrases += 1;
        doubling(r.wrong_passphrases, MAX_PASSPHRASE_DELAY)
    }

    /// `ip` logged in: its failed logins are forgiven (its wrong passphrases are not).
    pub(crate) fn logged_in(&mut self, ip: IpAddr, now: Instant) {
        let r = self.record(ip, now);
        r.failed_logins = 0;
        r.locked_until = None;
    }
}

/// Connections handled at once; more are refused until some end (sshd's MaxStartups idea).
pub(crate) const MAX_CONNECTIONS: usize = 16;
/// Connections one address may have open that have not logged in: a silent or slow client
/// holds a slot until the login grace time, so one address must not hold them all.
pub(crate) const MAX_UNAUTHENTICATED_PER_ADDRESS: usize = 3;

/// One open connection, as the accept loop sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Slot {
    pub ip: IpAddr,
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

/// Whether a new connection from `ip` gets a slot among `live` (oldest first). When every slot
/// is taken, the address holding the most connections that have not logged in gives up its
/// oldest one, if it holds more than `ip` does: many silent connections from a few addresses
/// cannot keep another address out. Logged-in connections are never cut.
pub(crate) fn admit(live: &[Slot], ip: IpAddr) -> Admit {
    let waiting = |a: IpAddr| live.iter().filter(|s| !s.logged_in && s.ip == a).count();
    let own = waiting(ip);
    if own >= MAX_UNAUTHENTICATED_PER_ADDRESS {
        return Admit::Refuse("too many connections from this address that have not logged in");
    }
    if live.len() < MAX_CONNECTIONS {
        return Admit::Yes;
    }
    // On a tie, the address whose oldest connection is oldest (max_by_key keeps the last: rev).
    let busiest =
        live.iter().filter(|s| !s.logged_in).rev().map(|s| (waiting(s.ip), s.ip)).max_by_key(|&(n, _)| n);
    match busiest {
        Some((n, heavy)) if n >= 2 && n > own => {
            let victim = live.iter().position(|s| !s.logged_in && s.ip == heavy).expect("counted above");
            Admit::Evict(victim)
        }
        _ => Admit::Refuse("too many connections"),
    }
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
        let got: Vec<u64> = (0..7).map(|_| p.wrong_passphrase(a, t0).as_secs()).collect();
        assert_eq!(got, [1, 2, 4, 8, 16, 30, 30]);
        p.logged_in(a, t0);
        assert_eq!(p.wrong_passphrase(a, t0).as_secs(), 30);
        for _ in 0..100 {
            p.wrong_passphrase(a, t0);
        }
        assert_eq!(p.wrong_passphrase(a, t0), MAX_PASSPHRASE_DELAY);
    }

    fn slots(spec: &[(&str, bool)]) -> Vec<Slot> {
        spec.iter().map(|&(a, logged_in)| Slot { ip: ip(a), logged_in }).collect()
    }

    #[test]
    fn admission() {
        let a = "192.0.2.1";
        let b = "192.0.2.2";
        let good = "192.0.2.9";
        // A full table: 3 silent from a, 3 silent from b, 10 logged in from elsewhere.
        let mut full: Vec<(&str, bool)> =
            vec![(a, false), (b, false), (a, false), (b, false), (a, false), (b, false)];
        full.extend(std::iter::repeat_n(("192.0.2.100", true), 10));
        type Case<'a> = (Vec<(&'a str, bool)>, &'a str, Admit);
        let cases: Vec<Case> = vec![
            (vec![], good, Admit::Yes),
            (vec![(a, false), (a, false)], a, Admit::Yes),
            (
                vec![(a, false), (a, false), (a, false)],
                a,
                Admit::Refuse("too many connections from this address that have not logged in"),
            ),
            // Logged-in connections do not count against the address.
            (vec![(a, true), (a, true), (a, true), (a, false)], a, Admit::Yes),
            // Full: the busiest waiting address gives up its oldest connection.
            (full.clone(), good, Admit::Evict(0)),
            (
                full.clone(),
                a,
                Admit::Refuse("too many connections from this address that have not logged in"),
            ),
            // Full of logged-in connections, or of one waiting connection per address: refused.
            (std::iter::repeat_n((a, true), 16).collect(), good, Admit::Refuse("too many connections")),
        ];
        for (live, from, want) in cases {
            assert_eq!(admit(&slots(&live), ip(from)), want, "{live:?} + {from}");
        }
        let distinct: Vec<Slot> =
            (0..16u8).map(|i| Slot { ip: IpAddr::from([10, 0, 0, i]), logged_in: false }).collect();
        assert_eq!(admit(&distinct, ip(good)), Admit::Refuse("too many connections"));
        // Two waiting from one address among distinct others: the new address gets that slot.
        let mut two = distinct.clone();
        two[15].ip = two[3].ip;
        assert_eq!(admit(&two, ip(good)), Admit::Evict(3));
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
