//! What an attempt means for whoever typed the passphrase: one rule and one wording for every
//! front end (`lethe unlock`, `ssh host unlock`, the console prompt). Done is `Ok` with what
//! to say; a passphrase that leaves a device it was meant for locked is bad input, even when
//! it opened others (the user has another passphrase to give); anything else is a failure.

use super::{Attempt, Mode, Unlocker};
use crate::exit::CommandError;

/// The message (without a `lethe: ` prefix) and, through `Err`, the exit status of `attempt`,
/// as `unlocker` stands after it.
pub(crate) fn verdict(unlocker: &Unlocker, attempt: Attempt) -> Result<String, CommandError> {
    match attempt {
        // systemd-cryptsetup alone knows whether it was right; if not, it asks again.
        Attempt::Unlocked { opened } if unlocker.mode() == Mode::SystemdAgent => {
            Ok(format!("passphrase sent to: {}", opened.join(", ")))
        }
        Attempt::Unlocked { opened } => {
            let left = unlocker.pending();
            if left.is_empty() {
                Ok(format!("opened {}; the boot continues", opened.join(", ")))
            } else {
                Err(CommandError::bad_input(format!(
                    "opened {}; the passphrase does not open {}",
                    opened.join(", "),
                    left.join(", ")
                )))
            }
        }
        Attempt::Wrong => {
            Err(CommandError::bad_input(format!("wrong passphrase for {}", unlocker.pending().join(", "))))
        }
        Attempt::Failed(message) => Err(CommandError::failed(format!("unlock failed: {message}"))),
        Attempt::NothingPending => Ok("nothing to unlock: every device is open".into()),
    }
}
