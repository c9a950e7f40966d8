//! Stage 1 (`lethe init`): the unlock step. It belongs between "load kernel modules" (dm_crypt
//! must be loaded) and "wait for the root device" (the root is `/dev/mapper/<name>`, which only
//! exists once opened). Wiring it is one line in `init::steps()`:
//!
//! ```text
//! Step { name: "unlock the encrypted devices", run: crate::unlock::stage1::step },
//! ```
//!
//! It waits for each configured device (as the root wait does, `boot.deviceTimeoutSeconds`),
//! then serves the unlock exactly as `lethe serve` does (`serve::serve_unlocker`: the SSH
//! server when `ssh` is configured, the console prompt when `unlock.console`) until every device
//! is open; the SSH listener is closed before the step returns. The network must be up before
//! this step for SSH to be reachable.

use super::{Mode, Options, Unlocker};
use crate::config::ssh::Ssh;
use crate::config::unlock::Unlock;
use crate::error::{Context, Result};
use crate::init::Stage1;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub fn step(stage: &mut Stage1) -> Result<String> {
    let config = stage.config()?;
    let Some(unlock) = config.unlock.clone() else {
        return Ok("no \"unlock\" section".into());
    };
    if unlock.systemd_agent {
        return Ok("systemdAgent mode: systemd-cryptsetup asks, not lethe init".into());
    }
    // Found out now, not after the passphrase was typed: without device-mapper nothing opens.
    if !unlock.devices.is_empty() && !Path::new("/dev/mapper/control").exists() {
        crate::bail!(
            "unlock: device-mapper is not available (no /dev/mapper/control): add dm_mod and dm_crypt \
             (and the cipher's modules, e.g. xts) to boot.kernelModules"
        );
    }
    let timeout = Duration::from_secs(stage.boot()?.device_timeout_seconds.into());
    let mut unlock = unlock;
    for device in &mut unlock.devices {
        device.device = crate::init::devices::wait_for(&device.device, timeout)
            .with_context(|| format!("unlock: {}", device.name))?;
        if let Some(header) = &device.header {
            device.header = Some(
                crate::init::devices::wait_for(header, timeout)
                    .with_context(|| format!("unlock: {}: header", device.name))?,
            );
        }
    }
    open_all(&unlock, config.ssh.as_ref())
}

/// Serves the SSH unlock (when `ssh` is configured) and the console prompt (when
/// `unlock.console`) until every device of `unlock` is open; says which.
pub fn open_all(unlock: &Unlock, ssh: Option<&Ssh>) -> Result<String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("unlock: cannot start the async runtime")?;
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
    runtime.block_on(crate::serve::serve_unlocker(ssh, unlock.console, unlocker.clone(), never))?;
    if !unlocker.is_done() {
        crate::bail!("unlock: {} still locked", unlocker.pending().join(", "));
    }
    Ok(format!("opened {names}"))
}
