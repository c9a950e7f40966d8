//! The `clevis` member of a JWE's protected header: which pin made it and what that pin needs.
//! `tang`: the server's URL, the advertisement pinned at bind time (its `keys`), and through
//! the JWE's `kid` the exchange key used. `sss`: threshold `t`, prime `p` and nested JWEs.

use super::cipher::{Enc, KeyAlg};
use super::jose::{b64_decode, EcJwk, Jwe};
use super::sss;
use crate::bail;
use crate::error::{Context, Result};
use serde_json::{Map, Value};

#[derive(Debug)]
pub(crate) enum Pin {
    Tang(Box<TangPin>),
    Sss(SssPin),
}

#[derive(Debug)]
pub(crate) struct TangPin {
    pub url: String,
    /// The pinned advertisement's keys: its signing keys authenticate the server's `/adv`.
    pub pinned: Vec<EcJwk>,
    /// The pinned exchange key the JWE was made for (thumbprint = the JWE's `kid`).
    pub server_key: EcJwk,
    pub kid: String,
    /// The JWE's ephemeral public key (`epk`).
    pub epk: EcJwk,
}

#[derive(Debug)]
pub(crate) struct SssPin {
    pub threshold: usize,
    pub prime: Vec<u8>,
    /// Nested JWEs in compact form, each decrypting to one share.
    pub jwes: Vec<String>,
}

/// Reads and checks the pin before anything goes on the network.
pub(crate) fn parse(jwe: &Jwe) -> Result<Pin> {
    let alg = KeyAlg::parse(jwe.header_str("alg")?).context("JWE header")?;
    Enc::parse(jwe.header_str("enc")?).context("JWE header")?;
    let Some(Value::Object(clevis)) = jwe.header.get("clevis") else {
        bail!("not a clevis JWE: its header has no \"clevis\" object");
    };
    let name = match clevis.get("pin") {
        Some(Value::String(p)) => p.as_str(),
        _ => bail!("clevis header: no \"pin\" string"),
    };
    match (name, alg) {
        ("tang", KeyAlg::EcdhEs | KeyAlg::EcdhEsKw(_)) => {
            tang(jwe, member(clevis, "tang")?).map(|p| Pin::Tang(Box::new(p)))
        }
        ("sss", KeyAlg::Dir) => sss(member(clevis, "sss")?).map(Pin::Sss),
        ("tang" | "sss", _) => bail!("clevis {name} pin with key algorithm {}", jwe.header_str("alg")?),
        ("tpm2", _) => bail!("the clevis tpm2 pin is not supported (only tang and sss are)"),
        _ => bail!("unsupported clevis pin {name:?} (tang and sss are)"),
    }
}

fn member<'a>(clevis: &'a Map<String, Value>, name: &str) -> Result<&'a Map<String, Value>> {
    match clevis.get(name) {
        Some(Value::Object(o)) => Ok(o),
        _ => bail!("clevis header: no {name:?} object"),
    }
}

fn tang(jwe: &Jwe, tang: &Map<String, Value>) -> Result<TangPin> {
    let url = match tang.get("url") {
        Some(Value::String(u)) => u.clone(),
        _ => bail!("clevis tang header: no \"url\" string"),
    };
    let pinned = advertised_keys(tang.get("adv")).context("clevis tang header: adv")?;
    let kid = jwe.header_str("kid")?.to_string();
    let epk = EcJwk::from_value(jwe.header.get("epk").unwrap_or(&Value::Null)).context("JWE header: epk")?;
    let Some(server_key) = pinned.iter().find(|k| k.thumbprint() == kid) else {
        bail!("clevis tang header: the JWE's kid {kid} is not a key of the pinned advertisement");
    };
    if !server_key.allows("deriveKey") {
        bail!("clevis tang header: pinned key {kid} is not an exchange (deriveKey) key");
    }
    Ok(TangPin { url, server_key: server_key.clone(), pinned, kid, epk })
}

/// The EC keys of an advertisement payload `{"keys":[...]}`. Keys of other types are skipped
/// (Tang only makes EC keys, but a JWK set may hold others).
pub(crate) fn advertised_keys(adv: Option<&Value>) -> Result<Vec<EcJwk>> {
    let Some(Value::Object(adv)) = adv else { bail!("not a JSON object") };
    let Some(Value::Array(keys)) = adv.get("keys") else { bail!("no \"keys\" list") };
    let mut out = Vec::new();
    for key in keys {
        if key.get("kty").and_then(Value::as_str) == Some("EC") {
            out.push(EcJwk::from_value(key)?);
        }
    }
    if out.is_empty() {
        bail!("no EC keys");
    }
    Ok(out)
}

fn sss(sss: &Map<String, Value>) -> Result<SssPin> {
    let threshold = match sss.get("t").and_then(Value::as_u64) {
        Some(t) if t >= 1 => t as usize,
        _ => bail!("clevis sss header: no threshold \"t\" of at least 1"),
    };
    let prime = match sss.get("p") {
        Some(Value::String(p)) => b64_decode("clevis sss header: p", p)?,
        _ => bail!("clevis sss header: no \"p\" string"),
    };
    sss::check_prime(&prime)?;
    let Some(Value::Array(list)) = sss.get("jwe") else { bail!("clevis sss header: no \"jwe\" list") };
    let jwes = list
        .iter()
        .map(|j| j.as_str().map(str::to_string))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| crate::error::Error::msg("clevis sss header: \"jwe\" holds a non-string"))?;
    if jwes.len() < threshold {
        bail!("clevis sss header: threshold {threshold} but only {} JWEs", jwes.len());
    }
    Ok(SssPin { threshold, prime, jwes })
}
