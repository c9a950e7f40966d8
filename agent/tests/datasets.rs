//! `lethe datasets` on this host, which has no ZFS module (the VM scenario `zfs-datasets` runs
//! it against real ZFS): a bad config is exit 1 before any `zfs` runs; a missing `zpool` is
//! exit 2 naming the command that could not run.

mod common;

use common::{repo_root, stderr};
use std::process::Command;

fn datasets(config: &str, path: &str) -> std::process::Output {
    Command::new(common::lethe())
        .args(["datasets", "--config", config, "--dry-run"])
        .env("PATH", path)
        .output()
        .expect("lethe runs")
}

#[test]
fn bad_config_is_exit_1_and_runs_no_zfs() {
    let file = repo_root().join("examples/bad/dataset-unknown-property.json");
    // An empty PATH: had lethe tried to run zpool, the message would say so.
    let out = datasets(file.to_str().unwrap(), "/nonexistent");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("datasets.services.sonarr.properties.atimes: unknown ZFS property"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("zpool"), "{}", stderr(&out));
}

#[test]
fn missing_zpool_is_exit_2_naming_the_command() {
    let file = repo_root().join("examples/zfs-services-two-disk.json");
    let out = datasets(file.to_str().unwrap(), "/nonexistent");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("lethe: datasets: reading the ZFS state failed: zpool list -H -o name,feature@large_blocks,feature@zstd_compress: cannot run zpool"),
        "{err}"
    );
}

/// The unit is an interface (the NixOS module and the dracut module install its text): its
/// ordering and command line, and systemd's own check of it with `@lethe@` replaced.
#[test]
fn the_stage2_unit_is_ordered_and_valid() {
    let path = repo_root().join("initrd-glue/systemd/system/lethe-datasets.service");
    let text = std::fs::read_to_string(&path).unwrap();
    for line in [
        "After=zfs-import.target",
        "Before=zfs-mount.service local-fs.target lethe-persist.service",
        "ExecStart=@lethe@ datasets --config /etc/lethe/config.json",
    ] {
        assert!(text.lines().any(|l| l == line), "{}: no line {line:?}", path.display());
    }
    let dir = std::env::temp_dir().join(format!("lethe-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let unit = dir.join("lethe-datasets.service");
    std::fs::write(&unit, text.replace("@lethe@", common::lethe().to_str().unwrap())).unwrap();
    let out =
        Command::new("systemd-analyze").arg("verify").arg(&unit).output().expect("systemd-analyze runs");
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(out.status.success() && out.stderr.is_empty(), "systemd-analyze verify: {}", stderr(&out));
}
