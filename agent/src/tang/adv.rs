//! Tang's advertisement (`GET /adv`): a JWS (flattened or general JSON form) over the JWK set
//! of the server's current keys, signed by its signing keys. It is trusted only when a key
//! pinned at bind time signed it, and it must still offer the exchange key the JWE was made
//! for; a server whose keys were rotated (or an impostor) fails here, before `/rec`.

use super::ec;
use super::jose::{b64_decode, EcJwk};
use super::pin::advertised_keys;
use crate::bail;
use crate::error::{Context, Error, Result};
use serde_json::Value;

/// Verifies `body` against the pinned keys; returns the advertised keys.
pub(crate) fn verify(body: &[u8], pinned: &[EcJwk]) -> Result<Vec<EcJwk>> {
    let Ok(Value::Object(jws)) = serde_json::from_slice::<Value>(body) else {
        bail!("the advertisement is not a JSON object");
    };
    let Some(Value::String(payload)) = jws.get("payload") else { bail!("the advertisement has no payload") };
    // The flattened form is one signature whose members sit beside the payload.
    let flattened = Value::Object(jws.clone());
    let signatures: Vec<&Value> = match jws.get("signatures") {
        Some(Value::Array(list)) => list.iter().collect(),
        Some(_) => bail!("the advertisement's \"signatures\" is not a list"),
        None => vec![&flattened],
    };
    let mut why = Vec::new();
    let signed = signatures.iter().any(|sig| match signed_by_pinned(sig, payload, pinned) {
        Ok(()) => true,
        Err(e) => {
            why.push(e.to_string());
            false
        }
    });
    if !signed {
        bail!(
            "the advertisement is not signed by a pinned key (were the server's keys rotated?): {}",
            why.join("; ")
        );
    }
    let keys: Value = serde_json::from_slice(&b64_decode("advertisement payload", payload)?)
        .map_err(|e| Error::msg(format!("advertisement payload: not JSON: {e}")))?;
    advertised_keys(Some(&keys)).context("advertisement payload")
}

fn signed_by_pinned(sig: &Value, payload: &str, pinned: &[EcJwk]) -> Result<()> {
    let field = |name: &str| match sig.get(name) {
        Some(Value::String(s)) => Ok(s.as_str()),
        _ => Err(Error::msg(format!("a signature without {name:?}"))),
    };
    let protected = field("protected")?;
    let header: Value = serde_json::from_slice(&b64_decode("signature header", protected)?)
        .map_err(|_| Error::msg("signature header: not JSON"))?;
    let Some(alg) = header.get("alg").and_then(Value::as_str) else { bail!("signature header: no \"alg\"") };
    let signature = b64_decode("signature", field("signature")?)?;
    let message = format!("{protected}.{payload}");
    let mut why = "no pinned signing key on its curve".to_string();
    for key in pinned.iter().filter(|k| k.allows("verify")) {
        match ec::verify(alg, key, message.as_bytes(), &signature) {
            Ok(()) => return Ok(()),
            Err(e) => why = e.to_string(),
        }
    }
    Err(Error::msg(why))
}
