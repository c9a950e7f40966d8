//! What `lethe roots list` shows, gathered read-only.

use super::apply::TopLevel;
use super::hooks::now;
use super::plan::{self, Fate, Kind};
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
    /// The time its age counts from: when it was archived, or its mtime when that was not
    /// recorded (`archived_recorded` false).
    pub archived: i64,
    pub archived_recorded: bool,
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
    // As `run` does: the clock is judged before root is archived, and decides whether root's
    // archive time is recorded.
    let mut before = entries.clone();
    before.extend(root_as.clone().map(|name| plan::root_entry(&state, name, None)));
    let distrust = plan::distrust(&before, now, policy(config), state.last_change);
    let archived_at = (!distrust.as_ref().is_some_and(|d| d.behind())).then_some(now);
    entries.extend(root_as.clone().map(|name| plan::root_entry(&state, name, archived_at)));
    let pruning = plan::prune(&entries, now, policy(config), root_as.as_deref(), distrust);
    let mut rows = Vec::new();
    for (entry, fate) in pruning.fates {
        let nested = if entry.kind != Kind::Subvolume {
            None
        } else if Some(&entry.name) == root_as.as_ref() {
            Some(top.nested(&config.subvolume)?.len())
        } else {
            Some(top.nested(&format!("{}/{}", config.archive, entry.name))?.len())
        };
        rows.push(Row {
            archived: entry.archive_time(),
            archived_recorded: entry.archived.is_some(),
            name: entry.name,
            kind: entry.kind,
            mtime: entry.mtime,
            nested,
            fate,
        });
    }
    Ok(Listing { now, archive: config.archive.clone(), root_as, rows, distrust: pruning.distrust })
}
