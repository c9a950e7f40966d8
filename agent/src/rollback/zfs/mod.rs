//! Root rollback on ZFS: rename the root dataset to `archive/DATE` (with its children and
//! snapshots), make a fresh root with the old one's locally set properties (or clone the blank
//! snapshot), then destroy archives lethe made more than `retentionDays` ago, keeping the
//! `keepAtLeast` newest. Through the `zfs` program (`-H -p`), one process per step.
//!
//! Files by job: `listing.rs` (parsing what `zfs list` and `zfs get` print), `plan.rs` (every
//! decision, pure, and the crash-safety marks), `apply.rs` (running `zfs`), `run.rs` (the
//! rollback and `roots list`).

mod apply;
mod listing;
mod plan;
mod run;

pub(crate) use run::{list, render, render_json, run};
