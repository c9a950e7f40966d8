//! `lethe serve --config FILE`: the SSH server, the console prompt and the unlock backend, until
//! every configured device is open (or, in systemdAgent mode, until SIGTERM), then the listener
//! is closed and lethe exits 0. The unit a systemd initrd starts, and what stage 1 calls
//! ([`until_unlocked`]).
//!
//! A broken SSH setup (bad host key, no usable authorized key, port taken) does not stop the
//! console prompt: the boot can still be unlocked at the keyboard. Only when nothing at all
//! could answer does serve fail.

pub mod command;
mod tang;

use crate::bail;
use crate::config::ssh::Ssh;
use crate::config::unlock::Unlock;
use crate::error::Result;
use crate::ssh::Server;
use crate::unlock::{console, Mode, Options, Unlocker};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// What `lethe serve` and stage 1 share: the SSH server (when `ssh` is given) and the console
/// prompt (when `console`) answering one `unlocker`, until nothing is pending (direct modes) or
/// `stop` resolves; then the listener is closed before this returns. An SSH server that cannot
/// start is logged and the console carries on alone; an error only when nothing could answer.
pub(crate) async fn serve_unlocker(
    ssh: Option<&Ssh>,
    console: bool,
    unlocker: Arc<Unlocker>,
    stop: impl Future<Output = &'static str>,
) -> Result<()> {
    let agent = unlocker.mode() == Mode::SystemdAgent;
    if unlocker.is_done() {
        log::info!("serve: nothing to unlock");
        return Ok(());
    }
    let ssh = match ssh {
        None => None,
        Some(ssh) => match start_ssh(ssh, unlocker.clone()).await {
            Ok(s) => Some(s),
            Err(e) if console => {
                log::error!("{e}");
                log::warn!("serve: continuing with the console prompt only");
                None
            }
            Err(e) => bail!("{e}; unlock.console is false: nothing could unlock"),
        },
    };
    if ssh.is_none() && !console {
        bail!("serve: no \"ssh\" section and unlock.console is false: nothing could unlock");
    }
    let mut console_task = console.then(|| tokio::spawn(console::console_prompt(unlocker.clone())));
    let tang_task = tang::start(&unlocker);
    let console_only = ssh.is_none();
    let console_ended = async {
        match console_task.as_mut() {
            // Only fatal when it was the one way in: with SSH up, the boot can still go on.
            Some(task) if console_only => {
                let _ = task.await;
            }
            _ => std::future::pending().await,
        }
    };
    let console_gone = AtomicBool::new(false);
    let stop = async {
        tokio::select! {
            () = unlocker.done(), if !agent => log::info!("serve: every device is open"),
            why = stop => log::info!("serve: {why}: stopping"),
            () = console_ended => console_gone.store(true, Ordering::SeqCst),
        }
    };
    if let Some((server, listener)) = ssh {
        server.run(listener, stop).await?;
    } else {
        stop.await;
    }
    for task in console_task.into_iter().chain(tang_task) {
        task.abort();
    }
    if agent {
        // systemd stops lethe only on the way to switch-root, after sysroot.mount: a request
        // still waiting then is one systemd itself gave up on, or a bug worth seeing.
        let left: Vec<String> = unlocker.requests().iter().map(crate::unlock::agent::describe).collect();
        if !left.is_empty() {
            log::warn!("serve: stopping while {} password request(s) wait: {}", left.len(), left.join(", "));
        }
    }
    if console_gone.load(Ordering::SeqCst) && !unlocker.is_done() {
        bail!("serve: the console prompt ended with {} still locked", unlocker.pending().join(", "));
    }
    Ok(())
}

async fn start_ssh(config: &Ssh, unlocker: Arc<Unlocker>) -> Result<(Server, tokio::net::TcpListener)> {
    let server = Server::new(config, unlocker)?;
    let listener = server.bind().await?;
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(config.port);
    log::info!("ssh: listening on port {port}");
    Ok((server, listener))
}

/// SIGTERM (systemd stopping the unit) or SIGINT.
pub(crate) async fn stopped() -> &'static str {
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

/// Stage 1's unlock: serves the SSH unlock (when `ssh` is configured) and the console prompt
/// (when `unlock.console`) until every device of `unlock` is open; says which.
pub(crate) fn until_unlocked(unlock: &Unlock, ssh: Option<&Ssh>) -> Result<String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| crate::error::Error::msg(format!("unlock: cannot start the async runtime: {e}")))?;
    // The kernel passes unknown `NAME=value` words of its command line to init as environment:
    // a stray LETHE_UNLOCK_VERIFY_ONLY=1 there must not turn the real unlock into a check.
    let mut options = Options::from_env();
    if options.verify_only {
        log::warn!("unlock: LETHE_UNLOCK_VERIFY_ONLY is ignored in stage 1");
        options.verify_only = false;
    }
    let unlocker = Arc::new(Unlocker::with_options(unlock, options));
    if unlocker.mode() == Mode::SystemdAgent || unlocker.is_done() {
        return Ok("nothing to unlock".into());
    }
    let names = unlocker.pending().join(", ");
    // Nothing stops stage 1 from outside: it ends when the devices are open.
    let never = std::future::pending::<&'static str>();
    runtime.block_on(serve_unlocker(ssh, unlock.console, unlocker.clone(), never))?;
    if !unlocker.is_done() {
        crate::bail!("unlock: {} still locked", unlocker.pending().join(", "));
    }
    Ok(format!("opened {names}"))
}
