//! Shared by the integration tests: the binary under test and running it.
#![allow(dead_code)]

pub mod btrfs;
pub mod tree;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `lethe` binary under test: `LETHE_BIN` (the static release build, in scripts/test.sh)
/// or the one cargo built for this test run.
pub fn lethe() -> PathBuf {
    std::env::var_os("LETHE_BIN").map(PathBuf::from).unwrap_or_else(|| env!("CARGO_BIN_EXE_lethe").into())
}

/// Runs lethe with `args`, returning its whole output.
pub fn run(args: &[&str]) -> Output {
    Command::new(lethe()).args(args).output().expect("lethe runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// stdout then stderr, as one text.
pub fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// `lethe persist --config CONFIG --root ROOT EXTRA...`.
pub fn persist(config: &Path, root: &Path, extra: &[&str]) -> Output {
    Command::new(lethe())
        .args(["persist", "--config", config.to_str().unwrap(), "--root", root.to_str().unwrap()])
        .args(extra)
        .output()
        .unwrap()
}

/// Root-only tests fail loudly instead of skipping when CI (which runs as root) is not root.
pub fn require_root() {
    assert!(rustix::process::geteuid().is_root(), "this test needs root (loop devices, mounts, namespaces)");
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}
