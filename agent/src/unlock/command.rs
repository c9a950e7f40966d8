//! `lethe unlock --config FILE [TARGET]`: one passphrase from stdin opens the configured
//! devices, or the one TARGET names (in systemdAgent mode: answers the request TARGET names, or
//! the one pending request; with several and no TARGET it refuses, as it cannot say which one is
//! meant). The rule is `Unlocker::choose`, the same as `ssh host unlock [TARGET]`. For recovery from an initrd shell, and for
//! scripts: exit 0 when nothing is left pending, 1 on a wrong passphrase or a config that cannot
//! be used, 2 on any other failure (an unreadable config included).

use super::line::{LineBuffer, TooLong};
use super::outcome::verdict;
use super::{Choice, Chosen, Mode, Passphrase, Unlocker};
use crate::config::Config;
use crate::error::{Context, Result};
use crate::exit::CommandError;
use rustix::termios::{self, LocalModes, OptionalActions, SpecialCodeIndex};
use std::io::Write;
use std::path::Path;

/// Runs the subcommand. Messages go to stderr, one line each.
pub fn run(config_file: &Path, target: Option<&str>) -> std::result::Result<(), CommandError> {
    // A config that cannot be used is bad input, like a wrong passphrase; unreadable fails.
    let Config { unlock: Some(unlock), .. } = crate::config::command::load(config_file)? else {
        return Err(CommandError::bad_input(format!(
            "{}: no \"unlock\" section: nothing to unlock",
            config_file.display()
        )));
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CommandError::failed(format!("cannot start the async runtime: {e}")))?;
    let unlocker = Unlocker::new(&unlock);
    let what = unlocker.describe_pending();
    if what.is_empty() {
        return match unlocker.mode() {
            Mode::SystemdAgent => Err(CommandError::failed("no password request is pending")),
            _ => {
                eprintln!("lethe: nothing to unlock");
                Ok(())
            }
        };
    }
    // Several systemd requests and no way to say which: refused before reading (see `choose`).
    let chosen = match unlocker.choose(target) {
        Choice::Ready(chosen) => chosen,
        Choice::Wait(message) => return Err(CommandError::failed(message)),
        Choice::Refuse(message) => {
            return Err(CommandError::bad_input(
                message.replace("unlock TARGET", "lethe unlock --config FILE TARGET"),
            ))
        }
    };
    // systemdAgent mode: the request's own message, which systemd words as a prompt.
    let prompt = match &chosen {
        Chosen::Request(request) => format!("{}: ", request.message.trim_end_matches([':', ' '])),
        Chosen::Devices(Some(name)) => format!("Passphrase for {name}: "),
        Chosen::Devices(None) => format!("Passphrase for {what}: "),
    };
    let passphrase = read_passphrase(&prompt).map_err(CommandError::failed)?;
    let attempt = runtime.block_on(unlocker.try_chosen(chosen, passphrase));
    let said = verdict(&unlocker, attempt)?;
    eprintln!("lethe: {said}");
    Ok(())
}

/// One line from stdin; on a terminal, prompted on stderr with echo off (and asked again when
/// the line is too long).
fn read_passphrase(prompt: &str) -> Result<Passphrase> {
    let stdin = std::io::stdin();
    let tty = termios::isatty(&stdin);
    loop {
        match read_passphrase_once(&stdin, tty, prompt)? {
            Ok(mut line) => return Ok(Passphrase::new(std::mem::take(&mut *line))),
            Err(too_long) if tty => eprintln!("lethe: {too_long}: not tried. Type it again."),
            Err(too_long) => crate::bail!("stdin: {too_long}"),
        }
    }
}

fn read_passphrase_once(
    stdin: &std::io::Stdin,
    tty: bool,
    prompt: &str,
) -> Result<std::result::Result<zeroize::Zeroizing<Vec<u8>>, TooLong>> {
    let saved = if tty {
        // Echo off before the prompt shows, so nothing typed after it can be echoed; ISIG off
        // so Ctrl-C comes back as a byte (and the mode is restored) instead of killing us with
        // echo still off. Typed-ahead input is kept (TCSANOW, not TCSAFLUSH).
        let saved = termios::tcgetattr(stdin).context("stdin: cannot read the terminal mode")?;
        let mut quiet = saved.clone();
        quiet.local_modes.remove(LocalModes::ECHO | LocalModes::ISIG);
        quiet.local_modes.insert(LocalModes::ECHONL);
        // Ctrl-C also ends the line (as an extra end-of-line character), so it is seen at once.
        quiet.special_codes[SpecialCodeIndex::VEOL] = 0x03;
        termios::tcsetattr(stdin, OptionalActions::Now, &quiet).context("stdin: cannot turn echo off")?;
        eprint!("{prompt}");
        let _ = std::io::stderr().flush();
        Some(saved)
    } else {
        None
    };
    let mut buffer = LineBuffer::new();
    let read = read_line(stdin, tty, &mut buffer);
    if let Some(saved) = saved {
        let _ = termios::tcsetattr(stdin, OptionalActions::Now, &saved);
    }
    match read.context("stdin: cannot read the passphrase")? {
        End::CtrlC => {
            buffer.clear();
            crate::bail!("cancelled (Ctrl-C)");
        }
        End::Eof if buffer.is_empty() => crate::bail!("stdin: no passphrase (end of input)"),
        End::Eof | End::Newline => Ok(buffer.finish()),
    }
}

enum End {
    Newline,
    CtrlC,
    Eof,
}

/// Reads up to the first newline (or Ctrl-C, on a terminal) into the one passphrase buffer, a
/// byte at a time: std's buffered stdin would keep a copy in a buffer nobody zeroizes.
fn read_line(fd: impl std::os::fd::AsFd, ctrl_c_ends: bool, buffer: &mut LineBuffer) -> std::io::Result<End> {
    let mut byte = zeroize::Zeroizing::new([0u8; 1]);
    loop {
        match rustix::io::read(&fd, &mut byte[..]) {
            Ok(0) => return Ok(End::Eof),
            Ok(_) if byte[0] == b'\n' => return Ok(End::Newline),
            Ok(_) if ctrl_c_ends && byte[0] == 0x03 => return Ok(End::CtrlC),
            Ok(_) => buffer.push(byte[0]),
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => {
                buffer.clear();
                return Err(e.into());
            }
        }
    }
}
