//! The clevis tokens of a LUKS2 header, read through libcryptsetup's token API (no
//! device-mapper needed: only the header is read). Nothing is ever written to the header.

use crate::bail;
use crate::error::{Error, Result};
use libcryptsetup_rs::consts::vals::EncryptionFormat;
use libcryptsetup_rs::{CryptInit, CryptTokenInfo};
use std::path::Path;

/// LUKS2 headers hold at most 32 tokens.
const MAX_TOKENS: u32 = 32;

/// One `clevis` token: its id, the keyslots it opens and its JSON (what
/// [`super::recover_passphrase`] takes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClevisToken {
    pub id: u32,
    pub keyslots: Vec<u32>,
    pub json: String,
}

/// Every clevis token of the LUKS2 header at `header` (a device or a detached header file).
/// Tokens of other types (e.g. `systemd-tpm2`) are skipped; a clevis token whose JSON is
/// malformed is an error naming it.
pub fn clevis_tokens(header: &Path) -> Result<Vec<ClevisToken>> {
    let name = header.display();
    let mut device = CryptInit::init(header).map_err(|e| Error::msg(format!("{name}: cannot open: {e}")))?;
    device
        .context_handle()
        .load::<()>(Some(EncryptionFormat::Luks2), None)
        .map_err(|e| Error::msg(format!("{name}: no LUKS2 header: {e}")))?;
    let mut tokens = Vec::new();
    for id in 0..MAX_TOKENS {
        let mut handle = device.token_handle();
        match handle.status(id) {
            Ok(CryptTokenInfo::Inactive) | Ok(CryptTokenInfo::Invalid) => continue,
            Ok(_) => {}
            Err(e) => bail!("{name}: token {id}: cannot read its status: {e}"),
        }
        let value =
            handle.json_get(id).map_err(|e| Error::msg(format!("{name}: token {id}: cannot read: {e}")))?;
        if value.get("type").and_then(|t| t.as_str()) != Some("clevis") {
            continue;
        }
        let keyslots = keyslots(&value).map_err(|e| Error::msg(format!("{name}: token {id}: {e}")))?;
        tokens.push(ClevisToken { id, keyslots, json: value.to_string() });
    }
    Ok(tokens)
}

/// LUKS2 writes keyslot numbers as strings (`"keyslots":["1"]`).
pub(crate) fn keyslots(token: &serde_json::Value) -> Result<Vec<u32>> {
    let Some(list) = token.get("keyslots").and_then(|k| k.as_array()) else {
        bail!("no \"keyslots\" list");
    };
    list.iter()
        .map(|k| k.as_str().and_then(|s| s.parse().ok()))
        .collect::<Option<Vec<u32>>>()
        .ok_or_else(|| Error::msg(format!("bad \"keyslots\": {}", serde_json::Value::Array(list.clone()))))
}
