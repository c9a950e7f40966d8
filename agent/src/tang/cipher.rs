//! The JWE algorithms clevis uses: `ECDH-ES` (and `ECDH-ES+A*KW`) key agreement with the
//! Concat KDF (RFC 7518 4.6), `dir` (the `sss` pin), and `A*GCM` content encryption.

use super::jose::{b64_decode, Jwe};
use crate::bail;
use crate::error::{Error, Result};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{AesGcm, Nonce};
use zeroize::Zeroizing;

/// How the content key is obtained (the header's `alg`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyAlg {
    Dir,
    EcdhEs,
    /// ECDH-ES with the derived key wrapping the content key (AES key wrap), key size in bytes.
    EcdhEsKw(usize),
}

impl KeyAlg {
    pub(crate) fn parse(alg: &str) -> Result<KeyAlg> {
        Ok(match alg {
            "dir" => KeyAlg::Dir,
            "ECDH-ES" => KeyAlg::EcdhEs,
            "ECDH-ES+A128KW" => KeyAlg::EcdhEsKw(16),
            "ECDH-ES+A192KW" => KeyAlg::EcdhEsKw(24),
            "ECDH-ES+A256KW" => KeyAlg::EcdhEsKw(32),
            _ => bail!(
                "unsupported key algorithm {alg:?} (dir, ECDH-ES and ECDH-ES+A128KW/A192KW/A256KW \
                 are)"
            ),
        })
    }
}

/// Content encryption (the header's `enc`): AES-GCM with a key of this many bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Enc(pub usize);

impl Enc {
    pub(crate) fn parse(enc: &str) -> Result<Enc> {
        Ok(match enc {
            "A128GCM" => Enc(16),
            "A192GCM" => Enc(24),
            "A256GCM" => Enc(32),
            _ => bail!("unsupported content encryption {enc:?} (A128GCM, A192GCM, A256GCM are)"),
        })
    }
}

/// Concat KDF with SHA-256 as JWA specifies it for ECDH-ES: `alg_id` is `enc` for direct key
/// agreement and `alg` with key wrap; `apu`/`apv` are the decoded header values.
fn concat_kdf(z: &[u8], alg_id: &str, apu: &[u8], apv: &[u8], len: usize) -> Result<Zeroizing<Vec<u8>>> {
    let mut other = Vec::new();
    for part in [alg_id.as_bytes(), apu, apv] {
        other.extend_from_slice(&(part.len() as u32).to_be_bytes());
        other.extend_from_slice(part);
    }
    other.extend_from_slice(&((len * 8) as u32).to_be_bytes());
    let mut key = Zeroizing::new(vec![0u8; len]);
    concat_kdf::derive_key_into::<sha2_010::Sha256>(z, &other, &mut key)
        .map_err(|e| Error::msg(format!("Concat KDF: {e:?}")))?;
    Ok(key)
}

fn header_bytes(jwe: &Jwe, name: &str) -> Result<Vec<u8>> {
    match jwe.header.get(name) {
        None => Ok(Vec::new()),
        Some(serde_json::Value::String(s)) => b64_decode(&format!("JWE header {name}"), s),
        Some(_) => bail!("JWE header: {name:?} is not a string"),
    }
}

/// The content key of an ECDH-ES JWE from the x coordinate of its shared point.
pub(crate) fn ecdh_es_key(jwe: &Jwe, z: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let alg = jwe.header_str("alg")?;
    let enc = Enc::parse(jwe.header_str("enc")?)?;
    let (apu, apv) = (header_bytes(jwe, "apu")?, header_bytes(jwe, "apv")?);
    match KeyAlg::parse(alg)? {
        KeyAlg::EcdhEs => {
            if !jwe.encrypted_key.is_empty() {
                bail!("JWE: ECDH-ES with a non-empty encrypted key");
            }
            concat_kdf(z, jwe.header_str("enc")?, &apu, &apv, enc.0)
        }
        KeyAlg::EcdhEsKw(size) => {
            let kek = concat_kdf(z, alg, &apu, &apv, size)?;
            unwrap_key(&kek, &jwe.encrypted_key)
        }
        KeyAlg::Dir => bail!("JWE: \"dir\" is not a key agreement"),
    }
}

fn unwrap_key(kek: &[u8], wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    if wrapped.len() < 24 || !wrapped.len().is_multiple_of(8) {
        bail!("AES key wrap: the wrapped key is {} bytes", wrapped.len());
    }
    let mut out = Zeroizing::new(vec![0u8; wrapped.len() - 8]);
    let failed = |_| Error::msg("AES key wrap: the key does not unwrap (wrong key)");
    match kek.len() {
        16 => aes_kw::KwAes128::new_from_slice(kek)
            .map_err(|_| Error::msg("AES key wrap: bad key length"))?
            .unwrap_key(wrapped, &mut out)
            .map_err(failed)?,
        24 => aes_kw::KwAes192::new_from_slice(kek)
            .map_err(|_| Error::msg("AES key wrap: bad key length"))?
            .unwrap_key(wrapped, &mut out)
            .map_err(failed)?,
        _ => aes_kw::KwAes256::new_from_slice(kek)
            .map_err(|_| Error::msg("AES key wrap: bad key length"))?
            .unwrap_key(wrapped, &mut out)
            .map_err(failed)?,
    };
    Ok(out)
}

/// Decrypts and authenticates the payload with the content key.
pub(crate) fn open(jwe: &Jwe, key: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let enc = Enc::parse(jwe.header_str("enc")?)?;
    if key.len() != enc.0 {
        bail!("JWE: content key is {} bytes, {} needs {}", key.len(), jwe.header_str("enc")?, enc.0);
    }
    if jwe.iv.len() != 12 {
        bail!("JWE: AES-GCM iv is {} bytes, expected 12", jwe.iv.len());
    }
    if jwe.tag.len() != 16 {
        bail!("JWE: AES-GCM tag is {} bytes, expected 16", jwe.tag.len());
    }
    if jwe.header.contains_key("zip") {
        bail!("JWE: compressed payloads (\"zip\") are not supported");
    }
    let mut sealed = jwe.ciphertext.clone();
    sealed.extend_from_slice(&jwe.tag);
    let aad = jwe.aad_bytes();
    let payload = Payload { msg: &sealed, aad: &aad };
    let nonce =
        Nonce::<aes_gcm::aead::consts::U12>::try_from(&jwe.iv[..]).map_err(|_| Error::msg("JWE: bad iv"))?;
    let plain = match enc.0 {
        16 => AesGcm::<aes_gcm::aes::Aes128, _>::new_from_slice(key)
            .map_err(|_| Error::msg("bad key"))?
            .decrypt(&nonce, payload),
        24 => AesGcm::<aes_gcm::aes::Aes192, _>::new_from_slice(key)
            .map_err(|_| Error::msg("bad key"))?
            .decrypt(&nonce, payload),
        _ => AesGcm::<aes_gcm::aes::Aes256, _>::new_from_slice(key)
            .map_err(|_| Error::msg("bad key"))?
            .decrypt(&nonce, payload),
    };
    plain
        .map(Zeroizing::new)
        .map_err(|_| Error::msg("JWE: AES-GCM does not authenticate (wrong key or tampered JWE)"))
}
