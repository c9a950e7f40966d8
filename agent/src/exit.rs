//! How a subcommand ends. A command returns `Result<(), CommandError>`; `main.rs` turns that
//! into the exit status, the one mapping every front end shares (README "Exit status"): 0 done,
//! 1 bad input (the user's to fix), 2 anything else. The SSH session sends the same numbers as
//! its exit-status, so they are defined here, low in the tree, and nowhere else.

use std::fmt::Display;

/// Why a command failed, as far as its exit status goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// A config that is invalid or lacks the section the command needs, a wrong passphrase.
    BadInput,
    /// Anything else: a wrong command line, an unreadable config, a disk or network error.
    Failed,
}

impl Status {
    /// The process exit status (and the SSH exit-status) for this kind of failure.
    pub const fn code(self) -> u8 {
        match self {
            Status::BadInput => 1,
            Status::Failed => 2,
        }
    }
}

/// A command's failure: its exit status and the one line that says why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandError {
    pub status: Status,
    pub message: String,
    /// Report it as an error-level log line (with its syslog priority under systemd) instead
    /// of a plain `lethe: MESSAGE` line on stderr: for the commands systemd units run.
    pub logged: bool,
}

impl CommandError {
    pub(crate) fn bad_input(message: impl Display) -> CommandError {
        CommandError { status: Status::BadInput, message: message.to_string(), logged: false }
    }

    pub(crate) fn failed(message: impl Display) -> CommandError {
        CommandError { status: Status::Failed, message: message.to_string(), logged: false }
    }

    /// The same failure, reported through the logger (see [`CommandError::logged`]).
    pub(crate) fn logged(self) -> CommandError {
        CommandError { logged: true, ..self }
    }

    /// Says why on stderr (or in the log): `main.rs` calls it once, before exiting.
    pub fn report(&self) {
        if self.logged {
            log::error!("{}", self.message);
        } else {
            eprintln!("lethe: {}", self.message);
        }
    }
}

/// Writes `text` to stdout. A reader that stops early (`| head`) is not an error, so a closed
/// pipe is ignored (std would panic in `println!`); any other failure (a full disk) is returned.
pub(crate) fn print_stdout(text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// [`print_stdout`] as a command's last act: done, or a failure naming stdout.
pub fn print(text: &str) -> Result<(), CommandError> {
    print_stdout(text).map_err(|e| CommandError::failed(format!("stdout: {e}")))
}
