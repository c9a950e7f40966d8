//! `unlock.tang`: network-bound unlock with Tang (clevis-compatible). The servers come from the
//! clevis tokens and JWEs themselves; `servers` replaces them (e.g. an address reachable from
//! the initrd), their answers still checked against the keys pinned in the token.

use super::reader::{At, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tang {
    /// The section's presence turns Tang on; `enable: false` keeps it written but off.
    pub enable: bool,
    /// `http://` URLs asked instead of the one each tang pin names; empty = the pin's own.
    pub servers: Vec<String>,
    /// The limit for one HTTP request (connect, send, answer) to one server.
    pub timeout_seconds: u64,
    /// JWE files as NixOS' `boot.initrd.clevis.devices.<name>.secretFile`, by device name.
    pub secret_files: BTreeMap<String, PathBuf>,
}

impl Default for Tang {
    fn default() -> Tang {
        Tang { enable: true, servers: Vec::new(), timeout_seconds: 10, secret_files: BTreeMap::new() }
    }
}

const FIELDS: &[&str] = &["enable", "servers", "timeoutSeconds", "secretFiles"];

fn server(at: At<'_>) -> Result<String> {
    let s = at.string()?;
    let host = s.strip_prefix("http://").unwrap_or("");
    if host.is_empty() || host.starts_with('/') || s.contains(char::is_whitespace) {
        return at.expected("an http:// URL of a Tang server (like \"http://10.0.0.1:7500\")");
    }
    Ok(s)
}

pub fn read(at: At<'_>) -> Result<Tang> {
    let obj = at.object_of(FIELDS)?;
    let default = Tang::default();
    Ok(Tang {
        enable: obj.optional("enable", |v| v.bool())?.unwrap_or(default.enable),
        servers: obj.optional("servers", |v| v.list(server))?.unwrap_or_default(),
        timeout_seconds: obj
            .optional("timeoutSeconds", |v| v.uint("seconds", 1, 600))?
            .unwrap_or(default.timeout_seconds),
        secret_files: obj
            .optional("secretFiles", |v| {
                v.map()?.each(|name, file| Ok((name.to_string(), file.abs_path()?)))
            })?
            .map(|pairs| pairs.into_iter().collect())
            .unwrap_or_default(),
    })
}

/// What `check-config` says about a JWE file: it must not sit in the Nix store (world-readable
/// by design) nor be readable by others. `None` when it is fine.
pub fn secret_file_problem(path: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    if path.starts_with("/nix/store") {
        return Some(format!("{}: a Tang JWE must not be in the Nix store (world-readable)", path.display()));
    }
    match std::fs::metadata(path) {
        Err(e) => Some(format!("{}: {e}", path.display())),
        Ok(m) if m.mode() & 0o004 != 0 => Some(format!(
            "{}: a Tang JWE must not be world-readable (mode {:o}; chmod o-r)",
            path.display(),
            m.mode() & 0o7777
        )),
        Ok(_) => None,
    }
}
