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

/// The `inInitrd` entries, split into those whose store is mounted by now (`mounted`) and the
/// rest, which are left to stage 2: applied below the new root's empty mount point, they would
/// write into the root itself and be hidden once the store is mounted there.
pub(crate) fn initrd_entries(config: &Config, mounted: &dyn Fn(&Path) -> bool) -> (Vec<Entry>, Vec<Entry>) {
    entries(config).into_iter().filter(|e| e.when.in_initrd).partition(|e| mounted(&e.store))
}

/// The stage-1 step (lethe as `/init`): applies the `inInitrd` entries to the new root right
/// before the hand-off, so systemd finds `/etc/machine-id` and the host keys. Only entries
/// whose store is one of `boot.mounts` (mounted by now); the rest is stage 2's. Never stops the
/// boot: what fails here is reported and stage 2's unit tries again.
/// Takes plain data (not init's state), so `persist` does not depend on `init`.
pub(crate) fn stage1(config: &Config, sysroot: &Path) -> crate::error::Result<String> {
    let mounts: Vec<PathBuf> =
        config.boot.iter().flat_map(|b| b.mounts.iter().map(|m| m.mount_point.clone())).collect();
    let (early, skipped) = initrd_entries(config, &|store| mounts.iter().any(|m| store.starts_with(m)));
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
    let opts = apply::Options { root: sysroot.to_path_buf(), state: PathBuf::from(STATE), dry_run: false };
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

/// Where a run records what it mounted. In the initrd too: `/run` is carried over into stage 2
/// (lethe's `/init` and systemd's switch-root both move it), so stage 2's `lethe persist` finds
/// the record of what the initrd mounted and leaves those in place.
pub(crate) const STATE: &str = "/run/lethe";

/// `lethe persist --in-initrd --root /sysroot` (lethe-persist-initrd.service in a systemd
/// initrd): the `inInitrd` entries below the new root, before stage 2. The users of the new
/// root are not written yet (the config only allows numeric owners on these entries). An entry
/// whose store is not mounted below `root` is named and counted as not applied (the unit fails
/// and stage 2 tries again); the others apply.
pub(crate) fn in_initrd(
    config: &Config,
    root: &Path,
    dry_run: bool,
    out: &mut dyn FnMut(String),
) -> std::result::Result<apply::Summary, apply::RunError> {
    let mounts = mount_points();
    let (early, skipped) = initrd_entries(config, &|store| store_is_mounted(&mounts, root, store));
    for e in &skipped {
        out(format!(
            "refused {} ({}): its store {} is not mounted (a fileSystems entry with neededForBoot, \
             or x-initrd.mount); left to stage 2",
            e.target.display(),
            e.at,
            below(root, &e.store).display()
        ));
    }
    let opts = apply::Options { root: root.to_path_buf(), state: PathBuf::from(STATE), dry_run };
    let mut summary = apply::run(&early, &accounts::Accounts::default(), &opts, out)?;
    summary.refused += skipped.len();
    Ok(summary)
}

/// The mount points of this mount namespace.
fn mount_points() -> Vec<PathBuf> {
    crate::mountinfo::read().unwrap_or_default().into_iter().map(|m| PathBuf::from(m.point)).collect()
}

/// Whether `store` (a path of the booted system) is on a filesystem mounted below `root`, not
/// on `root`'s own.
fn store_is_mounted(mounts: &[PathBuf], root: &Path, store: &Path) -> bool {
    let path = below(root, store);
    mounts.iter().any(|m| m.starts_with(root) && m != root && path.starts_with(m))
}

/// `/` joined with a root: where `path` of the booted system is below `root`.
pub(crate) fn below(root: &Path, path: &Path) -> PathBuf {
    persistence::join(root, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_counts_only_when_mounted_below_the_root() {
        let mounts: Vec<PathBuf> =
            ["/", "/sysroot", "/sysroot/persist", "/run"].iter().map(PathBuf::from).collect();
        let root = Path::new("/sysroot");
        assert!(store_is_mounted(&mounts, root, Path::new("/persist")));
        assert!(store_is_mounted(&mounts, root, Path::new("/persist/system")));
        // The root's own empty directory is not the store: applying there would write into
        // the fresh root.
        assert!(!store_is_mounted(&mounts, root, Path::new("/state")));
        assert!(!store_is_mounted(&mounts, root, Path::new("/persistent")));
        assert!(!store_is_mounted(&mounts, root, Path::new("/run")));
    }

    #[test]
    fn only_in_initrd_entries_of_mounted_stores() {
        let config = Config::parse(
            r#"{"version": 1, "persistence": {
                "/persist": {"files": [{"file": "/etc/machine-id", "inInitrd": true}], "directories": ["/var/log"]},
                "/state": {"directories": [{"directory": "/var/lib/nixos", "inInitrd": true}]}}}"#,
        )
        .unwrap();
        let (early, later) = initrd_entries(&config, &|s| s == Path::new("/persist"));
        let t = |v: &[Entry]| v.iter().map(|e| e.target.display().to_string()).collect::<Vec<_>>();
        assert_eq!(t(&early), ["/etc/machine-id"]);
        assert_eq!(t(&later), ["/var/lib/nixos"]);
    }
}
