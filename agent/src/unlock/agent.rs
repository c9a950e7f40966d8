//! The systemd password-agent protocol: systemd-cryptsetup (and anything using
//! `systemd-ask-password`) writes `/run/systemd/ask-password/ask.*` files; an agent answers on
//! the unix datagram socket each names.

use super::{Attempt, Passphrase};
use std::path::Path;

pub const ASK_DIR: &str = "/run/systemd/ask-password";

/// One password request, as parsed from an `ask.*` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub message: String,
}

/// The requests in `dir` that still wait for an answer (not expired, asker alive).
pub fn live_requests(_dir: &Path) -> Vec<Request> {
    Vec::new()
}

/// Sends `passphrase` to every live request in `dir`.
pub fn answer_all(_dir: &Path, _passphrase: &Passphrase) -> Attempt {
    Attempt::NothingPending
}
