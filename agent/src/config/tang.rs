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
/// by design) nor be readable by others. `None` when it is fine, or when there is no such file:
/// the config names it as the initrd sees it, and where `check-config` usually runs (NixOS's
/// build sandbox, stage 2) the file is not there (the boot loader appends it to the initrd).
pub fn secret_file_problem(path: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    if path.starts_with("/nix/store") {
        return Some(format!("{}: a Tang JWE must not be in the Nix store (world-readable)", path.display()));
    }
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => Some(format!("{}: {e}", path.display())),
        Ok(m) if m.mode() & 0o004 != 0 => Some(format!(
            "{}: a Tang JWE must not be world-readable (mode {:o}; chmod o-r)",
            path.display(),
            m.mode() & 0o7777
        )),
        Ok(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> std::result::Result<Tang, String> {
        let value: serde_json::Value = serde_json::from_str(text).unwrap();
        read(At { value: &value, path: "unlock.tang" }).map_err(|e| e.to_string())
    }

    #[test]
    fn reads_the_section() {
        assert_eq!(parse("{}").unwrap(), Tang::default());
        let full = parse(
            r#"{"enable":false,"servers":["http://10.0.0.1:7500"],"timeoutSeconds":3,
                "secretFiles":{"crypted":"/etc/lethe/crypted.jwe"}}"#,
        )
        .unwrap();
        assert!(!full.enable);
        assert_eq!(full.servers, ["http://10.0.0.1:7500"]);
        assert_eq!(full.timeout_seconds, 3);
        assert_eq!(full.secret_files["crypted"], Path::new("/etc/lethe/crypted.jwe"));
        let bad = [
            (r#"{"servers":["https://x"]}"#, "unlock.tang.servers[0]: expected an http:// URL"),
            (r#"{"servers":["http://"]}"#, "unlock.tang.servers[0]: expected an http:// URL"),
            (r#"{"timeoutSeconds":0}"#, "unlock.tang.timeoutSeconds: expected seconds from 1 to 600"),
            (r#"{"secretFiles":{"c":"rel.jwe"}}"#, "unlock.tang.secretFiles.c: expected an absolute path"),
            (r#"{"url":"http://x"}"#, "unlock.tang.url: unknown field"),
        ];
        for (text, want) in bad {
            let got = parse(text).unwrap_err();
            assert!(got.contains(want), "want {want:?}, got {got:?}");
        }
    }

    #[test]
    fn secret_files_must_stay_private() {
        use std::os::unix::fs::PermissionsExt;
        let path = std::env::temp_dir().join(format!("lethe-tang-jwe-{}", std::process::id()));
        std::fs::write(&path, "jwe").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(secret_file_problem(&path), None);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let got = secret_file_problem(&path).unwrap();
        assert!(got.contains("must not be world-readable (mode 644"), "{got}");
        std::fs::remove_file(&path).unwrap();
        let got = secret_file_problem(Path::new("/nix/store/abc-crypted.jwe")).unwrap();
        assert!(got.contains("must not be in the Nix store"), "{got}");
        // The initrd's path, where check-config runs at build time (NixOS's module): not there.
        assert_eq!(secret_file_problem(&path), None);
    }
}
