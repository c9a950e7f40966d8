//! What lethe mounted (or linked) this boot, in `/run/lethe/persist.json`: a later run
//! unmounts only what is recorded here and still shows the recorded source. `/run` is a tmpfs,
//! so the record forgets with the boot, as the mounts do.

use crate::config::persistence::Entry;
use crate::error::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Made {
    pub target: PathBuf,
    pub source: PathBuf,
    #[serde(default)]
    pub symlink: bool,
    /// The empty read-only mount put on the target of an entry that failed: removed by the
    /// next run before it tries the entry again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fence: bool,
}

impl Made {
    pub(crate) fn bind(e: &Entry) -> Made {
        Made { target: e.target.clone(), source: e.source(), symlink: false, fence: false }
    }

    pub(crate) fn symlink(e: &Entry) -> Made {
        Made { target: e.target.clone(), source: e.source(), symlink: true, fence: false }
    }

    pub(crate) fn fence(e: &Entry) -> Made {
        Made { target: e.target.clone(), source: e.source(), symlink: false, fence: true }
    }
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Record {
    pub mounts: Vec<Made>,
}

const FILE: &str = "persist.json";

impl Record {
    /// The record in `state`; none yet is an empty one.
    pub(crate) fn load(state: &Path) -> Result<Record> {
        let path = state.join(FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                serde_json::from_str(&text).with_context(|| format!("{}: cannot parse", path.display()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Record::default()),
            Err(e) => Err(e).with_context(|| format!("{}: cannot read", path.display())),
        }
    }

    /// Written to a temporary file and renamed, so a crash leaves the old or the new record.
    pub(crate) fn save(&self, state: &Path) -> Result<()> {
        std::fs::create_dir_all(state).with_context(|| format!("{}: cannot create", state.display()))?;
        let path = state.join(FILE);
        let temp = state.join(format!(".{FILE}.new"));
        let text = serde_json::to_string_pretty(self).expect("record serializes");
        std::fs::write(&temp, text + "\n").with_context(|| format!("{}: cannot write", temp.display()))?;
        std::fs::rename(&temp, &path).with_context(|| format!("{}: cannot write", path.display()))
    }
}

/// `hideMounts`: the kernel keeps no `x-*` options, so, as mount(8) does, lethe adds the mount
/// to libmount's `/run/mount/utab` (beside the state directory) with `x-gvfs-hide`; file
/// managers read it from there. A failure only warns: it is cosmetic.
pub(crate) fn hide_mount(state: &Path, root: &Path, e: &Entry) {
    let Some(run) = state.parent() else { return };
    let utab = run.join("mount/utab");
    // The mount just made is the last one on its mount point in mountinfo.
    let mounts = crate::mountinfo::read().unwrap_or_default();
    let target = e.target.display().to_string();
    let mount_point = crate::config::persistence::join(root, &e.target);
    let Some(m) = mounts.iter().rev().find(|m| Path::new(&m.point) == mount_point) else {
        log::warn!("{target}: hideMounts: the new mount is not in /proc/self/mountinfo");
        return;
    };
    // utab's fields are escaped as mountinfo's are.
    let esc = crate::mountinfo::escape;
    let line = format!(
        "ID={} SRC={} TARGET={} ROOT={} OPTS=x-gvfs-hide\n",
        m.id,
        esc(&e.source().display().to_string()),
        esc(&target),
        esc(&m.root)
    );
    let result = std::fs::create_dir_all(utab.parent().unwrap_or(run)).and_then(|()| {
        use std::io::Write;
        std::fs::OpenOptions::new().create(true).append(true).open(&utab)?.write_all(line.as_bytes())
    });
    if let Err(err) = result {
        log::warn!("{}: hideMounts: {err}", utab.display());
    }
}
