//! `lethe net`: the network as stage 1 brings it up, from the command line.

use super::{cmdline, Options, Session};
use crate::error::{Context, Error, Result};

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

/// `lethe net --config FILE [--once]`: brings the network up as stage 1 does, prints the
/// summary as one JSON line, then renews until SIGINT/SIGTERM (or, with `--once`, tears down
/// at once) and tears down. `cmdline`: the kernel command line to take `ip=` from.
/// Exit status: 0 ok, 1 bad config, 2 network failure.
pub fn command(config: &std::path::Path, once: bool, cmdline: &str) -> std::process::ExitCode {
    use std::process::ExitCode;
    let file = config;
    let config = match crate::cli::load_config(file) {
        Ok(c) => c,
        Err(status) => return ExitCode::from(status),
    };
    let network = match cmdline::effective(config.network.as_ref(), cmdline) {
        Ok(Some(n)) => n,
        Ok(None) if cmdline::find_ip(cmdline).is_some() => {
            log::info!("network: ip={} says no network", cmdline::find_ip(cmdline).unwrap_or(""));
            return ExitCode::SUCCESS;
        }
        Ok(None) => {
            eprintln!(
                "lethe: {}: no \"network\" section (and no ip= on the kernel command line)",
                file.display()
            );
            return ExitCode::from(crate::cli::EXIT_BAD_INPUT);
        }
        Err(e) => {
            eprintln!("lethe: {e}");
            return ExitCode::from(crate::cli::EXIT_BAD_INPUT);
        }
    };
    let signals = match stop_signals() {
        Ok(fd) => fd,
        Err(e) => {
            eprintln!("lethe: {e}");
            return ExitCode::from(crate::cli::EXIT_FAILED);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("lethe: tokio runtime: {e}");
            return ExitCode::from(crate::cli::EXIT_FAILED);
        }
    };
    let options = Options { give_up: true, ..Options::default() };
    let result: Result<()> = runtime.block_on(async move {
        // SAFETY: `signals` is an OwnedFd moved into the AsyncFd, which keeps it open for
        // as long as it is registered.
        let signals = unsafe {
            tokio::io::unix::AsyncFd::register_with_interest(signals, tokio::io::Interest::READABLE)
        }
        .map_err(|e| Error::msg(format!("signalfd: {e}")))?;
        // Stopped while still waiting for a link or a lease (a systemd initrd stops
        // lethe-network.service before switch-root, lease or not): undo and exit at once,
        // rather than sit out the unit's stop timeout with SIGTERM blocked.
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
        let summary = session.summary().expect("up applies an address");
        let line = format!("{}\n", serde_json::to_string(summary).expect("summary serializes"));
        // The lease is applied whether or not anyone reads it: keep renewing.
        if let Err(e) = crate::cli::print_stdout(&line) {
            log::warn!("stdout: {e}");
        }
        if !once {
            tokio::select! {
                r = session.maintain() => r?,
                _ = signals.readable() => log::info!("stopping"),
            }
        }
        session.teardown().await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("{e}");
            ExitCode::from(crate::cli::EXIT_FAILED)
        }
    }
}

/// `lethe net`'s entry point: `cmdline` `None` reads `/proc/cmdline`.
pub fn main(config: &std::path::Path, once: bool, cmdline: Option<String>) -> std::process::ExitCode {
    let cmdline = cmdline.unwrap_or_else(|| std::fs::read_to_string("/proc/cmdline").unwrap_or_default());
    command(config, once, &cmdline)
}
