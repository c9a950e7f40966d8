//! Root rollback on btrfs: archive `root` into the archive directory (named after its mtime),
//! create a fresh `root` (empty, or a snapshot of `blankSnapshot`), then delete archived roots
//! older than `retentionDays` with all their nested subvolumes, keeping the `keepAtLeast` newest.
//!
//! Decisions live in [`plan`] (pure, unit-tested); [`apply`] makes the syscalls. Crash safety
//! comes from the order: every step is one atomic btrfs operation, and btrfs commits them in
//! order, so power loss leaves a prefix of the steps, which the next run recognises and finishes
//! (see [`plan::steps`]). An archive chosen for deletion is first renamed with
//! [`plan::DELETING_PREFIX`], so a half-deleted one is finished next time whatever the clock.

pub mod apply;
pub mod plan;

use crate::config::rollback::Rollback;
use crate::config::{Config, LoadError};
use crate::error::{Error, Result};
use apply::TopLevel;
use plan::{Entry, Fate, Kind, Policy, State, Step};
use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;
use std::process::ExitCode;

/// When lethe was built (epoch seconds, from `SOURCE_DATE_EPOCH` or the git commit date, see
/// build.rs): a clock earlier than this is wrong, and pruning by age is skipped.
pub fn build_time() -> i64 {
    env!("LETHE_BUILD_EPOCH").parse().unwrap_or(0)
}

/// Named points where a test build stops the process abruptly, as a power cut would.
pub const FAULT_POINTS: &[&str] = &[
    "loaded",
    "mounted",
    "archive-dir",
    "archived",
    "root-deleted",
    "root-created",
    "marked",
    "mid-delete",
    "deleted",
    "done",
];

/// With the `fault-injection` feature, `LETHE_FAULT=point` ends the process at that point with
/// `_exit(99)`: no destructor, no unmount, no flush; what the kernel already has stays.
#[cfg(feature = "fault-injection")]
fn fault(point: &str) {
    debug_assert!(FAULT_POINTS.contains(&point), "unknown fault point {point}");
    if std::env::var("LETHE_FAULT").as_deref() == Ok(point) {
        eprintln!("lethe: fault injection: stopping abruptly at {point}");
        // SAFETY: _exit only ends the process.
        unsafe { libc::_exit(99) }
    }
}

#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
fn fault(_point: &str) {}

/// Seconds since the epoch. Test builds accept `LETHE_NOW` to play a wrong clock.
fn now() -> i64 {
    #[cfg(feature = "fault-injection")]
    if let Some(now) = std::env::var("LETHE_NOW").ok().and_then(|v| v.parse().ok()) {
        return now;
    }
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    }
}

/// How the fresh root came to be.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum NewRoot {
    #[default]
    Created,
    Snapshot,
    /// Root was already fresh (a previous run stopped after making it, or it was never used).
    KeptFresh,
}

/// What one rollback did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Where root went, relative to the top level.
    pub archived: Option<String>,
    pub root: NewRoot,
    /// Archives deleted (relative to the top level), with their nested subvolume counts.
    pub pruned: Vec<(String, usize)>,
    pub kept: usize,
    /// Entries of the archive directory left alone because they are not subvolumes.
    pub ignored: Vec<String>,
    /// Deletions that failed (the next rollback retries them); the rollback itself succeeded.
    pub failed: Vec<String>,
    /// Why pruning by age was skipped, when it was.
    pub pruning_skipped: Option<String>,
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
        if !self.failed.is_empty() {
            write!(f, ", {} deletion(s) failed (retried next boot)", self.failed.len())?;
        }
        Ok(())
    }
}

fn policy(config: &Rollback) -> Policy {
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

fn gather(top: &TopLevel, config: &Rollback) -> Result<State> {
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
    let info = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| Error::msg(format!("/proc/self/mountinfo: cannot read: {e}")))?;
    let device = std::fs::metadata(&config.device).ok().filter(|m| m.file_type().is_block_device());
    let ours = |source: &str| {
        Path::new(source) == config.device
            || device.as_ref().is_some_and(|d| {
                std::fs::metadata(source)
                    .is_ok_and(|m| m.file_type().is_block_device() && m.rdev() == d.rdev())
            })
    };
    Ok(plan::mounted_at(&info, &config.subvolume, ours))
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
        Step::Archive { to } => {
            let to = format!("{}/{to}", config.archive);
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
            Fate::Prune { age } =>
                format!("older than {} days ({} old)", config.retention_days, plan::format_age(*age)),
            _ => "finishing a deletion a previous run started".into(),
        }
    );
    fault("deleted");
    Ok(nested)
}

/// The rollback, as the stage-1 flows and `lethe rollback` run it. Refusals (not btrfs, root
/// not a subvolume, archive path not a directory, blank snapshot missing, mount failure) return
/// an error before any change. Failed deletions of old roots do not fail the rollback: the new
/// root is already in place; they are logged, reported, and retried by the next run.
pub fn run(config: &Rollback) -> Result<Report> {
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
    let taken: BTreeSet<String> = top.list(&config.archive)?.into_iter().map(|e| e.name).collect();

    let mut report = Report::default();
    for step in plan::steps(&state, &taken, config.blank_snapshot.as_deref()) {
        execute(&top, config, &step, &mut report)?;
    }

    let entries = top.list(&config.archive)?;
    let pruning = plan::prune(&entries, now, policy(config));
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
            f if f.deletes() => match delete_archive(&top, config, entry, fate) {
                Ok(nested) => report.pruned.push((rel, nested)),
                Err(e) => {
                    log::error!("{e} (the next rollback retries)");
                    report.failed.push(e.to_string());
                }
            },
            _ => report.kept += 1,
        }
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

/// One row of `lethe roots list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub name: String,
    pub kind: Kind,
    pub mtime: i64,
    pub nested: Option<usize>,
    pub fate: Fate,
}

/// What `lethe roots list` shows: the archive as it is, plus root as the next rollback would
/// archive it, each with its fate at the next rollback if it ran now.
pub struct Listing {
    pub now: i64,
    pub archive: String,
    /// Current root's archive name, when root would be archived.
    pub root_as: Option<String>,
    pub rows: Vec<Row>,
    pub distrust: Option<plan::ClockDistrust>,
}

pub fn list(config: &Rollback) -> Result<Listing> {
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

/// The human-readable table of `lethe roots list`.
pub fn render(listing: &Listing, config: &Rollback) -> String {
    let mut table: Vec<[String; 5]> =
        vec![["NAME".into(), "MODIFIED (UTC)".into(), "AGE".into(), "NESTED".into(), "NEXT ROLLBACK".into()]];
    for row in &listing.rows {
        let is_root = Some(&row.name) == listing.root_as.as_ref();
        let name =
            if is_root { format!("{} (now {})", row.name, config.subvolume) } else { row.name.clone() };
        let fate = match (&row.fate, row.kind) {
            (Fate::Ignore, kind) => format!("ignore ({}, not a subvolume)", kind.describe()),
            (fate, _) => fate.describe(config.retention_days),
        };
        table.push([
            name,
            plan::format_utc(row.mtime),
            plan::format_age(listing.now - row.mtime),
            row.nested.map_or("-".into(), |n| n.to_string()),
            fate,
        ]);
    }
    let widths: Vec<usize> =
        (0..5).map(|c| table.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for row in &table {
        let line: Vec<String> = row.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    let archived = listing.rows.iter().filter(|r| r.kind == Kind::Subvolume).count();
    let pruned = listing.rows.iter().filter(|r| r.fate.deletes()).count();
    out.push_str(&format!(
        "\n{} archived root(s) in {}{}; the next rollback would delete {pruned}.\n",
        archived - usize::from(listing.root_as.is_some()),
        listing.archive,
        if listing.root_as.is_some() {
            format!(" (plus {} once archived)", config.subvolume)
        } else {
            String::new()
        },
    ));
    if let Some(d) = &listing.distrust {
        out.push_str(&format!("warning: {d}\n"));
    }
    out.push_str(&format!(
        "To get files back: mount -o subvol={}/NAME {} /mnt\n",
        listing.archive,
        config.device.display()
    ));
    out
}

/// `lethe roots list --json`: the same listing for scripts (times as epoch seconds and UTC).
pub fn render_json(listing: &Listing, config: &Rollback) -> String {
    let roots: Vec<serde_json::Value> = listing
        .rows
        .iter()
        .map(|row| {
            let next = match &row.fate {
                Fate::KeepNewest(_) | Fate::KeepYoung | Fate::KeepClock => "keep",
                Fate::Prune { .. } | Fate::Finish => "delete",
                Fate::Ignore => "ignore",
            };
            serde_json::json!({
                "name": row.name,
                "currentRoot": Some(&row.name) == listing.root_as.as_ref(),
                "kind": match row.kind {
                    Kind::Subvolume => "subvolume",
                    Kind::Directory => "directory",
                    _ => "other",
                },
                "modified": row.mtime,
                "modifiedUtc": plan::format_utc(row.mtime),
                "ageSeconds": listing.now - row.mtime,
                "nestedSubvolumes": row.nested,
                "nextRollback": next,
                "reason": row.fate.describe(config.retention_days),
            })
        })
        .collect();
    let out = serde_json::json!({
        "device": config.device,
        "archive": listing.archive,
        "now": listing.now,
        "pruningSkipped": listing.distrust.as_ref().map(|d| d.to_string()),
        "roots": roots,
    });
    serde_json::to_string_pretty(&out).expect("listing serializes")
}

/// Loads the `rollback` section of a config file, with the exit status for failures.
fn load(file: &Path) -> Result<Rollback, ExitCode> {
    match Config::load(file) {
        Ok(Config { rollback: Some(r), .. }) => Ok(r),
        Ok(_) => {
            eprintln!("lethe: {}: rollback: missing; nothing to roll back", file.display());
            Err(ExitCode::from(1))
        }
        Err(e) => {
            eprintln!("lethe: {e}");
            Err(ExitCode::from(match e {
                LoadError::Invalid(_) => 1,
                LoadError::Unreadable(_) => 2,
            }))
        }
    }
}

/// `lethe rollback --config FILE`.
pub fn main_rollback(file: &Path) -> ExitCode {
    let config = match load(file) {
        Ok(c) => c,
        Err(code) => return code,
    };
    fault("loaded");
    match run(&config) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("{e}");
            ExitCode::from(2)
        }
    }
}

/// `lethe roots list --config FILE [--json]`.
pub fn main_roots_list(file: &Path, json: bool) -> ExitCode {
    let config = match load(file) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match list(&config) {
        Ok(listing) => {
            let text = if json {
                format!("{}\n", render_json(&listing, &config))
            } else {
                render(&listing, &config)
            };
            crate::cli::print_result(&text)
        }
        Err(e) => {
            eprintln!("lethe: {e}");
            ExitCode::from(2)
        }
    }
}
