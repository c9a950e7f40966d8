//! The rollback itself: gather what is on the top level, refuse or execute the steps of
//! [`plan::steps`], then prune as [`plan::prune`] decides.

use super::apply::TopLevel;
use super::hooks::{self, fault, now};
use super::plan::{self, Entry, Fate, Kind, Policy, State, Step};
use super::{build_time, guard};
use crate::config::boot::Mount;
use crate::config::rollback::Rollback;
use crate::error::{Error, Result};
use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;

/// How the fresh root came to be.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum NewRoot {
    #[default]
    Created,
    Snapshot,
    /// Root was already fresh (a previous run stopped after making it, or it was never used).
    KeptFresh,
}

/// What one rollback did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Report {
    /// Where root went, relative to the top level.
    pub archived: Option<String>,
    pub root: NewRoot,
    /// Archives deleted (relative to the top level), with their nested subvolume counts.
    pub pruned: Vec<(String, usize)>,
    pub kept: usize,
    /// Entries of the archive directory left alone: not subvolumes, or not named by lethe.
    pub ignored: Vec<String>,
    /// Deletions that failed (the next rollback retries them); the rollback itself succeeded.
    pub failed: Vec<String>,
    /// Why pruning by age was skipped, when it was.
    pub pruning_skipped: Option<String>,
    /// Why pruning could not run at all (the archive could not be listed): retried next boot.
    pub pruning_failed: Option<String>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.archived {
            Some(a) => write!(f, "rollback done: root archived as {a}")?,
            None => write!(f, "rollback done: nothing to archive")?,
        }
        let root = match self.root {
            NewRoot::Created => "fresh root created",
            NewRoot::Snapshot => "fresh root cloned from the blank snapshot",
            NewRoot::KeptFresh => "root already fresh",
        };
        write!(f, ", {root}, {} old root(s) deleted, {} kept", self.pruned.len(), self.kept)?;
        if self.pruning_skipped.is_some() {
            write!(f, " (pruning skipped: clock untrusted)")?;
        }
        if self.pruning_failed.is_some() {
            write!(f, " (pruning failed: retried next boot)")?;
        }
        if !self.failed.is_empty() {
            write!(f, ", {} deletion(s) failed (retried next boot)", self.failed.len())?;
        }
        Ok(())
    }
}

pub(super) fn policy(config: &Rollback) -> Policy {
    Policy {
        retention_days: config.retention_days,
        keep_at_least: config.keep_at_least,
        build_time: build_time(),
    }
}

/// `a/b/c` → `a`, `a/b`, `a/b/c`.
fn prefixes(path: &str) -> Vec<String> {
    let parts: Vec<&str> = path.split('/').collect();
    (1..=parts.len()).map(|n| parts[..n].join("/")).collect()
}

/// Kinds of each prefix of `path`; below a missing or non-directory component, the rest is
/// reported missing (and `plan::check` refuses a non-directory).
fn kinds(top: &TopLevel, paths: Vec<String>) -> Result<Vec<(String, Kind)>> {
    let mut out: Vec<(String, Kind)> = Vec::new();
    for p in paths {
        let blocked = out.last().is_some_and(|(_, k)| !matches!(k, Kind::Directory | Kind::Subvolume));
        let kind = if blocked { Kind::Missing } else { top.kind(&p)? };
        out.push((p, kind));
    }
    Ok(out)
}

pub(super) fn gather(top: &TopLevel, config: &Rollback) -> Result<State> {
    let mut root_parents = prefixes(&config.subvolume);
    root_parents.pop();
    let root_parents = kinds(top, root_parents)?;
    let reachable = root_parents.iter().all(|(_, k)| matches!(k, Kind::Directory | Kind::Subvolume));
    let (root, root_mtime) = if reachable { top.stat(&config.subvolume)? } else { (Kind::Missing, 0) };
    let root_empty = root == Kind::Subvolume && top.is_empty_dir(&config.subvolume)?;
    let blank = match &config.blank_snapshot {
        Some(b) => {
            let k = kinds(top, prefixes(b))?;
            Some((b.clone(), k.last().map_or(Kind::Missing, |(_, k)| *k)))
        }
        None => None,
    };
    let root_fresh = root == Kind::Subvolume
        && match &blank {
            None => root_empty,
            Some((b, Kind::Subvolume)) => top.is_untouched_clone(&config.subvolume, b)?,
            Some(_) => false,
        };
    let root_created = if root == Kind::Subvolume { top.created(&config.subvolume)? } else { 0 };
    Ok(State {
        root,
        root_created,
        last_change: top.last_change()?,
        root_empty,
        root_fresh,
        root_mtime,
        archive: kinds(top, prefixes(&config.archive))?,
        root_parents,
        blank,
    })
}

/// Where the configured root subvolume is mounted now, if anywhere.
fn root_mount_point(config: &Rollback) -> Result<Option<String>> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let mounts = crate::mountinfo::read().map_err(Error::msg)?;
    let device = std::fs::metadata(&config.device).ok().filter(|m| m.file_type().is_block_device());
    let ours = |source: &str| {
        Path::new(source) == config.device
            || device.as_ref().is_some_and(|d| {
                std::fs::metadata(source)
                    .is_ok_and(|m| m.file_type().is_block_device() && m.rdev() == d.rdev())
            })
    };
    Ok(plan::mounted_at(&mounts, &config.subvolume, ours))
}

fn refuse(top: &TopLevel, why: String) -> Error {
    Error::msg(format!("{}: {why}; nothing was changed", top.device().display()))
}

fn execute(top: &TopLevel, config: &Rollback, step: &Step, report: &mut Report) -> Result<()> {
    let root = config.subvolume.as_str();
    match step {
        Step::MakeArchiveDir(dirs) => {
            for d in dirs {
                top.mkdir(d)?;
                log::info!("created archive directory {d}");
            }
            fault("archive-dir");
        }
        Step::Archive { to, at } => {
            let to = format!("{}/{to}", config.archive);
            // Recorded before the rename, so that it travels with root (a crash in between
            // leaves root in place, and the rerun records its own time). Not recorded, the
            // archive is aged by its mtime: worth a warning, not a failed boot.
            if let Some(at) = at {
                match top.set_archived(root, *at) {
                    Ok(()) => fault("archive-dated"),
                    Err(e) => log::warn!("{e}: {to} will be aged by its last modification"),
                }
            }
            top.rename(root, &to)?;
            log::info!("moved {root} to {to} (named after {root}'s last modification)");
            report.archived = Some(to);
            fault("archived");
        }
        Step::KeepFreshRoot => {
            log::info!("{root} is still fresh (made by an earlier rollback, never used): keeping it");
            report.root = NewRoot::KeptFresh;
        }
        Step::DeleteEmptyRoot => {
            top.delete_subvolume(root)?;
            log::info!("deleted {root}: empty (a previous run stopped after creating it), re-cloning it");
            fault("root-deleted");
        }
        Step::CreateRoot => {
            top.create_subvolume(root)?;
            log::info!("created a fresh empty {root}");
            report.root = NewRoot::Created;
            fault("root-created");
        }
        Step::SnapshotRoot { from } => {
            top.snapshot(from, root)?;
            log::info!("created a fresh {root} as a writable snapshot of {from}");
            report.root = NewRoot::Snapshot;
            fault("root-created");
        }
    }
    Ok(())
}

/// Deletes one archive chosen by [`plan::prune`], marking it first so a crash is resumed.
fn delete_archive(top: &TopLevel, config: &Rollback, entry: &Entry, fate: &Fate) -> Result<usize> {
    let archive = &config.archive;
    let mut rel = format!("{archive}/{}", entry.name);
    if let Fate::Prune { .. } = fate {
        let marked = format!("{archive}/{}{}", plan::DELETING_PREFIX, entry.name);
        top.rename(&rel, &marked)?;
        fault("marked");
        rel = marked;
    }
    let mut first = true;
    let nested = top.delete_recursive(&rel, || {
        if std::mem::take(&mut first) {
            fault("mid-delete");
        }
    })?;
    log::info!(
        "deleted {archive}/{} with {nested} nested subvolume(s): {}",
        entry.name,
        match fate {
            Fate::Prune { age } => format!(
                "archived more than {} days ago ({} ago)",
                config.retention_days,
                plan::format_age(*age)
            ),
            _ => "finishing a deletion a previous run started".into(),
        }
    );
    fault("deleted");
    Ok(nested)
}

/// Deletes what [`plan::prune`] chooses in the archive directory (never `this_run`, the
/// archive this run made; nothing by age when the clock is distrusted, as decided before the
/// run changed anything); failed deletions are reported, not returned (the next run retries
/// them). Fails only when the archive cannot be listed.
fn prune(
    top: &TopLevel,
    config: &Rollback,
    now: i64,
    this_run: Option<&str>,
    distrust: Option<plan::ClockDistrust>,
    report: &mut Report,
) -> Result<()> {
    hooks::failure("list-archive")?;
    let entries = top.list(&config.archive)?;
    let pruning = plan::prune(&entries, now, policy(config), this_run, distrust);
    if let Some(distrust) = &pruning.distrust {
        log::warn!("{distrust}");
        report.pruning_skipped = Some(distrust.to_string());
    }
    for (entry, fate) in &pruning.fates {
        let rel = format!("{}/{}", config.archive, entry.name);
        match fate {
            Fate::Ignore => {
                log::warn!(
                    "{}: left alone: {} (only subvolumes in {} are archived roots)",
                    top.at(&rel),
                    entry.kind.describe(),
                    config.archive
                );
                report.ignored.push(rel);
            }
            // Another tool's (snapper, btrbk) or a person's: theirs to prune, not ours.
            Fate::Foreign => {
                log::info!(
                    "{}: left alone: a subvolume not named by lethe (archived roots are named \
                     YYYY-MM-DD_HH:MM:SS), so not an archived root",
                    top.at(&rel)
                );
                report.ignored.push(rel);
            }
            f if f.deletes() => match delete_archive(top, config, entry, fate) {
                Ok(nested) => report.pruned.push((rel, nested)),
                Err(e) => {
                    log::error!("{e} (the next rollback retries)");
                    report.failed.push(e.to_string());
                }
            },
            _ => report.kept += 1,
        }
    }
    Ok(())
}

/// The rollback, as the stage-1 flows and `lethe rollback` run it. Refusals (not btrfs, root
/// not a subvolume, archive path not a directory, blank snapshot missing, mount failure, root
/// or archive overlapping a subvolume of `mounts`, i.e. `boot.mounts`) return an error before
/// any change. Failed deletions of old roots do not fail the rollback: the new
/// root is already in place; they are logged, reported, and retried by the next run.
pub(crate) fn run(config: &Rollback, mounts: &[Mount]) -> Result<Report> {
    let now = now();
    let top = TopLevel::mount(&config.device, false)?;
    fault("mounted");
    let state = gather(&top, config)?;
    plan::check(&state, &config.subvolume, &config.archive).map_err(|why| refuse(&top, why))?;
    if let Some(at) = root_mount_point(config)? {
        return Err(refuse(
            &top,
            format!(
                "{}: mounted at {at}: the rollback runs before the root is mounted (in the initrd); \
                 refusing to archive a root in use",
                config.subvolume
            ),
        ));
    }
    if let Some(why) = guard::check(&top, config, mounts)? {
        return Err(refuse(&top, why));
    }
    let mut entries = top.list(&config.archive)?;
    let taken: BTreeSet<String> = entries.iter().map(|e| e.name.clone()).collect();
    // The clock is judged on what the disk held before this run: root counts as the archive it
    // is about to become (its mtime is a time from the last boot's clock).
    if state.root == Kind::Subvolume && !state.root_fresh {
        entries.push(plan::root_entry(&state, plan::archive_name(state.root_mtime, &taken), None));
    }
    let distrust = plan::distrust(&entries, now, policy(config), state.last_change);
    let archived_at = (!distrust.as_ref().is_some_and(|d| d.behind())).then_some(now);

    let mut report = Report::default();
    for step in plan::steps(&state, &taken, config.blank_snapshot.as_deref(), archived_at) {
        execute(&top, config, &step, &mut report)?;
    }

    // The new root is in place: from here on nothing fails the boot. A listing that fails
    // leaves the old roots for the next boot, which retries (root is fresh then, and kept).
    let this_run = report.archived.as_deref().and_then(|a| a.rsplit('/').next()).map(str::to_string);
    if let Err(e) = prune(&top, config, now, this_run.as_deref(), distrust, &mut report) {
        log::warn!(
            "{e}: old roots not pruned this boot (the fresh root is in place; the next rollback retries)"
        );
        report.pruning_failed = Some(e.to_string());
    }
    // Commit now, so the new root is on disk before the boot goes on.
    if let Err(e) = libbtrfsutil::sync(top.proc_path("")) {
        log::warn!("{}: sync failed: {e}", top.device().display());
    }
    fault("done");
    drop(top);
    log::info!("{report}");
    Ok(report)
}
