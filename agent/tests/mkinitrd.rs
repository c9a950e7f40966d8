//! initrd-glue/mkinitrd's firmware and reproducibility, against the real kernel the VM tests
//! boot (fetched into the cache by vm-tests/lib/fetch-kernel) and Debian's `firmware-realtek`
//! in /lib/firmware (scripts/setup.sh installs it): the firmware `r8169` declares goes into the
//! initrd, `.xz` as it is, `.zst` decompressed, missing files named, and two builds of the same
//! inputs are the same bytes. The VM scenarios net-r8169 and net-firmware boot such initrds.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

fn kernel_modules_dir() -> PathBuf {
    let fetch = common::repo_root().join("vm-tests/lib/fetch-kernel");
    let out = Command::new(&fetch).output().expect("vm-tests/lib/fetch-kernel runs");
    assert!(out.status.success(), "fetch-kernel failed: {}", String::from_utf8_lossy(&out.stderr));
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).lines().last().unwrap().trim());
    let kver = std::fs::read_to_string(dir.join("kver")).unwrap().trim().to_string();
    dir.join("lib/modules").join(kver)
}

fn temp_dir() -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "lethe-mkinitrd-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const NIC_MODULES: &str = r#"["r8169", "realtek", "mdio_devres", "libphy", "virtio_net"]"#;

/// Runs mkinitrd for a config whose network loads `NIC_MODULES`; returns its output.
fn mkinitrd(dir: &Path, out: &Path, extra: &[&str]) -> Output {
    let config = dir.join("config.json");
    std::fs::write(
        &config,
        format!(
            r#"{{"version": 1, "boot": {{"root": {{"device": "/dev/vda", "fsType": "btrfs"}}, "init": "/sbin/init"}},
               "network": {{"kernelModules": {NIC_MODULES}}}}}"#
        ),
    )
    .unwrap();
    let output = Command::new(common::repo_root().join("initrd-glue/mkinitrd"))
        .arg("--lethe")
        .arg(common::lethe())
        .arg("--config")
        .arg(&config)
        .arg("--modules-dir")
        .arg(kernel_modules_dir())
        .args(extra)
        .arg("-o")
        .arg(out)
        .output()
        .expect("mkinitrd runs");
    assert!(output.status.success(), "mkinitrd failed: {}", common::stderr(&output));
    output
}

/// Unpacks `initrd` into `into`.
fn unpack(initrd: &Path, into: &Path) {
    std::fs::create_dir_all(into).unwrap();
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("cpio -idm --quiet < {}", initrd.display()))
        .current_dir(into)
        .status()
        .unwrap();
    assert!(status.success());
}

/// What r8169 declares, by `modinfo -F firmware`.
fn declared() -> BTreeSet<String> {
    let ko = kernel_modules_dir().join("kernel/drivers/net/ethernet/realtek/r8169.ko");
    let out = Command::new("modinfo").args(["-F", "firmware"]).arg(ko).output().unwrap();
    assert!(out.status.success());
    let names: BTreeSet<String> = common::stdout(&out).lines().map(String::from).collect();
    assert!(names.len() > 10 && names.iter().all(|n| n.starts_with("rtl_nic/")), "{names:?}");
    names
}

fn files_under(root: &Path) -> BTreeSet<String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.insert(path.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    let mut out = BTreeSet::new();
    if root.is_dir() {
        walk(root, root, &mut out);
    }
    out
}

#[test]
fn the_firmware_r8169_declares_comes_from_lib_firmware() {
    let dir = temp_dir();
    let declared = declared();
    for name in &declared {
        assert!(
            Path::new("/lib/firmware").join(name).is_file(),
            "/lib/firmware/{name} missing: install firmware-realtek (scripts/setup.sh)"
        );
    }
    let initrd = dir.join("initrd.cpio");
    let out = mkinitrd(&dir, &initrd, &[]);
    let stderr = common::stderr(&out);
    assert!(
        stderr.contains(&format!(
            "mkinitrd: {} firmware file(s) added to /lib/firmware from /lib/firmware",
            declared.len()
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("warning"), "{stderr}");
    unpack(&initrd, &dir.join("root"));
    assert_eq!(files_under(&dir.join("root/lib/firmware")), declared);
    for name in &declared {
        let inside = std::fs::read(dir.join("root/lib/firmware").join(name)).unwrap();
        assert_eq!(inside, std::fs::read(Path::new("/lib/firmware").join(name)).unwrap(), "{name}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn xz_is_kept_zst_is_decompressed_updates_win_and_missing_files_are_named() {
    let dir = temp_dir();
    let fw = dir.join("firmware");
    let names: Vec<String> = declared().into_iter().collect();
    std::fs::create_dir_all(fw.join("rtl_nic")).unwrap();
    std::fs::create_dir_all(fw.join("updates/rtl_nic")).unwrap();
    // names[0]: .xz; names[1]: .zst; names[2]: plain, with a different copy in updates/;
    // names[3..6]: plain; the rest missing.
    let original = |n: &str| std::fs::read(Path::new("/lib/firmware").join(n)).unwrap();
    let compress = |tool: &str, n: &str, ext: &str| {
        let status = Command::new("sh")
            .arg("-c")
            .arg(format!("{tool} -c /lib/firmware/{n} > {}/{n}{ext}", fw.display()))
            .status()
            .unwrap();
        assert!(status.success());
    };
    compress("xz --check=crc32", &names[0], ".xz");
    compress("zstd -q", &names[1], ".zst");
    std::fs::write(fw.join(&names[2]), b"old").unwrap();
    std::fs::write(fw.join("updates").join(&names[2]), b"update").unwrap();
    for n in &names[3..6] {
        std::fs::write(fw.join(n), original(n)).unwrap();
    }
    let initrd = dir.join("initrd.cpio");
    let out = mkinitrd(&dir, &initrd, &["--firmware-dir", fw.to_str().unwrap()]);
    let stderr = common::stderr(&out);
    let missing = &names[6..];
    let warning = format!(
        "mkinitrd: warning: r8169: {} declared firmware file(s) not in {}: {}",
        missing.len(),
        fw.display(),
        missing.join(" ")
    );
    assert!(stderr.contains(&warning), "expected {warning:?} in:\n{stderr}");
    assert!(stderr
        .contains(&format!("mkinitrd: 6 firmware file(s) added to /lib/firmware from {}", fw.display())));
    assert!(stderr.contains(", 6 firmware files"), "{stderr}");

    let root = dir.join("root");
    unpack(&initrd, &root);
    let inside = root.join("lib/firmware");
    let mut expected: BTreeSet<String> = names[1..6].iter().cloned().collect();
    expected.insert(format!("{}.xz", names[0]));
    assert_eq!(files_under(&inside), expected);
    // The kernel decompresses .xz itself: the very file, not decompressed.
    assert_eq!(
        std::fs::read(inside.join(format!("{}.xz", names[0]))).unwrap(),
        std::fs::read(fw.join(format!("{}.xz", names[0]))).unwrap()
    );
    assert_eq!(std::fs::read(inside.join(&names[1])).unwrap(), original(&names[1]), "zst decompressed");
    assert_eq!(std::fs::read(inside.join(&names[2])).unwrap(), b"update", "updates/ first, as the kernel");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_same_inputs_give_the_same_bytes() {
    let dir = temp_dir();
    let (a, b) = (dir.join("a.cpio"), dir.join("b.cpio"));
    mkinitrd(&dir, &a, &[]);
    // A second later: any build time left in the archive (an mtime) would differ.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    mkinitrd(&dir, &b, &[]);
    let (a, b) = (std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
    assert!(a == b, "two builds differ ({} and {} bytes)", a.len(), b.len());
    let _ = std::fs::remove_dir_all(&dir);
}
