//! Persistence: bind-mount what survives a reboot from its store (`/persist`) over the fresh
//! root, in the shape of impermanence's `environment.persistence`. `plan` decides per entry
//! (pure), `apply` does it below a root without following symlinks, `record` remembers what
//! was mounted, `unpersisted` lists what the next boot forgets.

pub(crate) mod accounts;
pub(crate) mod apply;
pub mod command;
pub(crate) mod copy;
pub(crate) mod hooks;
pub(crate) mod plan;
pub(crate) mod record;
pub(crate) mod tree;
pub(crate) mod units;
pub(crate) mod unpersisted;

use crate::config::persistence::{self, Entry};
use crate::config::Config;
use std::path::{Path, PathBuf};

/// Every enabled entry of the config, with JSON paths for messages.
pub(crate) fn entries(config: &Config) -> Vec<Entry> {
    config.persistence.as_ref().map(|p| persistence::entries(p, "persistence")).unwrap_or_default()
}

/// The stage-1 step (lethe as `/init`): applies the `inInitrd` entries to the new root right
/// before the hand-off, so systemd finds `/etc/machine-id` and the host keys. Only entries
/// whose store is one of `boot.mounts` (mounted by now); the rest is stage 2's. Never stops the
/// boot: what fails here is reported and stage 2's unit tries again.
/// Takes plain data (not init's state), so `persist` does not depend on `init`.
pub(crate) fn stage1(config: &Config, sysroot: &Path) -> crate::error::Result<String> {
    let mounts: Vec<PathBuf> =
        config.boot.iter().flat_map(|b| b.mounts.iter().map(|m| m.mount_point.clone())).collect();
    let (early, skipped): (Vec<Entry>, Vec<Entry>) = entries(config)
        .into_iter()
        .filter(|e| e.when.in_initrd)
        .partition(|e| mounts.iter().any(|m| e.store.starts_with(m)));
    for e in &skipped {
        log::warn!(
            "{}: inInitrd, but its store {} is not one of boot.mounts: left to stage 2",
            e.at,
            e.store.display()
        );
    }
    if early.is_empty() {
        return Ok("no inInitrd entries".into());
    }
    let opts =
        apply::Options { root: sysroot.to_path_buf(), state: PathBuf::from("/run/lethe"), dry_run: false };
    match apply::run(&early, &accounts::Accounts::default(), &opts, &mut |line| log::info!("persist: {line}"))
    {
        Ok(summary) => Ok(summary.to_string()),
        Err(err) => {
            let e = match err {
                apply::RunError::BadInput(e) => e,
                apply::RunError::Failed(e) => e.to_string(),
            };
            log::error!("persist (stage 1): {e}; stage 2 will try again");
            Ok(format!("failed, left to stage 2: {e}"))
        }
    }
}

/// `/` joined with a root: where `path` of the booted system is below `root`.
pub(crate) fn below(root: &Path, path: &Path) -> PathBuf {
    persistence::join(root, path)
}
