//! The host configuration: one JSON file, field names as the NixOS module's options
//! (camelCase), every section optional (absent = that feature off), parsed strictly.

pub mod boot;
pub mod command;
pub mod datasets;
pub mod device;
mod mode;
pub mod network;
mod owner;
pub mod persisted;
pub mod persistence;
mod reader;
pub mod rollback;
pub mod ssh;
pub mod tang;
pub mod unlock;

use reader::At;
pub use reader::ConfigError;
use serde::Serialize;
use std::path::Path;

pub const VERSION: u64 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Config {
    pub version: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub boot: Option<boot::Boot>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<network::Network>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssh: Option<ssh::Ssh>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unlock: Option<unlock::Unlock>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback: Option<rollback::Rollback>,
    /// `rollback` naming a ZFS `dataset` (then `rollback` above is `None`).
    #[serde(rename = "rollback", skip_serializing_if = "Option::is_none")]
    pub zfs_rollback: Option<rollback::ZfsRollback>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub persistence: Option<persistence::Persistence>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub datasets: Option<datasets::Datasets>,
}

const FIELDS: &[&str] =
    &["version", "boot", "network", "ssh", "unlock", "rollback", "persistence", "datasets"];

/// Why a config file could not be used: the two cases exit differently (1 and 2).
#[derive(Debug)]
pub enum LoadError {
    Unreadable(String),
    Invalid(String),
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::Unreadable(m) | LoadError::Invalid(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for LoadError {}

impl Config {
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let value = reader::parse_json(text)?;
        let obj = At { value: &value, path: "" }.object_of(FIELDS)?;
        let version = obj.required("version", |v| match v.value.as_u64() {
            Some(VERSION) => Ok(VERSION),
            _ => v.expected(&format!("{VERSION} (the config format this lethe reads)")),
        })?;
        let (rollback, zfs_rollback) = match obj.optional("rollback", rollback::read_section)? {
            Some(rollback::Section::Btrfs(r)) => (Some(r), None),
            Some(rollback::Section::Zfs(z)) => (None, Some(z)),
            None => (None, None),
        };
        let config = Config {
            version,
            boot: obj.optional("boot", boot::read)?,
            network: obj.optional("network", network::read)?,
            ssh: obj.optional("ssh", ssh::read)?,
            unlock: obj.optional("unlock", unlock::read)?,
            rollback,
            zfs_rollback,
            persistence: obj.optional("persistence", persistence::read)?,
            datasets: obj.optional("datasets", datasets::read)?,
        };
        // Checks across sections, once each is valid on its own.
        if let Some(r) = &config.rollback {
            rollback::check_mounts(r, config.boot.as_ref())?;
        }
        if let Some(z) = &config.zfs_rollback {
            rollback::check_zfs_mounts(z, config.boot.as_ref(), &config.all_datasets_unchecked()?)?;
        }
        unlock::check_someone_can_answer(config.unlock.as_ref(), config.ssh.is_some())?;
        persisted::merged(config.persistence.as_ref(), config.datasets.as_ref())?;
        Ok(config)
    }

    /// The datasets `lethe datasets` keeps: the `datasets` section plus the persisted
    /// directories that name their own dataset (checked by `parse`).
    pub fn all_datasets(&self) -> datasets::Datasets {
        persisted::merged(self.persistence.as_ref(), self.datasets.as_ref())
            .expect("checked by Config::parse")
            .unwrap_or_default()
    }

    /// `all_datasets` before `parse` has checked the merge (it checks it here).
    fn all_datasets_unchecked(&self) -> Result<datasets::Datasets, ConfigError> {
        Ok(persisted::merged(self.persistence.as_ref(), self.datasets.as_ref())?.unwrap_or_default())
    }

    /// Reads and parses `path`; every message starts with the file's name.
    pub fn load(path: &Path) -> Result<Config, LoadError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| LoadError::Unreadable(format!("{}: cannot read: {e}", path.display())))?;
        Config::parse(&text).map_err(|e| LoadError::Invalid(format!("{}: {e}", path.display())))
    }

    /// The normalized config (defaults filled in), as `check-config` prints it.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("config serializes")
    }
}

#[cfg(test)]
mod tests;
