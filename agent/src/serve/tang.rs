//! Tang racing the prompts (direct mode): one thread per pending device that has a clevis
//! token in its LUKS2 header (or a JWE in `unlock.tang.secretFiles`) asks its Tang servers
//! round after round, backing off 1, 2, 4 … 30 s, while SSH and the console prompt are offered.
//! A recovered secret goes through the same one-at-a-time attempt as a typed passphrase, so
//! the first right answer opens the device and the others see it open. With Tang unreachable
//! nothing waits on it: the threads only log, once per distinct error.
//!
//! In systemdAgent mode the same race answers systemd-cryptsetup's password requests: for each
//! pending request whose `Id=` is `cryptsetup:DEVICE`, a thread reads the `secretFiles` JWE
//! named like the request's device (NixOS: its boot.initrd.luks.devices name), else the clevis
//! tokens of DEVICE's LUKS2 header, and, while a request with that Id waits, asks Tang; the secret is sent
//! to that request alone (never to another device's or a ZFS dataset's), once. Whether it was
//! right only systemd-cryptsetup knows: if not, it asks again and the prompts answer.
//!
//! The threads block (HTTP with per-request timeouts), so they are plain threads, not tokio's
//! blocking pool (whose threads a runtime waits for when it shuts down); they hand their answer
//! over a channel to a task of the serve, and end when the device is open or the serve is over.

use crate::config::tang::Tang;
use crate::config::unlock::Device;
use crate::error::{Error, Result};
use crate::unlock::{agent, Attempt, Mode, Passphrase, Unlocker};
use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use zeroize::Zeroizing;

const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How often a waiting thread looks whether it is still wanted.
const WAKE: Duration = Duration::from_millis(250);

/// A secret recovered for one device (its name; systemdAgent mode: its request's `Id=`), and
/// the servers that answered.
struct Answer {
    device: String,
    servers: Vec<String>,
    secret: Zeroizing<Vec<u8>>,
}

/// One JWE to decrypt: where it came from (for messages) and its text.
struct Source {
    label: String,
    jwe: String,
}

/// Starts the race when `unlock.tang` is on; the returned task tries the answers and must be
/// aborted when the serve ends (the threads then stop on their own).
pub(crate) fn start(unlocker: &Arc<Unlocker>) -> Option<tokio::task::JoinHandle<()>> {
    let tang = unlocker.tang()?.clone();
    let (send, receive) = mpsc::channel::<Answer>(1);
    if unlocker.mode() == Mode::SystemdAgent {
        let unlocker = unlocker.clone();
        return Some(tokio::spawn(async move {
            tokio::join!(watch_requests(&unlocker, &tang, send), try_answers(unlocker.clone(), receive));
        }));
    }
    for device in unlocker.pending_devices() {
        let (send, unlocker, tang) = (send.clone(), unlocker.clone(), tang.clone());
        let name = device.name.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("tang-{name}"))
            .spawn(move || race(&device, &tang, &unlocker, &send));
        if let Err(e) = spawned {
            log::warn!("unlock: {name}: tang: cannot start a thread: {e}");
        }
    }
    Some(tokio::spawn(try_answers(unlocker.clone(), receive)))
}

/// The LUKS device a systemd-cryptsetup request asks for (`Id=cryptsetup:/dev/vda2`).
fn cryptsetup_device(id: &str) -> Option<&Path> {
    id.strip_prefix("cryptsetup:").filter(|d| d.starts_with('/')).map(Path::new)
}

/// systemdAgent mode: starts one thread per systemd-cryptsetup device that asks (once each),
/// until the serve ends (this future is then dropped with its task).
async fn watch_requests(unlocker: &Arc<Unlocker>, tang: &Tang, send: mpsc::Sender<Answer>) {
    let mut started = HashSet::new();
    loop {
        for request in unlocker.requests() {
            let names: Vec<String> = agent::names(&request).into_iter().map(str::to_string).collect();
            let Some(id) = request.id.filter(|id| cryptsetup_device(id).is_some()) else { continue };
            if !started.insert(id.clone()) {
                continue;
            }
            let (send, unlocker, tang) = (send.clone(), unlocker.clone(), tang.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("tang-{id}"))
                .spawn(move || race_request(&id, &names, &tang, &unlocker, &send));
            if let Err(e) = spawned {
                log::warn!("unlock: tang: cannot start a thread: {e}");
            }
        }
        tokio::time::sleep(crate::unlock::AGENT_POLL).await;
    }
}

/// One systemd-cryptsetup device's thread (systemdAgent mode): reads its JWE once (the
/// `secretFiles` entry named like the request, see [`agent::names`], else the clevis tokens of
/// its header), then, while a request with its `id` waits, asks Tang round after round; the
/// first secret recovered is sent to that request, and the thread ends.
fn race_request(id: &str, names: &[String], tang: &Tang, unlocker: &Unlocker, send: &mpsc::Sender<Answer>) {
    let Some(device) = cryptsetup_device(id) else { return };
    let file = names.iter().find_map(|n| tang.secret_files.get(n));
    let sources = match file {
        Some(path) => read_jwe(path).map(|source| vec![source]),
        None => crate::tang::token::clevis_tokens(device).map(|tokens| {
            tokens
                .into_iter()
                .map(|t| Source { label: format!("{} token {}", device.display(), t.id), jwe: t.json })
                .collect::<Vec<_>>()
        }),
    };
    let sources = match sources {
        Ok(sources) => sources,
        Err(e) => {
            log::warn!("unlock: {id}: tang: {e}");
            return;
        }
    };
    if sources.is_empty() {
        log::debug!("unlock: {id}: no clevis token and no unlock.tang.secretFiles entry");
        return;
    }
    let waiting = || unlocker.requests().iter().any(|r| r.id.as_deref() == Some(id));
    let wanted = || !send.is_closed();
    let mut said = HashSet::new();
    let mut backoff = FIRST_BACKOFF;
    while wanted() {
        if !waiting() {
            std::thread::sleep(WAKE);
            continue;
        }
        for source in &sources {
            match crate::tang::recover(&source.jwe, tang) {
                Ok(recovered) => {
                    let answer = Answer {
                        device: id.to_string(),
                        servers: recovered.servers,
                        secret: recovered.secret,
                    };
                    let _ = send.blocking_send(answer);
                    return;
                }
                Err(e) => {
                    let message = format!("unlock: {id}: tang: {}: {e}", source.label);
                    if waiting() && said.insert(message.clone()) {
                        log::warn!("{message}; the prompts stay open, retrying");
                    }
                }
            }
        }
        wait(backoff, &|| wanted() && waiting());
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

async fn try_answers(unlocker: Arc<Unlocker>, mut receive: mpsc::Receiver<Answer>) {
    while let Some(mut answer) = receive.recv().await {
        let (name, source) = (answer.device, answer.servers.join(", "));
        let passphrase = Passphrase::new(std::mem::take(&mut *answer.secret));
        if unlocker.mode() == Mode::SystemdAgent {
            match unlocker.try_request_with_id(&name, passphrase).await {
                Attempt::Unlocked { .. } => {
                    log::info!("unlock: {name}: tang answered the password request ({source})")
                }
                Attempt::NothingPending => {
                    log::info!("unlock: {name}: a prompt answered first; tang's secret is dropped")
                }
                Attempt::Wrong => {}
                Attempt::Failed(message) => log::warn!("unlock: {message}"),
            }
            continue;
        }
        match unlocker.try_passphrase_for(&name, passphrase).await {
            Attempt::Unlocked { .. } => log::info!("unlock: {name}: opened by tang ({source})"),
            // A prompt was faster.
            Attempt::NothingPending => {}
            Attempt::Wrong => {
                log::warn!("unlock: {name}: the secret tang ({source}) gave matches no keyslot")
            }
            Attempt::Failed(message) => log::warn!("unlock: {message}"),
        }
    }
}

/// One device's thread: reads its JWEs once, then asks Tang until each has answered, the
/// device is open or the serve is over.
fn race(device: &Device, tang: &Tang, unlocker: &Unlocker, send: &mpsc::Sender<Answer>) {
    let name = &device.name;
    let mut sources = match sources(device, tang) {
        Ok(s) => s,
        Err(e) => {
            log::warn!("unlock: {name}: tang: {e}");
            return;
        }
    };
    if sources.is_empty() {
        log::debug!("unlock: {name}: no clevis token and no unlock.tang.secretFiles entry");
        return;
    }
    let wanted = || !send.is_closed() && unlocker.pending_devices().iter().any(|d| &d.name == name);
    let mut said = HashSet::new();
    let mut backoff = FIRST_BACKOFF;
    while wanted() && !sources.is_empty() {
        let mut i = 0;
        while i < sources.len() && wanted() {
            match crate::tang::recover(&sources[i].jwe, tang) {
                Ok(recovered) => {
                    sources.remove(i);
                    let answer =
                        Answer { device: name.clone(), servers: recovered.servers, secret: recovered.secret };
                    if send.blocking_send(answer).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let message = format!("unlock: {name}: tang: {}: {e}", sources[i].label);
                    // A round that ended after a prompt opened the device is no news.
                    if wanted() && said.insert(message.clone()) {
                        log::warn!("{message}; the prompts stay open, retrying");
                    }
                    i += 1;
                }
            }
        }
        wait(backoff, &wanted);
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Sleeps `how_long`, or less when the thread is no longer wanted.
fn wait(how_long: Duration, wanted: &impl Fn() -> bool) {
    let end = Instant::now() + how_long;
    while wanted() {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(WAKE));
    }
}

/// The device's JWE file when `secretFiles` names one, else the clevis tokens of its header.
fn sources(device: &Device, tang: &Tang) -> Result<Vec<Source>> {
    if let Some(path) = tang.secret_files.get(&device.name) {
        return Ok(vec![read_jwe(path)?]);
    }
    let header = device.header.as_deref().unwrap_or(&device.device);
    let tokens = crate::tang::token::clevis_tokens(header)?;
    Ok(tokens
        .into_iter()
        .map(|t| Source { label: format!("{} token {}", header.display(), t.id), jwe: t.json })
        .collect())
}

/// A JWE file of `unlock.tang.secretFiles`.
fn read_jwe(path: &Path) -> Result<Source> {
    let jwe = std::fs::read_to_string(path)
        .map_err(|e| Error::msg(format!("{}: cannot read: {e}", path.display())))?;
    Ok(Source { label: path.display().to_string(), jwe })
}
