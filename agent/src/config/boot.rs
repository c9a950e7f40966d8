//! `boot`: what `lethe init` needs when it is the initrd's `/init` (no systemd in stage 1).

use super::network::module_name;
use super::reader::{At, Result};
use serde::Serialize;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Boot {
    /// Loaded with their dependencies before anything else (storage, filesystems, dm-crypt).
    pub kernel_modules: Vec<String>,
    pub root: Root,
    /// Other filesystems stage 2 needs from its first instruction (NixOS' `neededForBoot`:
    /// `/nix`, `/persist`), mounted under the new root after it, in order; their mount points
    /// are created when missing (a freshly rolled-back root is empty).
    pub mounts: Vec<Mount>,
    /// How long to wait for the root device (or the LUKS devices) to appear.
    pub device_timeout_seconds: u32,
    /// Stage-2 init inside the new root; the kernel command line's `init=` wins.
    pub init: PathBuf,
    /// Swap or partition holding a hibernation image, resumed before anything is mounted.
    pub resume_device: Option<PathBuf>,
    /// What stage 1 does after a failure has been printed on the console.
    pub on_failure: OnFailure,
    /// How long the failure message stays up (and Enter can cancel) before `onFailure` acts.
    pub failure_delay_seconds: u32,
}

/// The end of a failed stage 1: it never silently hangs, and never panics the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum OnFailure {
    /// Reboot after the delay: retries a transient failure (a slow disk) unattended.
    Reboot,
    Poweroff,
    /// Stay on the console with the message, re-printed now and then, until someone acts.
    Wait,
}

impl OnFailure {
    pub fn parse(s: &str) -> Option<OnFailure> {
        match s {
            "reboot" => Some(OnFailure::Reboot),
            "poweroff" => Some(OnFailure::Poweroff),
            "wait" => Some(OnFailure::Wait),
            _ => None,
        }
    }
}

fn on_failure(at: At<'_>) -> Result<OnFailure> {
    OnFailure::parse(&at.string().unwrap_or_default())
        .map_or_else(|| at.expected("\"reboot\", \"poweroff\" or \"wait\""), Ok)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Root {
    pub device: PathBuf,
    pub fs_type: String,
    pub options: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Mount {
    pub device: PathBuf,
    /// Where in the booted system, e.g. `/nix`.
    pub mount_point: PathBuf,
    pub fs_type: String,
    pub options: String,
}

fn mount(at: At<'_>) -> Result<Mount> {
    read_mount(at, super::device::read, "boot.root")
}

/// A mount entry (`boot.mounts`, `rollback.stage2Mounts`): the device read by `device`, a mount
/// point other than `/` (`root` says what `/` is instead).
pub(super) fn read_mount(at: At<'_>, device: fn(At<'_>) -> Result<PathBuf>, root: &str) -> Result<Mount> {
    let obj = at.object_of(&["device", "mountPoint", "fsType", "options"])?;
    let mount_point = obj.required("mountPoint", |v| {
        let p = v.abs_path()?;
        if p == std::path::Path::new("/") {
            v.expected(&format!("a mount point other than / (that is {root})"))
        } else {
            Ok(p)
        }
    })?;
    let fs_type = obj.optional("fsType", fs_type)?.unwrap_or_else(|| "btrfs".into());
    let device =
        if is_zfs(&fs_type) { obj.required("device", zfs_dataset)? } else { obj.required("device", device)? };
    Ok(Mount {
        device,
        mount_point,
        fs_type,
        options: obj.optional("options", |v| v.string())?.unwrap_or_default(),
    })
}

const FIELDS: &[&str] = &[
    "kernelModules",
    "root",
    "mounts",
    "deviceTimeoutSeconds",
    "init",
    "resumeDevice",
    "onFailure",
    "failureDelaySeconds",
];

/// Whether a mount's filesystem is ZFS: then its `device` is a dataset name (`rpool/local/root`),
/// which the pool's import makes mountable, not a path stage 1 waits for.
pub fn is_zfs(fs_type: &str) -> bool {
    fs_type == "zfs"
}

/// A ZFS dataset name as the device of a `zfs` mount, kept as a path for the mount syscall.
fn zfs_dataset(at: At<'_>) -> Result<PathBuf> {
    let s = at.string()?;
    let problem = if s.starts_with('/') {
        Some("a path: ZFS mounts a dataset, which the pool's import finds on its disks".into())
    } else {
        super::datasets::name_problem(&s)
    };
    match problem {
        None => Ok(PathBuf::from(s)),
        Some(why) => {
            at.expected(&format!("a ZFS dataset name like \"rpool/local/root\" with fsType \"zfs\" ({why})"))
        }
    }
}

fn fs_type(at: At<'_>) -> Result<String> {
    let s = at.string()?;
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_') {
        Ok(s)
    } else {
        at.expected("a filesystem type like \"btrfs\"")
    }
}

fn root(at: At<'_>) -> Result<Root> {
    let obj = at.object_of(&["device", "fsType", "options"])?;
    let fs_type = obj.optional("fsType", fs_type)?.unwrap_or_else(|| "btrfs".into());
    let device = if is_zfs(&fs_type) {
        obj.required("device", zfs_dataset)?
    } else {
        obj.required("device", super::device::read)?
    };
    Ok(Root { device, fs_type, options: obj.optional("options", |v| v.string())?.unwrap_or_default() })
}

pub fn read(at: At<'_>) -> Result<Boot> {
    let obj = at.object_of(FIELDS)?;
    Ok(Boot {
        kernel_modules: obj.optional("kernelModules", |v| v.list(module_name))?.unwrap_or_default(),
        root: obj.required("root", root)?,
        mounts: obj.optional("mounts", |v| v.list(mount))?.unwrap_or_default(),
        device_timeout_seconds: obj
            .optional("deviceTimeoutSeconds", |v| v.uint("a number of seconds", 1, 3600))?
            .unwrap_or(30) as u32,
        init: obj.optional("init", |v| v.abs_path())?.unwrap_or_else(|| "/sbin/init".into()),
        resume_device: obj.optional("resumeDevice", super::device::read)?,
        on_failure: obj.optional("onFailure", on_failure)?.unwrap_or(OnFailure::Reboot),
        failure_delay_seconds: obj
            .optional("failureDelaySeconds", |v| v.uint("a number of seconds", 0, 86400))?
            .unwrap_or(30) as u32,
    })
}
