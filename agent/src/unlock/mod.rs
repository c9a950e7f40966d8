//! Unlocking LUKS devices from a passphrase, whoever typed it (SSH login, `ssh host unlock`,
//! the local console, `lethe unlock` on stdin).
//!
//! # The API the other front ends code against
//!
//! ```text
//! Passphrase                       zeroized on drop; Debug prints "Passphrase(***)", no Display
//! Attempt::Unlocked { opened }     direct mode: the device names this passphrase opened now
//!                                  (others may stay pending); systemdAgent mode: the messages of
//!                                  the requests it was *sent* to (see below)
//! Attempt::Wrong                   libcryptsetup: the passphrase matches no keyslot (-EPERM)
//!                                  on every pending device
//! Attempt::Failed(msg)             anything else; msg names the device and the reason
//! Attempt::NothingPending          nothing waits for a passphrase (already open, or no request)
//!
//! Unlocker::new(&config::unlock::Unlock) -> Unlocker   (share it as Arc<Unlocker>)
//! Unlocker::pending() -> Vec<String>   direct: device names not yet open ("crypted");
//!                                      agent: the Message= of every live ask request
//! Unlocker::describe_pending() -> String  one line for a prompt: "crypted (/dev/vda2)"
//! Unlocker::try_passphrase(p).await    one passphrase on every pending device (agent: on the one
//!                                      pending request, refused when several wait); attempts
//!                                      are serialized (one KDF at a time, in spawn_blocking)
//! Unlocker::choose(target) -> Choice   what a passphrase for `unlock [TARGET]` goes to: Ready
//!                                      (Chosen), Wait (nothing fits yet) or Refuse (why)
//! Unlocker::try_chosen(chosen, p).await  one passphrase on that device or request alone
//! Unlocker::requests()                 agent: the pending requests, oldest first
//! Unlocker::done().await               resolves once nothing is pending: direct mode only;
//!                                      in systemdAgent mode it never resolves (runs until stopped)
//! Unlocker::is_done() -> bool          the same, now
//! Unlocker::changed(&seen).await       resolves when pending() != seen (for prompts to redraw)
//! Unlocker::wait_pending().await       resolves once something is pending
//! Unlocker::mode() -> Mode             Direct | VerifyOnly | SystemdAgent
//! Unlocker::max_tries() -> u32         config `unlock.maxTries`
//! console::console_prompt(Arc<Unlocker>).await   prompts on /dev/console until done()
//! outcome::verdict(&unlocker, attempt)  the status and words of an attempt, for every front end
//! command::run(config) -> u8           `lethe unlock --config FILE` (0 opened, 1 wrong passphrase
//!                                      or unusable config, 2 other)
//! ```
//!
//! **systemdAgent mode** cannot tell a right passphrase from a wrong one: it replies
//! `+passphrase` on one request's socket and the asker (systemd-cryptsetup, NixOS' ZFS import,
//! anything calling `systemd-ask-password`), if the passphrase was wrong, posts a new request.
//! So `Unlocked { opened }` there means "sent to this request"; front ends should word it as
//! "passphrase sent" (check `mode()`), and `Wrong` never happens. A passphrase goes to one
//! request only, the one it was typed or named for (`agent::pick`): a wrong one costs the
//! asker a try, so it is never sent to several.
//!
//! **Verify-only** (`LETHE_UNLOCK_VERIFY_ONLY=1`, for hosts without device-mapper): direct mode
//! checks the passphrase against the real LUKS header (`crypt_activate_by_passphrase` with no
//! name) and then counts the device as opened without creating `/dev/mapper/<name>`.

pub(crate) mod agent;
pub mod command;
pub mod console;
mod direct;
pub(crate) mod line;
pub(crate) mod outcome;
mod zfs_key;

use crate::config::unlock::{Device, DeviceKind, Unlock};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;
use zeroize::Zeroizing;

/// A passphrase as typed: bytes, zeroized when dropped, never printed.
pub struct Passphrase(Zeroizing<Vec<u8>>);

impl Passphrase {
    pub(crate) fn new(bytes: Vec<u8>) -> Passphrase {
        Passphrase(Zeroizing::new(bytes))
    }

    /// A line as read from a terminal or pipe: one trailing `\n` or `\r\n` is not part of it.
    #[cfg(test)]
    pub(crate) fn from_line(mut bytes: Vec<u8>) -> Passphrase {
        if bytes.last() == Some(&b'\n') {
            bytes.pop();
            if bytes.last() == Some(&b'\r') {
                bytes.pop();
            }
        }
        Passphrase::new(bytes)
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Passphrase(***)")
    }
}

impl From<String> for Passphrase {
    fn from(s: String) -> Passphrase {
        Passphrase::new(s.into_bytes())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    Unlocked { opened: Vec<String> },
    Wrong,
    Failed(String),
    NothingPending,
}

/// What one passphrase is tried on.
#[derive(Debug, Clone)]
pub(crate) enum Chosen {
    /// Direct modes: every pending device, or only the one named.
    Devices(Option<String>),
    /// systemdAgent mode: this request alone.
    Request(agent::Request),
}

/// [`Unlocker::choose`]'s answer: what to try, or why not now (to say to whoever typed it).
#[derive(Debug, Clone)]
pub(crate) enum Choice {
    Ready(Chosen),
    /// Nothing fits yet; a request may still come.
    Wait(String),
    /// The target fits nothing, or several requests wait and none was named.
    Refuse(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Open the configured devices through libcryptsetup.
    Direct,
    /// As `Direct`, but only check the passphrase against the header (no device-mapper).
    VerifyOnly,
    /// Answer systemd-cryptsetup's requests under `/run/systemd/ask-password`.
    SystemdAgent,
}

/// What the environment decides, apart from the config; tests set it directly.
#[derive(Debug, Clone)]
pub struct Options {
    pub verify_only: bool,
    /// The systemd password-agent directory.
    pub ask_dir: PathBuf,
}

impl Options {
    /// `LETHE_UNLOCK_VERIFY_ONLY=1` selects verify-only; the ask directory is systemd's.
    pub(crate) fn from_env() -> Options {
        Options {
            verify_only: std::env::var_os("LETHE_UNLOCK_VERIFY_ONLY").is_some_and(|v| v == "1"),
            ask_dir: PathBuf::from(agent::ASK_DIR),
        }
    }
}

pub struct Unlocker {
    config: Unlock,
    mode: Mode,
    agent: Arc<agent::Agent>,
    /// `opened[i]` is true once `config.devices[i]` is open (direct modes).
    opened: Mutex<Vec<bool>>,
    /// One attempt at a time: each costs a KDF run, and two at once would only halve both.
    attempts: tokio::sync::Mutex<()>,
    /// Bumped whenever a device opens (direct modes), so prompts can follow.
    generation: watch::Sender<u64>,
}

/// How often systemdAgent mode looks for new or vanished requests.
pub(crate) const AGENT_POLL: std::time::Duration = std::time::Duration::from_millis(200);

impl Unlocker {
    /// The unlocker for `config`, with the environment's options (`LETHE_UNLOCK_VERIFY_ONLY`).
    pub(crate) fn new(config: &Unlock) -> Unlocker {
        Unlocker::with_options(config, Options::from_env())
    }

    pub fn with_options(config: &Unlock, options: Options) -> Unlocker {
        let mode = if config.systemd_agent {
            Mode::SystemdAgent
        } else if options.verify_only {
            log::warn!(
                "unlock: verify-only mode (LETHE_UNLOCK_VERIFY_ONLY=1): passphrases are checked \
                 against the LUKS headers but no device is activated"
            );
            Mode::VerifyOnly
        } else {
            Mode::Direct
        };
        if mode != Mode::SystemdAgent {
            direct::init_logging();
        }
        // A device already open (by hand from a shell, or an earlier run) is not pending.
        let opened: Vec<bool> = match mode {
            Mode::SystemdAgent => Vec::new(),
            Mode::VerifyOnly => vec![false; config.devices.len()],
            Mode::Direct => config.devices.iter().map(direct::already_open_device).collect(),
        };
        Unlocker {
            config: config.clone(),
            mode,
            agent: Arc::new(agent::Agent::new(options.ask_dir)),
            opened: Mutex::new(opened),
            attempts: tokio::sync::Mutex::new(()),
            generation: watch::Sender::new(0),
        }
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    pub(crate) fn max_tries(&self) -> u32 {
        self.config.max_tries
    }

    /// `unlock.tang`, when it is there and enabled.
    pub(crate) fn tang(&self) -> Option<&crate::config::tang::Tang> {
        self.config.tang.as_ref().filter(|t| t.enable)
    }

    pub(crate) fn pending_devices(&self) -> Vec<Device> {
        let opened = self.opened.lock().unwrap();
        self.config.devices.iter().zip(opened.iter()).filter(|(_, &o)| !o).map(|(d, _)| d.clone()).collect()
    }

    /// What waits for a passphrase: device names, or (systemdAgent) the requests' messages.
    pub fn pending(&self) -> Vec<String> {
        match self.mode {
            Mode::SystemdAgent => self.agent.live_requests().into_iter().map(|r| r.message).collect(),
            _ => self.pending_devices().into_iter().map(|d| d.name).collect(),
        }
    }

    /// One line naming what waits, for a prompt: `crypted (/dev/vda2), data (/dev/vdb)`, or
    /// the requests' messages in systemdAgent mode. Empty when nothing waits.
    pub fn describe_pending(&self) -> String {
        match self.mode {
            Mode::SystemdAgent => self.pending().join(", "),
            _ => self
                .pending_devices()
                .iter()
                .map(|d| match d.kind {
                    DeviceKind::Luks => format!("{} ({})", d.name, d.device.display()),
                    DeviceKind::ZfsKey => format!("{} (ZFS encryption root)", d.name),
                })
                .collect::<Vec<_>>()
                .join(", "),
        }
    }

    /// Tries `passphrase` on every pending device; in systemdAgent mode answers the one pending
    /// request (several pending: `Failed`, saying which; none: `NothingPending`).
    pub async fn try_passphrase(&self, passphrase: Passphrase) -> Attempt {
        match self.choose(None) {
            Choice::Ready(chosen) => self.try_chosen(chosen, passphrase).await,
            Choice::Wait(_) => Attempt::NothingPending,
            Choice::Refuse(message) => Attempt::Failed(message),
        }
    }

    /// As [`Unlocker::try_passphrase`] (in turn with the prompts' attempts), on the one device
    /// `name` only: a secret recovered for one device (Tang) is not tried on the others.
    pub(crate) async fn try_passphrase_for(&self, name: &str, passphrase: Passphrase) -> Attempt {
        self.try_chosen(Chosen::Devices(Some(name.to_string())), passphrase).await
    }

    /// Sends `passphrase` to the pending request whose `Id=` is `id` (systemdAgent mode: a
    /// secret Tang recovered for that device); `NothingPending` when none waits.
    pub(crate) async fn try_request_with_id(&self, id: &str, passphrase: Passphrase) -> Attempt {
        match self.requests().into_iter().find(|r| r.id.as_deref() == Some(id)) {
            Some(request) => self.try_chosen(Chosen::Request(request), passphrase).await,
            None => Attempt::NothingPending,
        }
    }

    /// The pending systemd password requests, oldest first (systemdAgent mode; empty otherwise).
    pub(crate) fn requests(&self) -> Vec<agent::Request> {
        match self.mode {
            Mode::SystemdAgent => self.agent.live_requests(),
            _ => Vec::new(),
        }
    }

    /// What a passphrase given for `target` (`ssh host unlock TARGET`; `None`: no target) goes
    /// to. Direct modes: the device named `target` (its name or path), or every pending one.
    /// systemdAgent mode: the request `target` names ([`agent::names`]), or the only pending
    /// one; never several (a wrong passphrase costs each of them a try).
    pub(crate) fn choose(&self, target: Option<&str>) -> Choice {
        if self.mode != Mode::SystemdAgent {
            let Some(target) = target else { return Choice::Ready(Chosen::Devices(None)) };
            let found =
                self.config.devices.iter().find(|d| d.name == target || d.device.as_os_str() == target);
            return match found {
                Some(d) => Choice::Ready(Chosen::Devices(Some(d.name.clone()))),
                None => Choice::Refuse(format!(
                    "no device {target:?} in this config (devices: {})",
                    self.config.devices.iter().map(|d| d.name.as_str()).collect::<Vec<_>>().join(", ")
                )),
            };
        }
        let requests = self.requests();
        let list = |requests: &[&agent::Request]| {
            requests.iter().map(|r| agent::describe(r)).collect::<Vec<_>>().join(", ")
        };
        match (agent::pick(&requests, target), target) {
            (agent::Pick::One(request), _) => Choice::Ready(Chosen::Request(request.clone())),
            (agent::Pick::Nothing, _) if requests.is_empty() => {
                Choice::Wait("nothing asks for a passphrase yet".into())
            }
            (agent::Pick::Nothing, Some(target)) => Choice::Wait(format!(
                "no password request for {target:?} yet (pending: {})",
                list(&requests.iter().collect::<Vec<_>>())
            )),
            (agent::Pick::Nothing, None) => Choice::Wait("nothing asks for a passphrase yet".into()),
            (agent::Pick::Several(several), None) => Choice::Refuse(format!(
                "{} password requests wait: {}; name the one this passphrase is for: unlock TARGET",
                several.len(),
                list(&several)
            )),
            (agent::Pick::Several(several), Some(target)) => Choice::Refuse(format!(
                "{target:?} names {} password requests: {}; name one by its Id",
                several.len(),
                list(&several)
            )),
        }
    }

    /// Tries `passphrase` on what [`Unlocker::choose`] chose.
    pub(crate) async fn try_chosen(&self, chosen: Chosen, passphrase: Passphrase) -> Attempt {
        let _turn = self.attempts.lock().await;
        match chosen {
            Chosen::Request(request) => {
                let agent = self.agent.clone();
                run_blocking(move || agent.answer(&request, &passphrase)).await
            }
            Chosen::Devices(only) => {
                let mut pending = self.pending_devices();
                pending.retain(|d| only.as_ref().is_none_or(|name| &d.name == name));
                if pending.is_empty() {
                    return Attempt::NothingPending;
                }
                let verify_only = self.mode == Mode::VerifyOnly;
                let results = run_blocking(move || direct::try_all(&pending, &passphrase, verify_only)).await;
                self.record(results)
            }
        }
    }

    /// Marks what opened, and sums up the attempt.
    fn record(&self, results: Vec<(String, direct::Outcome)>) -> Attempt {
        let mut opened_now = Vec::new();
        let mut failures = Vec::new();
        {
            let mut opened = self.opened.lock().unwrap();
            for (name, outcome) in results {
                match outcome {
                    direct::Outcome::Opened => {
                        if let Some(i) = self.config.devices.iter().position(|d| d.name == name) {
                            opened[i] = true;
                        }
                        opened_now.push(name);
                    }
                    direct::Outcome::Wrong => {}
                    direct::Outcome::Failed(message) => failures.push(message),
                }
            }
        }
        if !opened_now.is_empty() {
            self.generation.send_modify(|g| *g += 1);
            for message in &failures {
                log::warn!("unlock: {message}");
            }
            Attempt::Unlocked { opened: opened_now }
        } else if !failures.is_empty() {
            Attempt::Failed(failures.join("; "))
        } else {
            Attempt::Wrong
        }
    }

    /// True once the device `name` is open (direct modes).
    pub(crate) fn is_done_for(&self, name: &str) -> bool {
        !self.pending_devices().iter().any(|d| d.name == name)
    }

    /// True once nothing is pending (direct modes); never in systemdAgent mode.
    pub fn is_done(&self) -> bool {
        self.mode != Mode::SystemdAgent && self.opened.lock().unwrap().iter().all(|&o| o)
    }

    /// Resolves once nothing is pending (direct modes); never in systemdAgent mode, where
    /// systemd-cryptsetup may ask again at any time (lethe runs until stopped).
    pub async fn done(&self) {
        if self.mode == Mode::SystemdAgent {
            return std::future::pending().await;
        }
        let mut rx = self.generation.subscribe();
        while !self.is_done() {
            // The sender lives as long as self: changed() only returns on a change.
            let _ = rx.changed().await;
        }
    }

    /// Resolves when `pending()` no longer equals `seen`: a device opened, a request came or
    /// went. Prompts use it to redraw or to go away.
    pub(crate) async fn changed(&self, seen: &[String]) {
        let mut rx = self.generation.subscribe();
        loop {
            if self.pending() != seen {
                return;
            }
            match self.mode {
                Mode::SystemdAgent => tokio::time::sleep(AGENT_POLL).await,
                _ => {
                    let _ = rx.changed().await;
                }
            }
        }
    }

    /// Resolves once something waits for a passphrase (at once in direct modes, until done).
    pub(crate) async fn wait_pending(&self) {
        self.changed(&[]).await
    }
}

/// Runs blocking work (a KDF, socket sends) off the async thread.
async fn run_blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(work).await {
        Ok(value) => value,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("unlock: blocking task did not finish: {e}"),
    }
}

#[cfg(test)]
mod tests;
