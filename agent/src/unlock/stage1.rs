//! Stage 1 (`lethe init`): the unlock step. It belongs between "load kernel modules" (dm_crypt
//! must be loaded) and "wait for the root device" (the root is `/dev/mapper/<name>`, which only
//! exists once opened). Wiring it is one line in `init::steps()`:
//!
//! ```text
//! Step { name: "unlock the encrypted devices", run: crate::unlock::stage1::step },
//! ```
//!
//! It waits for each configured device (as the root wait does, `boot.deviceTimeoutSeconds`),
//! then prompts on the console until every device is open. The SSH server joins here once the
//! network step exists (`serve`'s code, with this step's Unlocker).

use super::{console, Mode, Unlocker};
use crate::config::unlock::Unlock;
use crate::error::{Context, Result};
use crate::init::Stage1;
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
    open_all(&unlock)
}

/// Prompts until every device of `unlock` is open; says which.
pub fn open_all(unlock: &Unlock) -> Result<String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("unlock: cannot start the async runtime")?;
    let unlocker = Arc::new(Unlocker::new(unlock));
    if unlocker.mode() == Mode::SystemdAgent || unlocker.is_done() {
        return Ok("nothing to unlock".into());
    }
    if !unlock.console {
        crate::bail!("unlock: unlock.console is false and lethe init has no other prompt yet");
    }
    let names = unlocker.pending().join(", ");
    // The prompt ends by itself once every device is open (restoring the terminal mode); if it
    // ends before that, the console is unusable and nothing else could answer.
    runtime
        .block_on(console::console_prompt_on(console::CONSOLE.into(), unlocker.clone()))
        .context("unlock: console prompt")?;
    if !unlocker.is_done() {
        crate::bail!("unlock: the console prompt ended with {} still locked", unlocker.pending().join(", "));
    }
    Ok(format!("opened {names}"))
}
