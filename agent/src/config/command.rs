//! `lethe check-config FILE`, and [`load`], how every subcommand reads its `--config FILE`.

use super::{Config, LoadError};
use crate::exit::{self, CommandError};
use std::path::Path;

/// Loads a subcommand's `--config FILE`. The one place that maps a config that cannot be used
/// to a failure: invalid (the user's to fix) is bad input, unreadable is a failure; the
/// message names the file and the JSON path.
pub fn load(file: &Path) -> Result<Config, CommandError> {
    Config::load(file).map_err(|e| match e {
        LoadError::Invalid(m) => CommandError::bad_input(m),
        LoadError::Unreadable(m) => CommandError::failed(m),
    })
}

/// `lethe check-config FILE`: the config normalized, with defaults filled in, on stdout.
/// It also looks at the files the config names that must stay private (Tang's JWEs).
pub fn run(file: &Path) -> Result<(), CommandError> {
    let config = load(file)?;
    if let Some(unlock) = &config.unlock {
        super::unlock::check_secret_files(unlock)
            .map_err(|e| CommandError::bad_input(format!("{}: {e}", file.display())))?;
    }
    exit::print(&format!("{}\n", config.to_json()))
}
