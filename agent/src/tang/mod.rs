//! Network-bound unlock with Tang, compatible with clevis: a JWE made by `clevis encrypt tang`
//! or `clevis encrypt sss`, or the token `clevis luks bind` writes into a LUKS2 header, is
//! decrypted with the McCallum-Relyea exchange against the Tang servers it names.
//!
//! Pure parts: `jose` (JWE, JWK), `pin` (the clevis header), `adv` (the advertisement's
//! signature against the pinned keys), `cipher` (ECDH-ES + Concat KDF, AES key wrap,
//! AES-GCM), `sss` (Shamir over clevis' prime field), `ec` (curve arithmetic). Network: `http`.
//! `token` reads a clevis token from a LUKS2 header.

mod adv;
mod cipher;
mod ec;
mod http;
mod jose;
mod pin;
mod sss;
pub mod token;

#[cfg(test)]
mod tests;

use crate::config::tang::Tang;
use crate::error::{Context, Error, Result};
use pin::{Pin, SssPin, TangPin};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;
use zeroize::Zeroizing;

/// `sss` pins may nest; clevis has no limit, we stop at a depth no real binding reaches.
const MAX_DEPTH: usize = 4;

/// Recovers the secret of a clevis JWE (compact or JSON form) or clevis LUKS2 token: for a
/// LUKS token, the keyslot passphrase. Blocking (network with `config`'s timeout per
/// request); run it on a blocking thread. Errors name the server and what failed.
pub fn recover_passphrase(token_or_jwe: &str, config: &Tang) -> Result<Zeroizing<Vec<u8>>> {
    recover(token_or_jwe, config).map(|r| r.secret)
}

/// A recovered secret and the servers whose answers recovered it (for the log).
pub struct Recovered {
    pub secret: Zeroizing<Vec<u8>>,
    pub servers: Vec<String>,
}

/// As [`recover_passphrase`], also saying which servers answered.
pub fn recover(token_or_jwe: &str, config: &Tang) -> Result<Recovered> {
    let jwe = jose::Jwe::parse(token_or_jwe)?;
    let mut servers = Vec::new();
    let secret = decrypt(&jwe, &Arc::new(config.clone()), 0, &mut servers)?;
    Ok(Recovered { secret, servers })
}

fn decrypt(
    jwe: &jose::Jwe,
    config: &Arc<Tang>,
    depth: usize,
    servers: &mut Vec<String>,
) -> Result<Zeroizing<Vec<u8>>> {
    match pin::parse(jwe)? {
        Pin::Tang(p) => {
            let (z, server) = exchange_any(&p, config)?;
            servers.push(server);
            cipher::open(jwe, &cipher::ecdh_es_key(jwe, &z)?).with_context(|| p.url.clone())
        }
        Pin::Sss(p) => {
            if depth >= MAX_DEPTH {
                crate::bail!("clevis sss: nested deeper than {MAX_DEPTH}");
            }
            let key = recover_sss(&p, config, depth, servers)?;
            cipher::open(jwe, &key).context("clevis sss")
        }
    }
}

/// Asks every nested pin at once; the first `t` shares win, the rest are left to time out.
fn recover_sss(
    p: &SssPin,
    config: &Arc<Tang>,
    depth: usize,
    servers: &mut Vec<String>,
) -> Result<Zeroizing<Vec<u8>>> {
    let (send, receive) = mpsc::channel();
    for (i, text) in p.jwes.iter().enumerate() {
        let (send, text, config) = (send.clone(), text.clone(), Arc::clone(config));
        std::thread::spawn(move || {
            let mut used = Vec::new();
            let share = jose::Jwe::parse(&text).and_then(|jwe| decrypt(&jwe, &config, depth + 1, &mut used));
            let _ = send.send((i, share.map(|s| (s, used))));
        });
    }
    drop(send);
    let mut shares = Vec::new();
    let mut failures = Vec::new();
    for (i, share) in receive.iter() {
        match share {
            Ok((s, used)) => {
                shares.push(s);
                servers.extend(used);
            }
            Err(e) => failures.push(format!("share {}: {e}", i + 1)),
        }
        if shares.len() == p.threshold {
            return sss::recover(&p.prime, &shares);
        }
    }
    Err(Error::msg(format!(
        "clevis sss: {} of {} shares recovered, {} needed: {}",
        shares.len(),
        p.jwes.len(),
        p.threshold,
        failures.join("; ")
    )))
}

/// The servers to ask for a tang pin: the configured override, else the one in the JWE.
fn servers<'a>(p: &'a TangPin, config: &'a Tang) -> Vec<&'a str> {
    if config.servers.is_empty() {
        vec![p.url.as_str()]
    } else {
        config.servers.iter().map(String::as_str).collect()
    }
}

fn exchange_any(p: &TangPin, config: &Tang) -> Result<(Zeroizing<Vec<u8>>, String)> {
    let mut failures = Vec::new();
    for server in servers(p, config) {
        match exchange(p, server, Duration::from_secs(config.timeout_seconds)) {
            Ok(z) => {
                log::info!("tang: {server}: key recovered");
                return Ok((z, server.to_string()));
            }
            Err(e) => failures.push(format!("{server}: {e}")),
        }
    }
    Err(Error::msg(failures.join("; ")))
}

/// One server: its advertisement must be signed by a pinned key and still offer the JWE's
/// exchange key; then the McCallum-Relyea exchange through `/rec/<kid>`.
fn exchange(p: &TangPin, server: &str, timeout: Duration) -> Result<Zeroizing<Vec<u8>>> {
    let url = http::Url::parse(server)?;
    let advertised = adv::verify(&http::get(&url, "/adv", timeout)?, &p.pinned)?;
    if !advertised.iter().any(|k| k.thumbprint() == p.kid) {
        crate::bail!("the advertisement no longer offers the exchange key {} (rotated?)", p.kid);
    }
    let path = format!("/rec/{}", p.kid);
    ec::recover_z(&p.epk, &p.server_key, &mut |request| {
        let answer =
            http::post(&url, &path, "application/jwk+json", request.exchange_request().as_bytes(), timeout)?;
        let value = serde_json::from_slice(&answer)
            .map_err(|_| Error::msg(format!("POST {path}: the answer is not JSON")))?;
        jose::EcJwk::from_value(&value).with_context(|| format!("POST {path}: the answer"))
    })
}
