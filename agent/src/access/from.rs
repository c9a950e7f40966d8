//! The `from="pattern-list"` option of an `authorized_keys` line: which client addresses may
//! use the key. As in sshd: comma-separated patterns with `*` and `?` wildcards or
//! `address/bits` (CIDR); a pattern starting with `!` forbids; a key is allowed when no
//! negated pattern matches and some plain one does. The initrd has no DNS, so host-name
//! patterns are refused when the line is read instead of silently never matching.

use std::net::IpAddr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FromList(Vec<(bool, Pattern)>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    Cidr(IpAddr, u8),
    /// `*` / `?` wildcards over the address as text (`192.168.1.*`, `fe80::*`).
    Glob(String),
}

impl FromList {
    pub(crate) fn parse(list: &str) -> Result<FromList, String> {
        let mut patterns = Vec::new();
        for raw in list.split(',') {
            let (negated, pattern) = match raw.strip_prefix('!') {
                Some(rest) => (true, rest),
                None => (false, raw),
            };
            if pattern.is_empty() {
                return Err(format!("from=\"{list}\": empty pattern"));
            }
            patterns
                .push((negated, Pattern::parse(pattern).map_err(|why| format!("from=\"{list}\": {why}"))?));
        }
        Ok(FromList(patterns))
    }

    pub(crate) fn allows(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        let text = ip.to_string();
        let mut allowed = false;
        for (negated, pattern) in &self.0 {
            if pattern.matches(ip, &text) {
                if *negated {
                    return false;
                }
                allowed = true;
            }
        }
        allowed
    }
}

impl Pattern {
    fn parse(p: &str) -> Result<Pattern, String> {
        if let Some((addr, bits)) = p.split_once('/') {
            let addr: IpAddr = addr.parse().map_err(|_| format!("{p}: not an address/bits network"))?;
            let max = if addr.is_ipv4() { 32 } else { 128 };
            match bits.parse::<u8>() {
                Ok(b) if b <= max => Ok(Pattern::Cidr(addr, b)),
                _ => Err(format!("{p}: prefix length must be 0 to {max}")),
            }
        } else if p.chars().all(|c| c.is_ascii_hexdigit() || ".:*?".contains(c)) {
            Ok(Pattern::Glob(p.to_ascii_lowercase()))
        } else {
            Err(format!("{p}: host names cannot be matched in the initrd (no DNS); use addresses"))
        }
    }

    fn matches(&self, ip: IpAddr, text: &str) -> bool {
        match self {
            Pattern::Glob(g) => glob(g.as_bytes(), text.as_bytes()),
            Pattern::Cidr(net, bits) => match (net, ip) {
                (IpAddr::V4(n), IpAddr::V4(a)) => {
                    prefix_eq(u32::from(*n).into(), u32::from(a).into(), 32, *bits)
                }
                (IpAddr::V6(n), IpAddr::V6(a)) => prefix_eq(u128::from(*n), u128::from(a), 128, *bits),
                _ => false,
            },
        }
    }
}

/// The first `bits` of two `width`-bit numbers are equal.
fn prefix_eq(a: u128, b: u128, width: u32, bits: u8) -> bool {
    let shift = width - u32::from(bits);
    shift >= width || (a >> shift) == (b >> shift)
}

/// `*` any run, `?` one character.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|i| glob(rest, &text[i..])),
        Some((b'?', rest)) => !text.is_empty() && glob(rest, &text[1..]),
        Some((c, rest)) => text.first() == Some(c) && glob(rest, &text[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        let cases: &[(&str, &str, bool)] = &[
            ("192.168.1.10", "192.168.1.10", true),
            ("192.168.1.10", "192.168.1.11", false),
            ("192.168.1.*", "192.168.1.77", true),
            ("192.168.?.1", "192.168.3.1", true),
            ("192.168.?.1", "192.168.33.1", false),
            ("10.0.0.0/8", "10.200.3.4", true),
            ("10.0.0.0/8", "11.0.0.1", false),
            ("0.0.0.0/0", "203.0.113.9", true),
            ("10.0.0.0/8,!10.0.0.5", "10.0.0.5", false),
            ("10.0.0.0/8,!10.0.0.5", "10.0.0.6", true),
            ("!10.0.0.5", "10.0.0.6", false),
            ("2001:db8::/32", "2001:db8:1::7", true),
            ("2001:db8::/32", "2001:db9::7", false),
            ("fe80::*", "fe80::1", true),
            ("FE80::*", "fe80::1", true),
            ("10.0.0.0/8", "::ffff:10.1.2.3", true),
            ("10.0.0.0/8", "2001:db8::1", false),
            ("::1/128", "::1", true),
        ];
        for (list, ip, want) in cases {
            let from = FromList::parse(list).unwrap();
            assert_eq!(from.allows(ip.parse().unwrap()), *want, "from={list:?} {ip}");
        }
    }

    #[test]
    fn refused_patterns() {
        let cases: &[(&str, &str)] = &[
            ("*.example.com", "host names cannot be matched in the initrd"),
            ("10.0.0.0/33", "prefix length must be 0 to 32"),
            ("10.0.0/8", "not an address/bits network"),
            ("10.0.0.1,,10.0.0.2", "empty pattern"),
            ("!", "empty pattern"),
        ];
        for (list, want) in cases {
            let e = FromList::parse(list).unwrap_err();
            assert!(e.contains(want), "{list}: {e}");
        }
    }
}
