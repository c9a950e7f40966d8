//! The run-time half of "the rollback never touches what stage 2 mounts": `check-config`
//! compares `subvol=` paths, but only the disk knows what `subvolid=`, the default subvolume
//! (no option) or another name of the same device mount. Each `boot.mounts` and
//! `rollback.stage2Mounts` entry (what NixOS mounts) on the rollback's device is mounted as stage 1 will mount it (detached, read-only) and its
//! subvolume id looked up, before anything is changed.

use super::apply::TopLevel;
use crate::config::boot::Mount;
use crate::config::rollback::{kept_mounts, overlap, subvolume_options, Rollback};
use crate::error::Result;
use std::path::Path;

/// Whether two device paths name the same block device (or are the same path).
fn same_device(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let rdev =
        |p: &Path| std::fs::metadata(p).ok().filter(|m| m.file_type().is_block_device()).map(|m| m.rdev());
    a == b || matches!((rdev(a), rdev(b)), (Some(x), Some(y)) if x == y)
}

/// `Some(why)` when `rollback.subvolume` or `rollback.archive` is, is inside, or contains the
/// subvolume a btrfs `boot.mounts` (`mounts`) or `rollback.stage2Mounts` entry of the same
/// device mounts (compared by subvolume id:
/// each id is turned into its one path below the top level). A mount that cannot be made is
/// left to the mount step, which reports it.
pub(crate) fn check(top: &TopLevel, config: &Rollback, mounts: &[Mount]) -> Result<Option<String>> {
    let ours: Vec<(String, &Mount)> = kept_mounts(config, mounts)
        .into_iter()
        .filter(|(_, m)| m.fs_type == "btrfs" && same_device(&config.device, &m.device))
        .collect();
    if ours.is_empty() {
        return Ok(None);
    }
    let subvolumes = top.all_subvolumes()?;
    for (name, mount) in ours {
        let (path, id) = subvolume_options(&mount.options);
        let mut options = Vec::new();
        if let Some(p) = path {
            options.push(("subvol", if p.is_empty() { "/".to_string() } else { p }));
        }
        if let Some(id) = id {
            options.push(("subvolid", id.to_string()));
        }
        let id = match TopLevel::mounted_subvolume_id(top.device(), &options) {
            Ok(id) => id,
            Err(e) => {
                log::warn!("{name} ({}): {e}", mount.mount_point.display());
                continue;
            }
        };
        // The top level (5) is not in the list: it holds everything, see `overlap`.
        let Some((_, path)) = subvolumes.iter().find(|(sid, _)| *sid == id) else { continue };
        for (field, value) in [("subvolume", &config.subvolume), ("archive", &config.archive)] {
            if let Some(o) = overlap(value, path) {
                return Ok(Some(format!(
                    "{value} (rollback.{field}) {} {path} (subvolume id {id}), which {name} \
                     mounts at {} (options {:?}): refusing to archive or delete what stage 2 mounts",
                    o.describe(),
                    mount.mount_point.display(),
                    mount.options
                )));
            }
        }
    }
    Ok(None)
}
