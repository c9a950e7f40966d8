//! `datasets`: ZFS datasets stage 2 creates and keeps right, one per service below a parent
//! (`<parentDataset>/<name>`, mounted at `<parentMount>/<name>` unless it names a `mountpoint`),
//! plus full-name entries (`"rpool/other/x": {...}`) for datasets outside the parent: every key
//! that contains `/` is a dataset name, the reserved keys have none.
//!
//! Everything that can be checked without the machine is checked here, before any change:
//! dataset names by ZFS's rules, recordsize, compression, property names, mountpoints.

use super::owner::{mode, user_name};
use super::reader::{error, At, Result};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Datasets {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_dataset: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_mount: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub services: BTreeMap<String, Service>,
    /// Full-name entries, written back as keys of the same object.
    #[serde(flatten)]
    pub others: BTreeMap<String, Dataset>,
}

/// A persisted directory's own dataset (`persistence.<store>.directories[i].dataset`): a
/// `persist: true` service whose mountpoint is the directory, named after its last component
/// unless `name` says otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PersistedDataset {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(flatten)]
    pub dataset: Dataset,
}

/// One service's dataset: `<parentDataset>/<name>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    #[serde(flatten)]
    pub dataset: Dataset,
    /// The data lives inside the persistence store `parentMount`: the dataset is mounted at
    /// `<parentMount><mountpoint>` (e.g. `/persist/var/lib/postgresql`), where impermanence's
    /// store keeps `mountpoint`, and the persist step binds it to `mountpoint`.
    pub persist: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Dataset {
    /// An absolute path, `"none"` or `"legacy"`; absent = the default (service: under
    /// `parentMount`; full-name entry: inherited).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mountpoint: Option<String>,
    /// Bytes: a power of two from 512 to 16M.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recordsize: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compression: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Any other ZFS property (native names in their long form: `compress` is read as
    /// `compression`), given to `zfs create -o` and kept by `zfs set`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub properties: BTreeMap<String, String>,
    /// A dataset (e.g. a replica syncoid keeps on a local pool) whose newest snapshot is
    /// received when this dataset does not exist yet, instead of creating it empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restore_from: Option<String>,
    /// Where to restore from when the dataset is missing (or empty and never restored), in
    /// order of preference: the first source that has data is used (`zfs::restore`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub restore: Vec<RestoreSource>,
}

/// One place a dataset can be restored from: a replica (a dataset on a local pool, or on a
/// host reached over SSH) or a restic repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreSource {
    /// The name the host gave it (a replica or repository of the NixOS module), for messages.
    pub name: String,
    #[serde(flatten)]
    pub from: RestoreFrom,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum RestoreFrom {
    /// `{"replica": "backup/forge/sonarr"}`, with `"ssh": "user@host"` (and `"sshKey"`) when
    /// the dataset is on another host.
    Replica {
        replica: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        ssh: Option<String>,
        #[serde(rename = "sshKey", skip_serializing_if = "Option::is_none")]
        ssh_key: Option<String>,
    },
    /// `{"restic": {...}}`: the latest snapshot of `paths` in a restic repository.
    Restic { restic: Restic },
}

impl RestoreSource {
    /// Sources reached over the network run after `network-online.target`, in the dataset's
    /// own restore unit, never in the boot's `lethe datasets`.
    pub fn is_remote(&self) -> bool {
        !matches!(&self.from, RestoreFrom::Replica { ssh: None, .. })
    }
}

/// A restic repository and what a backup job of lethe's stores in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Restic {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repository_file: Option<String>,
    pub password_file: String,
    /// Where the backup job mounted the dataset's snapshot: the snapshots hold paths below it,
    /// and what is below it goes to the dataset's root.
    pub root: String,
    /// The paths the job backs up (`--path` filters of `latest`).
    pub paths: Vec<String>,
}

const RESERVED: &[&str] = &["parentDataset", "parentMount", "services"];
const FIELDS: &[&str] = &[
    "mountpoint",
    "recordsize",
    "compression",
    "owner",
    "group",
    "mode",
    "properties",
    "restoreFrom",
    "restore",
];
const COMPRESSION: &[&str] =
    &["on", "off", "lz4", "zstd", "zstd-fast", "gzip", "gzip-1", "gzip-9", "lzjb", "zle"];

/// Native properties a user may set, as OpenZFS 2.1 and 2.2 know them (`zfs get all`, Linux).
/// `mountpoint`, `recordsize` and `compression` are fields of their own.
pub const NATIVE: &[&str] = &[
    "aclinherit",
    "aclmode",
    "acltype",
    "atime",
    "canmount",
    "casesensitivity",
    "checksum",
    "context",
    "copies",
    "dedup",
    "defcontext",
    "devices",
    "dnodesize",
    "encryption",
    "exec",
    "filesystem_limit",
    "fscontext",
    "keyformat",
    "keylocation",
    "logbias",
    "mlslabel",
    "nbmand",
    "normalization",
    "overlay",
    "pbkdf2iters",
    "prefetch",
    "primarycache",
    "quota",
    "readonly",
    "redundant_metadata",
    "refquota",
    "refreservation",
    "relatime",
    "reservation",
    "rootcontext",
    "secondarycache",
    "setuid",
    "sharenfs",
    "sharesmb",
    "snapdev",
    "snapdir",
    "snapshot_limit",
    "special_small_blocks",
    "sync",
    "utf8only",
    "version",
    "volmode",
    "vscan",
    "xattr",
    "zoned",
];

/// Short names `zfs` accepts; `zfs get` prints the long one, so configs are kept in that form.
const ALIASES: &[(&str, &str)] = &[
    ("recsize", "recordsize"),
    ("compress", "compression"),
    ("dnsize", "dnodesize"),
    ("refreserv", "refreservation"),
    ("reserv", "reservation"),
];

/// Native properties `zfs set` refuses (statistics and the like): a clear error beats zfs's.
const READ_ONLY: &[&str] = &[
    "available",
    "avail",
    "compressratio",
    "createtxg",
    "creation",
    "clones",
    "defer_destroy",
    "encryptionroot",
    "filesystem_count",
    "guid",
    "keystatus",
    "logicalreferenced",
    "logicalused",
    "mounted",
    "objsetid",
    "origin",
    "receive_resume_token",
    "redact_snaps",
    "referenced",
    "refcompressratio",
    "snapshot_count",
    "snapshots_changed",
    "type",
    "used",
    "usedbychildren",
    "usedbydataset",
    "usedbyrefreservation",
    "usedbysnapshots",
    "userrefs",
    "written",
    "volsize",
    "volblocksize",
];

/// ZFS's limit on a full dataset name (ZFS_MAX_DATASET_NAME_LEN, terminator included).
const MAX_NAME: usize = 255;

/// `131072`, `"128K"`, `"1M"`: a power of two from 512 bytes to 16 MiB, as ZFS allows.
fn recordsize(at: At<'_>) -> Result<u64> {
    let bytes = match at.value {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => {
            let s = s.trim();
            let (digits, unit) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
                Some((i, _)) => s.split_at(i),
                None => (s, ""),
            };
            let shift = match unit.to_ascii_uppercase().as_str() {
                "" | "B" => Some(0),
                "K" | "KB" | "KIB" => Some(10),
                "M" | "MB" | "MIB" => Some(20),
                _ => None,
            };
            shift.and_then(|shift| digits.parse::<u64>().ok().and_then(|d| d.checked_shl(shift)))
        }
        _ => None,
    };
    match bytes {
        Some(b) if b.is_power_of_two() && (512..=16 << 20).contains(&b) => Ok(b),
        _ => at.expected("a power of two from 512 to 16M (like \"128K\")"),
    }
}

fn mountpoint(at: At<'_>) -> Result<String> {
    let s = at.string()?;
    if s == "none" || s == "legacy" {
        Ok(s)
    } else if s == "/" {
        at.expected("a mountpoint other than / (lethe mounts service data, not the root)")
    } else {
        // zfs prints mountpoints without a trailing slash; keep the config in that form.
        at.abs_path().map(|p| p.display().to_string().trim_end_matches('/').to_string())
    }
}

/// Whether OpenZFS 2.1/2.2 knows this compression value.
pub fn compression_known(s: &str) -> bool {
    let level = |prefix: &str, ok: &dyn Fn(u16) -> bool| {
        s.strip_prefix(prefix).and_then(|l| l.parse::<u16>().ok()).is_some_and(ok)
    };
    COMPRESSION.contains(&s)
        || level("zstd-fast-", &|l| {
            (1..=10).contains(&l) || (l % 10 == 0 && (20..=100).contains(&l)) || l == 500 || l == 1000
        })
        || level("zstd-", &|l| (1..=19).contains(&l))
        || level("gzip-", &|l| (1..=9).contains(&l))
}

fn compression(at: At<'_>) -> Result<String> {
    let s = at.string()?;
    if compression_known(&s) {
        Ok(s)
    } else {
        at.expected(&format!("a ZFS compression ({}, zstd-N, zstd-fast-N, gzip-N)", COMPRESSION.join(", ")))
    }
}

/// Why `name` is not a ZFS dataset name (zfs_namecheck's rules), or None when it is one.
pub fn name_problem(name: &str) -> Option<String> {
    if name.len() > MAX_NAME {
        return Some(format!("longer than ZFS's {MAX_NAME} bytes"));
    }
    if let Some(c) = name.chars().find(|c| "@#%".contains(*c)) {
        return Some(format!("{c:?} is for snapshots and bookmarks, not in a dataset name"));
    }
    for component in name.split('/') {
        if component.is_empty() {
            return Some("empty component (leading, trailing or double /)".into());
        }
        if component == "." || component == ".." {
            return Some(format!("component {component:?} is not allowed"));
        }
        if let Some(c) = component.chars().find(|c| !(c.is_ascii_alphanumeric() || "_-.: ".contains(*c))) {
            return Some(format!("character {c:?} is not allowed (letters, digits, _ - . : and space)"));
        }
    }
    let pool = name.split('/').next().unwrap_or_default();
    if !pool.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Some(format!("the pool name {pool:?} must start with a letter"));
    }
    let reserved = ["mirror", "raidz", "draid", "spare", "log"];
    if reserved.iter().any(|r| pool.starts_with(r))
        || (pool.starts_with('c') && pool[1..].starts_with(|c: char| c.is_ascii_digit()))
    {
        return Some(format!("the pool name {pool:?} is reserved by ZFS"));
    }
    None
}

fn dataset_name(at: At<'_>) -> Result<String> {
    let s = at.string()?;
    match name_problem(&s) {
        None => Ok(s),
        Some(why) => at.expected(&format!("a ZFS dataset name like \"tank/services\" ({why})")),
    }
}

/// A property name `zfs set` accepts: a native one, or a user property `module:name`.
fn property_name(key: &str) -> std::result::Result<String, String> {
    let canonical = ALIASES.iter().find(|(short, _)| *short == key).map_or(key, |(_, long)| long);
    if ["mountpoint", "recordsize", "compression"].contains(&canonical) {
        return Err(format!(
            "{canonical} has its own field: write \"{canonical}\": ... beside \"properties\""
        ));
    }
    if NATIVE.contains(&canonical) {
        return Ok(canonical.to_string());
    }
    if READ_ONLY.contains(&canonical) {
        return Err(format!("{canonical} is read-only (zfs set refuses it)"));
    }
    if key.contains(':') {
        let ok = key.len() <= 256
            && !key.starts_with(':')
            && key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || ":-._".contains(c));
        if !ok {
            return Err("a user property is lowercase letters, digits and : - . _, at most 256 bytes".into());
        }
        if key.starts_with("lethe:") {
            return Err("lethe: properties are lethe's own records".into());
        }
        return Ok(key.to_string());
    }
    Err("unknown ZFS property: not a native property of OpenZFS 2.1/2.2, and a user property needs a colon (like \"backup:policy\")".into())
}

fn properties(at: At<'_>) -> Result<BTreeMap<String, String>> {
    let map = at.map()?;
    let pairs = map.each(|k, p| {
        let name = property_name(k).map_err(|why| error(p.path, why))?;
        let value = p.nonempty_string()?;
        if value.len() > 8191 || value.contains(['\n', '\t']) {
            return p.expected("a property value on one line, at most 8191 bytes");
        }
        Ok((name, value))
    })?;
    let mut out = BTreeMap::new();
    for (name, value) in pairs {
        if out.insert(name.clone(), value).is_some() {
            return Err(error(&map.path, format!("{name} is given twice (once by its short name)")));
        }
    }
    Ok(out)
}

fn dataset(at: At<'_>, fields: &[&str]) -> Result<Dataset> {
    let obj = at.object_of(fields)?;
    Ok(Dataset {
        mountpoint: obj.optional("mountpoint", mountpoint)?,
        recordsize: obj.optional("recordsize", recordsize)?,
        compression: obj.optional("compression", compression)?,
        owner: obj.optional("owner", user_name)?,
        group: obj.optional("group", user_name)?,
        mode: obj.optional("mode", mode)?,
        properties: obj.optional("properties", properties)?.unwrap_or_default(),
        restore_from: obj.optional("restoreFrom", dataset_name)?,
        restore: obj.optional("restore", restore_sources)?.unwrap_or_default(),
    })
}

/// A file lethe reads a secret from: an absolute path outside the Nix store (world-readable).
fn secret_path(at: At<'_>) -> Result<String> {
    let p = at.abs_path()?.display().to_string();
    if p.starts_with("/nix/store/") {
        return at.expected("a file outside the Nix store (secrets there are world-readable)");
    }
    Ok(p)
}

fn restic(at: At<'_>) -> Result<Restic> {
    let obj = at.object_of(&["repository", "repositoryFile", "passwordFile", "root", "paths"])?;
    let r = Restic {
        repository: obj.optional("repository", |v| v.nonempty_string())?,
        repository_file: obj.optional("repositoryFile", secret_path)?,
        password_file: obj.required("passwordFile", secret_path)?,
        root: obj.required("root", |v| v.abs_path().map(|p| p.display().to_string()))?,
        paths: obj.required("paths", |v| v.list(|p| p.abs_path().map(|p| p.display().to_string())))?,
    };
    if r.repository.is_some() == r.repository_file.is_some() {
        return Err(error(&obj.path, "expected exactly one of repository and repositoryFile"));
    }
    if r.paths.is_empty() {
        return Err(error(
            &obj.child_path("paths"),
            "expected at least one path (what the backup job stores)",
        ));
    }
    if let Some(p) = r.paths.iter().find(|p| **p != r.root && !p.starts_with(&format!("{}/", r.root))) {
        return Err(error(&obj.child_path("paths"), format!("{p} is not below root {}", r.root)));
    }
    Ok(r)
}

fn restore_source(at: At<'_>) -> Result<RestoreSource> {
    let obj = at.object_of(&["name", "replica", "ssh", "sshKey", "restic"])?;
    let name = obj.required("name", |v| v.nonempty_string())?;
    let replica = obj.optional("replica", dataset_name)?;
    let ssh = obj.optional("ssh", |v| {
        let s = v.nonempty_string()?;
        if s.starts_with('-') || s.contains(char::is_whitespace) {
            return v.expected("user@host (no spaces, not starting with -)");
        }
        Ok(s)
    })?;
    let ssh_key = obj.optional("sshKey", secret_path)?;
    let restic = obj.optional("restic", restic)?;
    let from = match (replica, restic) {
        (Some(replica), None) => {
            if ssh_key.is_some() && ssh.is_none() {
                return Err(error(&obj.child_path("sshKey"), "sshKey needs ssh (user@host)"));
            }
            RestoreFrom::Replica { replica, ssh, ssh_key }
        }
        (None, Some(r)) => {
            if let Some(k) = ["ssh", "sshKey"].into_iter().find(|k| obj.get(k).is_some()) {
                return Err(error(
                    &obj.child_path(k),
                    "only a replica is reached over ssh (restic has its repository)",
                ));
            }
            RestoreFrom::Restic { restic: r }
        }
        _ => return Err(error(&obj.path, "expected exactly one of replica and restic")),
    };
    Ok(RestoreSource { name, from })
}

fn restore_sources(at: At<'_>) -> Result<Vec<RestoreSource>> {
    let list = at.list(restore_source)?;
    for (i, s) in list.iter().enumerate() {
        if let Some(j) = list[..i].iter().position(|t| t.name == s.name) {
            return Err(error(
                &format!("{}[{i}].name", at.path),
                format!("{} is also {}[{j}]", s.name, at.path),
            ));
        }
    }
    Ok(list)
}

/// Whether `name` can be one component of a dataset name, below the parent.
pub fn is_component(name: &str) -> bool {
    !name.is_empty() && !name.contains('/') && name_problem(&format!("p/{name}")).is_none()
}

/// A service's fields but `mountpoint` (the directory), `persist` (implied) and the owner and
/// mode (the directory entry's own `user`, `group`, `mode`: `lethe persist` converges those on
/// the same directory, so a second owner would fight it every boot), plus `name`.
const PERSISTED_FIELDS: &[&str] = &["name", "recordsize", "compression", "properties", "restoreFrom"];

pub fn persisted(at: At<'_>) -> Result<PersistedDataset> {
    let dataset = dataset(at, PERSISTED_FIELDS)?;
    let name = at.map()?.optional("name", |v| {
        let s = v.string()?;
        if is_component(&s) {
            Ok(s)
        } else {
            v.expected("one dataset name component (letters, digits, _ - . :), like \"postgresql\"")
        }
    })?;
    Ok(PersistedDataset { name, dataset })
}

fn service(name: &str, at: At<'_>) -> Result<Service> {
    if !is_component(name) {
        return Err(error(
            at.path,
            "expected the key to be one dataset name component (letters, digits, _ - . :), like \"sonarr\"",
        ));
    }
    // A service takes a dataset's fields and `persist`.
    let fields: Vec<&str> = FIELDS.iter().copied().chain(["persist"]).collect();
    let dataset = dataset(at, &fields)?;
    let obj = at.map()?;
    let persist = obj.optional("persist", |v| v.bool())?.unwrap_or(false);
    if persist && !dataset.mountpoint.as_deref().is_some_and(|m| m.starts_with('/')) {
        return Err(error(
            &obj.child_path("persist"),
            "persist: true needs a \"mountpoint\" path: the directory the service uses, which the persistence store keeps",
        ));
    }
    Ok(Service { dataset, persist })
}

pub fn read(at: At<'_>) -> Result<Datasets> {
    let obj = at.map()?;
    let mut out = Datasets {
        parent_dataset: obj.optional("parentDataset", dataset_name)?,
        parent_mount: obj
            .optional("parentMount", |v| v.abs_path().map(|p| p.display().to_string()))?
            .map(|m| m.trim_end_matches('/').to_string()),
        ..Datasets::default()
    };
    if let Some(services) = obj.optional("services", |v| {
        let map = v.map()?;
        map.each(|name, s| Ok((name.to_string(), service(name, s)?)))
    })? {
        out.services = services.into_iter().collect();
    }
    let others = obj.each(|name, v| {
        if RESERVED.contains(&name) {
            return Ok(None);
        }
        if !name.contains('/') {
            return Err(error(
                v.path,
                format!(
                    "expected {} or a dataset name below a pool, like \"rpool/services/postgres\"",
                    RESERVED.join(", ")
                ),
            ));
        }
        if let Some(why) = name_problem(name) {
            return Err(error(v.path, format!("not a ZFS dataset name: {why}")));
        }
        Ok(Some((name.to_string(), dataset(v, FIELDS)?)))
    })?;
    out.others = others.into_iter().flatten().collect();
    check_whole(&out, &obj.path)?;
    Ok(out)
}

/// Checks across entries: the parent fields the services need, one entry per dataset, one
/// dataset per mountpoint.
pub fn check_whole(d: &Datasets, path: &str) -> Result<()> {
    let at = |key: &str| if path.is_empty() { key.to_string() } else { format!("{path}.{key}") };
    if !d.services.is_empty() && d.parent_dataset.is_none() {
        return Err(error(
            &at("services"),
            "services need datasets.parentDataset (their datasets are <parentDataset>/<name>)",
        ));
    }
    let needs_mount = d.services.values().any(|s| s.persist || s.dataset.mountpoint.is_none());
    if needs_mount && d.parent_mount.is_none() {
        return Err(error(
            &at("services"),
            "a service without \"mountpoint\" (or with persist: true) needs datasets.parentMount",
        ));
    }
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    let mut mounts: BTreeMap<String, String> = BTreeMap::new();
    for entry in entries(d) {
        let where_ = entry.config_path(path);
        if let Some(first) = names.insert(entry.name.clone(), where_.clone()) {
            return Err(error(&where_, format!("dataset {} is also declared at {first}", entry.name)));
        }
        if let Some(m) = entry.mountpoint.as_deref().filter(|m| m.starts_with('/')) {
            if let Some(first) = mounts.insert(m.to_string(), where_.clone()) {
                return Err(error(&where_, format!("mountpoint {m} is also the mountpoint of {first}")));
            }
        }
        if entry.dataset.restore_from.as_deref() == Some(entry.name.as_str()) {
            return Err(error(&where_, "restoreFrom names the dataset itself"));
        }
        if entry.dataset.restore_from.is_some() && !entry.dataset.restore.is_empty() {
            return Err(error(
                &format!("{where_}.restore"),
                "restore and restoreFrom both given: restoreFrom is the older one-replica form; list that replica in restore instead",
            ));
        }
        for (i, s) in entry.dataset.restore.iter().enumerate() {
            if matches!(&s.from, RestoreFrom::Replica { replica, ssh: None, .. } if *replica == entry.name) {
                return Err(error(&format!("{where_}.restore[{i}].replica"), "names the dataset itself"));
            }
        }
    }
    Ok(())
}

/// One declared dataset with its full name and the mountpoint ZFS is to have (services'
/// defaults filled in): what the plan works from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<'a> {
    pub name: String,
    /// `Some` = managed; `None` = inherited, not touched.
    pub mountpoint: Option<String>,
    pub dataset: &'a Dataset,
    /// The service's key, or None for a full-name entry.
    pub service: Option<&'a str>,
}

impl Entry<'_> {
    /// Where the entry is in the config, for messages: `datasets.services.sonarr`.
    pub fn config_path(&self, base: &str) -> String {
        let base = if base.is_empty() { "datasets" } else { base };
        let key = |k: &str| {
            if k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                format!(".{k}")
            } else {
                format!(".{k:?}")
            }
        };
        match self.service {
            Some(s) => format!("{base}.services{}", key(s)),
            None => format!("{base}{}", key(&self.name)),
        }
    }
}

/// Every declared dataset, services first (in name order), then the full-name entries.
pub fn entries(d: &Datasets) -> Vec<Entry<'_>> {
    let mut out = Vec::new();
    if let Some(parent) = &d.parent_dataset {
        for (name, s) in &d.services {
            let under_parent = || d.parent_mount.as_ref().map(|m| format!("{m}/{name}"));
            let mountpoint = match (&s.dataset.mountpoint, s.persist) {
                (Some(m), true) => d.parent_mount.as_ref().map(|p| format!("{p}{m}")),
                (Some(m), false) => Some(m.clone()),
                (None, _) => under_parent(),
            };
            out.push(Entry {
                name: format!("{parent}/{name}"),
                mountpoint,
                dataset: &s.dataset,
                service: Some(name),
            });
        }
    }
    for (name, ds) in &d.others {
        out.push(Entry { name: name.clone(), mountpoint: ds.mountpoint.clone(), dataset: ds, service: None });
    }
    out
}
