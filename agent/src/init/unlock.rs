//! Stage 1's unlock step. It belongs between "load kernel modules" (dm_crypt must be loaded)
//! and "wait for the root device" (the root is `/dev/mapper/<name>`, which only exists once
//! opened).
//!
//! It waits for each configured device (as the root wait does, `boot.deviceTimeoutSeconds`),
//! then serves the unlock as `lethe serve` does ([`crate::serve::until_unlocked`]: the SSH
//! server when `ssh` is configured, the console prompt when `unlock.console`) until every device
//! is open; the SSH listener is closed before the step returns. The network must be up before
//! this step for SSH to be reachable.

use super::Stage1;
use crate::config::boot::Boot;
use crate::config::Config;
use crate::error::{Context, Result};
use std::path::Path;

pub(crate) fn step(_: &mut Stage1, config: &Config, boot: &Boot) -> Result<String> {
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
    let timeout = super::device_timeout(boot);
    let mut unlock = unlock;
    for device in &mut unlock.devices {
        device.device = super::devices::wait_for(&device.device, timeout)
            .with_context(|| format!("unlock: {}", device.name))?;
        if let Some(header) = &device.header {
            device.header = Some(
                super::devices::wait_for(header, timeout)
                    .with_context(|| format!("unlock: {}: header", device.name))?,
            );
        }
    }
    crate::serve::until_unlocked(&unlock, config.ssh.as_ref())
}
