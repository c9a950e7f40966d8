//! The JOSE pieces clevis uses, parsed strictly: a JWE in compact form (`clevis encrypt`), in
//! flattened JSON form or inside a clevis LUKS2 token (`clevis luks bind`), and EC JWKs.

use crate::bail;
use crate::error::{Context, Error, Result};
use base64ct::{Base64UrlUnpadded, Encoding};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

pub(crate) fn b64_decode(what: &str, text: &str) -> Result<Vec<u8>> {
    Base64UrlUnpadded::decode_vec(text).map_err(|_| Error::msg(format!("{what}: not base64url")))
}

pub(crate) fn b64_encode(bytes: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(bytes)
}

/// A JWE with one recipient, its protected header decoded. Unprotected headers are refused:
/// clevis never writes them, and what decides the pin must be authenticated.
#[derive(Debug)]
pub(crate) struct Jwe {
    /// The protected header as sent: AES-GCM authenticates these exact bytes.
    pub protected_b64: String,
    pub header: Map<String, Value>,
    pub encrypted_key: Vec<u8>,
    pub iv: Vec<u8>,
    pub ciphertext: Vec<u8>,
    pub tag: Vec<u8>,
    /// The JSON form's `aad`, still in base64url (it is authenticated as `protected.aad`).
    pub aad: Option<String>,
}

const TOKEN_FIELDS: &[&str] = &["type", "keyslots", "jwe"];
const JSON_FIELDS: &[&str] = &["protected", "encrypted_key", "iv", "ciphertext", "tag", "aad"];

impl Jwe {
    /// Reads what a user or a LUKS2 header holds: a compact JWE, a JWE in flattened JSON form,
    /// or a clevis token `{"type":"clevis","keyslots":[...],"jwe":{...}}`.
    pub(crate) fn parse(text: &str) -> Result<Jwe> {
        let text = text.trim();
        if !text.starts_with('{') {
            return Jwe::compact(text);
        }
        let value: Value =
            serde_json::from_str(text).map_err(|e| Error::msg(format!("not valid JSON: {e}")))?;
        let Value::Object(obj) = value else { bail!("not a JSON object") };
        if obj.contains_key("type") {
            return Jwe::token(&obj);
        }
        Jwe::json(&obj)
    }

    fn token(obj: &Map<String, Value>) -> Result<Jwe> {
        match obj.get("type") {
            Some(Value::String(t)) if t == "clevis" => {}
            Some(t) => bail!("not a clevis token: its type is {t}"),
            None => bail!("not a clevis token: no type"),
        }
        if let Some(k) = obj.keys().find(|k| !TOKEN_FIELDS.contains(&k.as_str())) {
            bail!("clevis token: unknown field {k:?}");
        }
        match obj.get("jwe") {
            Some(Value::Object(jwe)) => Jwe::json(jwe).context("clevis token: jwe"),
            _ => bail!("clevis token: no \"jwe\" object"),
        }
    }

    fn compact(text: &str) -> Result<Jwe> {
        let parts: Vec<&str> = text.split('.').collect();
        let [protected, key, iv, ciphertext, tag] = parts[..] else {
            bail!("not a JWE: expected 5 dot-separated parts, got {}", parts.len())
        };
        Jwe::from_parts(protected, key, iv, ciphertext, tag, None)
    }

    fn json(obj: &Map<String, Value>) -> Result<Jwe> {
        if obj.contains_key("header") || obj.contains_key("unprotected") {
            bail!("JWE: unprotected headers are not supported (clevis never writes them)");
        }
        if obj.contains_key("recipients") {
            bail!("JWE: several recipients are not supported (clevis never writes them)");
        }
        if let Some(k) = obj.keys().find(|k| !JSON_FIELDS.contains(&k.as_str())) {
            bail!("JWE: unknown field {k:?}");
        }
        let field = |name: &str| match obj.get(name) {
            Some(Value::String(s)) => Ok(s.as_str()),
            None if name == "encrypted_key" => Ok(""),
            _ => Err(Error::msg(format!("JWE: no {name:?} string"))),
        };
        let aad = match obj.get("aad") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => bail!("JWE: \"aad\" is not a string"),
        };
        Jwe::from_parts(
            field("protected")?,
            field("encrypted_key")?,
            field("iv")?,
            field("ciphertext")?,
            field("tag")?,
            aad,
        )
    }

    fn from_parts(
        protected: &str,
        key: &str,
        iv: &str,
        ciphertext: &str,
        tag: &str,
        aad: Option<String>,
    ) -> Result<Jwe> {
        let header_bytes = b64_decode("JWE protected header", protected)?;
        let header = match serde_json::from_slice(&header_bytes) {
            Ok(Value::Object(h)) => h,
            _ => bail!("JWE protected header: not a JSON object"),
        };
        if let Some(aad) = &aad {
            b64_decode("JWE aad", aad)?;
        }
        Ok(Jwe {
            protected_b64: protected.to_string(),
            header,
            encrypted_key: b64_decode("JWE encrypted key", key)?,
            iv: b64_decode("JWE iv", iv)?,
            ciphertext: b64_decode("JWE ciphertext", ciphertext)?,
            tag: b64_decode("JWE tag", tag)?,
            aad,
        })
    }

    /// The bytes AES-GCM authenticates (RFC 7516 5.1 step 14).
    pub(crate) fn aad_bytes(&self) -> Vec<u8> {
        match &self.aad {
            Some(aad) => format!("{}.{aad}", self.protected_b64).into_bytes(),
            None => self.protected_b64.clone().into_bytes(),
        }
    }

    pub(crate) fn header_str(&self, name: &str) -> Result<&str> {
        match self.header.get(name) {
            Some(Value::String(s)) => Ok(s),
            Some(v) => bail!("JWE header: {name:?} is not a string: {v}"),
            None => bail!("JWE header: no {name:?}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Curve {
    P256,
    P384,
    P521,
}

impl Curve {
    fn parse(name: &str) -> Result<Curve> {
        match name {
            "P-256" => Ok(Curve::P256),
            "P-384" => Ok(Curve::P384),
            "P-521" => Ok(Curve::P521),
            _ => bail!("unsupported curve {name:?} (P-256, P-384 and P-521 are)"),
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Curve::P256 => "P-256",
            Curve::P384 => "P-384",
            Curve::P521 => "P-521",
        }
    }

    /// Bytes of one coordinate.
    pub(crate) fn size(self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
            Curve::P521 => 66,
        }
    }
}

/// A public EC key as a JWK. The private part, if any, is never read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EcJwk {
    pub curve: Curve,
    /// base64url as written: the thumbprint hashes these strings.
    pub x: String,
    pub y: String,
    pub alg: Option<String>,
    pub key_ops: Vec<String>,
}

impl EcJwk {
    pub(crate) fn from_value(value: &Value) -> Result<EcJwk> {
        let Value::Object(obj) = value else { bail!("JWK: not a JSON object") };
        let text = |name: &str| match obj.get(name) {
            Some(Value::String(s)) => Ok(s.clone()),
            _ => Err(Error::msg(format!("JWK: no {name:?} string"))),
        };
        let kty = text("kty")?;
        if kty != "EC" {
            bail!("JWK: unsupported key type {kty:?} (EC is)");
        }
        let curve = Curve::parse(&text("crv")?).context("JWK")?;
        let key = EcJwk {
            curve,
            x: text("x")?,
            y: text("y")?,
            alg: obj.get("alg").and_then(Value::as_str).map(str::to_string),
            key_ops: match obj.get("key_ops") {
                None => Vec::new(),
                Some(Value::Array(ops)) => ops
                    .iter()
                    .map(|o| o.as_str().map(str::to_string))
                    .collect::<Option<_>>()
                    .ok_or_else(|| Error::msg("JWK: \"key_ops\" holds a non-string"))?,
                Some(_) => bail!("JWK: \"key_ops\" is not a list"),
            },
        };
        key.sec1()?;
        Ok(key)
    }

    /// The uncompressed SEC1 encoding `04 || x || y`; whether it is on the curve is checked
    /// where it is decoded into a point.
    pub(crate) fn sec1(&self) -> Result<Vec<u8>> {
        let x = b64_decode("JWK x", &self.x)?;
        let y = b64_decode("JWK y", &self.y)?;
        let size = self.curve.size();
        if x.len() != size || y.len() != size {
            bail!("JWK: coordinates of {} must be {size} bytes", self.curve.name());
        }
        let mut out = Vec::with_capacity(1 + 2 * size);
        out.push(4);
        out.extend_from_slice(&x);
        out.extend_from_slice(&y);
        Ok(out)
    }

    pub(crate) fn from_sec1(curve: Curve, sec1: &[u8]) -> EcJwk {
        let size = curve.size();
        EcJwk {
            curve,
            x: b64_encode(&sec1[1..1 + size]),
            y: b64_encode(&sec1[1 + size..]),
            alg: None,
            key_ops: Vec::new(),
        }
    }

    /// RFC 7638 thumbprint with SHA-256, as Tang names its keys and clevis its `kid`.
    pub(crate) fn thumbprint(&self) -> String {
        let canonical =
            format!(r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#, self.curve.name(), self.x, self.y);
        b64_encode(&Sha256::digest(canonical.as_bytes()))
    }

    pub(crate) fn allows(&self, op: &str) -> bool {
        self.key_ops.iter().any(|o| o == op)
    }

    /// The JSON Tang's `/rec` takes: a public EC key for the ECMR exchange.
    pub(crate) fn exchange_request(&self) -> String {
        serde_json::json!({
            "alg": "ECMR",
            "crv": self.curve.name(),
            "key_ops": ["deriveKey"],
            "kty": "EC",
            "x": self.x,
            "y": self.y,
        })
        .to_string()
    }
}
