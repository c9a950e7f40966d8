//! The decisions of a rollback, as pure functions of what is on disk and what the clock says:
//! which name the archived root gets, which archived roots are pruned, and what to do in every
//! state a crash can leave behind. No syscalls here; `apply` gathers the facts and executes.

use crate::mountinfo::Mount;
use std::collections::BTreeSet;

pub(crate) const DAY: i64 = 86_400;

/// Prefix given (by an atomic rename) to an archived root chosen for deletion, before the
/// deletion starts: a crash mid-way leaves a name that says "finish me", whatever the clock.
pub(crate) const DELETING_PREFIX: &str = ".lethe-deleting.";

/// The extended attribute on an archived root's top directory that says when it was archived
/// (epoch seconds, in decimal). Set on root just before the rename that archives it, so it
/// travels with it: an archive without it was made by an earlier lethe (or while the clock was
/// behind), and is aged by its mtime. `trusted.`: only root can set or read it.
pub(crate) const ARCHIVED_XATTR: &str = "trusted.lethe.archived";

/// What sits at a path, as far as the rollback cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Missing,
    Subvolume,
    /// A plain directory (not a subvolume root).
    Directory,
    /// A regular file, symlink, device...: named for messages.
    Other(&'static str),
}

impl Kind {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Kind::Missing => "missing",
            Kind::Subvolume => "a subvolume",
            Kind::Directory => "a plain directory",
            Kind::Other(what) => what,
        }
    }
}

/// One entry directly inside the archive directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub name: String,
    pub kind: Kind,
    /// Modification time of the entry, seconds since the epoch (of root's top directory: when
    /// an entry of `/` last changed, not when it was archived).
    pub mtime: i64,
    /// When it was archived, from [`ARCHIVED_XATTR`]: its age, for `retentionDays`.
    pub archived: Option<i64>,
    /// For a subvolume, the btrfs transaction that created it (otransid; 0 otherwise). It
    /// orders archived roots by the boot that made them, whatever the clocks said then, so
    /// `keepAtLeast` keeps the last boots' roots even when a dead RTC dated one 1970.
    pub created: u64,
}

impl Entry {
    /// The time its age counts from: when it was archived, or (archived by an earlier lethe,
    /// which did not record it) its mtime.
    pub(crate) fn archive_time(&self) -> i64 {
        self.archived.unwrap_or(self.mtime)
    }
}

/// Archive names are the root's mtime in UTC (`crate::time`, shared with persist and zfs).
pub(crate) use crate::time::format_utc;

/// A duration in seconds, the way a person reads an age: `12d 3h`, `5h 2m`, `40s`.
pub(crate) fn format_age(secs: i64) -> String {
    if secs < 0 {
        return format!("in the future ({})", format_age(-secs));
    }
    let (d, h, m) = (secs / DAY, secs % DAY / 3600, secs % 3600 / 60);
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else if m > 0 {
        format!("{m}m")
    } else {
        format!("{secs}s")
    }
}

/// Whether `name` is one lethe gives an archived root: `YYYY-MM-DD_HH:MM:SS` (see
/// [`format_utc`]), with `_N` (N ≥ 2) when that was taken. An archive directory may be shared
/// with snapper, btrbk or a person: a subvolume named otherwise is theirs, and never deleted.
pub(crate) fn is_archive_name(name: &str) -> bool {
    let (date, suffix) = match name.get(19..) {
        Some("") => (name, None),
        Some(rest) => match rest.strip_prefix('_') {
            Some(n) => (&name[..19], Some(n)),
            None => return false,
        },
        None => return false,
    };
    let shape = date.bytes().zip(b"dddd-dd-dd_dd:dd:dd").all(|(c, want)| match want {
        b'd' => c.is_ascii_digit(),
        sep => c == *sep,
    });
    let suffix_ok = suffix.is_none_or(|n| {
        !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()) && !n.starts_with('0') && n != "1"
    });
    shape && suffix_ok
}

/// The name root gets in the archive: its mtime, with `_2`, `_3`... when that name is taken
/// (by anything, including an archive being deleted).
pub(crate) fn archive_name(root_mtime: i64, taken: &BTreeSet<String>) -> String {
    let base = format_utc(root_mtime);
    let free = |n: &String| !taken.contains(n) && !taken.contains(&format!("{DELETING_PREFIX}{n}"));
    if free(&base) {
        return base;
    }
    (2..).map(|i| format!("{base}_{i}")).find(free).expect("some suffix is free")
}

/// Root as an entry of the archive under `name`, the name it is about to get: so the clock
/// check and `roots list` see it as the next rollback will.
pub(crate) fn root_entry(state: &State, name: String, archived: Option<i64>) -> Entry {
    Entry { name, kind: Kind::Subvolume, mtime: state.root_mtime, archived, created: state.root_created }
}

/// What happens to one archive entry, and why (the why is logged and listed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fate {
    /// Kept: among the `keepAtLeast` newest.
    KeepNewest(u32),
    /// Kept: root, archived by this rollback (whatever the clock and `retentionDays` say).
    KeepCurrent,
    /// Kept: archived `retentionDays` ago or less.
    KeepYoung,
    /// Kept: it would be pruned, but the clock cannot be trusted.
    KeepClock,
    /// Deleted: archived more than `retentionDays` ago.
    Prune { age: i64 },
    /// Deleted: a deletion interrupted earlier (its name has [`DELETING_PREFIX`]).
    Finish,
    /// Left alone with a warning: not a subvolume, so not something lethe archived.
    Ignore,
    /// Left alone: a subvolume, but not under a name lethe gives (see [`is_archive_name`]):
    /// another tool's snapshot or a person's, sharing the archive directory.
    Foreign,
}

impl Fate {
    pub(crate) fn deletes(&self) -> bool {
        matches!(self, Fate::Prune { .. } | Fate::Finish)
    }

    pub(crate) fn describe(&self, retention_days: u32) -> String {
        match self {
            Fate::KeepNewest(n) => format!("keep (one of the {n} newest)"),
            Fate::KeepCurrent => "keep (archived by this rollback)".into(),
            Fate::KeepYoung => format!("keep (archived less than {retention_days} days ago)"),
            Fate::KeepClock => "keep (expired, but pruning is off: clock untrusted)".into(),
            Fate::Prune { age } => {
                format!("prune (archived more than {retention_days} days ago: {})", format_age(*age))
            }
            Fate::Finish => "delete (finishing an interrupted deletion)".into(),
            Fate::Ignore => "ignore (not a subvolume)".into(),
            Fate::Foreign => "ignore (a subvolume lethe did not name: not an archived root)".into(),
        }
    }
}

/// Why pruning by age is off this time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ClockDistrust {
    BeforeBuild {
        now: i64,
        build: i64,
    },
    BeforeNewest {
        now: i64,
        newest: String,
        mtime: i64,
    },
    /// More than `days` after everything the disk knows (the newest archive time and the
    /// filesystem's last change): every archive would expire at once.
    FarAhead {
        now: i64,
        last: i64,
        days: u32,
    },
}

impl ClockDistrust {
    /// Whether the clock is behind a time the disk knows: then this run records no archive
    /// time (a time from such a clock would age the archive too soon).
    pub(crate) fn behind(&self) -> bool {
        !matches!(self, ClockDistrust::FarAhead { .. })
    }
}

impl std::fmt::Display for ClockDistrust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClockDistrust::BeforeBuild { now, build } => write!(
                f,
                "the clock says {} (UTC), before lethe was built ({}): not pruning old roots this boot",
                format_utc(*now),
                format_utc(*build)
            ),
            ClockDistrust::BeforeNewest { now, newest, mtime } => write!(
                f,
                "the clock says {} (UTC), before the newest archived root {newest:?} ({}): not pruning \
                 old roots this boot (if that archive's date is wrong, delete it, or set the time it \
                 was archived: `setfattr -n {ARCHIVED_XATTR} -v EPOCH_SECONDS` on it)",
                format_utc(*now),
                format_utc(*mtime)
            ),
            ClockDistrust::FarAhead { now, last, days } => write!(
                f,
                "the clock says {} (UTC), {} after the last change on this filesystem or its newest \
                 archive ({}): more than retentionDays ({days}), so every archived root would be \
                 pruned at once; not pruning old roots this boot (if the clock is right, the \
                 machine was off that long: the next boot prunes)",
                format_utc(*now),
                format_age(now - last),
                format_utc(*last)
            ),
        }
    }
}

/// The pruning policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Policy {
    pub retention_days: u32,
    pub keep_at_least: u32,
    /// When lethe was built (epoch seconds): a clock before it is certainly wrong.
    pub build_time: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pruning {
    /// Every entry with its fate, newest first (ignored entries last).
    pub fates: Vec<(Entry, Fate)>,
    pub distrust: Option<ClockDistrust>,
}

impl Pruning {
    #[cfg(test)]
    pub(crate) fn deleted(&self) -> impl Iterator<Item = &(Entry, Fate)> {
        self.fates.iter().filter(|(_, f)| f.deletes())
    }
}

/// The entries that are lethe's archived roots: subvolumes under a name lethe gives.
fn archives(entries: &[Entry]) -> impl Iterator<Item = &Entry> {
    entries.iter().filter(|e| e.kind == Kind::Subvolume && is_archive_name(&e.name))
}

/// Whether pruning by age is off at time `now`, decided before the rollback changes anything:
/// from the archive directory (with root, under the name it is about to get, when it is about
/// to be archived) and `last_change`, the filesystem's own time of its last change (the
/// newest change time of its subvolumes; 0 when unknown). The clock is distrusted before the
/// build date, before the newest archive's time, and more than `retentionDays` after both the
/// newest archive time and the last change.
pub(crate) fn distrust(
    entries: &[Entry],
    now: i64,
    policy: Policy,
    last_change: i64,
) -> Option<ClockDistrust> {
    if now < policy.build_time {
        return Some(ClockDistrust::BeforeBuild { now, build: policy.build_time });
    }
    let newest = archives(entries).max_by_key(|a| a.archive_time());
    if let Some(newest) = newest.filter(|n| now < n.archive_time()) {
        let (newest, mtime) = (newest.name.clone(), newest.archive_time());
        return Some(ClockDistrust::BeforeNewest { now, newest, mtime });
    }
    let last = newest.map_or(last_change, |n| n.archive_time().max(last_change));
    let far = last > 0 && now - last > i64::from(policy.retention_days) * DAY;
    far.then_some(ClockDistrust::FarAhead { now, last, days: policy.retention_days })
}

/// Decides the fate of every entry of the archive directory at time `now`.
///
/// Only subvolumes named by lethe ([`is_archive_name`]) are archives: other entries are left
/// alone (and do not count as kept). The `keepAtLeast` newest archives (by creation, see
/// [`Entry::created`]) and `this_run`, the one this rollback made, are always kept; of the
/// rest, those archived more than `retentionDays` ago ([`Entry::archive_time`]) are pruned,
/// unless the clock is untrusted (`distrust`, see [`distrust`]), in which case nothing is
/// pruned by age. Interrupted deletions are always finished.
pub(crate) fn prune(
    entries: &[Entry],
    now: i64,
    policy: Policy,
    this_run: Option<&str>,
    distrust: Option<ClockDistrust>,
) -> Pruning {
    let mut archives: Vec<&Entry> = archives(entries).collect();
    // Newest first: by creation, then mtime, then name, so the order (and the choice) is stable.
    archives.sort_by(|a, b| (b.created, b.mtime, &b.name).cmp(&(a.created, a.mtime, &a.name)));

    let mut fates: Vec<(Entry, Fate)> = Vec::with_capacity(entries.len());
    for (i, entry) in archives.iter().enumerate() {
        let age = now - entry.archive_time();
        let fate = if i < policy.keep_at_least as usize {
            Fate::KeepNewest(policy.keep_at_least)
        } else if Some(entry.name.as_str()) == this_run {
            Fate::KeepCurrent
        } else if age <= i64::from(policy.retention_days) * DAY {
            Fate::KeepYoung
        } else if distrust.is_some() {
            Fate::KeepClock
        } else {
            Fate::Prune { age }
        };
        fates.push(((*entry).clone(), fate));
    }
    for entry in entries {
        // The prefix is lethe's own mark ("chosen for deletion"), given by an atomic rename.
        if entry.kind == Kind::Subvolume && entry.name.starts_with(DELETING_PREFIX) {
            fates.push((entry.clone(), Fate::Finish));
        } else if entry.kind != Kind::Subvolume {
            fates.push((entry.clone(), Fate::Ignore));
        } else if !is_archive_name(&entry.name) {
            fates.push((entry.clone(), Fate::Foreign));
        }
    }
    Pruning { fates, distrust }
}

/// Where `subvolume` (or something inside it) of our btrfs is mounted, according to
/// `/proc/self/mountinfo`; `ours` tells whether a mount source is the configured device.
/// Archiving a root that is in use (lethe run on a booted system) would send everything
/// written from then on into the archive.
pub(crate) fn mounted_at(mounts: &[Mount], subvolume: &str, ours: impl Fn(&str) -> bool) -> Option<String> {
    let want = format!("/{subvolume}");
    mounts.iter().find_map(|m| {
        let inside = m.root == want || m.root.starts_with(&format!("{want}/"));
        (m.fstype == "btrfs" && inside && ours(&m.source)).then(|| m.point.clone())
    })
}

/// What is found at the top level before anything is changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct State {
    pub root: Kind,
    /// Whether root (when a subvolume) has no entries at all.
    pub root_empty: bool,
    /// Whether root is exactly what a rollback makes: empty (no `blankSnapshot`), or an
    /// unmodified clone of `blankSnapshot`. Left by an interrupted run, or a boot that never
    /// got to use it: archiving it would only pile up copies of nothing.
    pub root_fresh: bool,
    pub root_mtime: i64,
    /// Root's creation transaction (see [`Entry::created`]).
    pub root_created: u64,
    /// The filesystem's own time of its last change before this run: the newest change time
    /// (root item ctime) of its subvolumes, the top level included.
    pub last_change: i64,
    /// Kind of the archive path and of each of its parent components, outermost first.
    pub archive: Vec<(String, Kind)>,
    /// Kind of root's parent directories, outermost first (empty when root is at the top).
    pub root_parents: Vec<(String, Kind)>,
    /// Kind of `blankSnapshot`, when configured.
    pub blank: Option<(String, Kind)>,
}

/// One change, in the order they are made. Each is a single atomic btrfs operation (or a
/// sequence of them that a rerun resumes), so any prefix of a plan is a state the next run
/// handles: that is what makes the rollback crash-safe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// `mkdir` the archive directory (and missing parents, each named here).
    MakeArchiveDir(Vec<String>),
    /// Record the time in root's [`ARCHIVED_XATTR`] (none when the clock is behind), then
    /// rename root into the archive under this name. A crash between the two leaves root in
    /// place with a time the rerun replaces.
    Archive {
        to: String,
        at: Option<i64>,
    },
    /// Root is already fresh (see [`State::root_fresh`]): nothing to archive or create.
    KeepFreshRoot,
    /// Root exists and is empty, but a blank snapshot is configured: delete it to re-clone.
    DeleteEmptyRoot,
    CreateRoot,
    SnapshotRoot {
        from: String,
    },
}

/// Refuses (before any change) what lethe must not touch.
pub(crate) fn check(state: &State, root: &str, archive: &str) -> Result<(), String> {
    for (path, kind) in &state.root_parents {
        if !matches!(kind, Kind::Directory | Kind::Subvolume) {
            return Err(format!(
                "{path} (parent of {root}): expected a directory, found {}",
                kind.describe()
            ));
        }
    }
    match state.root {
        Kind::Missing | Kind::Subvolume => {}
        other => {
            return Err(format!(
                "{root}: exists but is not a btrfs subvolume ({}); refusing to archive it",
                other.describe()
            ))
        }
    }
    for (path, kind) in &state.archive {
        if matches!(kind, Kind::Other(_)) {
            let what = if path == archive { "archive path" } else { "parent of the archive path" };
            return Err(format!(
                "{path} ({what}): exists but is neither a directory nor a subvolume ({})",
                kind.describe()
            ));
        }
    }
    if let Some((blank, kind)) = &state.blank {
        if *kind != Kind::Subvolume {
            return Err(format!("{blank} (blankSnapshot): expected a subvolume, found {}", kind.describe()));
        }
    }
    Ok(())
}

/// The steps that bring any state (first boot, normal boot, or what a crash left) to: root
/// archived (recording `archived_at`, see [`Step::Archive`]), a fresh root in place. Pruning
/// follows these steps (see [`prune`]): the new root exists before anything is deleted, so a
/// failed deletion never stops the boot.
pub(crate) fn steps(
    state: &State,
    taken: &BTreeSet<String>,
    blank: Option<&str>,
    archived_at: Option<i64>,
) -> Vec<Step> {
    let mut steps = Vec::new();
    let missing: Vec<String> =
        state.archive.iter().filter(|(_, k)| *k == Kind::Missing).map(|(p, _)| p.clone()).collect();
    if state.root == Kind::Subvolume && state.root_fresh {
        steps.push(Step::KeepFreshRoot);
        return steps;
    }
    match (state.root, state.root_empty, blank) {
        (Kind::Subvolume, true, Some(_)) => steps.push(Step::DeleteEmptyRoot),
        (Kind::Subvolume, _, _) => {
            if !missing.is_empty() {
                steps.push(Step::MakeArchiveDir(missing));
            }
            steps.push(Step::Archive { to: archive_name(state.root_mtime, taken), at: archived_at });
        }
        _ => {}
    }
    steps.push(match blank {
        Some(b) => Step::SnapshotRoot { from: b.to_string() },
        None => Step::CreateRoot,
    });
    steps
}

#[cfg(test)]
mod tests;
