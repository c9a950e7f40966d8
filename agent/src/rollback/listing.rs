//! What `lethe roots list` shows, gathered read-only.

use super::apply::TopLevel;
use super::hooks::now;
use super::plan::{self, Entry, Fate, Kind};
use super::run::{gather, policy};
use crate::config::rollback::Rollback;
use crate::error::Result;
use std::collections::BTreeSet;

/// One row of `lethe roots list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Row {
    pub name: String,
    pub kind: Kind,
    pub mtime: i64,
    pub nested: Option<usize>,
    pub fate: Fate,
}

/// What `lethe roots list` shows: the archive as it is, plus root as the next rollback would
/// archive it, each with its fate at the next rollback if it ran now.
pub(crate) struct Listing {
    pub now: i64,
    pub archive: String,
    /// Current root's archive name, when root would be archived.
    pub root_as: Option<String>,
    pub rows: Vec<Row>,
    pub distrust: Option<plan::ClockDistrust>,
}

pub(crate) fn list(config: &Rollback) -> Result<Listing> {
    let now = now();
    let top = TopLevel::mount(&config.device, true)?;
    let state = gather(&top, config)?;
    let mut entries = top.list(&config.archive)?;
    let taken: BTreeSet<String> = entries.iter().map(|e| e.name.clone()).collect();
    let root_as = (state.root == Kind::Subvolume && !state.root_fresh)
        .then(|| plan::archive_name(state.root_mtime, &taken));
    if let Some(name) = &root_as {
        entries.push(Entry {
            name: name.clone(),
            kind: Kind::Subvolume,
            mtime: state.root_mtime,
            created: state.root_created,
        });
    }
    let pruning = plan::prune(&entries, now, policy(config));
    let mut rows = Vec::new();
    for (entry, fate) in pruning.fates {
        let nested = if entry.kind != Kind::Subvolume {
            None
        } else if Some(&entry.name) == root_as.as_ref() {
            Some(top.nested(&config.subvolume)?.len())
        } else {
            Some(top.nested(&format!("{}/{}", config.archive, entry.name))?.len())
        };
        rows.push(Row { name: entry.name, kind: entry.kind, mtime: entry.mtime, nested, fate });
    }
    Ok(Listing { now, archive: config.archive.clone(), root_as, rows, distrust: pruning.distrust })
}
