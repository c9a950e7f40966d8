//! Trees of files as text, for table-driven tests: one line per path, sorted,
//!
//! ```text
//! d /var/lib 0755 0:0
//! f /etc/hostname 0644 0:0 host\n
//! l /etc/ssh/key -> /persist/etc/ssh/key
//! ```
//!
//! and a private mount namespace with a tmpfs to build them in. `build` also takes
//! `h /new = /existing` (a hard link), `s /path MODE UID:GID SIZE` (a sparse file: `head` at 0,
//! `tail` at the end, a hole between), `x /path NAME HEX` (an xattr, set after the owner),
//! `m /path tmpfs [OPTIONS]` (a tmpfs mounted there) and `b /path /from` (a bind mount). The
//! listing shows `links=N` of files with more than one link, `sparse` when fewer bytes are
//! allocated than the size, `security.capability=HEX`, and runs of 16 or more NUL bytes as
//! `\0*N`.

use std::fs;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
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
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let zeros = bytes[i..].iter().take_while(|c| **c == 0).count();
        if zeros >= 16 {
            s.push_str(&format!("\\0*{zeros}"));
            i += zeros;
            continue;
        }
        i += 1;
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
                let to = std::ffi::OsString::from_vec(unescape(parts.next().expect("a link target")));
                std::os::unix::fs::symlink(to, &p).unwrap();
            }
            "h" => {
                assert_eq!(parts.next(), Some("="), "{line}");
                let first = root.join(parts.next().expect("a path").trim_start_matches('/'));
                fs::hard_link(first, &p).unwrap_or_else(|e| panic!("{line}: {e}"));
            }
            "s" => {
                let mode = u32::from_str_radix(parts.next().expect("a mode"), 8).unwrap();
                let (uid, gid) = owner(parts.next().expect("UID:GID"));
                let size: u64 = parts.next().expect("a size").parse().unwrap();
                let f = fs::File::create(&p).unwrap();
                use std::os::unix::fs::FileExt;
                f.write_all_at(b"head", 0).unwrap();
                f.write_all_at(b"tail", size - 4).unwrap();
                std::os::unix::fs::chown(&p, Some(uid), Some(gid)).unwrap();
                fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
            }
            "x" => {
                let name = parts.next().expect("an xattr name");
                let hex = parts.next().expect("a value in hex");
                let value: Vec<u8> = (0..hex.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                    .collect();
                rustix::fs::lsetxattr(&p, name, &value, rustix::fs::XattrFlags::empty())
                    .unwrap_or_else(|e| panic!("{line}: {e}"));
            }
            "m" => {
                let fstype = parts.next().expect("a filesystem type");
                let opts = parts.next().unwrap_or("mode=0755");
                super::btrfs::sh("mount", &["-t", fstype, "-o", opts, fstype, p.to_str().unwrap()]);
            }
            "b" => {
                let from = root.join(parts.next().expect("a path").trim_start_matches('/'));
                super::btrfs::sh("mount", &["--bind", from.to_str().unwrap(), p.to_str().unwrap()]);
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
            let to = fs::read_link(&path).unwrap();
            out.push(format!("l {} -> {}", show.display(), escape(to.as_os_str().as_bytes())));
        } else if meta.is_dir() {
            out.push(format!("d {} {perms}", show.display()));
            walk(&path, &show, skip, out);
        } else {
            let content = escape(&fs::read(&path).unwrap());
            let mut extra = String::new();
            if meta.nlink() > 1 {
                extra.push_str(&format!("links={} ", meta.nlink()));
            }
            if meta.blocks() * 512 < meta.size() {
                extra.push_str("sparse ");
            }
            let mut cap = vec![0u8; 256];
            if let Ok(n) = rustix::fs::lgetxattr(&path, "security.capability", &mut cap) {
                let hex: String = cap[..n].iter().map(|b| format!("{b:02x}")).collect();
                extra.push_str(&format!("security.capability={hex} "));
            }
            out.push(format!("f {} {perms} {extra}{content}", show.display()).trim_end().to_string());
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

/// Mount points below `dir` as the root there shows them (`/var/lib`), with their filesystem
/// type and `ro`/`rw`, in mount order.
pub fn mounts_of(dir: &Path) -> String {
    let text = fs::read_to_string("/proc/thread-self/mountinfo").unwrap();
    let prefix = format!("{}/", dir.display());
    let mut out = String::new();
    for l in text.lines() {
        let f: Vec<&str> = l.split(' ').collect();
        let Some(below) = f[4].strip_prefix(&prefix) else { continue };
        let fstype = f.iter().skip_while(|x| **x != "-").nth(1).unwrap();
        // Read-only as a mount or as a whole filesystem (the super options, last).
        let ro = if f[5].split(',').any(|o| o == "ro") || f[f.len() - 1].split(',').any(|o| o == "ro") {
            "ro"
        } else {
            "rw"
        };
        out.push_str(&format!("/{below} {fstype} {ro}\n"));
    }
    out
}
