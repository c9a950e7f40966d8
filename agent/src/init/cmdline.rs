//! The kernel command line, as far as stage 1 cares. Pure: parsing a string.
//!
//! - `init=PATH`: the stage-2 init; wins over `boot.init` (as with every other initrd).
//! - `lethe.on_failure=reboot|poweroff|wait` and `lethe.failure_delay=SECONDS`: override
//!   `boot.onFailure` / `boot.failureDelaySeconds` from the boot loader, e.g. `wait` to read a
//!   message that a reboot would otherwise take away.
//! - `lethe.config=PATH`: another config file inside the initrd (default /etc/lethe/config.json).
//! - `lethe.test_panic`: panic on purpose right after reading the command line, to see the
//!   failure state on a real machine (and to test it in a VM). Whoever edits the kernel command
//!   line can already stop a boot, so this opens nothing new. `lethe.test_panic=thread` panics
//!   on another thread instead, while the main thread goes on (as a bug in the network thread
//!   would): the whole boot must still stop in the failure state.
//!
//! Unknown words are left alone: they belong to the kernel or to stage 2.

use crate::config::boot::OnFailure;
use std::path::PathBuf;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Cmdline {
    pub init: Option<PathBuf>,
    pub on_failure: Option<OnFailure>,
    pub failure_delay_seconds: Option<u32>,
    pub config: Option<PathBuf>,
    pub test_panic: bool,
    /// `lethe.test_panic=thread`.
    pub test_panic_thread: bool,
    /// Words lethe understood but could not use, for a warning (never fatal: a typo on the
    /// boot loader's line must not stop a boot).
    pub ignored: Vec<String>,
}

/// Splits like the kernel does: whitespace separates words, double quotes group (and are
/// removed), `--` ends the kernel's part.
pub(crate) fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut started = false;
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                started = true;
            }
            c if c.is_whitespace() && !quoted => {
                if started {
                    out.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            c => {
                word.push(c);
                started = true;
            }
        }
    }
    if started {
        out.push(word);
    }
    if let Some(end) = out.iter().position(|w| w == "--") {
        out.truncate(end);
    }
    out
}

fn absolute(value: &str) -> Option<PathBuf> {
    (value.starts_with('/') && !value.split('/').any(|c| c == "..")).then(|| PathBuf::from(value))
}

pub(crate) fn parse(line: &str) -> Cmdline {
    let mut c = Cmdline::default();
    for word in words(line) {
        if word == "lethe.test_panic" {
            c.test_panic = true;
            continue;
        }
        if word == "lethe.test_panic=thread" {
            c.test_panic_thread = true;
            continue;
        }
        let Some((key, value)) = word.split_once('=') else { continue };
        match key {
            // The last one wins, as in the kernel.
            "init" => match absolute(value) {
                Some(p) => c.init = Some(p),
                None => c.ignored.push(format!("{word} (not an absolute path)")),
            },
            "lethe.on_failure" => match OnFailure::parse(value) {
                Some(v) => c.on_failure = Some(v),
                None => c.ignored.push(format!("{word} (expected reboot, poweroff or wait)")),
            },
            "lethe.failure_delay" => match value.parse::<u32>() {
                Ok(v) if v <= 86400 => c.failure_delay_seconds = Some(v),
                _ => c.ignored.push(format!("{word} (expected seconds from 0 to 86400)")),
            },
            "lethe.config" => match absolute(value) {
                Some(p) => c.config = Some(p),
                None => c.ignored.push(format!("{word} (not an absolute path)")),
            },
            _ => {}
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_the_kernel() {
        assert_eq!(words("  a b=\"c d\" \"e f\"=g  h\n"), ["a", "b=c d", "e f=g", "h"]);
        assert_eq!(words("console=ttyS0 -- init=/bad single"), ["console=ttyS0"]);
        assert!(words("").is_empty());
    }

    #[test]
    fn reads_what_lethe_uses() {
        let c = parse(
            "BOOT_IMAGE=/vmlinuz init=/nix/store/abc-nixos/init ro lethe.on_failure=wait \
             lethe.failure_delay=5 lethe.config=/etc/lethe/other.json quiet",
        );
        assert_eq!(c.init, Some("/nix/store/abc-nixos/init".into()));
        assert_eq!(c.on_failure, Some(OnFailure::Wait));
        assert_eq!(c.failure_delay_seconds, Some(5));
        assert_eq!(c.config, Some("/etc/lethe/other.json".into()));
        assert!(c.ignored.is_empty());
        assert!(!c.test_panic);
        assert!(parse("quiet lethe.test_panic").test_panic);
        let thread = parse("lethe.test_panic=thread");
        assert!(thread.test_panic_thread && !thread.test_panic);
    }

    #[test]
    fn last_init_wins_and_bad_values_are_ignored() {
        let c = parse("init=/a init=/b init=relative lethe.on_failure=explode lethe.failure_delay=-1");
        assert_eq!(c.init, Some("/b".into()));
        assert_eq!(c.on_failure, None);
        assert_eq!(c.failure_delay_seconds, None);
        assert_eq!(c.ignored.len(), 3, "{:?}", c.ignored);
        assert_eq!(parse("rdinit=/init").init, None);
    }
}
