//! The kernel filesystems stage 1 needs, and mounting the root as configured.

use crate::error::{Context, Error, Result};
use rustix::mount::MountFlags;
use std::path::{Path, PathBuf};

/// /proc, /sys, /dev (devtmpfs: the kernel makes the device nodes, no udev needed), /dev/pts
/// (for SSH sessions' terminals) and /run. All of them move into the new root at switch-root.
const API_FILESYSTEMS: &[(&str, &str, &str, &str)] = &[
    ("proc", "/proc", "proc", ""),
    ("sysfs", "/sys", "sysfs", ""),
    ("devtmpfs", "/dev", "devtmpfs", "mode=0755"),
    ("devpts", "/dev/pts", "devpts", "gid=5,mode=0620,ptmxmode=0666"),
    ("tmpfs", "/run", "tmpfs", "mode=0755"),
];

fn is_mountpoint(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let (Ok(me), Some(Ok(parent))) = (path.metadata(), path.parent().map(|p| p.metadata())) else {
        return false;
    };
    me.dev() != parent.dev() || me.ino() == parent.ino()
}

pub(crate) fn mount_api_filesystems() -> Result<()> {
    for &(source, target, fstype, data) in API_FILESYSTEMS {
        let path = Path::new(target);
        std::fs::create_dir_all(path).with_context(|| format!("{target}: cannot create"))?;
        if is_mountpoint(path) {
            continue;
        }
        let mut flags = MountFlags::NOSUID;
        if fstype != "devtmpfs" && fstype != "devpts" {
            flags |= MountFlags::NODEV;
        }
        if fstype == "proc" || fstype == "sysfs" || fstype == "devpts" {
            flags |= MountFlags::NOEXEC;
        }
        let data = std::ffi::CString::new(data).expect("no NUL in constant");
        rustix::mount::mount(source, target, fstype, flags, data.as_c_str())
            .with_context(|| format!("mount {fstype} on {target}"))?;
    }
    Ok(())
}

/// Splits `mount -o` style options into the flags the syscall takes and the filesystem's own
/// data string (`subvol=root,compress=zstd`), as mount(8) does.
pub(crate) fn split_options(options: &str) -> (MountFlags, String) {
    let mut flags = MountFlags::empty();
    let mut data = Vec::new();
    for opt in options.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        match opt {
            "defaults" | "rw" => {}
            "ro" => flags |= MountFlags::RDONLY,
            "nosuid" => flags |= MountFlags::NOSUID,
            "nodev" => flags |= MountFlags::NODEV,
            "noexec" => flags |= MountFlags::NOEXEC,
            "sync" => flags |= MountFlags::SYNCHRONOUS,
            "dirsync" => flags |= MountFlags::DIRSYNC,
            "noatime" => flags |= MountFlags::NOATIME,
            "nodiratime" => flags |= MountFlags::NODIRATIME,
            "relatime" => flags |= MountFlags::RELATIME,
            "strictatime" => flags |= MountFlags::STRICTATIME,
            "lazytime" => flags |= MountFlags::LAZYTIME,
            other => data.push(other),
        }
    }
    (flags, data.join(","))
}

/// Mounts `device` (of `fstype`, with `options`) on `target`.
pub(crate) fn mount_filesystem(device: &Path, target: &Path, fstype: &str, options: &str) -> Result<()> {
    std::fs::create_dir_all(target).with_context(|| format!("{}: cannot create", target.display()))?;
    mount_on(device, target, target, fstype, options)
}

/// The mount itself; `shown` names the target in messages (`target` may be a /proc/self/fd path).
fn mount_on(device: &Path, target: &Path, shown: &Path, fstype: &str, options: &str) -> Result<()> {
    let (flags, data) = split_options(options);
    let data =
        std::ffi::CString::new(data).map_err(|_| Error::msg("boot.root.options: contains a NUL byte"))?;
    let what = || {
        let opts = if options.is_empty() { String::new() } else { format!(" -o {options}") };
        format!("mount -t {fstype}{opts} {} {}", device.display(), shown.display())
    };
    match rustix::mount::mount(device, target, fstype, flags, data.as_c_str()) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::NODEV) => Err(Error::msg(format!(
            "{}: the kernel does not know the filesystem type {fstype:?} (add its module to boot.kernelModules)",
            what()
        ))),
        Err(e) => Err(Error::msg(format!(
            "{}: {} (the kernel log above says why: a wrong subvol= or fsType, a damaged filesystem)",
            what(),
            std::io::Error::from(e)
        ))),
    }
}

/// The directory `mount_point` inside `root`, created as needed, opened `O_PATH`. Every step
/// resolves with `RESOLVE_IN_ROOT`: the new root is a filesystem lethe did not write, and a
/// symlink planted in it (`/persist -> /`) must not send a mount (or a `mkdir`) outside it.
fn open_in_root(root: &Path, mount_point: &Path) -> Result<std::os::fd::OwnedFd> {
    use rustix::fs::{Mode, OFlags, ResolveFlags};
    let shown = || format!("{}{}", root.display(), mount_point.display());
    let dir_flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let resolve = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
    let root_fd = rustix::fs::open(root, dir_flags, Mode::empty())
        .map_err(|e| Error::msg(format!("{}: cannot open: {}", root.display(), std::io::Error::from(e))))?;
    let mut walked = PathBuf::from(".");
    let mut dir = rustix::fs::openat2(&root_fd, &walked, dir_flags, Mode::empty(), resolve)
        .map_err(|e| Error::msg(format!("{}: cannot open: {}", root.display(), std::io::Error::from(e))))?;
    for part in mount_point.components().filter(|c| matches!(c, std::path::Component::Normal(_))) {
        // O_PATH descriptors cannot create entries: the parent is reopened for mkdirat.
        let parent = rustix::fs::openat2(
            &root_fd,
            &walked,
            OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
            resolve,
        )
        .map_err(|e| Error::msg(format!("{}: cannot open: {}", shown(), std::io::Error::from(e))))?;
        match rustix::fs::mkdirat(&parent, part.as_os_str(), Mode::from_raw_mode(0o755)) {
            Ok(()) | Err(rustix::io::Errno::EXIST) => {}
            Err(e) => {
                return Err(Error::msg(format!("{}: cannot create: {}", shown(), std::io::Error::from(e))))
            }
        }
        walked.push(part);
        dir = rustix::fs::openat2(&root_fd, &walked, dir_flags, Mode::empty(), resolve)
            .map_err(|e| Error::msg(format!("{}: cannot open: {}", shown(), std::io::Error::from(e))))?;
    }
    Ok(dir)
}

/// Mounts `device` on `mount_point` inside `root` (a `boot.mounts` entry under `/sysroot`),
/// the target resolved inside `root` only (see [`open_in_root`]); mounting on the descriptor's
/// `/proc/self/fd/N` mounts on exactly the directory that was resolved.
pub(crate) fn mount_in_root(
    device: &Path,
    root: &Path,
    mount_point: &Path,
    fstype: &str,
    options: &str,
) -> Result<()> {
    use std::os::fd::AsRawFd;
    let dir = open_in_root(root, mount_point)?;
    let shown = Path::new(root).join(mount_point.strip_prefix("/").unwrap_or(mount_point));
    mount_on(device, &PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd())), &shown, fstype, options)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_split_into_flags_and_data() {
        let (flags, data) = split_options("subvol=root, compress=zstd:1,noatime,ro,defaults");
        assert_eq!(flags, MountFlags::NOATIME | MountFlags::RDONLY);
        assert_eq!(data, "subvol=root,compress=zstd:1");
        assert_eq!(split_options(""), (MountFlags::empty(), String::new()));
    }
}

#[cfg(test)]
mod in_root_tests {
    use super::*;

    /// A symlink planted in the new root (`/persist -> /tmp/...` outside it, `/up -> ../../..`)
    /// must not move a `boot.mounts` mount out of the root: it resolves inside the root.
    #[test]
    fn a_symlink_in_the_root_cannot_send_a_mount_outside() {
        let base = std::env::temp_dir().join(format!("lethe-in-root-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let (root, outside) = (base.join("root"), base.join("outside"));
        std::fs::create_dir_all(root.join("data")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("persist")).unwrap();
        std::os::unix::fs::symlink("../../..", root.join("up")).unwrap();
        std::os::unix::fs::symlink("/data", root.join("abs")).unwrap();
        let mount = |at: &str| mount_in_root(Path::new("tmpfs"), &root, Path::new(at), "tmpfs", "size=1m");
        // Outside the root: refused, with the path named.
        let e = mount("/persist/x").unwrap_err().to_string();
        assert!(e.starts_with(&format!("{}/persist/x: cannot open: ", root.display())), "{e}");
        // Resolved inside the root.
        for (at, lands) in [("/up/nix", root.join("nix")), ("/abs/sub", root.join("data/sub"))] {
            mount(at).unwrap();
            assert!(is_mountpoint(&lands), "{at}: not mounted at {}", lands.display());
            rustix::mount::unmount(&lands, rustix::mount::UnmountFlags::empty()).unwrap();
        }
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0, "nothing created outside the root");
        assert!(!base.join("nix").exists() && !Path::new("/nix/sub").exists());
        std::fs::remove_dir_all(&base).unwrap();
    }
}
