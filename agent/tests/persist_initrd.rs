//! `lethe persist --in-initrd --root DIR` (lethe-persist-initrd.service in a systemd initrd):
//! only the `inInitrd` entries, only from a store mounted below DIR, recorded in `/run/lethe`,
//! which stage 2's run (after switch-root, `/run` carried over) finds and leaves in place.
//! Each test runs in a private mount namespace of its own thread with a tmpfs on `/run`, so
//! the host's `/run/lethe` is never touched (the VM scenario systemd-persist-initrd boots the
//! real unit).

mod common;

use common::btrfs::sh;
use common::tree::{build, mounts_below, private_tmpfs};
use common::{persist, text};
use std::path::{Path, PathBuf};

const CONFIG: &str = r#"{"version": 1, "persistence": {"/persist": {
    "files": [{"file": "/etc/machine-id", "inInitrd": true}],
    "directories": [{"directory": "/var/lib/nixos", "inInitrd": true}, "/var/log"]}}}"#;

/// A new root (`DIR/sysroot`) with an empty `/persist` mount point and `/run`, the config, and
/// a private tmpfs on `/run` (the initrd's).
fn setup() -> (PathBuf, PathBuf) {
    let dir = private_tmpfs();
    build(&dir, "d /sysroot 0755 0:0\nd /sysroot/persist 0755 0:0\nd /sysroot/run 0755 0:0\n");
    sh("mount", &["-t", "tmpfs", "-o", "mode=0755", "tmpfs", "/run"]);
    let config = dir.join("config.json");
    std::fs::write(&config, CONFIG).unwrap();
    (config, dir.join("sysroot"))
}

#[test]
fn a_store_not_mounted_below_the_root_is_refused_by_name_and_left_untouched() {
    let (config, root) = setup();
    let o = persist(&config, &root, &["--in-initrd"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let t = text(&o);
    for entry in [
        r#"/etc/machine-id (persistence."/persist".files[0])"#,
        r#"/var/lib/nixos (persistence."/persist".directories[0])"#,
    ] {
        assert!(
            t.contains(&format!("refused {entry}: its store {}/persist is not mounted", root.display())),
            "{t}"
        );
    }
    // Nothing written into the fresh root's own /persist directory, nothing mounted.
    assert_eq!(std::fs::read_dir(root.join("persist")).unwrap().count(), 0);
    assert!(mounts_below(&root).is_empty(), "{:?}", mounts_below(&root));
}

#[test]
fn only_in_initrd_entries_are_mounted_and_stage_2_leaves_them() {
    let (config, root) = setup();
    sh("mount", &["-t", "tmpfs", "-o", "mode=0755", "tmpfs", root.join("persist").to_str().unwrap()]);
    // --dry-run says what it would do and does nothing.
    let o = persist(&config, &root, &["--in-initrd", "--dry-run"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("would: mounted /persist/etc/machine-id on /etc/machine-id"), "{}", text(&o));
    assert_eq!(mounts_below(&root), [root.join("persist").display().to_string()]);
    assert!(!Path::new("/run/lethe/persist.json").exists());
    let o = persist(&config, &root, &["--in-initrd"]);
    assert!(o.status.success(), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("mounted /persist/etc/machine-id on /etc/machine-id"), "{t}");
    assert!(t.contains("persisted 1 directory, 1 file;"), "{t}");
    assert!(!t.contains("/var/log"), "a stage-2 entry was applied in the initrd: {t}");
    assert_eq!(std::fs::read_to_string(root.join("etc/machine-id")).unwrap(), "uninitialized\n");
    let record = std::fs::read_to_string("/run/lethe/persist.json").unwrap();
    assert!(record.contains("\"/etc/machine-id\"") && record.contains("\"/var/lib/nixos\""), "{record}");

    // Stage 2: the initrd's /run is the new root's /run after switch-root.
    sh("mount", &["--bind", "/run", root.join("run").to_str().unwrap()]);
    let o = persist(&config, &root, &[]);
    assert!(o.status.success(), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("mounted /persist/var/log on /var/log"), "{t}");
    assert!(!t.contains("on /etc/machine-id") && !t.contains("on /var/lib/nixos"), "mounted twice: {t}");
    let mounts = mounts_below(&root);
    for target in ["etc/machine-id", "var/lib/nixos"] {
        let n = mounts.iter().filter(|m| m.ends_with(&format!("/{target}"))).count();
        assert_eq!(n, 1, "{target}: {mounts:?}");
    }
}
