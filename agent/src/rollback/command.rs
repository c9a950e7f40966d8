//! `lethe rollback` and `lethe roots list`: load the config, run, print, exit status.

use super::hooks::fault;
use super::{list, render, render_json, run};
use crate::config::boot::Mount;
use crate::config::rollback::Rollback;
use crate::config::Config;
use crate::error::Result;
use std::path::Path;
use std::process::ExitCode;

/// Loads the `rollback` section (and `boot.mounts`, which it must keep clear of) of a config
/// file; a config that cannot be used, or has no `rollback`, exits 1 (2: unreadable).
fn load(file: &Path) -> Result<(Rollback, Vec<Mount>), ExitCode> {
    match crate::cli::load_config(file) {
        Ok(Config { rollback: Some(r), boot, .. }) => Ok((r, boot.map(|b| b.mounts).unwrap_or_default())),
        Ok(_) => {
            eprintln!("lethe: {}: rollback: missing; nothing to roll back", file.display());
            Err(ExitCode::from(crate::cli::EXIT_BAD_INPUT))
        }
        Err(status) => Err(ExitCode::from(status)),
    }
}

/// `lethe rollback --config FILE`.
pub fn main_rollback(file: &Path) -> ExitCode {
    let (config, mounts) = match load(file) {
        Ok(c) => c,
        Err(code) => return code,
    };
    fault("loaded");
    match run(&config, &mounts) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("{e}");
            ExitCode::from(crate::cli::EXIT_FAILED)
        }
    }
}

/// `lethe roots list --config FILE [--json]`.
pub fn main_roots_list(file: &Path, json: bool) -> ExitCode {
    let (config, _) = match load(file) {
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
            ExitCode::from(crate::cli::EXIT_FAILED)
        }
    }
}
