//! `persistence`: what is bind-mounted from persistent storage, in the shape of impermanence's
//! `environment.persistence` (keyed by the store, e.g. `"/persist"`), so a NixOS user can paste
//! that value as JSON unchanged. lethe's additions on an entry: `inInitrd`, `neededBy`, and
//! `user`/`group`/`mode` on files (used when `method: "bind"` creates an empty source).
//!
//! Conflicts between entries (the same path twice, an entry under `/proc` or `/nix`, an entry
//! that contains a store) are found here, so `check-config` names both places before a boot.

use super::datasets::{self, PersistedDataset};
use super::owner::{file_mode, mode, user_name};
use super::reader::{error, At, Object, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub type Persistence = BTreeMap<PathBuf, Store>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Store {
    /// `false` turns the whole store off (impermanence's `enable`).
    pub enable: bool,
    /// Where the data lives; the key by default.
    pub persistent_storage_path: PathBuf,
    /// Mark the bind mounts `x-gvfs-hide` so file managers do not list them.
    pub hide_mounts: bool,
    pub directories: Vec<Directory>,
    pub files: Vec<File>,
    pub users: BTreeMap<String, User>,
    /// Accepted as impermanence has them; lethe's output does not depend on them.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub enable_debugging: bool,
    pub enable_warnings: bool,
}

/// `users.<name>`: entries relative to the user's home, owned by the user by default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub home: PathBuf,
    pub directories: Vec<Directory>,
    pub files: Vec<File>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Directory {
    /// Absolute at the top level; relative to the home below `users` (a leading `/` there is
    /// ignored, as impermanence joins the two).
    pub directory: PathBuf,
    #[serde(flatten)]
    pub owner: Owner,
    /// Overrides the store's `hideMounts` for this entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hide_mount: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub persistent_storage_path: Option<PathBuf>,
    #[serde(flatten)]
    pub when: When,
    /// lethe's addition (top level only): the directory is its own ZFS dataset, a
    /// `persist: true` service of `datasets` (see `config::persisted`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset: Option<PersistedDataset>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct File {
    pub file: PathBuf,
    /// Owner and mode of the file's parent directories when lethe has to create them.
    pub parent_directory: Owner,
    /// Owner and mode of the file itself (lethe's addition): applied on every run when given;
    /// when absent, an existing file is left as it is and one lethe creates (`method: "bind"`,
    /// the `uninitialized` machine-id) gets the parent's owner and mode 0644 (machine-id 0444).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,
    pub method: Method,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub persistent_storage_path: Option<PathBuf>,
    #[serde(flatten)]
    pub when: When,
}

/// lethe's additions: when an entry must be in place.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct When {
    /// Applied by stage 1 to the new root right before the hand-off (machine-id, host keys).
    pub in_initrd: bool,
    /// Units that must not start before this entry is mounted.
    pub needed_by: Vec<String>,
}

/// How a persisted file appears at its target (impermanence's `method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Method {
    /// Bind-mount when the source exists, else a symlink into the store.
    Auto,
    /// Create the source empty if missing, then bind-mount it.
    Bind,
    Symlink,
}

/// Who owns a persisted path, and its mode, when lethe has to create it. `group: None` (only
/// below `users`) is the user's primary group, looked up in the live `/etc/passwd`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Owner {
    pub user: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    pub mode: String,
}

impl Owner {
    fn root(mode: &str) -> Owner {
        Owner { user: "root".into(), group: Some("root".into()), mode: mode.into() }
    }
}

/// A path inside a home: relative (or `/`-led, which impermanence joins the same way), no `..`.
fn home_path(at: At<'_>) -> Result<PathBuf> {
    match at.value {
        serde_json::Value::String(s)
            if !s.trim_matches('/').is_empty() && !s.split('/').any(|c| c == "..") =>
        {
            Ok(PathBuf::from(s.trim_start_matches('/')))
        }
        _ => at.expected("a path inside the home (like \".ssh\"), without .."),
    }
}

/// A path of an entry: absolute at the top level, relative to the home below `users`.
fn entry_path(at: At<'_>, in_home: bool) -> Result<PathBuf> {
    if in_home {
        home_path(at)
    } else {
        at.abs_path()
    }
}

/// `"foo.service"`: a unit name as systemd accepts it.
fn unit_name(at: At<'_>) -> Result<String> {
    let s = at.string()?;
    let suffix = [".service", ".socket", ".mount", ".target", ".timer", ".path", ".swap", ".slice", ".scope"];
    let ok = s.len() <= 255
        && suffix.iter().any(|x| s.len() > x.len() && s.ends_with(x))
        && s.chars().all(|c| c.is_ascii_alphanumeric() || ":-_.\\@".contains(c));
    if ok {
        Ok(s)
    } else {
        at.expected("a unit name like \"syncthing.service\"")
    }
}

fn when(obj: &Object<'_>) -> Result<When> {
    Ok(When {
        in_initrd: obj.optional("inInitrd", |v| v.bool())?.unwrap_or(false),
        needed_by: obj.optional("neededBy", |v| v.list(unit_name))?.unwrap_or_default(),
    })
}

fn owner(obj: &Object<'_>, default: &Owner) -> Result<Owner> {
    owner_with(obj, default, mode)
}

fn owner_with(obj: &Object<'_>, default: &Owner, mode: fn(At<'_>) -> Result<String>) -> Result<Owner> {
    Ok(Owner {
        user: obj.optional("user", user_name)?.unwrap_or_else(|| default.user.clone()),
        group: obj.optional("group", user_name)?.or_else(|| default.group.clone()),
        mode: obj.optional("mode", mode)?.unwrap_or_else(|| default.mode.clone()),
    })
}

/// Impermanence's per-entry options lethe accepts but does not need (`enableDebugging`, and
/// `home`, which impermanence sets itself).
const IGNORED: &[&str] = &["enableDebugging", "home"];

fn directory(at: At<'_>, default: &Owner, in_home: bool) -> Result<Directory> {
    if at.value.is_string() {
        let path = entry_path(at, in_home)?;
        return Ok(Directory {
            directory: path,
            owner: default.clone(),
            hide_mount: None,
            persistent_storage_path: None,
            when: When::default(),
            dataset: None,
        });
    }
    let mut known = vec!["directory", "user", "group", "mode", "hideMount", "persistentStoragePath"];
    known.extend(["inInitrd", "neededBy"]);
    known.extend(IGNORED);
    if !in_home {
        known.push("dataset");
    }
    let obj = at.object_of(&known)?;
    Ok(Directory {
        directory: obj.required("directory", |v| entry_path(v, in_home))?,
        owner: owner(&obj, default)?,
        hide_mount: obj.optional("hideMount", |v| v.bool())?,
        persistent_storage_path: obj.optional("persistentStoragePath", |v| v.abs_path())?,
        when: when(&obj)?,
        dataset: obj.optional("dataset", datasets::persisted)?,
    })
}

fn is_machine_id(path: &Path) -> bool {
    path == Path::new("/etc/machine-id")
}

fn file_owner(parent: &Owner, path: &Path) -> Owner {
    let mode = if is_machine_id(path) { "0444" } else { "0644" };
    Owner { user: parent.user.clone(), group: parent.group.clone(), mode: mode.into() }
}

fn method(at: At<'_>) -> Result<Method> {
    match at.string()?.as_str() {
        "auto" => Ok(Method::Auto),
        "bind" => Ok(Method::Bind),
        "symlink" => Ok(Method::Symlink),
        _ => at.expected("\"auto\", \"bind\" or \"symlink\""),
    }
}

fn file(at: At<'_>, default: &Owner, in_home: bool) -> Result<File> {
    if at.value.is_string() {
        let path = entry_path(at, in_home)?;
        return Ok(File {
            owner: None,
            file: path,
            parent_directory: default.clone(),
            method: Method::Auto,
            persistent_storage_path: None,
            when: When::default(),
        });
    }
    let mut known =
        vec!["file", "parentDirectory", "user", "group", "mode", "method", "persistentStoragePath"];
    known.extend(["inInitrd", "neededBy"]);
    known.extend(IGNORED);
    let obj = at.object_of(&known)?;
    let path = obj.required("file", |v| entry_path(v, in_home))?;
    let parent = obj
        .optional("parentDirectory", |v| {
            let mut known = vec!["user", "group", "mode", "directory", "persistentStoragePath"];
            known.extend(IGNORED);
            owner(&v.object_of(&known)?, default)
        })?
        .unwrap_or_else(|| default.clone());
    let explicit = ["user", "group", "mode"].iter().any(|k| obj.get(k).is_some_and(|v| !v.is_null()));
    Ok(File {
        owner: if explicit { Some(owner_with(&obj, &file_owner(&parent, &path), file_mode)?) } else { None },
        file: path,
        parent_directory: parent,
        method: obj.optional("method", method)?.unwrap_or(Method::Auto),
        persistent_storage_path: obj.optional("persistentStoragePath", |v| v.abs_path())?,
        when: when(&obj)?,
    })
}

fn user(at: At<'_>, name: &str) -> Result<User> {
    let obj = at.object_of(&["home", "directories", "files"])?;
    // The user's primary group (None) unless an entry names one.
    let default = Owner { user: name.to_string(), group: None, mode: "0755".into() };
    Ok(User {
        home: obj
            .optional("home", |v| v.abs_path())?
            .unwrap_or_else(|| PathBuf::from(format!("/home/{name}"))),
        directories: obj
            .optional("directories", |v| v.list(|e| directory(e, &default, true)))?
            .unwrap_or_default(),
        files: obj.optional("files", |v| v.list(|e| file(e, &default, true)))?.unwrap_or_default(),
    })
}

const STORE_FIELDS: &[&str] = &[
    "enable",
    "persistentStoragePath",
    "hideMounts",
    "directories",
    "files",
    "users",
    "enableDebugging",
    "enableWarnings",
];

fn store(at: At<'_>, key: &Path) -> Result<Store> {
    let obj = at.object_of(STORE_FIELDS)?;
    let root = Owner::root("0755");
    let users = obj
        .optional("users", |v| {
            v.map()?.each(|name, v| {
                user_name(At { value: &serde_json::Value::String(name.into()), path: v.path })?;
                Ok((name.to_string(), user(v, name)?))
            })
        })?
        .unwrap_or_default()
        .into_iter()
        .collect();
    Ok(Store {
        enable: obj.optional("enable", |v| v.bool())?.unwrap_or(true),
        persistent_storage_path: obj
            .optional("persistentStoragePath", |v| v.abs_path())?
            .unwrap_or_else(|| key.to_path_buf()),
        hide_mounts: obj.optional("hideMounts", |v| v.bool())?.unwrap_or(false),
        directories: obj
            .optional("directories", |v| v.list(|e| directory(e, &root, false)))?
            .unwrap_or_default(),
        files: obj.optional("files", |v| v.list(|e| file(e, &root, false)))?.unwrap_or_default(),
        users,
        enable_debugging: obj.optional("enableDebugging", |v| v.bool())?.unwrap_or(false),
        enable_warnings: obj.optional("enableWarnings", |v| v.bool())?.unwrap_or(true),
    })
}

pub fn read(at: At<'_>) -> Result<Persistence> {
    let obj = at.map()?;
    let stores = obj.each(|key, v| {
        if !key.starts_with('/') || key.split('/').any(|c| c == "..") {
            return Err(error(v.path, "expected the key to be an absolute path like \"/persist\""));
        }
        Ok((PathBuf::from(key), store(v, Path::new(key))?))
    })?;
    let persistence: Persistence = stores.into_iter().collect();
    check_conflicts(&entries(&persistence, at.path))?;
    Ok(persistence)
}

/// One persisted path, flattened out of the config: what `persist` plans from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Where it appears in the booted system (absolute).
    pub target: PathBuf,
    /// The store directory (absolute), e.g. `/persist`; the source is `store + target`.
    pub store: PathBuf,
    pub kind: Kind,
    pub owner: Owner,
    /// Whether `owner` is re-applied to an existing source on every run: always for
    /// directories, for files only when the entry names an owner or mode.
    pub converge: bool,
    /// Owner and mode of missing parents (of the source and of the target): root 0755 at the
    /// top level, the user's below `users` (up to the home; what is above it stays root's).
    pub parents: Owner,
    /// A file's `parentDirectory`: its immediate parent, when lethe creates it.
    pub parent_directory: Option<Owner>,
    /// The home directory below `users`, whose parents stay root's, as in impermanence.
    pub home: Option<PathBuf>,
    pub hide_mount: bool,
    pub when: When,
    /// The JSON path of the entry, for messages (`persistence."/persist".directories[3]`).
    pub at: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Directory,
    File(Method),
}

impl Entry {
    pub fn source(&self) -> PathBuf {
        join(&self.store, &self.target)
    }
}

/// `base` + `path` (which is absolute): `/persist` + `/var/log` = `/persist/var/log`.
pub fn join(base: &Path, path: &Path) -> PathBuf {
    base.join(path.strip_prefix("/").unwrap_or(path))
}

/// The JSON path of a child, as the reader spells it (keys that are not plain names quoted).
pub(super) fn child(path: &str, key: &str) -> String {
    let quoted = if key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        key.to_string()
    } else {
        format!("{key:?}")
    };
    if path.is_empty() {
        quoted
    } else {
        format!("{path}.{quoted}")
    }
}

/// Every entry of every enabled store, in config order. `at` is the JSON path of the
/// `persistence` value (`"persistence"` in a whole config).
pub fn entries(persistence: &Persistence, at: &str) -> Vec<Entry> {
    let mut out = Vec::new();
    for (key, store) in persistence.iter().filter(|(_, s)| s.enable) {
        let at = child(at, &key.to_string_lossy());
        let base = Base { store, at: &at, home: None, parents: Owner::root("0755") };
        base.push(&mut out, &store.directories, &store.files);
        for (name, user) in &store.users {
            let at = child(&child(&at, "users"), name);
            let parents = Owner { user: name.clone(), group: None, mode: "0755".into() };
            let user_base = Base { store, at: &at, home: Some(&user.home), parents };
            user_base.push(&mut out, &user.directories, &user.files);
        }
    }
    out
}

struct Base<'a> {
    store: &'a Store,
    at: &'a str,
    home: Option<&'a Path>,
    /// The default owner of this level (root, or the user).
    parents: Owner,
}

impl Base<'_> {
    fn target(&self, path: &Path) -> PathBuf {
        match self.home {
            Some(home) => home.join(path),
            None => path.to_path_buf(),
        }
    }

    fn push(&self, out: &mut Vec<Entry>, directories: &[Directory], files: &[File]) {
        let store_path =
            |p: &Option<PathBuf>| p.clone().unwrap_or_else(|| self.store.persistent_storage_path.clone());
        for (i, d) in directories.iter().enumerate() {
            out.push(Entry {
                target: self.target(&d.directory),
                store: store_path(&d.persistent_storage_path),
                kind: Kind::Directory,
                owner: d.owner.clone(),
                converge: true,
                parents: self.parents.clone(),
                parent_directory: None,
                home: self.home.map(Path::to_path_buf),
                hide_mount: d.hide_mount.unwrap_or(self.store.hide_mounts),
                when: d.when.clone(),
                at: format!("{}[{i}]", child(self.at, "directories")),
            });
        }
        for (i, f) in files.iter().enumerate() {
            out.push(Entry {
                target: self.target(&f.file),
                store: store_path(&f.persistent_storage_path),
                kind: Kind::File(f.method),
                owner: f.owner.clone().unwrap_or_else(|| file_owner(&f.parent_directory, &f.file)),
                converge: f.owner.is_some(),
                parents: self.parents.clone(),
                parent_directory: Some(f.parent_directory.clone()),
                home: self.home.map(Path::to_path_buf),
                hide_mount: self.store.hide_mounts,
                when: f.when.clone(),
                at: format!("{}[{i}]", child(self.at, "files")),
            });
        }
    }
}

/// Filesystems the kernel or the boot owns: nothing may be persisted below them.
const FORBIDDEN: &[&str] = &["/proc", "/sys", "/dev", "/run", "/nix"];

fn is_numeric_or_root(name: &str) -> bool {
    name == "root" || name.chars().all(|c| c.is_ascii_digit())
}

/// The first control character (newline, tab, escape, DEL, ...) in a path.
fn control_character(path: &Path) -> Option<char> {
    path.to_str().and_then(|s| s.chars().find(|c| c.is_control()))
}

/// The conflicts a config can have on its own, each naming both places. Linear in the number
/// of entries (a path's ancestors are looked up in maps), so thousands of entries stay cheap.
pub fn check_conflicts(entries: &[Entry]) -> Result<()> {
    let mut stores: BTreeMap<&Path, &str> = BTreeMap::new();
    for e in entries {
        stores.entry(e.store.as_path()).or_insert(e.at.as_str());
    }
    // Hashed: thousands of paths, each compared component by component in a BTreeMap.
    let mut targets: std::collections::HashMap<&Path, &Entry> = std::collections::HashMap::new();
    for e in entries {
        for path in [&e.target, &e.store] {
            if let Some(c) = control_character(path) {
                return Err(error(
                    &e.at,
                    format!(
                        "{} contains the control character {c:?}: refused (it would break the lines of \
                         messages, mountinfo and unit files)",
                        path.display().to_string().escape_debug()
                    ),
                ));
            }
        }
        let target = e.target.display();
        if e.target == Path::new("/") {
            return Err(error(&e.at, "/ cannot be persisted (it would contain the store)"));
        }
        if let Some(api) = FORBIDDEN.iter().find(|f| e.target.starts_with(f)) {
            return Err(error(&e.at, format!("{target} is under {api}, which cannot be persisted")));
        }
        if let Some(api) = FORBIDDEN.iter().find(|f| e.store.starts_with(f)) {
            return Err(error(&e.at, format!("the store {} is under {api}", e.store.display())));
        }
        // Stores are few (one or two per host).
        if let Some(store) = stores.keys().find(|s| s.starts_with(&e.target)) {
            return Err(error(&e.at, format!("{target} contains the store {}", store.display())));
        }
        if let Some(store) = e.target.ancestors().skip(1).find(|a| stores.contains_key(a)) {
            return Err(error(&e.at, format!("{target} is inside the store {}", store.display())));
        }
        if e.when.in_initrd {
            in_initrd_owner(e)?;
        }
        if let Some(other) = targets.get(e.target.as_path()) {
            return Err(error(&e.at, format!("{target} is also persisted at {}", other.at)));
        }
        targets.insert(&e.target, e);
    }
    // An entry inside a persisted file: look each entry's ancestors up among the files.
    for e in entries {
        let inside_file =
            e.target.ancestors().skip(1).find_map(|a| targets.get(a).filter(|o| o.kind != Kind::Directory));
        if let Some(file) = inside_file {
            return Err(error(
                &e.at,
                format!(
                    "{} is inside the persisted file {} (the other one is {})",
                    e.target.display(),
                    file.target.display(),
                    file.at
                ),
            ));
        }
    }
    Ok(())
}

fn in_initrd_owner(e: &Entry) -> Result<()> {
    for (field, name) in [("user", Some(&e.owner.user)), ("group", e.owner.group.as_ref())] {
        match name {
            Some(n) if is_numeric_or_root(n) => {}
            _ => {
                let shown = name.map_or("the user's primary group".to_string(), |n| format!("{n:?}"));
                return Err(error(
                    &e.at,
                    format!("inInitrd entries need a numeric {field} or root (stage 1 has no /etc/passwd yet), got {shown}"),
                ));
            }
        }
    }
    Ok(())
}
