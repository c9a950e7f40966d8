//! Shamir secret sharing as clevis' `sss` pin does it (clevis `src/pins/sss/sss.c`): not over
//! GF(2^8) but over the prime field of the header's `p` (a random prime as long as the key,
//! 32 bytes for A256GCM). Each share is the point `x || y`, both padded to `p`'s length, that
//! a nested pin decrypts to; the key is the polynomial's value at 0, encoded the same way.

use crate::bail;
use crate::error::Result;
use crypto_bigint::{NonZero, Odd, U256};
use zeroize::Zeroizing;

const MAX_BYTES: usize = 32;

fn number(bytes: &[u8]) -> U256 {
    let mut padded = Zeroizing::new([0u8; MAX_BYTES]);
    padded[MAX_BYTES - bytes.len()..].copy_from_slice(bytes);
    U256::from_be_slice(&padded[..])
}

/// Checks the prime's encoding; returns its length in bytes (the length of `x` and of `y`).
pub(crate) fn check_prime(p: &[u8]) -> Result<usize> {
    if p.is_empty() || p.len() > MAX_BYTES {
        bail!("sss: the prime is {} bytes (1 to {MAX_BYTES} are supported)", p.len());
    }
    if p[p.len() - 1] & 1 == 0 || p.iter().all(|b| *b == 0) {
        bail!("sss: \"p\" is not an odd prime");
    }
    Ok(p.len())
}

/// Lagrange interpolation at 0 of `shares` (each `x || y`) modulo `p`.
pub(crate) fn recover(p: &[u8], shares: &[Zeroizing<Vec<u8>>]) -> Result<Zeroizing<Vec<u8>>> {
    let len = check_prime(p)?;
    let prime = number(p);
    let modulus = NonZero::new(prime).into_option().expect("checked non-zero");
    let odd = Odd::new(prime).into_option().expect("checked odd");
    let mut points = Vec::with_capacity(shares.len());
    for (i, share) in shares.iter().enumerate() {
        if share.len() != 2 * len {
            bail!("sss: share {} is {} bytes, expected {}", i + 1, share.len(), 2 * len);
        }
        let (x, y) = (number(&share[..len]), number(&share[len..]));
        if x >= prime || y >= prime {
            bail!("sss: share {} is not in the field of \"p\"", i + 1);
        }
        points.push((x, y));
    }
    let mut key = U256::ZERO;
    for (i, (xi, yi)) in points.iter().enumerate() {
        let mut acc = U256::ONE;
        for (j, (xj, _)) in points.iter().enumerate() {
            if i == j {
                continue;
            }
            let diff = xi.sub_mod(xj, &modulus);
            let Some(inverse) = diff.invert_odd_mod(&odd).into_option() else {
                bail!("sss: shares {} and {} have the same x", i + 1, j + 1);
            };
            acc = acc.mul_mod(&xj.neg_mod(&modulus), &modulus).mul_mod(&inverse, &modulus);
        }
        key = key.add_mod(&acc.mul_mod(yi, &modulus), &modulus);
    }
    let bytes = Zeroizing::new(key.to_be_bytes());
    Ok(Zeroizing::new(bytes.as_ref()[MAX_BYTES - len..].to_vec()))
}
