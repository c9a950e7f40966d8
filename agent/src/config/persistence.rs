//! `persistence`: what stage 2 bind-mounts from persistent storage, in the shape of
//! impermanence's `environment.persistence` (keyed by the persistent directory).

use super::reader::{error, At, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

pub type Persistence = BTreeMap<PathBuf, Store>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Store {
    pub directories: Vec<Directory>,
    pub files: Vec<File>,
    /// Mark the bind mounts `x-gvfs-hide` so file managers do not list them.
    pub hide_mounts: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Directory {
    pub directory: PathBuf,
    #[serde(flatten)]
    pub owner: Owner,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct File {
    pub file: PathBuf,
    /// Owner and mode of the file's parent directories when lethe has to create them.
    #[serde(flatten)]
    pub owner: Owner,
}

/// Who owns a persisted path, and its mode, when lethe has to create it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Owner {
    pub user: String,
    pub group: String,
    pub mode: String,
}

/// `"0755"`-style permission bits.
pub fn mode(at: At<'_>) -> Result<String> {
    let s = at.string()?;
    match u32::from_str_radix(&s, 8) {
        Ok(m) if m <= 0o7777 && (3..=4).contains(&s.len()) => Ok(format!("{m:04o}")),
        _ => at.expected("an octal mode like \"0755\""),
    }
}

pub fn user_name(at: At<'_>) -> Result<String> {
    let s = at.string()?;
    let ok =
        !s.is_empty() && s.len() <= 32 && s.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
    if ok {
        Ok(s)
    } else {
        at.expected("a user or group name")
    }
}

/// `"/var/log"` or `{ "<key>": "/var/log", "user": ..., "group": ..., "mode": ... }`.
fn entry(at: At<'_>, key: &str) -> Result<(PathBuf, Owner)> {
    let default = || Owner { user: "root".into(), group: "root".into(), mode: "0755".into() };
    if at.value.is_string() {
        return Ok((at.abs_path()?, default()));
    }
    let obj = at.object_of(&[key, "user", "group", "mode"])?;
    let path = obj.required(key, |v| v.abs_path())?;
    Ok((
        path,
        Owner {
            user: obj.optional("user", user_name)?.unwrap_or(default().user),
            group: obj.optional("group", user_name)?.unwrap_or(default().group),
            mode: obj.optional("mode", mode)?.unwrap_or(default().mode),
        },
    ))
}

fn store(at: At<'_>) -> Result<Store> {
    let obj = at.object_of(&["directories", "files", "hideMounts"])?;
    Ok(Store {
        directories: obj
            .optional("directories", |v| {
                v.list(|e| entry(e, "directory").map(|(directory, owner)| Directory { directory, owner }))
            })?
            .unwrap_or_default(),
        files: obj
            .optional("files", |v| v.list(|e| entry(e, "file").map(|(file, owner)| File { file, owner })))?
            .unwrap_or_default(),
        hide_mounts: obj.optional("hideMounts", |v| v.bool())?.unwrap_or(false),
    })
}

pub fn read(at: At<'_>) -> Result<Persistence> {
    let obj = at.map()?;
    let stores = obj.each(|key, v| {
        if !key.starts_with('/') || key.split('/').any(|c| c == "..") {
            return Err(error(v.path, "expected the key to be an absolute path like \"/persist\""));
        }
        Ok((PathBuf::from(key), store(v)?))
    })?;
    Ok(stores.into_iter().collect())
}
