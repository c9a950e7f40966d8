//! The kernel filesystems stage 1 needs, and mounting the root as configured.

use crate::error::{Context, Error, Result};
use rustix::mount::MountFlags;
use std::path::Path;

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

pub fn mount_api_filesystems() -> Result<()> {
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
pub fn split_options(options: &str) -> (MountFlags, String) {
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
pub fn mount_filesystem(device: &Path, target: &Path, fstype: &str, options: &str) -> Result<()> {
    std::fs::create_dir_all(target).with_context(|| format!("{}: cannot create", target.display()))?;
    let (flags, data) = split_options(options);
    let data =
        std::ffi::CString::new(data).map_err(|_| Error::msg("boot.root.options: contains a NUL byte"))?;
    let what = || {
        let opts = if options.is_empty() { String::new() } else { format!(" -o {options}") };
        format!("mount -t {fstype}{opts} {} {}", device.display(), target.display())
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
