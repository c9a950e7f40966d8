//! `lethe init` outside an initrd: it must refuse at once (it mounts, deletes the initramfs and
//! switches root), touching nothing. The real runs are the VM scenarios in vm-tests/.

mod common;

use common::{run, stderr};

#[test]
fn refuses_unless_pid_1() {
    let out = run(&["init"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("must run as PID 1 of an initrd"), "{}", stderr(&out));
}

#[test]
fn a_binary_named_init_that_is_not_pid_1_is_an_ordinary_lethe() {
    // Only PID 1 runs stage 1 (whatever its name); anywhere else the name changes nothing.
    let dir = std::env::temp_dir().join(format!("lethe-init-name-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let init = dir.join("init");
    std::fs::copy(common::lethe(), &init).unwrap();
    let out = std::process::Command::new(&init).arg("--version").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("lethe "));
    std::fs::remove_dir_all(&dir).unwrap();
}
