//! The passphrase prompt on the local console, alongside SSH: whichever answer comes first
//! wins, and this prompt goes away when another path unlocked first.
//!
//! The terminal stays in canonical mode with echo off, so the kernel's line discipline does
//! the editing (backspace, Ctrl-U) and nothing typed is shown; ISIG is off so Ctrl-C arrives as
//! a byte (it clears the line) instead of signalling whoever owns the console. The previous
//! mode is restored when the prompt ends, however it ends.

use super::line::{LineBuffer, MAX_LEN};
use super::outcome::verdict;
use super::{agent, Attempt, Chosen, Mode, Passphrase, Unlocker};
use crate::error::{Context, Result};
use crate::exit::CommandError;
use rustix::fs::{Mode as FileMode, OFlags};
use rustix::termios::{self, LocalModes, OptionalActions, QueueSelector, SpecialCodeIndex, Termios};
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::unix::AsyncFd;
use zeroize::Zeroizing;

pub(crate) const CONSOLE: &str = "/dev/console";

/// Prompts on `/dev/console` until nothing is pending (in systemdAgent mode: forever, one
/// prompt per request). A console that cannot be used is logged and the prompt ends.
pub(crate) async fn console_prompt(unlocker: Arc<Unlocker>) {
    if let Err(e) = console_prompt_on(PathBuf::from(CONSOLE), unlocker).await {
        log::warn!("unlock: console prompt ended: {e}");
    }
}

/// The terminal mode to restore when the prompt ends (dropped with the prompt's future too).
struct Restore<'a> {
    fd: &'a AsyncFd<OwnedFd>,
    saved: Option<Termios>,
}

impl Drop for Restore<'_> {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            let _ = termios::tcflush(self.fd.get_ref(), QueueSelector::IFlush);
            let _ = termios::tcsetattr(self.fd.get_ref(), OptionalActions::Now, saved);
        }
    }
}

/// As [`console_prompt`], on the terminal (or pipe) at `path`.
pub async fn console_prompt_on(path: PathBuf, unlocker: Arc<Unlocker>) -> Result<()> {
    let shown = path.display();
    let (fd, saved) = open_quiet(&path)?;
    let tty = saved.is_some();
    let _restore = Restore { fd: &fd, saved };
    let mut wrong = 0u32;
    // systemdAgent mode: the request prompted for last, and the list last shown.
    let mut last: Option<PathBuf> = None;
    let mut listed: Vec<PathBuf> = Vec::new();
    loop {
        if unlocker.is_done() {
            return Ok(());
        }
        unlocker.wait_pending().await;
        let seen = unlocker.pending();
        if seen.is_empty() {
            continue;
        }
        // One prompt per request, oldest first, each answer to its own request (see the SSH
        // prompt, which words it the same); direct modes: one prompt for every pending device.
        let request = if unlocker.mode() == Mode::SystemdAgent {
            let requests = unlocker.requests();
            if requests.is_empty() {
                continue;
            }
            let files: Vec<PathBuf> = requests.iter().map(|r| r.file.clone()).collect();
            if requests.len() > 1 && files != listed {
                say(&fd, &format!("\n{}", agent::list(&requests))).await?;
            }
            listed = files;
            let at = agent::next(&requests, last.as_deref());
            let counter =
                if requests.len() > 1 { format!("[{}/{}] ", at + 1, requests.len()) } else { String::new() };
            say(&fd, &format!("\n{counter}{}", agent_prompt(&requests[at].message))).await?;
            Some(requests[at].clone())
        } else {
            say(&fd, &format!("\nPassphrase for {}: ", unlocker.describe_pending())).await?;
            None
        };
        let line = tokio::select! {
            line = read_line(&fd) => line.with_context(|| format!("{shown}: cannot read"))?,
            () = unlocker.changed(&seen) => {
                if tty {
                    let _ = termios::tcflush(fd.get_ref(), QueueSelector::IFlush);
                }
                let note = if unlocker.is_done() {
                    "\nUnlocked from another prompt; the boot continues.\n"
                } else if request.as_ref().is_some_and(|r| unlocker.requests().iter().any(|p| p.file == r.file)) {
                    "\n(another password request came)\n"
                } else {
                    "\n(answered elsewhere)\n"
                };
                say(&fd, note).await?;
                continue;
            }
        };
        let mut line = match line {
            Line::Typed(line) => line,
            Line::End if tty => continue, // Ctrl-D on an empty line: ask again.
            Line::End => crate::bail!("{shown}: end of input"),
            Line::Cleared => {
                say(&fd, "(cleared)\n").await?;
                continue;
            }
            Line::TooLong => {
                say(&fd, &format!("Longer than {MAX_LEN} bytes: not tried. Type it again.\n")).await?;
                continue;
            }
        };
        last = request.as_ref().map(|r| r.file.clone());
        if line.is_empty() && request.is_some() {
            continue; // the next request's prompt
        }
        let passphrase = Passphrase::new(std::mem::take(&mut *line));
        let chosen = match request {
            Some(request) => Chosen::Request(request),
            None => Chosen::Devices(None),
        };
        try_typed(&fd, &unlocker, chosen, passphrase, &mut wrong).await?;
    }
}

/// Opens the console at `path`; on a terminal, with echo off (see the module's comment) and
/// the mode to restore.
fn open_quiet(path: &std::path::Path) -> Result<(AsyncFd<OwnedFd>, Option<Termios>)> {
    let shown = path.display();
    let flags = OFlags::RDWR | OFlags::NOCTTY | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let fd =
        rustix::fs::open(path, flags, FileMode::empty()).with_context(|| format!("{shown}: cannot open"))?;
    let tty = termios::isatty(&fd);
    // SAFETY: the OwnedFd moves into the AsyncFd, which neither closes nor replaces it early.
    let fd = unsafe { AsyncFd::register(fd) }.with_context(|| format!("{shown}: cannot watch"))?;
    if !tty {
        return Ok((fd, None));
    }
    let saved = termios::tcgetattr(fd.get_ref()).with_context(|| format!("{shown}: cannot read the mode"))?;
    let mut quiet = saved.clone();
    quiet.local_modes.remove(LocalModes::ECHO | LocalModes::ISIG);
    quiet.local_modes.insert(LocalModes::ICANON | LocalModes::ECHONL);
    // Ctrl-C also ends the line (as an extra end-of-line character), so it is seen at once.
    quiet.special_codes[SpecialCodeIndex::VEOL] = 0x03;
    termios::tcsetattr(fd.get_ref(), OptionalActions::Flush, &quiet)
        .with_context(|| format!("{shown}: cannot turn echo off"))?;
    Ok((fd, Some(saved)))
}

/// Tries one typed passphrase and says what came of it, in the words every front end uses
/// ([`verdict`]); after a wrong one, a pause that grows with `wrong`.
async fn try_typed(
    fd: &AsyncFd<OwnedFd>,
    unlocker: &Unlocker,
    chosen: Chosen,
    passphrase: Passphrase,
    wrong: &mut u32,
) -> Result<()> {
    let attempt = unlocker.try_chosen(chosen, passphrase).await;
    let was_wrong = attempt == Attempt::Wrong;
    if matches!(attempt, Attempt::Unlocked { .. }) {
        *wrong = 0;
    }
    let said = match verdict(unlocker, attempt) {
        Ok(said) | Err(CommandError { message: said, .. }) => said,
    };
    say(fd, &sentence(&said)).await?;
    if was_wrong {
        *wrong += 1;
        // A growing pause slows guessing at the keyboard; the KDF already costs time.
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(u64::from((*wrong).min(5)))) => {}
            () = unlocker.done() => {}
        }
    }
    Ok(())
}

/// A verdict as a line on the console: capitalized, with a full stop unless it ends in one
/// (a systemd request's own message ends with ':').
fn sentence(said: &str) -> String {
    let mut chars = said.chars();
    let first = chars.next().map(|c| c.to_uppercase().collect::<String>()).unwrap_or_default();
    let stop = if said.ends_with([':', '.']) { "" } else { "." };
    format!("{first}{}{stop}\n", chars.as_str())
}

/// A systemd request's own message as the prompt: systemd already words it as one ("Please
/// enter passphrase for disk root:").
fn agent_prompt(message: &str) -> String {
    if message.ends_with(':') {
        format!("{message} ")
    } else {
        format!("{message}: ")
    }
}

/// Writes `text` whole, waiting while the terminal is full.
async fn say(fd: &AsyncFd<OwnedFd>, text: &str) -> Result<()> {
    let mut rest = text.as_bytes();
    while !rest.is_empty() {
        let mut guard = fd.writable().await?;
        match guard.try_io(|inner| rustix::io::write(inner.get_ref(), rest).map_err(Into::into)) {
            Ok(Ok(n)) => rest = &rest[n..],
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Ok(Err(e)) => return Err(e.into()),
            Err(_would_block) => {}
        }
    }
    Ok(())
}

/// How reading one line ended.
enum Line {
    Typed(Zeroizing<Vec<u8>>),
    /// Ctrl-C (the terminal's extra end-of-line character, see above): the line is dropped.
    Cleared,
    TooLong,
    /// End of input with nothing typed.
    End,
}

/// One line into the one passphrase buffer ([`LineBuffer`]), without waiting on anything else.
async fn read_line(fd: &AsyncFd<OwnedFd>) -> std::io::Result<Line> {
    let mut buffer = LineBuffer::new();
    let mut chunk = Zeroizing::new([0u8; 256]);
    loop {
        let mut guard = fd.readable().await?;
        match guard
            .try_io(|inner| rustix::io::read(inner.get_ref().as_fd(), &mut chunk[..]).map_err(Into::into))
        {
            Ok(Ok(0)) if buffer.is_empty() => return Ok(Line::End),
            Ok(Ok(0)) => return Ok(finished(&mut buffer)),
            Ok(Ok(n)) => {
                for &b in &chunk[..n] {
                    match b {
                        b'\n' => return Ok(finished(&mut buffer)),
                        0x03 => {
                            buffer.clear();
                            return Ok(Line::Cleared);
                        }
                        b => buffer.push(b),
                    }
                }
            }
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Ok(Err(e)) => return Err(e),
            Err(_would_block) => {}
        }
    }
}

fn finished(buffer: &mut LineBuffer) -> Line {
    match buffer.finish() {
        Ok(line) => Line::Typed(line),
        Err(_) => Line::TooLong,
    }
}
