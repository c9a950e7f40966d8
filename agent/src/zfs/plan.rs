//! The reconcile decision, a pure function of the declared datasets and what was read (one
//! `zfs get` listing, the pools, a few directory sizes): which datasets to create (parents
//! first), which managed properties drifted, what is only reported. It never plans a destroy,
//! rename or `zfs inherit` of a dataset: what left the config is reported and kept.

use super::restore::{self, Current, Decision, Listing, RESTORE_PROPERTY};
use super::state::{Pool, Property, Source, State};
use crate::config::datasets::{entries, Datasets, Entry, Restic, RestoreFrom};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// lethe's record of a migration on the dataset itself (`pending:DIR`, then `done:RENAMED`), so
/// an interrupted boot finishes the copy instead of mounting the dataset over the data.
pub(crate) const MIGRATION_PROPERTY: &str = "lethe:migration";

/// Properties ZFS fixes when a dataset is created; a difference cannot be `zfs set`.
pub(crate) const CREATE_ONLY: &[&str] = &[
    "encryption",
    "casesensitivity",
    "normalization",
    "utf8only",
    "volblocksize",
    "keyformat",
    "pbkdf2iters",
];

/// What the directory at a mountpoint holds, when a dataset would be mounted over it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub(crate) struct DirUsage {
    /// Entries below it, directories included; 0 = empty or missing.
    pub files: u64,
    pub bytes: u64,
}

/// Everything the plan reads besides the config.
#[derive(Debug, Clone, Default)]
pub(crate) struct Facts {
    /// Imported pools.
    pub pools: BTreeMap<String, Pool>,
    pub state: State,
    /// The loaded module's `zfs_max_recordsize` (bytes), when it could be read.
    pub max_recordsize: Option<u64>,
    /// The directories [`dirs_to_inspect`] names that hold something.
    pub dirs: BTreeMap<String, DirUsage>,
    /// Snapshots of each `restoreFrom` source [`restore_sources`] names, oldest first.
    pub snapshots: BTreeMap<String, Vec<String>>,
    /// UTC time for the name of a migrated directory, like `2026-12-02_00:15:00`.
    pub now: String,
    /// What each `restore` source of a dataset holds, in the config's order (see
    /// [`restore_listings_needed`]).
    pub listings: BTreeMap<String, Vec<Listing>>,
    /// Existing datasets with `restore` and no record that hold nothing (mounted, no entry,
    /// no snapshot, no child).
    pub empty: BTreeSet<String>,
    /// `lethe datasets --restore NAME`: the run covers that dataset alone (its restore unit).
    pub only: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub(crate) enum Step {
    /// `zfs create -o ...`; `parent` when lethe makes it only to hold declared datasets.
    Create { dataset: String, properties: BTreeMap<String, String>, parent: bool },
    /// `zfs send SNAPSHOT | zfs recv -u DATASET`, then `zfs set` of `properties`, then mount.
    Restore { dataset: String, snapshot: String, properties: BTreeMap<String, String> },
    /// A `restore` source that is a replica: `[ssh USER@HOST] zfs send -w SNAPSHOT | zfs recv
    /// -u -o lethe:restore=done:SOURCE DATASET`, then `zfs set` of `properties`, then mount.
    Receive {
        dataset: String,
        source: String,
        snapshot: String,
        ssh: Option<String>,
        ssh_key: Option<String>,
        properties: BTreeMap<String, String>,
    },
    /// A restic source: `zfs create` with `properties` (mounted at `temporary`, recorded
    /// `lethe:restore=pending:SOURCE`), `restic restore SNAPSHOT`, what was below `root` moved
    /// to the dataset's root, then `mountpoint` and `lethe:restore=done:SOURCE` set.
    Restic {
        dataset: String,
        source: String,
        snapshot: String,
        restic: Restic,
        temporary: String,
        mountpoint: String,
        properties: BTreeMap<String, String>,
    },
    /// `zfs destroy -r` of a dataset an interrupted restore left partial (lethe created it,
    /// `lethe:restore=pending:...` on itself; checked again just before).
    Discard { dataset: String },
    /// An empty dataset that was never restored is renamed to `renamed` and unmounted
    /// (`canmount=off mountpoint=none`), kept: lethe did not make it, so it never destroys it.
    SetAside { dataset: String, renamed: String },
    /// Its restore asks network sources: the dataset's restore unit does it, after
    /// `network-online.target` and before the service.
    Deferred { dataset: String, unit: String },
    /// Copy `from` into the dataset (mounted at `temporary`), rename `from` to `renamed`, then
    /// mount the dataset at `from`.
    Migrate { dataset: String, from: String, temporary: String, renamed: String, files: u64, bytes: u64 },
    /// `zfs set PROPERTY=VALUE DATASET`.
    Set { dataset: String, property: String, value: String, was: String, source: String, note: String },
    /// `zfs mount -a` (before the owners are checked): existing datasets are not mounted yet.
    MountAll { datasets: Vec<String> },
    /// Owner, group and mode of the mounted dataset's root directory.
    Own { dataset: String, path: String, owner: Option<String>, group: Option<String>, mode: Option<String> },
    /// A declared value that differs, left alone because of where it comes from.
    Keep { dataset: String, property: String, value: String, source: String, declared: String },
    /// A dataset below `parentDataset` that the config no longer names: kept.
    Undeclared { dataset: String },
    /// Nothing is done for this dataset (and below it); the run fails (exit 2).
    Error { dataset: String, message: String },
}

impl Step {
    pub(crate) fn dataset(&self) -> &str {
        match self {
            Step::Create { dataset, .. }
            | Step::Restore { dataset, .. }
            | Step::Receive { dataset, .. }
            | Step::Restic { dataset, .. }
            | Step::Discard { dataset }
            | Step::SetAside { dataset, .. }
            | Step::Deferred { dataset, .. }
            | Step::Migrate { dataset, .. }
            | Step::Set { dataset, .. }
            | Step::Own { dataset, .. }
            | Step::Keep { dataset, .. }
            | Step::Undeclared { dataset }
            | Step::Error { dataset, .. } => dataset,
            Step::MountAll { .. } => "",
        }
    }

    /// Whether applying it changes something (as opposed to a report).
    pub(crate) fn changes(&self) -> bool {
        !matches!(
            self,
            Step::Keep { .. } | Step::Undeclared { .. } | Step::Error { .. } | Step::Deferred { .. }
        )
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Plan {
    pub steps: Vec<Step>,
    /// Declared values this machine cannot take (a recordsize above the module's limit): when
    /// any is here, nothing is applied (exit 1). Each names the JSON path.
    pub refused: Vec<String>,
    pub declared: usize,
}

/// The pools the declared datasets live in.
pub(crate) fn pools(d: &Datasets) -> BTreeSet<String> {
    entries(d).iter().map(|e| pool_of(&e.name).to_string()).collect()
}

fn pool_of(name: &str) -> &str {
    name.split('/').next().unwrap_or(name)
}

/// The properties the one `zfs get` asks for: every managed one plus what the plan reads.
pub(crate) fn properties_to_read(d: &Datasets) -> Vec<String> {
    let mut props: BTreeSet<String> = ["mountpoint", "recordsize", "compression", "mounted", "canmount"]
        .into_iter()
        .map(str::to_string)
        .collect();
    props.insert(MIGRATION_PROPERTY.to_string());
    props.insert(RESTORE_PROPERTY.to_string());
    for e in entries(d) {
        props.extend(e.dataset.properties.keys().cloned());
    }
    props.into_iter().collect()
}

/// Mountpoints a dataset is about to be mounted on (created, or moved there): whatever they
/// hold would be hidden, so `apply` measures them for the plan.
pub(crate) fn dirs_to_inspect(d: &Datasets, state: &State) -> Vec<String> {
    let mut dirs = Vec::new();
    for e in entries(d) {
        let Some(m) = e.mountpoint.as_deref().filter(|m| m.starts_with('/')) else { continue };
        let now = state.get(&e.name, "mountpoint").map(|p| p.value.as_str());
        let pending = matches!(pending_migration(&e, state), Ok(Some(_)));
        if now != Some(m) || pending {
            dirs.push(m.to_string());
        }
    }
    dirs
}

/// `restoreFrom` sources of datasets that do not exist yet: `apply` lists their snapshots.
pub(crate) fn restore_sources(d: &Datasets, state: &State) -> Vec<String> {
    entries(d)
        .into_iter()
        .filter(|e| !state.exists(&e.name))
        .filter_map(|e| e.dataset.restore_from.clone())
        .collect()
}

/// Datasets whose `restore` sources `apply` must list (its record does not say it is done):
/// with `network`, all their sources; without, only the local replicas (the others are
/// [`Listing::NotAsked`]).
pub(crate) fn restore_listings_needed<'a>(d: &'a Datasets, facts: &Facts) -> Vec<Entry<'a>> {
    entries(d)
        .into_iter()
        .filter(|e| !e.dataset.restore.is_empty())
        .filter(|e| facts.only.as_ref().is_none_or(|o| *o == e.name))
        .filter(|e| {
            let c = restore::current(&facts.state, &e.name, true);
            matches!(c, Current::Missing | Current::Pending | Current::UnmarkedEmpty)
        })
        .collect()
}

/// The unit that restores an entry from network sources (the NixOS module generates it).
pub(crate) fn restore_unit(e: &Entry<'_>) -> String {
    let name = e.service.map_or_else(|| e.name.replace('/', "-"), str::to_string);
    format!("lethe-restore-{name}.service")
}

/// The declared properties of an entry, in `zfs get -p`'s form where it has one.
fn desired(e: &Entry<'_>) -> BTreeMap<String, String> {
    let mut props = e.dataset.properties.clone();
    if let Some(m) = &e.mountpoint {
        props.insert("mountpoint".into(), m.clone());
    }
    if let Some(r) = e.dataset.recordsize {
        props.insert("recordsize".into(), r.to_string());
    }
    if let Some(c) = &e.dataset.compression {
        props.insert("compression".into(), c.clone());
    }
    props
}

/// Bytes from `zfs`'s size spellings (`16K`, `1.5G`, `1048576`), for comparing with `-p`.
fn size_bytes(value: &str) -> Option<u64> {
    let v = value.trim();
    let split = v.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(v.len());
    let (number, unit) = v.split_at(split);
    let shift = match unit.to_ascii_uppercase().trim_end_matches("IB").trim_end_matches('B') {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        "P" => 50,
        "E" => 60,
        _ => return None,
    };
    let n: f64 = number.parse().ok()?;
    Some((n * (1u64 << shift) as f64).round() as u64)
}

/// A value in the form `zfs get -p` prints it, so `1M` and `1048576`, `gzip` and `gzip-6` are
/// the same value and never "drift".
pub(crate) fn normalize(property: &str, value: &str) -> String {
    let sized = [
        "recordsize",
        "quota",
        "refquota",
        "reservation",
        "refreservation",
        "special_small_blocks",
        "volblocksize",
    ];
    if sized.contains(&property) {
        if value == "none" {
            return "0".into();
        }
        return size_bytes(value).map_or_else(|| value.to_string(), |b| b.to_string());
    }
    let same = match (property, value) {
        ("compression", "gzip-6") => "gzip",
        ("compression", "zstd-3") => "zstd",
        ("compression", "zstd-fast-1") => "zstd-fast",
        ("acltype", "posixacl") => "posix",
        ("acltype", "noacl") => "off",
        ("encryption", "on") => "aes-256-gcm",
        ("filesystem_limit" | "snapshot_limit", "none") => "18446744073709551615",
        _ => value,
    };
    same.to_string()
}

fn note(property: &str) -> &'static str {
    match property {
        "recordsize" | "compression" | "checksum" | "copies" | "dedup" => "applies to new writes only",
        "mountpoint" => "remounts the dataset at the new place",
        _ => "",
    }
}

/// Where a migrated dataset is mounted while the data is copied in.
fn temporary_mount(dataset: &str) -> String {
    format!("/run/lethe/migrate/{}", dataset.replace('/', "_"))
}

/// desired × actual → steps. Datasets come in name order, so a parent is always created
/// before its children.
pub(crate) fn plan(d: &Datasets, facts: &Facts) -> Plan {
    let mut all = entries(d);
    if let Some(only) = &facts.only {
        all.retain(|e| e.name == *only);
    }
    let mut plan = Plan { declared: all.len(), ..Plan::default() };
    let state = &facts.state;
    let declared: BTreeSet<&str> = all.iter().map(|e| e.name.as_str()).collect();

    // Pools that are not imported: one error each, their datasets are left out.
    let missing_pools: BTreeSet<&str> =
        all.iter().map(|e| pool_of(&e.name)).filter(|p| !facts.pools.contains_key(*p)).collect();
    for pool in &missing_pools {
        plan.steps.push(Step::Error {
            dataset: pool.to_string(),
            message: format!(
                "pool {pool} is not imported (zpool list {pool} finds nothing); its datasets are left alone"
            ),
        });
    }
    for e in &all {
        refuse(e, facts, &mut plan.refused);
    }

    // Parents lethe makes to hold declared datasets: `mountpoint=none`, nothing else.
    let mut parents = BTreeSet::new();
    for e in all.iter().filter(|e| !missing_pools.contains(pool_of(&e.name))) {
        let mut name = e.name.as_str();
        while let Some((parent, _)) = name.rsplit_once('/') {
            if !state.exists(parent) && !declared.contains(parent) {
                parents.insert(parent.to_string());
            }
            name = parent;
        }
    }
    let mut by_name: BTreeMap<&str, Option<&Entry<'_>>> =
        parents.iter().map(|p| (p.as_str(), None)).collect();
    for e in all.iter().filter(|e| !missing_pools.contains(pool_of(&e.name))) {
        by_name.insert(&e.name, Some(e));
    }

    let mut own = Vec::new();
    let mut unmounted = Vec::new();
    for (name, entry) in by_name {
        let Some(e) = entry else {
            let properties = BTreeMap::from([("mountpoint".to_string(), "none".to_string())]);
            plan.steps.push(Step::Create { dataset: name.to_string(), properties, parent: true });
            continue;
        };
        let before = plan.steps.len();
        let restoring = restoring(e, facts);
        if let Some(current) = restoring.clone().filter(|c| *c != Current::Missing) {
            restore_existing(e, facts, current, &mut plan.steps);
        } else if state.exists(name) {
            existing(e, facts, &mut plan.steps);
            let mounted = state.get(name, "mounted").is_some_and(|p| p.value == "yes");
            let canmount = state.get(name, "canmount").is_none_or(|p| p.value == "on");
            if !mounted && canmount && e.mountpoint.as_deref().is_some_and(|m| m.starts_with('/')) {
                unmounted.push(name.to_string());
            }
        } else {
            missing(e, facts, &mut plan.steps);
        }
        let failed =
            plan.steps[before..].iter().any(|s| matches!(s, Step::Error { .. } | Step::Deferred { .. }));
        let has_owner = e.dataset.owner.is_some() || e.dataset.group.is_some() || e.dataset.mode.is_some();
        if let Some(path) = e.mountpoint.as_deref().filter(|m| m.starts_with('/') && has_owner && !failed) {
            own.push(Step::Own {
                dataset: name.to_string(),
                path: path.to_string(),
                owner: e.dataset.owner.clone(),
                group: e.dataset.group.clone(),
                mode: e.dataset.mode.clone(),
            });
        }
    }
    if !unmounted.is_empty() {
        plan.steps.push(Step::MountAll { datasets: unmounted });
    }
    plan.steps.extend(own);

    if let Some(parent) = d.parent_dataset.as_ref().filter(|_| facts.only.is_none()) {
        let prefix = format!("{parent}/");
        for name in state.datasets.keys() {
            let child = name.strip_prefix(&prefix).is_some_and(|rest| !rest.contains('/'));
            if child && !declared.contains(name.as_str()) {
                plan.steps.push(Step::Undeclared { dataset: name.clone() });
            }
        }
    }
    plan
}

/// Declared values the machine cannot take: refused before anything changes.
fn refuse(e: &Entry<'_>, facts: &Facts, refused: &mut Vec<String>) {
    let pool = facts.pools.get(pool_of(&e.name));
    if let (Some(c), Some(pool)) = (&e.dataset.compression, pool) {
        if c.starts_with("zstd") && (pool.zstd == "disabled" || pool.zstd == "-") {
            refused.push(format!(
                "{}.compression: {c} needs the pool feature zstd_compress, which pool {} has {}: run `zpool set feature@zstd_compress=enabled {}` (OpenZFS 2.0 or later)",
                e.config_path("datasets"),
                pool.name,
                pool.zstd,
                pool.name
            ));
        }
    }
    let Some(r) = e.dataset.recordsize else { return };
    let at = format!("{}.recordsize", e.config_path("datasets"));
    if r > 128 << 10 {
        if let Some(pool) = facts.pools.get(pool_of(&e.name)) {
            if pool.large_blocks == "disabled" || pool.large_blocks == "-" {
                refused.push(format!(
                    "{at}: {} needs the pool feature large_blocks, which pool {} has {}: run `zpool set feature@large_blocks=enabled {}`",
                    human(r),
                    pool.name,
                    pool.large_blocks,
                    pool.name
                ));
            }
        }
    }
    if let Some(max) = facts.max_recordsize.filter(|max| r > *max) {
        refused.push(format!(
            "{at}: {} is above the zfs module's zfs_max_recordsize ({}): set the module parameter zfs_max_recordsize={r} (boot.kernelParams \"zfs.zfs_max_recordsize={r}\")",
            human(r),
            human(max)
        ));
    }
}

fn human(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{}M", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{}K", b >> 10),
        b => b.to_string(),
    }
}

/// A declared dataset that does not exist: restore it, create it (migrating what its
/// mountpoint holds), or say why not.
fn missing(e: &Entry<'_>, facts: &Facts, steps: &mut Vec<Step>) {
    let name = e.name.clone();
    let mut properties = desired(e);
    let path = e.mountpoint.clone().filter(|m| m.starts_with('/'));
    let holds = path.as_ref().and_then(|p| facts.dirs.get(p)).filter(|u| u.files > 0).copied();
    if !e.dataset.restore.is_empty() {
        restore_steps(e, facts, &Current::Missing, holds.map(|u| u.files), steps);
        return;
    }
    if let Some(source) = &e.dataset.restore_from {
        let newest = facts.snapshots.get(source).and_then(|s| s.last());
        match (newest, holds) {
            (Some(snapshot), None) => {
                steps.push(Step::Restore { dataset: name, snapshot: snapshot.clone(), properties });
            }
            (Some(_), Some(u)) => steps.push(Step::Error {
                dataset: name,
                message: format!(
                    "{} holds {} files and restoreFrom is set: lethe would hide them under the restored dataset; move them away first",
                    path.unwrap_or_default(),
                    u.files
                ),
            }),
            (None, _) => steps.push(Step::Error {
                dataset: name,
                message: format!("restoreFrom {source}: no snapshot to restore (or no such dataset); nothing is created, so a later boot can still restore"),
            }),
        }
        return;
    }
    match (path, holds) {
        (Some(from), Some(u)) => {
            let temporary = temporary_mount(&name);
            properties.insert("mountpoint".into(), temporary.clone());
            properties.insert(MIGRATION_PROPERTY.into(), format!("pending:{from}"));
            steps.push(Step::Create { dataset: name.clone(), properties, parent: false });
            let renamed = format!("{from}.lethe-migrated.{}", facts.now);
            steps.push(Step::Migrate {
                dataset: name,
                from,
                temporary,
                renamed,
                files: u.files,
                bytes: u.bytes,
            });
        }
        _ => steps.push(Step::Create { dataset: name, properties, parent: false }),
    }
}

/// The record of an entry with `restore` whose restore is still to do (or under way), or None.
fn restoring(e: &Entry<'_>, facts: &Facts) -> Option<Current> {
    if e.dataset.restore.is_empty() {
        return None;
    }
    let c = restore::current(&facts.state, &e.name, facts.empty.contains(&e.name));
    matches!(c, Current::Missing | Current::Pending | Current::UnmarkedEmpty | Current::Foreign(_))
        .then_some(c)
}

/// An existing dataset whose restore is to do: an interrupted one (lethe's partial dataset is
/// discarded first), an empty one never restored (set aside, kept), or a record lethe did not
/// write (an error).
fn restore_existing(e: &Entry<'_>, facts: &Facts, current: Current, steps: &mut Vec<Step>) {
    let decision = restore::decide(&e.dataset.restore, listings(e, facts), &current);
    if matches!(decision, Decision::Nothing | Decision::Defer | Decision::Fail(_)) {
        // Nothing is changed before the sources have been asked.
        return restore_steps(e, facts, &current, None, steps);
    }
    match current {
        Current::Pending => steps.push(Step::Discard { dataset: e.name.clone() }),
        Current::UnmarkedEmpty => steps.push(Step::SetAside {
            dataset: e.name.clone(),
            renamed: format!("{}-lethe-empty-{}", e.name, facts.now.replace(':', "-")),
        }),
        _ => {}
    }
    restore_steps(e, facts, &current, None, steps);
}

fn listings<'f>(e: &Entry<'_>, facts: &'f Facts) -> &'f [Listing] {
    facts.listings.get(&e.name).map_or(&[], Vec::as_slice)
}

/// The steps of a restore decision for a dataset that does not exist (or is about to be
/// discarded or set aside). `holds`: entries at its mountpoint, which it would hide.
fn restore_steps(e: &Entry<'_>, facts: &Facts, current: &Current, holds: Option<u64>, steps: &mut Vec<Step>) {
    let dataset = e.name.clone();
    let decision = restore::decide(&e.dataset.restore, listings(e, facts), current);
    let mut properties = desired(e);
    let place = e.mountpoint.clone().filter(|m| m.starts_with('/'));
    if let (Some(files), Decision::From { .. } | Decision::Fresh) = (holds, &decision) {
        steps.push(Step::Error {
            dataset,
            message: format!(
                "{} holds {files} files and restore is set: lethe would hide them under the restored dataset; move them away first",
                place.unwrap_or_default()
            ),
        });
        return;
    }
    match decision {
        Decision::Nothing => {}
        Decision::Defer => steps.push(Step::Deferred { dataset, unit: restore_unit(e) }),
        Decision::Fail(message) => steps.push(Step::Error { dataset, message }),
        Decision::Fresh => {
            properties.insert(RESTORE_PROPERTY.into(), "done:none".into());
            steps.push(Step::Create { dataset, properties, parent: false });
        }
        Decision::From { source, what } => {
            let s = &e.dataset.restore[source];
            match &s.from {
                RestoreFrom::Replica { ssh, ssh_key, .. } => steps.push(Step::Receive {
                    dataset,
                    source: s.name.clone(),
                    snapshot: what,
                    ssh: ssh.clone(),
                    ssh_key: ssh_key.clone(),
                    properties,
                }),
                RestoreFrom::Restic { restic } => {
                    let temporary = format!("/run/lethe/restore/{}", e.name.replace('/', "_"));
                    let mountpoint = properties.get("mountpoint").cloned().unwrap_or_else(|| "none".into());
                    properties.insert("mountpoint".into(), temporary.clone());
                    properties.insert(RESTORE_PROPERTY.into(), format!("pending:{}", s.name));
                    steps.push(Step::Restic {
                        dataset,
                        source: s.name.clone(),
                        snapshot: what,
                        restic: restic.clone(),
                        temporary,
                        mountpoint,
                        properties,
                    });
                }
            }
        }
    }
}

/// The directory an interrupted migration of `e` still has to move, from lethe's record on the
/// dataset (`pending:DIR`, set with `zfs create -o`); `Err` when the record is not one lethe
/// wrote for this config. A user property can be set by anyone `zfs allow`ed to and is
/// inherited by children, so it only confirms what the config says: DIR must be the declared
/// mountpoint, set on the dataset itself.
fn pending_migration(e: &Entry<'_>, state: &State) -> Result<Option<String>, String> {
    let Some(record) = state.get(&e.name, MIGRATION_PROPERTY) else { return Ok(None) };
    let Some(from) = record.value.strip_prefix("pending:") else { return Ok(None) };
    let declared = e.mountpoint.as_deref().filter(|m| m.starts_with('/'));
    if record.source == Source::Local && declared == Some(from) {
        return Ok(Some(from.to_string()));
    }
    let why = if record.source != Source::Local {
        format!("not set on the dataset itself ({})", record.source.describe())
    } else {
        format!("the config names mountpoint {}", declared.unwrap_or("none"))
    };
    Err(format!(
        "{MIGRATION_PROPERTY} is {:?}, but {why}: lethe did not write it, so nothing is migrated; \
         if no migration of this dataset is under way, run `zfs inherit {MIGRATION_PROPERTY} {}`",
        record.value,
        match &record.source {
            Source::Inherited(from) => from,
            _ => &e.name,
        }
    ))
}

/// A declared dataset that exists: finish an interrupted migration, then compare each managed
/// property by normalized value and by source.
fn existing(e: &Entry<'_>, facts: &Facts, steps: &mut Vec<Step>) {
    let name = &e.name;
    let state = &facts.state;
    let mut want = desired(e);
    let from = match pending_migration(e, state) {
        Ok(from) => from,
        Err(message) => {
            steps.push(Step::Error { dataset: name.clone(), message });
            return;
        }
    };
    if let Some(from) = from.as_deref() {
        let temporary = state.get(name, "mountpoint").map(|p| p.value.clone()).unwrap_or_default();
        let u = facts.dirs.get(from).copied().unwrap_or_default();
        let renamed = format!("{from}.lethe-migrated.{}", facts.now);
        steps.push(Step::Migrate {
            dataset: name.clone(),
            from: from.to_string(),
            temporary,
            renamed,
            files: u.files,
            bytes: u.bytes,
        });
        // The migration mounts it at its place; the remaining properties are compared below.
        want.remove("mountpoint");
    }
    for (property, value) in &want {
        let actual = state.get(name, property);
        let Some(Property { value: now, source }) = actual else {
            steps.push(Step::Error {
                dataset: name.clone(),
                message: format!("zfs get did not list {property} (not a property of this OpenZFS?)"),
            });
            continue;
        };
        if normalize(property, now) == normalize(property, value) {
            continue; // right already, wherever the value comes from
        }
        if CREATE_ONLY.contains(&property.as_str()) {
            steps.push(Step::Error { dataset: name.clone(), message: create_only(e, property, value, now) });
            continue;
        }
        if matches!(source, Source::Temporary | Source::Received) {
            steps.push(Step::Keep {
                dataset: name.clone(),
                property: property.clone(),
                value: now.clone(),
                source: source.describe(),
                declared: value.clone(),
            });
            continue;
        }
        if property == "mountpoint" {
            if let Some(u) = facts.dirs.get(value).filter(|u| u.files > 0) {
                steps.push(Step::Error {
                    dataset: name.clone(),
                    message: format!(
                        "mountpoint {value} holds {} files that the dataset would hide (it is mounted at {now}); move them away or into the dataset first",
                        u.files
                    ),
                });
                continue;
            }
        }
        steps.push(Step::Set {
            dataset: name.clone(),
            property: property.clone(),
            value: value.clone(),
            was: now.clone(),
            source: source.describe(),
            note: note(property).to_string(),
        });
    }
}

fn create_only(e: &Entry<'_>, property: &str, value: &str, now: &str) -> String {
    let name = &e.name;
    let mount = e.mountpoint.as_deref().unwrap_or("<mountpoint>");
    format!(
        "{property} is {now}, declared {value}: ZFS sets {property} only when a dataset is created; \
         to migrate, stop the service and run: zfs create -o {property}={value} -o mountpoint={mount}.new {name}.new && \
         rsync -aHAX {mount}/ {mount}.new/ && zfs set mountpoint=none {name} && zfs rename {name} {name}.old && \
         zfs rename {name}.new {name} && zfs set mountpoint={mount} {name} (then check, and zfs destroy -r {name}.old)"
    )
}

#[cfg(test)]
mod tests;
