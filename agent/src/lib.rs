//! lethe: the early-boot agent of impermanent Linux hosts. Each module does one job; the
//! decisions (what to prune, which packet to accept) are pure functions, kept apart from the
//! small layers that make the syscalls.

pub mod access;
pub mod cli;
pub mod config;
pub mod dhcp;
pub mod error;
pub mod exit;
pub mod generator;
pub mod handoff;
pub mod init;
pub mod kmod;
pub mod log;
pub mod net;
pub mod paths;
pub mod persist;
pub mod rollback;
pub mod serve;
pub mod ssh;
pub mod time;
pub mod unlock;
pub mod zfs;
