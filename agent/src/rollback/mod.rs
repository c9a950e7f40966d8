//! Root rollback on btrfs: archive `root` into the archive directory (named after its mtime,
//! the time of archiving recorded in [`plan::ARCHIVED_XATTR`]), create a fresh `root` (empty,
//! or a snapshot of `blankSnapshot`), then delete archived roots archived more than
//! `retentionDays` ago with all their nested subvolumes, keeping the `keepAtLeast` newest and
//! the one this run made.
//!
//! Decisions live in [`plan`] (pure, unit-tested); [`apply`] makes the syscalls. Crash safety
//! comes from the order: every step is one atomic btrfs operation, and btrfs commits them in
//! order, so power loss leaves a prefix of the steps, which the next run recognises and finishes
//! (see [`plan::steps`]). An archive chosen for deletion is first renamed with
//! [`plan::DELETING_PREFIX`], so a half-deleted one is finished next time whatever the clock.
//!
//! A ZFS root (`rollback.dataset`) has its own plan and apply layer in `zfs/`, sharing the
//! naming, the clock checks and the pruning rule of [`plan`].
//!
//! Files by job: `run.rs` (the rollback itself), `listing.rs` (what `roots list` sees),
//! `render.rs` (its table and JSON), `command.rs` (the two subcommands), `hooks.rs` (the test
//! build's fault injection and clock).

pub(crate) mod apply;
pub mod command;
mod guard;
mod hooks;
mod listing;
pub(crate) mod plan;
mod render;
mod run;
pub(crate) mod zfs;

pub use hooks::{FAILURE_POINTS, FAULT_POINTS};
pub(crate) use listing::list;
pub(crate) use render::{render, render_json};
pub(crate) use run::run;

/// When lethe was built (epoch seconds, from `SOURCE_DATE_EPOCH` or the git commit date, see
/// build.rs): a clock earlier than this is wrong, and pruning by age is skipped.
pub fn build_time() -> i64 {
    env!("LETHE_BUILD_EPOCH").parse().unwrap_or(0)
}
