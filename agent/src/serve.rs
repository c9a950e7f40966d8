//! `lethe serve --config FILE`: the SSH server, the console prompt and the unlock backend, until
//! every configured device is open (or, in systemdAgent mode, until SIGTERM), then the listener
//! is closed and lethe exits 0. The unit a systemd initrd starts, and what stage 1 calls.
//!
//! A broken SSH setup (bad host key, no usable authorized key, port taken) does not stop the
//! console prompt: the boot can still be unlocked at the keyboard. Only when nothing at all
//! could answer does serve fail.

use crate::config::{Config, LoadError};
use crate::ssh::Server;
use crate::unlock::{console, Mode, Unlocker};
use std::path::Path;
use std::sync::Arc;

pub const EXIT_OK: u8 = 0;
pub const EXIT_BAD_CONFIG: u8 = 1;
pub const EXIT_FAILED: u8 = 2;

pub fn run(config_file: &Path) -> u8 {
    let config = match Config::load(config_file) {
        Ok(c) => c,
        Err(e) => {
            log::error!("{e}");
            return match e {
                LoadError::Invalid(_) => EXIT_BAD_CONFIG,
                LoadError::Unreadable(_) => EXIT_FAILED,
            };
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            log::error!("serve: cannot start the async runtime: {e}");
            return EXIT_FAILED;
        }
    };
    runtime.block_on(serve(config, config_file))
}

async fn serve(config: Config, config_file: &Path) -> u8 {
    let Some(unlock) = config.unlock else {
        log::error!("{}: no \"unlock\" section: nothing to serve", config_file.display());
        return EXIT_BAD_CONFIG;
    };
    let unlocker = Arc::new(Unlocker::new(&unlock));
    let agent = unlocker.mode() == Mode::SystemdAgent;
    if unlocker.is_done() {
        log::info!("serve: nothing to unlock");
        return EXIT_OK;
    }
    let ssh = match &config.ssh {
        None => None,
        Some(ssh) => match start_ssh(ssh, unlocker.clone()).await {
            Ok(s) => Some(s),
            Err(e) => {
                log::error!("{e}");
                if !unlock.console {
                    log::error!("serve: the SSH server cannot start and unlock.console is false: nothing could unlock");
                    return EXIT_FAILED;
                }
                log::warn!("serve: continuing with the console prompt only");
                None
            }
        },
    };
    if ssh.is_none() && !unlock.console {
        log::error!("serve: no \"ssh\" section and unlock.console is false: nothing could unlock");
        return EXIT_FAILED;
    }
    let console_task = unlock.console.then(|| tokio::spawn(console::console_prompt(unlocker.clone())));
    let stop = async {
        tokio::select! {
            () = unlocker.done(), if !agent => log::info!("serve: every device is open"),
            signal = stopped() => log::info!("serve: {signal}: stopping"),
        }
    };
    if let Some((server, listener)) = ssh {
        if let Err(e) = server.run(listener, stop).await {
            log::error!("{e}");
        }
    } else {
        stop.await;
    }
    if let Some(task) = console_task {
        task.abort();
    }
    EXIT_OK
}

async fn start_ssh(
    config: &crate::config::ssh::Ssh,
    unlocker: Arc<Unlocker>,
) -> crate::error::Result<(Server, tokio::net::TcpListener)> {
    let server = Server::new(config, unlocker)?;
    let listener = server.bind().await?;
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(config.port);
    log::info!("ssh: listening on port {port}");
    Ok((server, listener))
}

/// SIGTERM (systemd stopping the unit) or SIGINT.
async fn stopped() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
    else {
        log::warn!("serve: cannot watch for SIGTERM; stop it with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}
