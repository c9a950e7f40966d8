//! `rollback`: which btrfs subvolume is the ephemeral root and where old roots are archived.

use super::boot::{read_mount, Boot, Mount};
use super::reader::{error, At, Result};
use serde::Serialize;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rollback {
    /// Block device holding the btrfs filesystem (e.g. `/dev/mapper/crypted`).
    pub device: PathBuf,
    /// Subvolume, relative to the top level, that is archived and recreated each boot.
    pub subvolume: String,
    /// Directory or subvolume, relative to the top level, holding archived roots.
    pub archive: String,
    pub retention_days: u32,
    /// The newest N archives are never pruned, whatever their age.
    pub keep_at_least: u32,
    /// Read-only snapshot (relative to the top level) cloned as the new root instead of an
    /// empty subvolume.
    pub blank_snapshot: Option<String>,
    /// The btrfs mounts stage 2 makes (NixOS's `fileSystems`, filled in by the NixOS module),
    /// which the rollback must keep clear of, as it keeps clear of `boot.mounts`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stage2_mounts: Vec<Mount>,
}

const FIELDS: &[&str] =
    &["device", "subvolume", "archive", "retentionDays", "keepAtLeast", "blankSnapshot", "stage2Mounts"];

/// A path below the btrfs top level: relative, no `.`/`..`/empty components.
pub fn subvolume_path(at: At<'_>) -> Result<String> {
    let s = at.string()?;
    let ok =
        !s.is_empty() && !s.starts_with('/') && s.split('/').all(|c| !c.is_empty() && c != "." && c != "..");
    if ok {
        Ok(s)
    } else {
        at.expected("a path relative to the btrfs top level (like \"root\" or \"snapshots/blank\")")
    }
}

fn inside(path: &str, dir: &str) -> bool {
    path == dir || path.starts_with(&format!("{dir}/"))
}

pub fn read(at: At<'_>) -> Result<Rollback> {
    let obj = at.object_of(FIELDS)?;
    let rollback = Rollback {
        device: obj.required("device", super::device::read)?,
        subvolume: obj.optional("subvolume", subvolume_path)?.unwrap_or_else(|| "root".into()),
        archive: obj.optional("archive", subvolume_path)?.unwrap_or_else(|| "old_roots".into()),
        retention_days: obj
            .optional("retentionDays", |v| v.uint("a whole number of days", 1, u32::MAX.into()))?
            .unwrap_or(30) as u32,
        keep_at_least: obj
            .optional("keepAtLeast", |v| v.uint("a whole number of archived roots", 0, 10000))?
            .unwrap_or(5) as u32,
        blank_snapshot: obj.optional("blankSnapshot", subvolume_path)?,
        // Any absolute device name: stage 2 has udev, and the guard compares devices by number.
        stage2_mounts: obj
            .optional("stage2Mounts", |v| {
                v.list(|m| read_mount(m, |d| d.abs_path(), "the rolled-back root"))
            })?
            .unwrap_or_default(),
    };
    let (root, archive) = (&rollback.subvolume, &rollback.archive);
    // The archive must survive the move of root, and root must not be moved into itself.
    if inside(archive, root) || inside(root, archive) {
        return Err(error(
            &obj.child_path("archive"),
            format!("must be outside the rolled-back subvolume {root:?} and not contain it, got {archive:?}"),
        ));
    }
    if let Some(blank) = &rollback.blank_snapshot {
        if inside(blank, root) || inside(blank, archive) {
            return Err(error(
                &obj.child_path("blankSnapshot"),
                format!("must be outside {root:?} and {archive:?}, got {blank:?}"),
            ));
        }
    }
    Ok(rollback)
}

/// How a subvolume path lies against another (both relative to the top level).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlap {
    Same,
    Inside,
    Contains,
}

impl Overlap {
    pub fn describe(self) -> &'static str {
        match self {
            Overlap::Same => "is the same as",
            Overlap::Inside => "is inside",
            Overlap::Contains => "contains",
        }
    }
}

/// Whether `path` is, is inside, or contains `other`. The top level itself (`""`) is left out:
/// it holds everything, and mounting it (for btrbk, say) is a view, not something kept.
pub fn overlap(path: &str, other: &str) -> Option<Overlap> {
    if path.is_empty() || other.is_empty() {
        None
    } else if path == other {
        Some(Overlap::Same)
    } else if inside(path, other) {
        Some(Overlap::Inside)
    } else if inside(other, path) {
        Some(Overlap::Contains)
    } else {
        None
    }
}

/// The btrfs options of a mount that choose its subvolume, in order: `subvol=` (as a path
/// relative to the top level, `""` for the top level itself) and `subvolid=`. Neither: the
/// filesystem's default subvolume.
pub fn subvolume_options(options: &str) -> (Option<String>, Option<u64>) {
    let (mut path, mut id) = (None, None);
    for opt in options.split(',').map(str::trim) {
        if let Some(p) = opt.strip_prefix("subvol=") {
            let parts: Vec<&str> = p.split('/').filter(|c| !c.is_empty() && *c != ".").collect();
            path = Some(parts.join("/"));
        } else if let Some(n) = opt.strip_prefix("subvolid=") {
            id = n.parse().ok();
        }
    }
    (path, id)
}

/// The mounts the rollback must keep clear of, each with the JSON path that names it:
/// `boot.mounts` (lethe as `/init` mounts them) and `rollback.stage2Mounts` (what NixOS mounts).
pub fn kept_mounts<'a>(rollback: &'a Rollback, boot_mounts: &'a [Mount]) -> Vec<(String, &'a Mount)> {
    let boot = boot_mounts.iter().enumerate().map(|(i, m)| (format!("boot.mounts[{i}]"), m));
    let stage2 =
        rollback.stage2_mounts.iter().enumerate().map(|(i, m)| (format!("rollback.stage2Mounts[{i}]"), m));
    boot.chain(stage2).collect()
}

/// Refuses a `rollback.subvolume` or `rollback.archive` that is, is inside, or contains a
/// subvolume `boot.mounts` or `rollback.stage2Mounts` mounts with `subvol=` from the same
/// device: `/persist` would be archived every boot and deleted after `retentionDays`. What
/// only the disk can tell (`subvolid=`, the default subvolume, another name of the device) is
/// checked again by id when the rollback runs (`rollback::guard`).
pub fn check_mounts(rollback: &Rollback, boot: Option<&Boot>) -> Result<()> {
    let boot_mounts = boot.map(|b| b.mounts.as_slice()).unwrap_or_default();
    for (name, mount) in kept_mounts(rollback, boot_mounts) {
        if mount.fs_type != "btrfs" || mount.device != rollback.device {
            continue;
        }
        let (Some(subvol), _) = subvolume_options(&mount.options) else { continue };
        for (field, value) in [("subvolume", &rollback.subvolume), ("archive", &rollback.archive)] {
            if let Some(o) = overlap(value, &subvol) {
                return Err(error(
                    &format!("rollback.{field}"),
                    format!(
                        "must be apart from the subvolumes stage 2 mounts, got {value:?}, which {} \
                         {subvol:?}, mounted by {name} at {} (options {:?}): what stage 2 mounts \
                         must be out of the rollback's reach (it archives rollback.subvolume every boot and \
                         deletes archives after retentionDays)",
                        o.describe(),
                        mount.mount_point.display(),
                        mount.options
                    ),
                ));
            }
        }
    }
    Ok(())
}
