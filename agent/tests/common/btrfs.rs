//! A real btrfs filesystem for tests: a sparse image file, `mkfs.btrfs`, a loop device, and the
//! top level (`subvolid=5`) mounted in a temporary directory. Everything is undone on drop.
//! Needs root (see `require_root`).

use std::collections::BTreeMap;
use std::fs;
use std::hash::Hasher;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs a command, panicking with its output when it fails.
pub fn sh(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub struct Image {
    pub dir: PathBuf,
    pub file: PathBuf,
    /// The loop device, e.g. `/dev/loop3`.
    pub device: PathBuf,
    /// Where the top level is mounted while the test looks at it.
    pub top: PathBuf,
}

impl Image {
    /// A fresh btrfs of `size_mib` (sparse), top level mounted at `self.top`.
    pub fn new(size_mib: u64) -> Image {
        let dir = PathBuf::from(sh("mktemp", &["-d", "/tmp/lethe-btrfs.XXXXXX"]).trim());
        let file = dir.join("disk.img");
        fs::File::create(&file).unwrap().set_len(size_mib << 20).unwrap();
        sh("mkfs.btrfs", &["-q", "-f", file.to_str().unwrap()]);
        Image::attach(dir, file)
    }

    /// Attaches an existing image file (e.g. a copy of a prepared one) in a new temp dir.
    pub fn attach(dir: PathBuf, file: PathBuf) -> Image {
        let device = PathBuf::from(sh("losetup", &["--find", "--show", file.to_str().unwrap()]).trim());
        let top = dir.join("top");
        fs::create_dir_all(&top).unwrap();
        let image = Image { dir, file, device, top };
        image.mount();
        image
    }

    pub fn mount(&self) {
        sh("mount", &["-t", "btrfs", "-o", "subvolid=5", self.dev(), self.top.to_str().unwrap()]);
    }

    /// Unmounts the test's view, so the next mount sees what is on disk, not a cache.
    pub fn unmount(&self) {
        sh("umount", &[self.top.to_str().unwrap()]);
    }

    pub fn dev(&self) -> &str {
        self.device.to_str().unwrap()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.top.join(rel)
    }

    pub fn subvolume(&self, rel: &str) {
        sh("btrfs", &["-q", "subvolume", "create", self.path(rel).to_str().unwrap()]);
    }

    /// A read-only snapshot of `from` at `to`.
    pub fn snapshot_ro(&self, from: &str, to: &str) {
        sh(
            "btrfs",
            &[
                "-q",
                "subvolume",
                "snapshot",
                "-r",
                self.path(from).to_str().unwrap(),
                self.path(to).to_str().unwrap(),
            ],
        );
    }

    pub fn is_subvolume(&self, rel: &str) -> bool {
        fs::symlink_metadata(self.path(rel)).map(|m| m.is_dir() && m.ino() == 256).unwrap_or(false)
    }

    /// "missing", "subvolume", "directory", "symlink" or "file".
    pub fn kind_of(&self, rel: &str) -> &'static str {
        match fs::symlink_metadata(self.path(rel)) {
            Err(_) => "missing",
            Ok(m) if m.is_dir() && m.ino() == 256 => "subvolume",
            Ok(m) if m.is_dir() => "directory",
            Ok(m) if m.file_type().is_symlink() => "symlink",
            Ok(_) => "file",
        }
    }

    pub fn exists(&self, rel: &str) -> bool {
        fs::symlink_metadata(self.path(rel)).is_ok()
    }

    pub fn write(&self, rel: &str, content: &str) {
        let p = self.path(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, content).unwrap();
    }

    /// Sets the mtime of `rel` (not following symlinks) to `epoch` seconds.
    pub fn set_mtime(&self, rel: &str, epoch: i64) {
        sh("touch", &["-h", "-d", &format!("@{epoch}"), self.path(rel).to_str().unwrap()]);
    }

    pub fn mtime(&self, rel: &str) -> i64 {
        fs::symlink_metadata(self.path(rel)).unwrap().mtime()
    }

    /// Names directly in directory `rel`, sorted.
    pub fn names(&self, rel: &str) -> Vec<String> {
        let mut names: Vec<String> = match fs::read_dir(self.path(rel)) {
            Ok(rd) => rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect(),
            Err(_) => Vec::new(),
        };
        names.sort();
        names
    }

    /// Every subvolume of the filesystem, as paths relative to the top level, sorted.
    pub fn all_subvolumes(&self) -> Vec<String> {
        let out = sh("btrfs", &["subvolume", "list", self.top.to_str().unwrap()]);
        let mut paths: Vec<String> =
            out.lines().filter_map(|l| l.split(" path ").nth(1)).map(|p| p.to_string()).collect();
        paths.sort();
        paths
    }

    /// A fingerprint of everything under `rel`: names, types, modes, sizes, mtimes, contents,
    /// symlink targets. Equal fingerprints before and after = untouched.
    pub fn fingerprint(&self, rel: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        fingerprint_into(&self.path(rel), "", &mut out);
        out
    }

    /// A config file for lethe with this image as `rollback.device` and extra rollback fields.
    pub fn config(&self, extra: &str) -> PathBuf {
        let sep = if extra.trim().is_empty() { "" } else { ", " };
        let text = format!(r#"{{"version": 1, "rollback": {{"device": "{}"{sep}{extra}}}}}"#, self.dev());
        let path = self.dir.join("config.json");
        fs::write(&path, text).unwrap();
        path
    }
}

fn fingerprint_into(path: &Path, rel: &str, out: &mut BTreeMap<String, String>) {
    let meta = fs::symlink_metadata(path).unwrap();
    // Inode 2 is the stand-in btrfs shows for a subvolume nested in a snapshot's source: the
    // kernel makes it up on each lookup, with the current time as its mtime.
    let mtime = if meta.ino() == 2 { "-".into() } else { format!("{}.{}", meta.mtime(), meta.mtime_nsec()) };
    let mut line = format!(
        "mode={:o} uid={} gid={} mtime={mtime} ino={}",
        meta.permissions().mode(),
        meta.uid(),
        meta.gid(),
        meta.ino()
    );
    if meta.file_type().is_symlink() {
        line.push_str(&format!(" -> {}", fs::read_link(path).unwrap().display()));
    } else if meta.is_file() {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        h.write(&fs::read(path).unwrap());
        line.push_str(&format!(" size={} hash={:x}", meta.len(), h.finish()));
    }
    out.insert(rel.to_string(), line);
    if meta.is_dir() {
        for entry in fs::read_dir(path).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            fingerprint_into(&entry.path(), &format!("{rel}/{name}"), out);
        }
    }
}

impl Drop for Image {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.top).output();
        let _ = Command::new("losetup").arg("-d").arg(&self.device).output();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Seconds since the epoch, by the test's (trusted) clock.
pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

pub const DAY: i64 = 86_400;

/// The disk of an impermanent host: a used `root` (files, `var/lib/machines` as a nested
/// subvolume as systemd makes it), and siblings lethe must never touch: `persist` (with a nested
/// subvolume and a symlink), `nix`, `home`, a file at the top level.
pub fn impermanent_layout(size_mib: u64) -> Image {
    let image = Image::new(size_mib);
    image.subvolume("root");
    image.write("root/etc/hostname", "old-boot\n");
    image.write("root/marker", "written during the last boot\n");
    sh("mkdir", &["-p", image.path("root/var/lib").to_str().unwrap()]);
    image.subvolume("root/var/lib/machines");
    image.write("root/var/lib/machines/m1/etc/os-release", "ID=debian\n");
    image.subvolume("persist");
    image.write("persist/etc/ssh/ssh_host_ed25519_key", "secret key\n");
    image.write("persist/var/lib/state", "kept\n");
    image.subvolume("persist/backups");
    image.write("persist/backups/b1", "backup\n");
    std::os::unix::fs::symlink("/persist/etc", image.path("persist/etc-link")).unwrap();
    image.subvolume("nix");
    image.write("nix/store/abc-hello/bin/hello", "#!/bin/sh\n");
    image.subvolume("home");
    image.write("home/alice/notes.txt", "hello\n");
    image.write("top-level-file", "not a subvolume\n");
    image
}

impl Image {
    /// Fingerprints of every top-level entry except `root` and `old_roots` (and `except`).
    pub fn siblings(&self, except: &[&str]) -> BTreeMap<String, BTreeMap<String, String>> {
        self.names("")
            .into_iter()
            .filter(|n| n != "root" && n != "old_roots" && !except.contains(&n.as_str()))
            .map(|n| {
                let f = self.fingerprint(&n);
                (n, f)
            })
            .collect()
    }

    /// When lethe recorded that `rel` was archived (`trusted.lethe.archived`), if it did.
    pub fn archived_at(&self, rel: &str) -> Option<i64> {
        let mut buf = [0u8; 32];
        match rustix::fs::getxattr(self.path(rel), "trusted.lethe.archived", &mut buf) {
            Ok(n) => Some(std::str::from_utf8(&buf[..n]).unwrap().parse().unwrap()),
            Err(rustix::io::Errno::NODATA) => None,
            Err(e) => panic!("{rel}: getxattr: {e}"),
        }
    }

    /// Records that `rel` was archived at `epoch`, as lethe does.
    pub fn set_archived_at(&self, rel: &str, epoch: i64) {
        let value = epoch.to_string();
        rustix::fs::setxattr(
            self.path(rel),
            "trusted.lethe.archived",
            value.as_bytes(),
            rustix::fs::XattrFlags::empty(),
        )
        .unwrap();
    }

    /// An archived root in `old_roots/NAME`, modified `age_days` ago, with `nested` subvolumes
    /// nested inside each other (`NAME/n1/n2/...`) and a file at each level.
    pub fn archive(&self, name: &str, age_days: i64, nested: usize) -> String {
        sh("mkdir", &["-p", self.path("old_roots").to_str().unwrap()]);
        let rel = format!("old_roots/{name}");
        self.subvolume(&rel);
        self.write(&format!("{rel}/file"), name);
        let mut at = rel.clone();
        for i in 1..=nested {
            at = format!("{at}/n{i}");
            self.subvolume(&at);
            self.write(&format!("{at}/file"), &at);
        }
        self.set_mtime(&rel, now() - age_days * DAY);
        rel
    }
}
