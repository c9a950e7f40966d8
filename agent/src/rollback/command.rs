//! `lethe rollback` and `lethe roots list`: load the config, run, print.

use super::hooks::fault;
use super::{list, render, render_json, run as roll_back};
use crate::config::boot::Mount;
use crate::config::rollback::Rollback;
use crate::config::Config;
use crate::exit::{self, CommandError};
use std::path::Path;

/// Loads the `rollback` section (and `boot.mounts`, which it must keep clear of) of a config
/// file; a config without `rollback` is bad input.
fn load(file: &Path) -> Result<(Rollback, Vec<Mount>), CommandError> {
    match crate::config::command::load(file)? {
        Config { rollback: Some(r), boot, .. } => Ok((r, boot.map(|b| b.mounts).unwrap_or_default())),
        _ => Err(CommandError::bad_input(format!(
            "{}: rollback: missing; nothing to roll back",
            file.display()
        ))),
    }
}

/// `lethe rollback --config FILE`.
pub fn run(file: &Path) -> Result<(), CommandError> {
    let (config, mounts) = load(file)?;
    fault("loaded");
    roll_back(&config, &mounts).map(drop).map_err(|e| CommandError::failed(e).logged())
}

/// `lethe roots list --config FILE [--json]`.
pub fn roots_list(file: &Path, json: bool) -> Result<(), CommandError> {
    let (config, _) = load(file)?;
    let listing = list(&config).map_err(CommandError::failed)?;
    let text = if json { format!("{}\n", render_json(&listing, &config)) } else { render(&listing, &config) };
    exit::print(&text)
}
