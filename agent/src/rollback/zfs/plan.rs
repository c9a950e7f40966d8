//! The decisions of a ZFS rollback, pure: from a listing (`zfs list`), the old root's
//! properties (`zfs get`) and the clock, the `zfs` commands that archive the root, make a
//! fresh one and prune old archives, or a refusal that names what is wrong (nothing changed).
//!
//! Crash safety: every step is one `zfs` command, and the in-flight state is on disk. The root
//! is first marked `lethe:rollback=archiving:TARGET` (with `lethe:archived`), then renamed to
//! TARGET (the mark travels with it), then a fresh root is made (and promoted, when cloned from
//! a snapshot of the root itself), then old archives are pruned, then the mark is removed. [`stage`] reads which of those
//! happened from the listing, so the next run finishes the job from any cut; a fresh root
//! exists whenever no mark is left, and a marked archive beside a root says that root was made
//! by a run that did not finish, so was never used: it is kept, not archived.
//!
//! The pruning is one ZFS channel program ([`PRUNE_PROGRAM`], `zfs program`): it marks every
//! archive chosen `lethe:rollback=destroying`, then destroys each with its children and
//! snapshots, all in one transaction group, so a power cut leaves all of it done or none of
//! it, and one transaction group is waited for instead of one per archive and one per mark
//! (a `zfs set` over N datasets is N sync tasks). Should the program fail (an older ZFS, a
//! clone inside an archive, a limit), the plan's fallback runs: the mark in one `zfs set`,
//! then `zfs destroy -r` per archive (not atomic: the mark says a half-destroyed archive is
//! finished whatever the clock says then, as it does after a program that stopped halfway).

use super::listing::{inside, Dataset, Listing, ARCHIVED, MARKER};
use crate::config::rollback::ZfsRollback;
use crate::rollback::plan::{self as common, is_archive_name, ClockDistrust, Entry, Fate, Kind, Policy};
use std::collections::{BTreeMap, BTreeSet};

const ARCHIVING: &str = "archiving:";
const DESTROYING: &str = "destroying";

/// One `zfs` command, in the order they run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// The archive parent, never mounted (`canmount=off`), and `mountpoint=none` so that an
    /// archived root that inherited its mountpoint is never mounted by `zfs mount -a`.
    CreateArchive { archive: String },
    /// Records where the root goes and when (`None`: the clock is behind, `unknown`).
    Mark { root: String, to: String, at: Option<i64> },
    /// Archives the root, with its children and snapshots.
    Rename { from: String, to: String },
    /// A fresh, empty root with the old root's properties, not mounted.
    Create { root: String, properties: BTreeMap<String, String> },
    /// A fresh root cloned from the blank snapshot, with the old root's properties.
    Clone { root: String, snapshot: String, properties: BTreeMap<String, String> },
    /// The blank snapshot was the old root's own: it moved into the archive with it. Promoting
    /// the clone moves it back to the root (where the config names it), and makes the archive
    /// a clone of it, so the archive can later be destroyed without touching the root.
    Promote { root: String },
    /// The job is done: the archive loses its in-flight mark.
    Unmark { archive: String },
    /// Marks the archives about to be destroyed (one `zfs set` for all).
    MarkDestroy { archives: Vec<String> },
    /// `zfs destroy -r`: the archive, its children and their snapshots.
    Destroy { archive: String },
    /// [`PRUNE_PROGRAM`] on the pool: marks then destroys all of `archives` in one
    /// transaction group.
    Prune { pool: String, archives: Vec<String> },
}

/// The channel program of [`Step::Prune`] (Lua, read by `zfs program POOL -` from stdin; its
/// arguments are the archives). It decides nothing: the plan chose the archives. Marks first,
/// so that if it stops halfway on an error, what it began is marked and the next run finishes
/// it; children before their parent, snapshots before their dataset (as `zfs destroy -r`).
pub(crate) const PRUNE_PROGRAM: &str = r#"-- lethe: destroy the archives named in argv, in one transaction group
local archives = (...)["argv"]
for _, a in ipairs(archives) do
    local err = zfs.sync.set_prop(a, "lethe:rollback", "destroying")
    if err ~= 0 then error(a .. ": setting lethe:rollback=destroying failed: errno " .. err) end
end
local function below(ds, out)
    for child in zfs.list.children(ds) do below(child, out) end
    for snap in zfs.list.snapshots(ds) do table.insert(out, snap) end
    table.insert(out, ds)
end
for _, a in ipairs(archives) do
    local all = {}
    below(a, all)
    for _, d in ipairs(all) do
        local err = zfs.sync.destroy(d)
        if err ~= 0 then error(d .. ": destroy failed: errno " .. err) end
    end
end
"#;

fn props_args(args: &mut Vec<String>, properties: &BTreeMap<String, String>) {
    for (k, v) in properties {
        args.push("-o".into());
        args.push(format!("{k}={v}"));
    }
}

impl Step {
    /// The arguments of `zfs` for this step.
    pub(crate) fn args(&self) -> Vec<String> {
        let s = |v: &[&str]| v.iter().map(|a| a.to_string()).collect::<Vec<String>>();
        match self {
            Step::CreateArchive { archive } => {
                s(&["create", "-u", "-o", "canmount=off", "-o", "mountpoint=none", archive])
            }
            Step::Mark { root, to, at } => {
                let at = at.map_or("unknown".to_string(), |t| t.to_string());
                s(&["set", &format!("{MARKER}={ARCHIVING}{to}"), &format!("{ARCHIVED}={at}"), root])
            }
            Step::Rename { from, to } => s(&["rename", from, to]),
            Step::Create { root, properties } => {
                let mut a = s(&["create", "-u"]);
                props_args(&mut a, properties);
                a.push(root.clone());
                a
            }
            Step::Clone { root, snapshot, properties } => {
                let mut a = s(&["clone"]);
                props_args(&mut a, properties);
                a.push(snapshot.clone());
                a.push(root.clone());
                a
            }
            Step::Promote { root } => s(&["promote", root]),
            Step::Unmark { archive } => s(&["inherit", MARKER, archive]),
            Step::MarkDestroy { archives } => {
                let mut a = s(&["set", &format!("{MARKER}={DESTROYING}")]);
                a.extend(archives.iter().cloned());
                a
            }
            Step::Destroy { archive } => s(&["destroy", "-r", archive]),
            Step::Prune { pool, archives } => {
                let mut a = s(&["program", pool, "-"]);
                a.extend(archives.iter().cloned());
                a
            }
        }
    }

    /// The dataset a failure of this step is reported against.
    pub(crate) fn dataset(&self) -> &str {
        match self {
            Step::CreateArchive { archive } | Step::Unmark { archive } | Step::Destroy { archive } => archive,
            Step::Mark { root, .. }
            | Step::Create { root, .. }
            | Step::Clone { root, .. }
            | Step::Promote { root } => root,
            Step::Rename { from, .. } => from,
            Step::MarkDestroy { archives } | Step::Prune { archives, .. } => {
                archives.first().map_or("", String::as_str)
            }
        }
    }
}

/// Where a rollback stands, read from the listing (see the module's note on crash safety).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Nothing in flight: archive the root (as `to`).
    Start { to: String },
    /// The root is marked for `to`, not renamed yet.
    Marked { to: String },
    /// The root is archived as `to` (still marked); no fresh root yet.
    Archived { to: String },
    /// The root is archived as `to` (still marked) and a fresh root exists.
    Made { to: String },
}

impl Stage {
    pub(crate) fn target(&self) -> &str {
        match self {
            Stage::Start { to } | Stage::Marked { to } | Stage::Archived { to } | Stage::Made { to } => to,
        }
    }
}

fn parent(name: &str) -> &str {
    name.rsplit_once('/').map_or(name, |(p, _)| p)
}

fn leaf(name: &str) -> &str {
    name.rsplit_once('/').map_or(name, |(_, l)| l)
}

/// The name the root gets in the archive: `archive/DATE`, DATE the root's creation (the boot
/// it served) as btrfs archives are named, with `_2`, `_3`... when taken.
pub(crate) fn archive_name(config: &ZfsRollback, root: &Dataset, listing: &Listing) -> String {
    let taken: BTreeSet<String> =
        listing.children(&config.archive).map(|d| leaf(&d.name).to_string()).collect();
    format!("{}/{}", config.archive, common::archive_name(root.creation, &taken))
}

/// Reads the stage from the listing, or refuses a state lethe does not leave.
pub(crate) fn stage(config: &ZfsRollback, listing: &Listing) -> Result<Stage, String> {
    let (r, a) = (config.dataset.as_str(), config.archive.as_str());
    for (what, name) in [("rollback.dataset", r), ("rollback.archive", a)] {
        let p = parent(name);
        if listing.get(p).is_none_or(Dataset::is_snapshot) {
            return Err(format!("{p} (parent of {what} {name}): does not exist"));
        }
    }
    if let Some(archive) = listing.get(a) {
        if archive.kind != "filesystem" {
            return Err(format!("{a} (rollback.archive): a {}, not a filesystem", archive.kind));
        }
        // Set there (or above), it would be inherited by everything in the archive.
        if archive.archived.is_some() || archive.marker.is_some() {
            return Err(format!(
                "{a} (rollback.archive): has {ARCHIVED} or {MARKER} set (or inherited): everything below \
                 would look archived by lethe; remove it (zfs inherit {ARCHIVED} {a}; zfs inherit {MARKER} {a})"
            ));
        }
    }
    let root = listing.get(r);
    if let Some(root) = root.filter(|d| d.kind != "filesystem") {
        return Err(format!("{r} (rollback.dataset): a {}, not a filesystem", root.kind));
    }
    let marked: Vec<&Dataset> = listing
        .children(a)
        .filter(|d| d.marker.as_deref() != Some(DESTROYING))
        .filter(|d| d.marker.is_some())
        .collect();
    for m in &marked {
        let target = m.marker.as_deref().and_then(|v| v.strip_prefix(ARCHIVING));
        if target != Some(m.name.as_str()) {
            return Err(format!(
                "{}: {MARKER}={}: not a mark lethe leaves on an archive; refusing to guess (remove it with \
                 zfs inherit {MARKER} {})",
                m.name,
                m.marker.as_deref().unwrap_or_default(),
                m.name
            ));
        }
    }
    if marked.len() > 1 {
        let names: Vec<&str> = marked.iter().map(|m| m.name.as_str()).collect();
        return Err(format!(
            "{a}: several archives are marked in flight ({}): refusing to guess",
            names.join(", ")
        ));
    }
    let root_target = match root.and_then(|d| d.marker.as_deref()) {
        None => None,
        Some(m) => match m.strip_prefix(ARCHIVING) {
            Some(t) if parent(t) == a && is_archive_name(leaf(t)) => Some(t.to_string()),
            _ => {
                return Err(format!(
                    "{r}: {MARKER}={m}: not a mark lethe leaves on a root; refusing to guess (remove it \
                     with zfs inherit {MARKER} {r})"
                ))
            }
        },
    };
    match (root, root_target, marked.first()) {
        (Some(_), Some(to), None) => {
            if listing.get(&to).is_some() {
                return Err(format!("{r}: marked to be archived as {to}, which exists already"));
            }
            Ok(Stage::Marked { to })
        }
        (Some(_), Some(to), Some(m)) => Err(format!(
            "{r}: marked to be archived as {to} while {} is still in flight: refusing to guess",
            m.name
        )),
        (None, _, Some(m)) => Ok(Stage::Archived { to: m.name.clone() }),
        (Some(_), None, Some(m)) => Ok(Stage::Made { to: m.name.clone() }),
        (Some(root), None, None) => Ok(Stage::Start { to: archive_name(config, root, listing) }),
        (None, _, None) => Err(format!(
            "{r} (rollback.dataset): does not exist, and no archive of it is in flight; lethe makes a fresh \
             root from the old one's properties, so it needs the old one"
        )),
    }
}

/// The dataset whose properties the fresh root copies (`zfs get` of it), when one is made.
pub(crate) fn properties_source(config: &ZfsRollback, stage: &Stage) -> Option<String> {
    match stage {
        Stage::Start { .. } | Stage::Marked { .. } => Some(config.dataset.clone()),
        Stage::Archived { to } => Some(to.clone()),
        Stage::Made { .. } => None,
    }
}

/// The blank snapshot to clone at this stage, and whether it is the old root's own (then it
/// travels with the root into the archive, and the clone is promoted).
fn blank(config: &ZfsRollback, stage: &Stage, listing: &Listing) -> Result<Option<(String, bool)>, String> {
    let Some(b) = &config.blank_snapshot else { return Ok(None) };
    let (of, snap) = b.split_once('@').expect("config checked");
    let own = of == config.dataset;
    let (now_at, clone_from) = match stage {
        // Checked where it is now; cloned from where the rename takes it.
        Stage::Start { to } | Stage::Marked { to } if own => (b.clone(), format!("{to}@{snap}")),
        Stage::Start { .. } | Stage::Marked { .. } => (b.clone(), b.clone()),
        Stage::Archived { to } if own => (format!("{to}@{snap}"), format!("{to}@{snap}")),
        Stage::Made { to } if own => {
            // Cloned already: before the promote it is still the archive's.
            let moved = format!("{to}@{snap}");
            let at = if listing.get(&moved).is_some() { moved } else { b.clone() };
            (at.clone(), at)
        }
        _ => (b.clone(), b.clone()),
    };
    if listing.get(&now_at).is_none() {
        return Err(format!("{now_at} (rollback.blankSnapshot {b}): does not exist"));
    }
    Ok(Some((clone_from, own)))
}

/// The encryption root a new child of the archive parent gets (None: not encrypted).
fn archive_encryption(config: &ZfsRollback, listing: &Listing) -> Option<String> {
    let at = listing.get(&config.archive).or_else(|| listing.get(parent(&config.archive)));
    at.and_then(|d| d.encryption_root.clone())
}

/// Refuses a root lethe must not archive: mounted, one whose fresh copy ZFS would mount in the
/// initrd, or one whose encryption a rename or a fresh root would break.
fn check_root(config: &ZfsRollback, root: &Dataset, listing: &Listing) -> Result<(), String> {
    let r = &config.dataset;
    if let Some(m) = listing.mounted_inside(r) {
        let mountpoint = listing.get(m).and_then(|d| d.mountpoint.as_deref()).unwrap_or("-");
        return Err(format!(
            "{m}: mounted (mountpoint {mountpoint}): the rollback runs before the root is mounted (in the \
             initrd); refusing to archive a root in use"
        ));
    }
    if let (Some("on"), Some(mountpoint)) = (root.canmount.as_deref(), root.mountpoint.as_deref()) {
        if mountpoint.starts_with('/') {
            return Err(format!(
                "{r}: mountpoint={mountpoint} with canmount=on: zfs would mount the fresh root at once (in the \
                 initrd), and stage 2's zfs mount -a would mount archived roots over it; set mountpoint=legacy \
                 (NixOS's default for the root) or canmount=noauto"
            ));
        }
    }
    if root.encryption_root.as_deref() == Some(r.as_str()) {
        return Err(format!(
            "{r}: is its own encryption root (its key is not inherited): a fresh root would need a key of \
             its own; encrypt a parent instead (like {}) so that the root and the archive inherit its key",
            parent(r)
        ));
    }
    let archive = archive_encryption(config, listing);
    if root.encryption_root != archive {
        let show = |e: &Option<String>| {
            e.as_deref().map_or("not encrypted".to_string(), |e| format!("encryption root {e}"))
        };
        return Err(format!(
            "{r} ({}) and {} ({}): zfs rename cannot move a dataset to another encryption root",
            show(&root.encryption_root),
            config.archive,
            show(&archive)
        ));
    }
    Ok(())
}

/// One entry of the archive parent, with what the next rollback does to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Row {
    /// Its full name.
    pub dataset: String,
    pub entry: Entry,
    pub fate: Fate,
    /// Kept although its fate deletes it: mounted, or a clone outside it needs a snapshot of it.
    pub held: Option<String>,
    /// Its own snapshots (none made by lethe: sanoid's, syncoid's, zrepl's, a person's...;
    /// those of datasets below it go with them). Read for `roots list` and for an archive in
    /// flight only: see `listing::LIST_PROGRAM`.
    pub snapshots: Vec<String>,
}

impl Row {
    pub(crate) fn destroys(&self) -> bool {
        self.fate.deletes() && self.held.is_none()
    }
}

/// What one run does: the root's steps (a failure stops the boot), then the pruning (failures
/// are reported, retried next boot), then the unmark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    pub stage: Stage,
    pub root_steps: Vec<Step>,
    /// The pruning: one [`Step::Prune`], or nothing.
    pub prune_steps: Vec<Step>,
    /// The same pruning one `zfs` command at a time, run only when the program fails.
    pub prune_fallback: Vec<Step>,
    /// The unmark that ends the run (its failure fails the run: see [`Stage::Made`]).
    pub finish: Step,
    pub rows: Vec<Row>,
    pub distrust: Option<ClockDistrust>,
}

fn why_held(archive: &str, listing: &Listing) -> Option<String> {
    if let Some(m) = listing.mounted_inside(archive) {
        return Some(format!("{m} is mounted"));
    }
    let clone = listing
        .datasets
        .values()
        .find(|d| !inside(&d.name, archive) && d.origin.as_deref().is_some_and(|o| inside(o, archive)))?;
    Some(format!("{} is a clone of {}", clone.name, clone.origin.as_deref().unwrap_or_default()))
}

/// The archive parent's entries as the pruning sees them, with `this_run` (the archive being
/// made, which may not exist yet) and its time.
fn rows(
    config: &ZfsRollback,
    listing: &Listing,
    this_run: &str,
    this_entry: Option<Entry>,
    now: i64,
    policy: Policy,
    distrust: Option<ClockDistrust>,
) -> Vec<Row> {
    let mut archives: Vec<Entry> = this_entry.into_iter().collect();
    let mut others: Vec<(Entry, Fate)> = Vec::new();
    let entry = |d: &Dataset| Entry {
        name: leaf(&d.name).to_string(),
        kind: Kind::Subvolume,
        mtime: d.creation,
        archived: d.archived.flatten(),
        created: d.createtxg,
    };
    for d in listing.children(&config.archive) {
        let lethes = d.kind == "filesystem" && d.archived.is_some() && is_archive_name(leaf(&d.name));
        if d.name == this_run {
            continue;
        } else if d.marker.as_deref() == Some(DESTROYING) && d.archived.is_some() {
            others.push((entry(d), Fate::Finish));
        } else if lethes {
            archives.push(entry(d));
        } else {
            others.push((entry(d), Fate::Foreign));
        }
    }
    let leaf_this = leaf(this_run);
    let pruning = common::prune(&archives, now, policy, Some(leaf_this), distrust);
    pruning
        .fates
        .into_iter()
        .chain(others)
        .map(|(entry, fate)| {
            let dataset = format!("{}/{}", config.archive, entry.name);
            let held = if fate.deletes() { why_held(&dataset, listing) } else { None };
            let snapshots = listing.snapshots_of(&dataset);
            Row { dataset, entry, fate, held, snapshots }
        })
        .collect()
}

/// The whole run. `properties` are the fresh root's (see [`properties_source`] and
/// `listing::fresh_properties`); `None` only when no root is made.
pub(crate) fn plan(
    config: &ZfsRollback,
    listing: &Listing,
    properties: Option<&BTreeMap<String, String>>,
    now: i64,
    policy: Policy,
) -> Result<Plan, String> {
    let stage = stage(config, listing)?;
    let (r, to) = (config.dataset.clone(), stage.target().to_string());
    let blank = blank(config, &stage, listing)?;
    let root = listing.get(&r);
    if let (Stage::Start { .. } | Stage::Marked { .. }, Some(root)) = (&stage, root) {
        check_root(config, root, listing)?;
    }
    // The clock is judged on what the pool held before this run, the root counted as the
    // archive it is about to become (as the btrfs rollback does).
    let this_entry = match (&stage, root) {
        (Stage::Start { .. } | Stage::Marked { .. }, Some(root)) => Some(Entry {
            name: leaf(&to).to_string(),
            kind: Kind::Subvolume,
            mtime: root.creation,
            archived: root.archived.flatten(),
            created: root.createtxg,
        }),
        _ => listing.get(&to).map(|d| Entry {
            name: leaf(&to).to_string(),
            kind: Kind::Subvolume,
            mtime: d.creation,
            archived: d.archived.flatten(),
            created: d.createtxg,
        }),
    };
    let mut before: Vec<Entry> = this_entry.clone().into_iter().collect();
    before.extend(listing.children(&config.archive).filter(|d| d.archived.is_some() && d.name != to).map(
        |d| Entry {
            name: leaf(&d.name).to_string(),
            kind: Kind::Subvolume,
            mtime: d.creation,
            archived: d.archived.flatten(),
            created: d.createtxg,
        },
    ));
    let distrust = common::distrust(&before, now, policy, listing.last_change());
    let at = (!distrust.as_ref().is_some_and(ClockDistrust::behind)).then_some(now);

    let mut root_steps = Vec::new();
    if let Stage::Start { .. } = stage {
        if listing.get(&config.archive).is_none() {
            root_steps.push(Step::CreateArchive { archive: config.archive.clone() });
        }
        root_steps.push(Step::Mark { root: r.clone(), to: to.clone(), at });
    }
    if let Stage::Start { .. } | Stage::Marked { .. } = stage {
        root_steps.push(Step::Rename { from: r.clone(), to: to.clone() });
    }
    if let Stage::Start { .. } | Stage::Marked { .. } | Stage::Archived { .. } = stage {
        let properties =
            properties.cloned().ok_or_else(|| format!("{r}: the old root's properties were not read"))?;
        root_steps.push(match &blank {
            Some((snapshot, _)) => Step::Clone { root: r.clone(), snapshot: snapshot.clone(), properties },
            None => Step::Create { root: r.clone(), properties },
        });
    }
    if let Some((snapshot, true)) = &blank {
        // Made: promote unless done (the snapshot is back on the root then).
        let pending = !matches!(stage, Stage::Made { .. }) || snapshot.starts_with(&format!("{to}@"));
        if pending {
            root_steps.push(Step::Promote { root: r.clone() });
        }
    }
    let this_entry = this_entry.map(|mut e| {
        if matches!(stage, Stage::Start { .. } | Stage::Marked { .. }) && e.archived.is_none() {
            e.archived = at;
        }
        e
    });
    let mut rows = rows(config, listing, &to, this_entry, now, policy, distrust.clone());
    if let Stage::Start { .. } | Stage::Marked { .. } = stage {
        // The root's snapshots (sanoid's, a person's...) move with it into the archive.
        for row in rows.iter_mut().filter(|row| row.dataset == to) {
            row.snapshots = listing.snapshots_of(&r);
        }
    }
    let mark: Vec<String> =
        rows.iter().filter(|r| r.destroys() && r.fate != Fate::Finish).map(|r| r.dataset.clone()).collect();
    let mut prune_fallback = Vec::new();
    if !mark.is_empty() {
        prune_fallback.push(Step::MarkDestroy { archives: mark });
    }
    let doomed: Vec<String> = rows.iter().filter(|r| r.destroys()).map(|r| r.dataset.clone()).collect();
    prune_fallback.extend(doomed.iter().map(|a| Step::Destroy { archive: a.clone() }));
    let pool = config.archive.split('/').next().unwrap_or_default().to_string();
    let prune_steps =
        if doomed.is_empty() { Vec::new() } else { vec![Step::Prune { pool, archives: doomed }] };
    // Last: until the mark is gone, a rerun knows the fresh root was never handed to stage 2
    // (it keeps it and only finishes the pruning).
    let finish = Step::Unmark { archive: to.clone() };
    Ok(Plan { stage, root_steps, prune_steps, prune_fallback, finish, rows, distrust })
}

/// What the next rollback does to an archive parent's entry, in ZFS's words.
pub(crate) fn describe(row: &Row, retention_days: u32) -> String {
    match (&row.fate, &row.held) {
        (Fate::Foreign, _) => format!(
            "ignore (not archived by lethe: no {ARCHIVED}, or not named YYYY-MM-DD_HH:MM:SS; never destroyed by lethe)"
        ),
        (Fate::Finish, None) => "destroy (finishing a destroy a previous run started)".into(),
        (f, Some(held)) if f.deletes() => format!("keep (expired, but {held})"),
        (f, _) => f.describe(retention_days),
    }
}

/// The clock's distrust, with the ZFS way to date an archive.
pub(crate) fn clock_text(d: &ClockDistrust) -> String {
    d.to_string().replace(
        &format!("`setfattr -n {} -v EPOCH_SECONDS` on it", common::ARCHIVED_XATTR),
        &format!("`zfs set {ARCHIVED}=EPOCH_SECONDS` on it"),
    )
}

/// The plan as the table tests read it: each command, then each archive's fate.
#[cfg(test)]
pub(crate) fn render(plan: &Plan, retention_days: u32) -> String {
    let mut out = format!("stage {:?}\n", plan.stage);
    for s in plan.root_steps.iter().chain(&plan.prune_steps).chain([&plan.finish]) {
        out.push_str(&format!("zfs {}\n", s.args().join(" ")));
    }
    for s in &plan.prune_fallback {
        out.push_str(&format!("  (if the program fails) zfs {}\n", s.args().join(" ")));
    }
    for row in &plan.rows {
        out.push_str(&format!("{}: {}\n", row.dataset, describe(row, retention_days)));
        for s in &row.snapshots {
            out.push_str(&format!("  {s}\n"));
        }
    }
    if let Some(d) = &plan.distrust {
        out.push_str(&format!("clock: {}\n", clock_text(d)));
    }
    out
}

#[cfg(test)]
mod tests;
