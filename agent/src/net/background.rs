//! The network running on its own while stage 1 does other work: a task on the caller's
//! tokio runtime ([`spawn`]) or a thread with its own runtime ([`start_background`]).

use super::{Options, Session, Summary};
use crate::config::network::Network;
use crate::error::{Context, Error, Result};
use std::time::Duration;
use tokio::sync::{oneshot, watch};

/// Where a background network stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Status {
    Starting,
    Up(Summary),
    Failed(String),
}

/// A network brought up in the background by [`spawn`].
pub(crate) struct Handle {
    status: watch::Receiver<Status>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<()>>,
}

/// Starts [`up`] + [`Session::maintain`] in a task on the current tokio runtime and returns
/// at once. Failures are logged and visible through [`Handle::wait_up`].
pub(crate) fn spawn(network: Network, options: Options) -> Handle {
    let (status_tx, status) = watch::channel(Status::Starting);
    let (stop, mut stop_rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let fail = |e: &Error| {
            log::error!("{e}");
            let _ = status_tx.send(Status::Failed(e.to_string()));
        };
        let started = tokio::select! {
            r = Session::start(&network, &options) => Some(r),
            _ = &mut stop_rx => None,
        };
        let mut session = match started {
            None => return Ok(()),
            Some(Err(e)) => {
                // Logged and visible through wait_up; nothing was configured, so the later
                // teardown has nothing to undo and succeeds.
                fail(&e);
                return Ok(());
            }
            Some(Ok(s)) => s,
        };
        let configured = tokio::select! {
            r = session.configure() => Some(r),
            _ = &mut stop_rx => None,
        };
        match configured {
            None => return session.teardown().await,
            Some(Err(e)) => fail(&e),
            Some(Ok(summary)) => {
                let _ = status_tx.send(Status::Up(summary));
                let maintained = tokio::select! {
                    r = session.maintain() => Some(r),
                    _ = &mut stop_rx => None,
                };
                if let Some(Err(e)) = maintained {
                    log::error!("{e}; the address stays until the hand-off");
                    let _ = stop_rx.await;
                }
            }
        }
        session.teardown().await
    });
    Handle { status, stop: Some(stop), task }
}

impl Handle {
    /// Waits until an address is applied (or bringing it up failed).
    pub(crate) async fn wait_up(&mut self) -> Result<Summary> {
        loop {
            match &*self.status.borrow_and_update() {
                Status::Up(s) => return Ok(s.clone()),
                Status::Failed(e) => return Err(Error::msg(e.clone())),
                Status::Starting => {}
            }
            if self.status.changed().await.is_err() {
                return Err(Error::msg("network: the network task ended"));
            }
        }
    }

    /// Stops renewing and tears down (see [`Session::teardown`]); waits until done.
    pub(crate) async fn teardown(mut self) -> Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.await {
            Ok(r) => r,
            Err(e) => Err(Error::msg(format!("network task: {e}"))),
        }
    }
}

/// The network in a thread of its own, with its own tokio runtime: for a synchronous stage 1
/// (`lethe init`'s steps). Same behaviour as [`spawn`]: returns at once, renews until
/// [`Background::teardown`].
pub struct Background {
    stop: Option<oneshot::Sender<()>>,
    up: std::sync::mpsc::Receiver<Option<Summary>>,
    thread: Option<std::thread::JoinHandle<Result<()>>>,
}

/// Starts [`Background`]; an error only when the thread or its runtime cannot be created.
pub fn start_background(network: Network, options: Options) -> Result<Background> {
    let (stop, mut stop_rx) = oneshot::channel::<()>();
    let (up_tx, up) = std::sync::mpsc::channel();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("network: tokio runtime")?;
    let thread = std::thread::Builder::new()
        .name("lethe-net".into())
        .spawn(move || {
            runtime.block_on(async move {
                let mut handle = spawn(network, options);
                tokio::select! {
                    r = handle.wait_up() => {
                        let _ = up_tx.send(r.ok());
                    }
                    _ = &mut stop_rx => return handle.teardown().await,
                }
                let _ = stop_rx.await;
                handle.teardown().await
            })
        })
        .context("network: cannot start its thread")?;
    Ok(Background { stop: Some(stop), up, thread: Some(thread) })
}

impl Background {
    /// Blocks until an address is applied, at most `timeout`; `None` if not (yet), or failed.
    pub fn wait_up(&mut self, timeout: Duration) -> Option<Summary> {
        self.up.recv_timeout(timeout).ok().flatten()
    }

    /// Stops renewing, tears down (see [`Session::teardown`]) and waits for the thread. An
    /// error here is worth a log line, not a failed boot: stage 2 brings its own network up.
    pub fn teardown(mut self) -> Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(Error::msg("network: its thread panicked")),
            None => Ok(()),
        }
    }
}
