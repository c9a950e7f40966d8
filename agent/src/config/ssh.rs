//! `ssh`: the public-key-only SSH server that offers the unlock prompt.

use super::reader::{error, At, Result};
use serde::Serialize;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Ssh {
    pub port: u16,
    pub host_keys: Vec<PathBuf>,
    pub authorized_keys: Vec<String>,
    pub authorized_keys_files: Vec<PathBuf>,
    pub max_auth_tries: u32,
    pub login_grace_seconds: u32,
}

const FIELDS: &[&str] =
    &["port", "hostKeys", "authorizedKeys", "authorizedKeysFiles", "maxAuthTries", "loginGraceSeconds"];

/// One `authorized_keys` line: `[options] type base64 [comment]`, parsed as the server will
/// (russh's ssh-key parser), so check-config catches pasted garbage and unsupported options.
fn authorized_key(at: At<'_>) -> Result<String> {
    let line = at.nonempty_string()?;
    if line.contains('\n') {
        return at.expected("one authorized_keys line (no newline inside)");
    }
    match crate::access::keys::parse_authorized_line(&line, at.path) {
        Ok(Some(_)) => Ok(line.trim().to_string()),
        Err(why) if !why.starts_with(crate::access::keys::NOT_A_KEY_LINE) => Err(error(at.path, why)),
        _ => at.expected("one authorized_keys line like \"ssh-ed25519 AAAA... user@host\""),
    }
}

pub fn read(at: At<'_>) -> Result<Ssh> {
    let obj = at.object_of(FIELDS)?;
    let ssh = Ssh {
        port: obj.optional("port", |v| v.uint("a TCP port", 1, 65535))?.unwrap_or(22) as u16,
        host_keys: obj.required("hostKeys", |v| v.list(|k| k.abs_path()))?,
        authorized_keys: obj.optional("authorizedKeys", |v| v.list(authorized_key))?.unwrap_or_default(),
        authorized_keys_files: obj
            .optional("authorizedKeysFiles", |v| v.list(|k| k.abs_path()))?
            .unwrap_or_default(),
        max_auth_tries: obj.optional("maxAuthTries", |v| v.uint("a number of attempts", 1, 100))?.unwrap_or(6)
            as u32,
        login_grace_seconds: obj
            .optional("loginGraceSeconds", |v| v.uint("a number of seconds", 1, 3600))?
            .unwrap_or(120) as u32,
    };
    if ssh.host_keys.is_empty() {
        return Err(error(&obj.child_path("hostKeys"), "expected at least one host key path"));
    }
    if ssh.authorized_keys.is_empty() && ssh.authorized_keys_files.is_empty() {
        return Err(error(&obj.path, "expected authorizedKeys or authorizedKeysFiles: nobody could log in"));
    }
    Ok(ssh)
}
