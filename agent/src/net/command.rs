//! `lethe net`: the network as stage 1 brings it up, from the command line.

use super::{cmdline, Options, Session};
use crate::config::network::Network;
use crate::error::{Context, Error, Result};
use crate::exit::CommandError;
use std::path::Path;
use tokio::io::unix::AsyncFd;

/// SIGINT/SIGTERM as a readable descriptor, so `lethe net` can tear down when stopped.
fn stop_signals() -> Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: sigset_t is plain data initialised by sigemptyset; the calls only read/write it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        let fd = libc::signalfd(-1, &set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC);
        if fd < 0 {
            return Err(std::io::Error::last_os_error()).context("signalfd");
        }
        Ok(std::os::fd::OwnedFd::from_raw_fd(fd))
    }
}

/// `lethe net --config FILE [--once] [--cmdline TEXT]`: brings the network up as stage 1
/// does, prints the summary as one JSON line, then renews until SIGINT/SIGTERM (or, with
/// `--once`, tears down at once) and tears down. `cmdline`: the kernel command line to take
/// `ip=` from; `None` reads `/proc/cmdline`.
pub fn run(file: &Path, once: bool, cmdline: Option<String>) -> Result<(), CommandError> {
    let cmdline = cmdline.unwrap_or_else(|| std::fs::read_to_string("/proc/cmdline").unwrap_or_default());
    let config = crate::config::command::load(file)?;
    let Some(network) = wanted(config.network.as_ref(), file, &cmdline)? else {
        return Ok(());
    };
    let signals = stop_signals().map_err(CommandError::failed)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CommandError::failed(format!("tokio runtime: {e}")))?;
    runtime.block_on(up_until_stopped(network, signals, once)).map_err(|e| CommandError::failed(e).logged())
}

/// The network to bring up: the config's, as `ip=` on `cmdline` changes it. `None` when
/// `ip=` says no network (done, nothing to do); bad input when there is nothing to go by.
fn wanted(config: Option<&Network>, file: &Path, cmdline: &str) -> Result<Option<Network>, CommandError> {
    match cmdline::effective(config, cmdline) {
        Ok(Some(n)) => Ok(Some(n)),
        Ok(None) if cmdline::find_ip(cmdline).is_some() => {
            log::info!("network: ip={} says no network", cmdline::find_ip(cmdline).unwrap_or(""));
            Ok(None)
        }
        Ok(None) => Err(CommandError::bad_input(format!(
            "{}: no \"network\" section (and no ip= on the kernel command line)",
            file.display()
        ))),
        Err(e) => Err(CommandError::bad_input(e)),
    }
}

/// Up, print the summary, renew (unless `once`), tear down; `signals` stop it at any point.
async fn up_until_stopped(network: Network, signals: std::os::fd::OwnedFd, once: bool) -> Result<()> {
    let options = Options { give_up: true, ..Options::default() };
    // SAFETY: `signals` is an OwnedFd moved into the AsyncFd, which keeps it open for as long
    // as it is registered.
    let signals = unsafe { AsyncFd::register_with_interest(signals, tokio::io::Interest::READABLE) }
        .map_err(|e| Error::msg(format!("signalfd: {e}")))?;
    // Stopped while still waiting for a link or a lease (a systemd initrd stops
    // lethe-network.service before switch-root, lease or not): undo and exit at once, rather
    // than sit out the unit's stop timeout with SIGTERM blocked.
    let mut session = tokio::select! {
        r = Session::start(&network, &options) => r?,
        _ = signals.readable() => {
            log::info!("stopping before the link was up");
            return Ok(());
        }
    };
    let configured = tokio::select! {
        r = session.configure() => Some(r),
        _ = signals.readable() => None,
    };
    match configured {
        Some(Ok(_)) => {}
        Some(Err(e)) => {
            session.teardown().await?;
            return Err(e);
        }
        None => {
            log::info!("stopping before an address was applied");
            return session.teardown().await;
        }
    }
    print_summary(&session);
    if !once {
        tokio::select! {
            r = session.maintain() => r?,
            _ = signals.readable() => log::info!("stopping"),
        }
    }
    session.teardown().await
}

/// The lease as one JSON line. It is applied whether or not anyone reads it: a closed stdout
/// only warns, and the renewing goes on.
fn print_summary(session: &Session) {
    let summary = session.summary().expect("up applies an address");
    let line = format!("{}\n", serde_json::to_string(summary).expect("summary serializes"));
    if let Err(e) = crate::exit::print_stdout(&line) {
        log::warn!("stdout: {e}");
    }
}
