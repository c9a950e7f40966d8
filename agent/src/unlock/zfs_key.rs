//! Loading the key of a ZFS encryption root (`keylocation=prompt`) from a typed passphrase:
//! `zfs load-key ROOT` with the passphrase on its stdin (never in its arguments, which any
//! process may read in /proc), as `zfs` reads it when stdin is not a terminal. Blocking:
//! called from `spawn_blocking`, one attempt at a time, like [`super::direct`].

use super::direct::Outcome;
use super::Passphrase;
use std::io::Write;
use std::process::{Command, Stdio};

/// Whether the key of `root` is loaded (`keystatus` is `available`), saying so when it is.
pub(crate) fn already_loaded(root: &str) -> bool {
    let out = Command::new("zfs").args(["get", "-H", "-p", "-o", "value", "keystatus", root]).output();
    let loaded =
        out.is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == "available");
    if loaded {
        log::info!("unlock: {root}: ZFS key already loaded");
    }
    loaded
}

/// What `zfs load-key` said, as an outcome: a wrong passphrase (or one ZFS would never accept,
/// too short or too long) is `Wrong`, anything else names the root and what zfs said.
pub(crate) fn outcome(root: &str, success: bool, stderr: &str) -> Outcome {
    if success {
        return Outcome::Opened;
    }
    let said = stderr.trim();
    let wrong = ["Incorrect key provided", "Passphrase too short", "Passphrase too long"];
    if wrong.iter().any(|w| said.contains(w)) {
        log::info!("unlock: {root}: the passphrase is not the ZFS key ({said})");
        return Outcome::Wrong;
    }
    let said = if said.is_empty() { "no message" } else { said };
    Outcome::Failed(format!("{root}: zfs load-key failed: {said}"))
}

/// Tries `passphrase` as the key of the encryption root `root`.
pub(crate) fn try_one(root: &str, passphrase: &Passphrase) -> Outcome {
    if already_loaded(root) {
        return Outcome::Opened;
    }
    let child = Command::new("zfs")
        .args(["load-key", root])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return Outcome::Failed(format!("{root}: cannot run zfs load-key: {e}")),
    };
    if let Some(mut stdin) = child.stdin.take() {
        // zfs reads one line; a broken pipe means it stopped early, and its stderr says why.
        let _ = stdin.write_all(passphrase.as_bytes()).and_then(|()| stdin.write_all(b"\n"));
    }
    match child.wait_with_output() {
        Ok(out) => {
            let result = outcome(root, out.status.success(), &String::from_utf8_lossy(&out.stderr));
            if result == Outcome::Opened {
                log::info!("unlock: {root}: ZFS key loaded");
            }
            result
        }
        Err(e) => Outcome::Failed(format!("{root}: zfs load-key: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_zfs_load_key_said() {
        let wrong = "Key load error: Incorrect key provided for 'rpool'.\n";
        assert_eq!(outcome("rpool", false, wrong), Outcome::Wrong);
        assert_eq!(outcome("rpool", false, "Passphrase too short (min 8).\n"), Outcome::Wrong);
        assert_eq!(outcome("rpool", true, ""), Outcome::Opened);
        assert_eq!(
            outcome("rpool", false, "cannot open 'rpool': dataset does not exist\n"),
            Outcome::Failed("rpool: zfs load-key failed: cannot open 'rpool': dataset does not exist".into())
        );
        assert_eq!(
            outcome("rpool", false, ""),
            Outcome::Failed("rpool: zfs load-key failed: no message".into())
        );
    }

    /// Where zfs cannot run (no program, or no module as on this host), the attempt fails naming
    /// the root;
    /// the passphrase is never part of the message.
    #[test]
    fn no_zfs_program_is_a_failure_naming_the_root() {
        let Outcome::Failed(message) =
            try_one("rpool-lethe-test-none", &Passphrase::from("secret words".to_string()))
        else {
            panic!("expected a failure");
        };
        assert!(message.starts_with("rpool-lethe-test-none: "), "{message}");
        assert!(!message.contains("secret"), "{message}");
    }
}
