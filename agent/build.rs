//! Passes lethe's build date to the rollback's clock check (`LETHE_BUILD_EPOCH`): a boot clock
//! earlier than it is certainly wrong. `SOURCE_DATE_EPOCH` when set (Nix, Debian: reproducible),
//! else the commit date of HEAD, else 0 (no check). Only a lower bound of the true date matters,
//! so the git date is not refreshed on every commit (that would rebuild the crate each time).
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    let from_env = std::env::var("SOURCE_DATE_EPOCH").ok().filter(|v| v.trim().parse::<i64>().is_ok());
    let epoch = from_env.or_else(git_commit_date).unwrap_or_else(|| "0".into());
    println!("cargo:rustc-env=LETHE_BUILD_EPOCH={}", epoch.trim());
}

fn git_commit_date() -> Option<String> {
    let dir = std::env::var("CARGO_MANIFEST_DIR").ok()?;
    let out = Command::new("git").args(["-C", &dir, "log", "-1", "--format=%ct"]).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    (out.status.success() && text.trim().parse::<i64>().is_ok()).then_some(text)
}
