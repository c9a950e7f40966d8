//! lethe: the early-boot agent of impermanent Linux hosts. Each module does one job; the
//! decisions (what to prune, which packet to accept) are pure functions, kept apart from the
//! small layers that make the syscalls.

pub(crate) mod access;
pub mod cli;
pub mod config;
pub(crate) mod dhcp;
pub mod error;
pub mod exit;
pub mod generator;
pub(crate) mod handoff;
pub mod init;
pub mod kmod;
pub mod log;
pub(crate) mod mountinfo;
pub mod net;
pub(crate) mod paths;
pub mod persist;
pub mod rollback;
pub mod serve;
pub(crate) mod ssh;
pub mod tang;
pub(crate) mod time;
pub mod unlock;
pub mod zfs;
