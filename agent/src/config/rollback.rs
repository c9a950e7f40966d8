//! `rollback`: which btrfs subvolume is the ephemeral root and where old roots are archived.

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
}

const FIELDS: &[&str] = &["device", "subvolume", "archive", "retentionDays", "keepAtLeast", "blankSnapshot"];

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
