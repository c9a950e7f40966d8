//! `lethe serve --config FILE`: the unit a systemd initrd starts (see the module above).

use super::{serve_unlocker, stopped};
use crate::exit::CommandError;
use crate::unlock::Unlocker;
use std::path::Path;
use std::sync::Arc;

/// Serves until every device is open (systemdAgent mode: until SIGTERM). Its failures are
/// logged, for the journal of the unit that runs it.
pub fn run(config_file: &Path) -> Result<(), CommandError> {
    let config = crate::config::command::load(config_file)?;
    let Some(unlock) = config.unlock else {
        return Err(CommandError::bad_input(format!(
            "{}: no \"unlock\" section: nothing to serve",
            config_file.display()
        ))
        .logged());
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CommandError::failed(format!("serve: cannot start the async runtime: {e}")).logged())?;
    let unlocker = Arc::new(Unlocker::new(&unlock));
    let served = runtime.block_on(serve_unlocker(config.ssh.as_ref(), unlock.console, unlocker, stopped()));
    served.map_err(|e| CommandError::failed(e).logged())
}
