//! `rollback`: which btrfs subvolume (`device`) or ZFS dataset (`dataset`) is the ephemeral
//! root and where old roots are archived.

use super::boot::{read_mount, Boot, Mount};
use super::reader::{error, At, Object, Result};
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

/// A `rollback` section: a btrfs root (`device`) or a ZFS one (`dataset`), never both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Section {
    Btrfs(Rollback),
    Zfs(ZfsRollback),
}

/// Reads `rollback`: `device` makes it a btrfs root, `dataset` a ZFS one; exactly one of them.
pub fn read_section(at: At<'_>) -> Result<Section> {
    let obj = at.map()?;
    match (obj.get("device").is_some(), obj.get("dataset").is_some()) {
        (true, false) => read(at).map(Section::Btrfs),
        (false, true) => read_zfs(at).map(Section::Zfs),
        (true, true) => Err(error(
            &obj.child_path("dataset"),
            "give either \"device\" (a btrfs root) or \"dataset\" (a ZFS root), not both",
        )),
        (false, false) => Err(error(
            &obj.child_path("device"),
            "required field is missing (the btrfs filesystem holding the root; a ZFS root names its \
             \"dataset\" instead, like \"rpool/local/root\")",
        )),
    }
}

/// `retentionDays`, the same bounds and default for a btrfs and a ZFS root.
fn retention_days(obj: &Object<'_>) -> Result<u32> {
    let days = obj.optional("retentionDays", |v| v.uint("a whole number of days", 1, u32::MAX.into()))?;
    Ok(days.unwrap_or(30) as u32)
}

/// `keepAtLeast`, the same bounds and default for a btrfs and a ZFS root.
fn keep_at_least(obj: &Object<'_>) -> Result<u32> {
    let kept = obj.optional("keepAtLeast", |v| v.uint("a whole number of archived roots", 0, 10000))?;
    Ok(kept.unwrap_or(5) as u32)
}

pub fn read(at: At<'_>) -> Result<Rollback> {
    let obj = at.object_of(FIELDS)?;
    let rollback = Rollback {
        device: obj.required("device", super::device::read)?,
        subvolume: obj.optional("subvolume", subvolume_path)?.unwrap_or_else(|| "root".into()),
        archive: obj.optional("archive", subvolume_path)?.unwrap_or_else(|| "old_roots".into()),
        retention_days: retention_days(&obj)?,
        keep_at_least: keep_at_least(&obj)?,
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

/// A ZFS root: `dataset` is renamed to `archive/DATE` every boot and a fresh one made with its
/// locally set properties (or cloned from `blankSnapshot`); archives lethe made are destroyed
/// after `retentionDays`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ZfsRollback {
    /// The root dataset, e.g. `rpool/local/root`.
    pub dataset: String,
    /// The dataset holding archived roots, on the same pool, e.g. `rpool/local/old_roots`.
    pub archive: String,
    /// Snapshot cloned as the fresh root (e.g. `rpool/local/root@blank`), instead of an empty
    /// dataset.
    pub blank_snapshot: Option<String>,
    pub retention_days: u32,
    pub keep_at_least: u32,
    /// What stage 2 mounts (NixOS's `fileSystems`): `zfs` entries name a dataset as `device`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stage2_mounts: Vec<Mount>,
}

const ZFS_FIELDS: &[&str] =
    &["dataset", "archive", "blankSnapshot", "retentionDays", "keepAtLeast", "stage2Mounts"];

/// The pool of a dataset or snapshot name: its first component.
pub fn pool_of(name: &str) -> &str {
    name.split(['/', '@']).next().unwrap_or_default()
}

fn zfs_dataset(at: At<'_>) -> Result<String> {
    let s = at.string()?;
    match super::datasets::name_problem(&s) {
        Some(why) => at.expected(&format!("a ZFS dataset name like \"rpool/local/root\" ({why})")),
        None if !s.contains('/') => at
            .expected("a dataset below the pool's top (like \"rpool/local/root\"): a pool cannot be renamed"),
        None => Ok(s),
    }
}

fn zfs_snapshot(at: At<'_>) -> Result<String> {
    let s = at.string()?;
    let problem = match s.split_once('@') {
        None => Some("no @".to_string()),
        Some((ds, snap)) => super::datasets::name_problem(ds).or_else(|| {
            let ok =
                !snap.is_empty() && snap.chars().all(|c| c.is_ascii_alphanumeric() || "_-.:".contains(c));
            (!ok).then(|| format!("bad snapshot name {snap:?}"))
        }),
    };
    match problem {
        None => Ok(s),
        Some(why) => at.expected(&format!("a ZFS snapshot like \"rpool/local/root@blank\" ({why})")),
    }
}

/// A stage-2 mount's device: a path, or for `zfs` a dataset name (checked by `read_zfs`).
fn device_or_dataset(at: At<'_>) -> Result<PathBuf> {
    let s = at.string()?;
    if s.starts_with('/') {
        at.abs_path()
    } else {
        match super::datasets::name_problem(&s) {
            None => Ok(PathBuf::from(s)),
            Some(why) => at.expected(&format!("an absolute device path or a ZFS dataset name ({why})")),
        }
    }
}

pub fn read_zfs(at: At<'_>) -> Result<ZfsRollback> {
    let obj = at.object_of(ZFS_FIELDS)?;
    let rollback = ZfsRollback {
        dataset: obj.required("dataset", zfs_dataset)?,
        archive: obj.required("archive", zfs_dataset)?,
        blank_snapshot: obj.optional("blankSnapshot", zfs_snapshot)?,
        retention_days: retention_days(&obj)?,
        keep_at_least: keep_at_least(&obj)?,
        stage2_mounts: obj
            .optional("stage2Mounts", |v| {
                v.list(|m| read_mount(m, device_or_dataset, "the rolled-back root"))
            })?
            .unwrap_or_default(),
    };
    let (root, archive) = (&rollback.dataset, &rollback.archive);
    // `zfs rename` and `zfs clone` stay within a pool.
    if pool_of(archive) != pool_of(root) {
        return Err(error(
            &obj.child_path("archive"),
            format!(
                "must be on the pool of rollback.dataset ({:?}): zfs rename cannot move a dataset \
                 to another pool, got {archive:?}",
                pool_of(root)
            ),
        ));
    }
    if inside(archive, root) || inside(root, archive) {
        return Err(error(
            &obj.child_path("archive"),
            format!("must be outside the rolled-back dataset {root:?} and not contain it, got {archive:?}"),
        ));
    }
    if let Some(blank) = &rollback.blank_snapshot {
        let of = blank.split('@').next().unwrap_or_default();
        if pool_of(blank) != pool_of(root) {
            return Err(error(
                &obj.child_path("blankSnapshot"),
                format!("must be on the pool of rollback.dataset ({:?}): a clone stays in its pool, got {blank:?}", pool_of(root)),
            ));
        }
        if inside(of, archive) || (of != root && inside(of, root)) {
            return Err(error(
                &obj.child_path("blankSnapshot"),
                format!("must be a snapshot of {root:?} itself or of a dataset outside {root:?} and {archive:?}, got {blank:?}"),
            ));
        }
    }
    for (i, m) in rollback.stage2_mounts.iter().enumerate() {
        let device = m.device.to_string_lossy();
        if m.fs_type == "zfs" && device.starts_with('/') {
            return Err(error(
                &format!("rollback.stage2Mounts[{i}].device"),
                format!("expected a ZFS dataset name for a zfs mount, got {device:?}"),
            ));
        }
    }
    Ok(rollback)
}

/// The datasets stage 2 mounts, each with the JSON path that names it: `zfs` entries of
/// `boot.mounts` and `rollback.stage2Mounts`, and the datasets `lethe datasets` keeps.
pub fn kept_datasets(
    rollback: &ZfsRollback,
    boot_mounts: &[Mount],
    datasets: &super::datasets::Datasets,
) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let boot = boot_mounts.iter().enumerate().map(|(i, m)| (format!("boot.mounts[{i}]"), m));
    let stage2 =
        rollback.stage2_mounts.iter().enumerate().map(|(i, m)| (format!("rollback.stage2Mounts[{i}]"), m));
    for (name, m) in boot.chain(stage2).filter(|(_, m)| m.fs_type == "zfs") {
        let at = format!("mounted by {name} at {}", m.mount_point.display());
        out.push((name, m.device.to_string_lossy().into_owned(), at));
    }
    for e in super::datasets::entries(datasets) {
        let at = match &e.mountpoint {
            Some(m) => format!("kept by {} (mounted at {m})", e.config_path("")),
            None => format!("kept by {}", e.config_path("")),
        };
        out.push((e.config_path(""), e.name.clone(), at));
    }
    out
}

/// Refuses a `rollback.dataset` or `rollback.archive` that is, is inside, or contains a
/// dataset stage 2 mounts: `/persist` would be archived every boot (a child moves with
/// `zfs rename`) and destroyed after `retentionDays`.
pub fn check_zfs_mounts(
    rollback: &ZfsRollback,
    boot: Option<&Boot>,
    datasets: &super::datasets::Datasets,
) -> Result<()> {
    let boot_mounts = boot.map(|b| b.mounts.as_slice()).unwrap_or_default();
    for (_, kept, at) in kept_datasets(rollback, boot_mounts, datasets) {
        for (field, value) in [("dataset", &rollback.dataset), ("archive", &rollback.archive)] {
            if let Some(o) = overlap(value, &kept) {
                return Err(error(
                    &format!("rollback.{field}"),
                    format!(
                        "must be apart from the datasets stage 2 mounts, got {value:?}, which {} \
                         {kept:?}, {at}: what stage 2 mounts must be out of the rollback's reach (it \
                         archives rollback.dataset with its children every boot and destroys archives \
                         after retentionDays)",
                        o.describe()
                    ),
                ));
            }
        }
    }
    Ok(())
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
