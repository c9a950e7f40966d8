//! Trees of files as text, for table-driven tests: one line per path, sorted,
//!
//! ```text
//! d /var/lib 0755 0:0
//! f /etc/hostname 0644 0:0 host\n
//! l /etc/ssh/key -> /persist/etc/ssh/key
//! ```
//!
//! and a private mount namespace with a tmpfs to build them in.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Puts the calling thread in a mount namespace of its own (mounts made by it and by the
/// processes it starts vanish with it), with a tmpfs at a fresh directory. Each test runs on
/// its own thread, so tests do not see each other's mounts.
pub fn private_tmpfs() -> PathBuf {
    super::require_root();
    // SAFETY: only the mount namespace is unshared, which no other thread's memory depends on.
    unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNS) }
        .expect("unshare(CLONE_NEWNS)");
    rustix::mount::mount_change(
        "/",
        rustix::mount::MountPropagationFlags::PRIVATE | rustix::mount::MountPropagationFlags::REC,
    )
    .expect("make / private");
    let dir = PathBuf::from(super::btrfs::sh("mktemp", &["-d", "/tmp/lethe-persist.XXXXXX"]).trim());
    super::btrfs::sh("mount", &["-t", "tmpfs", "-o", "mode=0755", "tmpfs", dir.to_str().unwrap()]);
    dir
}

fn escape(bytes: &[u8]) -> String {
    let mut s = String::new();
    for &b in bytes {
        match b {
            b'\n' => s.push_str("\\n"),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s
}

fn unescape(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push(b'\n'),
                Some('\\') => out.push(b'\\'),
                Some(other) => panic!("unknown escape \\{other}"),
                None => out.push(b'\\'),
            }
        } else {
            out.extend(c.to_string().as_bytes());
        }
    }
    out
}

fn owner(spec: &str) -> (u32, u32) {
    let (u, g) = spec.split_once(':').expect("UID:GID");
    (u.parse().unwrap(), g.parse().unwrap())
}

/// Builds `text` below `root` (parents of a line must come before it).
pub fn build(root: &Path, text: &str) {
    for line in text.lines().map(str::trim_end).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let mut parts = line.splitn(5, ' ');
        let (kind, path) = (parts.next().unwrap(), parts.next().expect("a path"));
        let p = root.join(path.trim_start_matches('/'));
        match kind {
            "d" | "f" => {
                let mode = u32::from_str_radix(parts.next().expect("a mode"), 8).unwrap();
                let (uid, gid) = owner(parts.next().expect("UID:GID"));
                if kind == "d" {
                    fs::create_dir(&p).unwrap_or_else(|e| panic!("{line}: {e}"));
                } else {
                    fs::write(&p, unescape(parts.next().unwrap_or("")))
                        .unwrap_or_else(|e| panic!("{line}: {e}"));
                }
                std::os::unix::fs::chown(&p, Some(uid), Some(gid)).unwrap();
                fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
            }
            "l" => {
                assert_eq!(parts.next(), Some("->"), "{line}");
                std::os::unix::fs::symlink(parts.next().expect("a link target"), &p).unwrap();
            }
            other => panic!("unknown kind {other} in {line}"),
        }
    }
}

/// The tree below `root` in the same text form, sorted, without `skip` (top-level names).
pub fn list(root: &Path, skip: &[&str]) -> String {
    let mut lines = Vec::new();
    walk(root, Path::new("/"), skip, &mut lines);
    lines.sort();
    lines.join("\n") + "\n"
}

fn walk(dir: &Path, shown: &Path, skip: &[&str], out: &mut Vec<String>) {
    for entry in fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if shown == Path::new("/") && skip.contains(&name.to_str().unwrap()) {
            continue;
        }
        let path = entry.path();
        let show = shown.join(&name);
        let meta = fs::symlink_metadata(&path).unwrap();
        let perms = format!("{:04o} {}:{}", meta.permissions().mode() & 0o7777, meta.uid(), meta.gid());
        if meta.file_type().is_symlink() {
            out.push(format!("l {} -> {}", show.display(), fs::read_link(&path).unwrap().display()));
        } else if meta.is_dir() {
            out.push(format!("d {} {perms}", show.display()));
            walk(&path, &show, skip, out);
        } else {
            let content = escape(&fs::read(&path).unwrap());
            out.push(format!("f {} {perms} {content}", show.display()).trim_end().to_string());
        }
    }
}

/// Mount points below `dir`, in this thread's namespace (`/proc/self` would be the main
/// thread's).
pub fn mounts_below(dir: &Path) -> Vec<String> {
    let text = fs::read_to_string("/proc/thread-self/mountinfo").unwrap();
    let prefix = format!("{}/", dir.display());
    text.lines()
        .filter(|l| l.split(' ').nth(4).is_some_and(|m| m.starts_with(&prefix)))
        .map(|l| l.split(' ').nth(4).unwrap().to_string())
        .collect()
}
