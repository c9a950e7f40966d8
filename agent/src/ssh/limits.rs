//! Per-source-address penalties: failed logins lock an address out for a growing time, wrong
//! passphrases make the next answer wait longer. Pure (the clock is an argument), so the
//! policy is unit-tested without waiting.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Failed logins an address may have before it is locked out (a user with several keys in
/// their agent, or a typo in the user name, should not be locked out at once).
pub const FREE_FAILED_LOGINS: u32 = 3;
pub const MAX_LOCKOUT: Duration = Duration::from_secs(60);
pub const MAX_PASSPHRASE_DELAY: Duration = Duration::from_secs(30);
/// Records untouched this long are forgotten, so the table stays small.
const FORGET_AFTER: Duration = Duration::from_secs(3600);
const MAX_RECORDS: usize = 4096;

#[derive(Default)]
pub struct Penalties {
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
    pub fn locked(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let until = self.records.get(&ip)?.locked_until?;
        let left = until.saturating_duration_since(now);
        (!left.is_zero()).then_some(left)
    }

    /// A connection from `ip` ended without logging in after a refused attempt. Returns the
    /// lockout it now has, if any: none for the first few, then 1 s, 2 s, 4 s ... up to 60 s.
    pub fn failed_login(&mut self, ip: IpAddr, now: Instant) -> Option<Duration> {
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
    pub fn wrong_passphrase(&mut self, ip: IpAddr, now: Instant) -> Duration {
        let r = self.record(ip, now);
        r.wrong_passphrases += 1;
        doubling(r.wrong_passphrases, MAX_PASSPHRASE_DELAY)
    }

    /// `ip` logged in: its failed logins are forgiven (its wrong passphrases are not).
    pub fn logged_in(&mut self, ip: IpAddr, now: Instant) {
        let r = self.record(ip, now);
        r.failed_logins = 0;
        r.locked_until = None;
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
