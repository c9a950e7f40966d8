//! Test hooks of the `fault-injection` feature: `LETHE_PERSIST_RACE=POINT:COMMAND` runs COMMAND
//! (`sh -c`) when lethe reaches POINT, so a race with another process is certain, not lucky.
//! Without the feature they compile to nothing.

/// Between the check of a mount to unmount and the unmount.
pub const BEFORE_UNMOUNT: &str = "before-unmount";
/// Between the copy of a tree and its comparison with the original.
pub const AFTER_COPY: &str = "after-copy";

#[cfg(feature = "fault-injection")]
pub fn race(point: &str) {
    let Ok(value) = std::env::var("LETHE_PERSIST_RACE") else { return };
    if let Some((at, command)) = value.split_once(':') {
        if at == point {
            let _ = std::process::Command::new("sh").args(["-c", command]).status();
        }
    }
}

#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn race(_point: &str) {}
