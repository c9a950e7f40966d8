//! Shared by the unlock tests: scratch directories and LUKS2 images made by cryptsetup.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A scratch directory removed at the end of the test.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("lethe-unlock-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A 20 MiB file with a LUKS2 header whose one keyslot holds `passphrase` (cheap KDFs:
/// `pbkdf2` 1000 iterations, or `argon2id` 32 MiB).
pub fn luks_image(path: &Path, passphrase: &str, kdf: &str) {
    std::fs::File::create(path).unwrap().set_len(20 << 20).unwrap();
    let kdf_args: &[&str] = match kdf {
        "pbkdf2" => &["--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000"],
        "argon2id" => &["--pbkdf", "argon2id", "--pbkdf-memory", "32768", "--pbkdf-force-iterations", "4"],
        other => panic!("unknown kdf {other}"),
    };
    let mut child = Command::new("cryptsetup")
        .args(["luksFormat", "--type", "luks2", "--batch-mode"])
        .args(kdf_args)
        .arg(path)
        .args(["--key-file", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("cryptsetup runs (package cryptsetup-bin)");
    child.stdin.take().unwrap().write_all(passphrase.as_bytes()).unwrap();
    assert!(child.wait().unwrap().success(), "cryptsetup luksFormat {}", path.display());
}
