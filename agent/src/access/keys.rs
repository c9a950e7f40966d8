//! Host keys and authorized keys: loading them, with the checks sshd makes (a host key readable
//! by group or others is refused, as it may have leaked), and matching an offered key.

use super::from::FromList;
use crate::error::{Context, Error, Result};
use russh::keys::ssh_key::authorized_keys::Entry;
use russh::keys::ssh_key::{Algorithm, HashAlg};
use russh::keys::{PrivateKey, PublicKey};
use std::io::Read;
use std::net::IpAddr;
use std::path::Path;
use zeroize::Zeroizing;

/// Reads one OpenSSH private host key. Refused, with the reason: missing, a symlink, not a
/// regular file, readable or writable by group or others, owned by someone else,
/// passphrase-protected, or of an algorithm the server cannot sign with.
///
/// The file is opened once (`O_NOFOLLOW`), and the checks (`fstat`) and the read use that one
/// descriptor: checking a path and then reading it again would let a swap in between pass a
/// key that was never checked.
pub(crate) fn load_host_key(path: &Path) -> Result<PrivateKey> {
    use rustix::fs::{Mode, OFlags};
    let shown = path.display();
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NOCTTY | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let fd = match rustix::fs::open(path, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::LOOP) => {
            return Err(Error::msg(format!(
                "{shown}: refusing host key: it is a symbolic link (name the key file itself)"
            )))
        }
        Err(e) => {
            return Err(Error::msg(format!("{shown}: cannot use host key: {}", std::io::Error::from(e))))
        }
    };
    let meta =
        rustix::fs::fstat(&fd).map_err(|e| Error::msg(format!("{shown}: cannot use host key: {e}")))?;
    if rustix::fs::FileType::from_raw_mode(meta.st_mode) != rustix::fs::FileType::RegularFile {
        return Err(Error::msg(format!("{shown}: cannot use host key: not a regular file")));
    }
    let mode = meta.st_mode & 0o7777;
    if mode & 0o077 != 0 {
        return Err(Error::msg(format!(
            "{shown}: refusing host key: it is accessible by group or others (mode {mode:04o}); \
             run chmod 600 {shown}"
        )));
    }
    let euid = rustix::process::geteuid().as_raw();
    if meta.st_uid != euid {
        return Err(Error::msg(format!(
            "{shown}: refusing host key: owned by uid {}, not by uid {euid} that runs lethe",
            meta.st_uid
        )));
    }
    // Full size at once (a key is a few hundred bytes; 64 KiB is far beyond any): growing would
    // reallocate and leave an unzeroized copy of the key behind.
    const MAX_KEY: usize = 65536;
    let mut bytes = Zeroizing::new(Vec::with_capacity(MAX_KEY));
    std::io::Read::take(std::fs::File::from(fd), MAX_KEY as u64)
        .read_to_end(&mut bytes)
        .with_context(|| format!("{shown}: cannot read host key"))?;
    let key = PrivateKey::from_openssh(&*bytes)
        .with_context(|| format!("{shown}: not an OpenSSH private key (ssh-keygen -t ed25519 makes one)"))?;
    if key.is_encrypted() {
        return Err(Error::msg(format!(
            "{shown}: refusing host key: it is protected by a passphrase, which nobody can type at boot"
        )));
    }
    match key.algorithm() {
        Algorithm::Ed25519 | Algorithm::Ecdsa { .. } => Ok(key),
        other => Err(Error::msg(format!(
            "{shown}: refusing host key: algorithm {other} is not supported (use ed25519 or ecdsa)"
        ))),
    }
}

/// One usable `authorized_keys` entry.
#[derive(Debug, Clone)]
pub(crate) struct AuthorizedKey {
    pub key: PublicKey,
    /// `command="..."`: every session of this key runs that command, whatever the client asks.
    pub forced_command: Option<String>,
    /// `no-pty` or `restrict`: the session never gets the interactive (pty) prompt.
    pub no_pty: bool,
    /// `from="..."`: the client addresses that may use this key.
    pub from: Option<FromList>,
    /// Where the line came from, for log messages: `authorizedKeys[0]` or `FILE:LINE`.
    pub origin: String,
}

/// How a line that does not parse at all is reported (the config reader words it its own way).
pub(crate) const NOT_A_KEY_LINE: &str = "not an authorized_keys line";

/// Options that only restrict what lethe never offers anyway (forwarding, X11, user rc).
const HARMLESS_OPTIONS: &[&str] =
    &["no-port-forwarding", "no-agent-forwarding", "no-X11-forwarding", "no-user-rc", "no-touch-required"];

/// RSA keys shorter than this are refused (NIST and OpenSSH's own minimum for new keys).
pub const MIN_RSA_BITS: u32 = 2048;

/// Whether the server can verify a login with `key`: ed25519, ECDSA (NIST P-256/384/521) and
/// RSA of at least [`MIN_RSA_BITS`] (signed as rsa-sha2-256/512; SHA-1 `ssh-rsa` signatures
/// are refused at login). FIDO security keys (`sk-*`) are refused: russh's server does not
/// verify their signatures (flags and counter). Anything else names its type.
fn usable_user_key(key: &PublicKey) -> std::result::Result<(), String> {
    use russh::keys::ssh_key::public::KeyData;
    match key.key_data() {
        KeyData::Ed25519(_) | KeyData::Ecdsa(_) => Ok(()),
        KeyData::Rsa(rsa) if rsa.key_size() >= MIN_RSA_BITS => Ok(()),
        KeyData::Rsa(rsa) => Err(format!(
            "ssh-rsa key of {} bits: too short to trust (at least {MIN_RSA_BITS} bits; ssh-keygen -t ed25519 makes a better one)",
            rsa.key_size()
        )),
        KeyData::SkEd25519(_) | KeyData::SkEcdsaSha2NistP256(_) => Err(format!(
            "{} keys (FIDO security keys) are not supported by lethe: it cannot verify their logins; use an ed25519, ecdsa or rsa key",
            key.algorithm()
        )),
        _ => Err(format!(
            "{} keys are not supported by lethe (supported: ssh-ed25519, ecdsa-sha2-nistp256/384/521, ssh-rsa of at least {MIN_RSA_BITS} bits)",
            key.algorithm()
        )),
    }
}

/// Parses one `authorized_keys` line: `[options] type base64 [comment]`. Blank lines and
/// comments give `Ok(None)`. Options lethe cannot honour (`expiry-time=`, `permitopen=`, ...) are an
/// error rather than silently ignored, since ignoring a restriction would widen access.
pub(crate) fn parse_authorized_line(
    line: &str,
    origin: &str,
) -> std::result::Result<Option<AuthorizedKey>, String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let entry: Entry = line.parse().map_err(|e| format!("{NOT_A_KEY_LINE}: {e}"))?;
    usable_user_key(entry.public_key())?;
    let mut key = AuthorizedKey {
        key: entry.public_key().clone(),
        forced_command: None,
        no_pty: false,
        from: None,
        origin: origin.to_string(),
    };
    for option in entry.config_opts().iter() {
        if HARMLESS_OPTIONS.contains(&option) {
            continue;
        }
        if option == "no-pty" || option == "restrict" {
            key.no_pty = true;
        } else if let Some(value) = option.strip_prefix("from=") {
            key.from = Some(FromList::parse(value.trim_matches('"'))?);
        } else if let Some(value) = option.strip_prefix("command=") {
            let command = value.trim_matches('"').to_string();
            if super::request::Request::parse(&command).is_err() {
                return Err(format!(
                    "command={value}: lethe only runs {}",
                    super::request::Request::NAMES.join(", ")
                ));
            }
            key.forced_command = Some(command);
        } else if option == "cert-authority" || option.starts_with("principals=") {
            return Err(format!(
                "option {option}: SSH user certificates are not supported by lethe (list the users' own keys instead)"
            ));
        } else {
            return Err(format!(
                "option {option} is not supported by lethe (supported: command=, from=, no-pty, restrict, {})",
                HARMLESS_OPTIONS.join(", ")
            ));
        }
    }
    Ok(Some(key))
}

/// The keys from the config's lines (already checked by the config reader, so an error here is
/// a real error) and from the files (read now; a missing file or a bad line is skipped with a
/// warning, as sshd does, so one bad line cannot lock everyone out).
pub(crate) fn load_authorized(lines: &[String], files: &[std::path::PathBuf]) -> Result<Vec<AuthorizedKey>> {
    let mut keys = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let origin = format!("ssh.authorizedKeys[{i}]");
        match parse_authorized_line(line, &origin) {
            Ok(Some(k)) => keys.push(k),
            Ok(None) => {}
            Err(e) => return Err(Error::msg(format!("{origin}: {e}"))),
        }
    }
    for file in files {
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => {
                log::warn!("{}: cannot read authorized keys, skipping it: {e}", file.display());
                continue;
            }
        };
        for (n, line) in text.lines().enumerate() {
            let origin = format!("{}:{}", file.display(), n + 1);
            match parse_authorized_line(line, &origin) {
                Ok(Some(k)) => keys.push(k),
                Ok(None) => {}
                Err(e) => log::warn!("{origin}: skipping line: {e}"),
            }
        }
    }
    if keys.is_empty() {
        return Err(Error::msg(
            "ssh: no usable authorized key (authorizedKeys, authorizedKeysFiles): nobody could log in",
        ));
    }
    Ok(keys)
}

/// The entry for `key`, compared on the key material only (comments differ freely).
pub(crate) fn find<'a>(keys: &'a [AuthorizedKey], key: &PublicKey) -> Option<&'a AuthorizedKey> {
    keys.iter().find(|k| k.key.key_data() == key.key_data())
}

/// The entry for `key` that `ip` may use: the same key may be listed twice with different
/// `from=` lists, as in sshd.
pub(crate) fn find_for<'a>(
    keys: &'a [AuthorizedKey],
    key: &PublicKey,
    ip: IpAddr,
) -> Option<&'a AuthorizedKey> {
    keys.iter().find(|k| k.key.key_data() == key.key_data() && k.from.as_ref().is_none_or(|f| f.allows(ip)))
}

/// `SHA256:...`, as ssh-keygen -l prints it, for log lines.
pub(crate) fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICgc0J/APALlu1nQiKn42O/A/4SgbcvKQRisaK3iRdDe alice@laptop";

    #[test]
    fn plain_line_and_comments() {
        let k = parse_authorized_line(ED, "x").unwrap().unwrap();
        assert_eq!(k.forced_command, None);
        assert!(!k.no_pty);
        assert_eq!(parse_authorized_line("  # a comment", "x").unwrap().map(|k| k.origin), None);
        assert_eq!(parse_authorized_line("", "x").unwrap().map(|k| k.origin), None);
    }

    #[test]
    fn options() {
        let k = parse_authorized_line(&format!("no-pty,command=\"status\" {ED}"), "x").unwrap().unwrap();
        assert!(k.no_pty);
        assert_eq!(k.forced_command.as_deref(), Some("status"));
        let k = parse_authorized_line(&format!("no-port-forwarding,restrict {ED}"), "x").unwrap().unwrap();
        assert!(k.no_pty);
    }

    #[test]
    fn refuses_what_it_cannot_honour() {
        let e = parse_authorized_line(&format!("permitopen=\"host:22\" {ED}"), "x").unwrap_err();
        assert!(e.contains("permitopen=\"host:22\" is not supported"), "{e}");
        let e = parse_authorized_line(&format!("from=\"*.lan\" {ED}"), "x").unwrap_err();
        assert!(e.contains("host names cannot be matched"), "{e}");
        let e = parse_authorized_line(&format!("command=\"/bin/sh\" {ED}"), "x").unwrap_err();
        assert!(e.contains("lethe only runs unlock"), "{e}");
        let e = parse_authorized_line("ssh-ed25519 AAAAnotbase64!", "x").unwrap_err();
        assert!(e.starts_with("not an authorized_keys line"), "{e}");
    }

    #[test]
    fn from_restricts_addresses() {
        let lines = [format!("from=\"192.0.2.0/24\" {ED}"), format!("from=\"2001:db8::1\" {ED}")];
        let keys = load_authorized(&lines, &[]).unwrap();
        let key: PublicKey = ED.parse().unwrap();
        let at = |ip: &str| find_for(&keys, &key, ip.parse().unwrap()).map(|k| k.origin.clone());
        assert_eq!(at("192.0.2.7").as_deref(), Some("ssh.authorizedKeys[0]"));
        assert_eq!(at("2001:db8::1").as_deref(), Some("ssh.authorizedKeys[1]"));
        assert_eq!(at("198.51.100.1"), None);
    }

    #[test]
    fn matches_on_key_material() {
        let keys = load_authorized(&[ED.to_string()], &[]).unwrap();
        let other: PublicKey = ED.replace("alice@laptop", "bob").parse().unwrap();
        assert!(find(&keys, &other).is_some());
        assert!(load_authorized(&[], &["/nonexistent/keys".into()]).is_err());
    }
}
