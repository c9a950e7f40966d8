//! `lethe rollback` and `lethe roots list`: load the config, run, print.

use super::hooks::fault;
use super::{list, render, render_json, run as roll_back};
use crate::config::boot::Mount;
use crate::config::rollback::{Rollback, ZfsRollback};
use crate::config::Config;
use crate::exit::{self, CommandError};
use std::path::Path;

/// A `rollback` section: btrfs (with the mounts it must keep clear of) or ZFS.
enum Loaded {
    Btrfs(Rollback, Vec<Mount>),
    Zfs(ZfsRollback),
}

/// Loads the `rollback` section (and `boot.mounts`, which it must keep clear of) of a config
/// file; a config without `rollback` is bad input.
fn load(file: &Path) -> Result<Loaded, CommandError> {
    match crate::config::command::load(file)? {
        Config { rollback: Some(r), boot, .. } => {
            Ok(Loaded::Btrfs(r, boot.map(|b| b.mounts).unwrap_or_default()))
        }
        Config { zfs_rollback: Some(z), .. } => Ok(Loaded::Zfs(z)),
        _ => Err(CommandError::bad_input(format!(
            "{}: rollback: missing; nothing to roll back",
            file.display()
        ))),
    }
}

/// `lethe rollback --config FILE`.
pub fn run(file: &Path) -> Result<(), CommandError> {
    let loaded = load(file)?;
    fault("loaded");
    let done = match loaded {
        Loaded::Btrfs(config, mounts) => roll_back(&config, &mounts),
        Loaded::Zfs(config) => super::zfs::run(&config),
    };
    done.map(drop).map_err(|e| CommandError::failed(e).logged())
}

/// `lethe roots list --config FILE [--json]`.
pub fn roots_list(file: &Path, json: bool) -> Result<(), CommandError> {
    let config = match load(file)? {
        Loaded::Btrfs(config, _) => config,
        Loaded::Zfs(config) => {
            let listing = super::zfs::list(&config).map_err(CommandError::failed)?;
            let text = if json {
                format!("{}\n", super::zfs::render_json(&listing, &config))
            } else {
                super::zfs::render(&listing, &config)
            };
            return exit::print(&text);
        }
    };
    let listing = list(&config).map_err(CommandError::failed)?;
    let text = if json { format!("{}\n", render_json(&listing, &config)) } else { render(&listing, &config) };
    exit::print(&text)
}
