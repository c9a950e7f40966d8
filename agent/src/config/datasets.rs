//! `datasets`: ZFS datasets stage 2 creates for services, with their properties.

use super::persistence::{mode, user_name};
use super::reader::{error, At, Result};
use serde::Serialize;
use std::collections::BTreeMap;

pub type Datasets = BTreeMap<String, Dataset>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Dataset {
    /// An absolute path, `"none"` or `"legacy"`; absent = inherited.
    pub mountpoint: Option<String>,
    /// Bytes: a power of two from 512 to 16M.
    pub recordsize: Option<u64>,
    pub compression: Option<String>,
    pub owner: Option<String>,
    pub group: Option<String>,
    pub mode: Option<String>,
    /// Any other ZFS property, passed to `zfs create -o` as given.
    pub properties: BTreeMap<String, String>,
}

const FIELDS: &[&str] = &["mountpoint", "recordsize", "compression", "owner", "group", "mode", "properties"];
const COMPRESSION: &[&str] =
    &["on", "off", "lz4", "zstd", "zstd-fast", "gzip", "gzip-1", "gzip-9", "lzjb", "zle"];

/// `131072`, `"128K"`, `"1M"`: a power of two from 512 bytes to 16 MiB, as ZFS allows.
fn recordsize(at: At<'_>) -> Result<u64> {
    let bytes = match at.value {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => {
            let s = s.trim();
            let (digits, unit) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
                Some((i, _)) => s.split_at(i),
                None => (s, ""),
            };
            let shift = match unit.to_ascii_uppercase().as_str() {
                "" | "B" => Some(0),
                "K" | "KB" | "KIB" => Some(10),
                "M" | "MB" | "MIB" => Some(20),
                _ => None,
            };
            shift.and_then(|shift| digits.parse::<u64>().ok().and_then(|d| d.checked_shl(shift)))
        }
        _ => None,
    };
    match bytes {
        Some(b) if b.is_power_of_two() && (512..=16 << 20).contains(&b) => Ok(b),
        _ => at.expected("a power of two from 512 to 16M (like \"128K\")"),
    }
}

fn mountpoint(at: At<'_>) -> Result<String> {
    let s = at.string()?;
    if s == "none" || s == "legacy" {
        Ok(s)
    } else {
        at.abs_path().map(|p| p.display().to_string())
    }
}

fn compression(at: At<'_>) -> Result<String> {
    let s = at.string()?;
    let known = COMPRESSION.contains(&s.as_str())
        || s.strip_prefix("zstd-").and_then(|l| l.parse::<u8>().ok()).is_some_and(|l| (1..=19).contains(&l))
        || s.strip_prefix("gzip-").and_then(|l| l.parse::<u8>().ok()).is_some_and(|l| (1..=9).contains(&l));
    if known {
        Ok(s)
    } else {
        at.expected(&format!("a ZFS compression ({}, zstd-N, gzip-N)", COMPRESSION.join(", ")))
    }
}

/// `pool/a/b`: ZFS's component alphabet, no leading or trailing slash.
fn dataset_name_ok(name: &str) -> bool {
    name.contains('/')
        && name
            .split('/')
            .all(|c| !c.is_empty() && c.chars().all(|ch| ch.is_ascii_alphanumeric() || "_-.:".contains(ch)))
}

fn dataset(at: At<'_>) -> Result<Dataset> {
    let obj = at.object_of(FIELDS)?;
    let properties = obj
        .optional("properties", |v| {
            let map = v.map()?;
            map.each(|k, p| {
                if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || ":_-.".contains(c)) {
                    return Err(error(p.path, "expected a ZFS property name"));
                }
                Ok((k.to_string(), p.string()?))
            })
        })?
        .unwrap_or_default();
    Ok(Dataset {
        mountpoint: obj.optional("mountpoint", mountpoint)?,
        recordsize: obj.optional("recordsize", recordsize)?,
        compression: obj.optional("compression", compression)?,
        owner: obj.optional("owner", user_name)?,
        group: obj.optional("group", user_name)?,
        mode: obj.optional("mode", mode)?,
        properties: properties.into_iter().collect(),
    })
}

pub fn read(at: At<'_>) -> Result<Datasets> {
    let obj = at.map()?;
    let sets = obj.each(|name, v| {
        if !dataset_name_ok(name) {
            return Err(error(
                v.path,
                "expected the key to be a dataset name below a pool, like \"rpool/services/postgres\"",
            ));
        }
        Ok((name.to_string(), dataset(v)?))
    })?;
    Ok(sets.into_iter().collect())
}
