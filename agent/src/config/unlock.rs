//! `unlock`: the LUKS devices to open, or answering systemd-cryptsetup's password requests.

use super::reader::{error, At, Result};
use serde::Serialize;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Unlock {
    pub devices: Vec<Device>,
    /// Answer `/run/systemd/ask-password` requests instead of opening `devices` directly.
    pub systemd_agent: bool,
    /// Also prompt on `/dev/console`.
    pub console: bool,
    /// Wrong passphrases one login may try before it is closed.
    pub max_tries: u32,
    /// Network-bound unlock: Tang answers race the prompts (direct mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tang: Option<super::tang::Tang>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    /// Device-mapper name: the disk opens as `/dev/mapper/<name>`.
    pub name: String,
    pub device: PathBuf,
    pub allow_discards: bool,
    /// Skip dm-crypt's read/write workqueues (faster on SSDs; NixOS' `bypassWorkqueues`).
    pub bypass_workqueues: bool,
    /// Detached LUKS header, when the device itself has none.
    pub header: Option<PathBuf>,
    /// What the passphrase opens: a LUKS device (every device of the config), or the key of a
    /// ZFS encryption root, which `lethe init` asks for on a ZFS root (never read from JSON).
    #[serde(skip)]
    pub kind: DeviceKind,
}

/// What an unlock target is; see [`Device::kind`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DeviceKind {
    #[default]
    Luks,
    /// `name` is the encryption root (`rpool`), whose key `zfs load-key` loads from stdin.
    ZfsKey,
}

const FIELDS: &[&str] = &["devices", "systemdAgent", "console", "maxTries", "tang"];
const DEVICE_FIELDS: &[&str] = &["name", "device", "allowDiscards", "bypassWorkqueues", "header"];

fn mapper_name(at: At<'_>) -> Result<String> {
    let s = at.string()?;
    let ok = !s.is_empty()
        && s.len() < 128
        && s != "."
        && s != ".."
        && s.chars().all(|c| c.is_ascii_alphanumeric() || "_-+.".contains(c));
    if ok {
        Ok(s)
    } else {
        at.expected("a device-mapper name (letters, digits, _ - + .; like \"crypted\")")
    }
}

fn device(at: At<'_>) -> Result<Device> {
    let obj = at.object_of(DEVICE_FIELDS)?;
    Ok(Device {
        name: obj.required("name", mapper_name)?,
        device: obj.required("device", super::device::read)?,
        allow_discards: obj.optional("allowDiscards", |v| v.bool())?.unwrap_or(false),
        bypass_workqueues: obj.optional("bypassWorkqueues", |v| v.bool())?.unwrap_or(false),
        header: obj.optional("header", super::device::read)?,
        kind: DeviceKind::Luks,
    })
}

pub fn read(at: At<'_>) -> Result<Unlock> {
    let obj = at.object_of(FIELDS)?;
    let unlock = Unlock {
        devices: obj.optional("devices", |v| v.list(device))?.unwrap_or_default(),
        systemd_agent: obj.optional("systemdAgent", |v| v.bool())?.unwrap_or(false),
        console: obj.optional("console", |v| v.bool())?.unwrap_or(true),
        max_tries: obj.optional("maxTries", |v| v.uint("a number of attempts", 1, 100))?.unwrap_or(3) as u32,
        tang: obj.optional("tang", super::tang::read)?,
    };
    if unlock.systemd_agent && !unlock.devices.is_empty() {
        // Two openers for one disk would race; in this mode systemd-cryptsetup opens the
        // devices of boot.initrd.luks.devices and lethe only answers its questions.
        return Err(error(
            &obj.child_path("devices"),
            "expected no devices with systemdAgent: true (systemd-cryptsetup opens them; lethe answers its password requests)",
        ));
    }
    if !unlock.systemd_agent && unlock.devices.is_empty() {
        return Err(error(
            &obj.child_path("devices"),
            "expected at least one device (or systemdAgent: true)",
        ));
    }
    for (i, d) in unlock.devices.iter().enumerate() {
        if unlock.devices[..i].iter().any(|e| e.name == d.name) {
            return Err(error(
                &format!("{}[{i}].name", obj.child_path("devices")),
                format!("{:?} is used twice", d.name),
            ));
        }
    }
    // In systemdAgent mode the names are the devices systemd-cryptsetup asks for (crypttab's,
    // NixOS's boot.initrd.luks.devices), which this config does not list.
    if let Some(tang) = unlock.tang.as_ref().filter(|_| !unlock.systemd_agent) {
        for name in tang.secret_files.keys() {
            if !unlock.devices.iter().any(|d| &d.name == name) {
                return Err(error(
                    &format!("{}.secretFiles.{name}", obj.child_path("tang")),
                    format!("expected the name of a device in unlock.devices, got {name:?}"),
                ));
            }
        }
    }
    Ok(unlock)
}

/// What `check-config` adds to reading: the Tang JWE files must be private (not in the Nix
/// store, not world-readable). Only there: at boot a readable JWE still unlocks (refusing it
/// then would only lock the owner out), and `check-config` is where the mistake is fixed.
pub(crate) fn check_secret_files(unlock: &Unlock) -> Result<()> {
    let Some(tang) = &unlock.tang else { return Ok(()) };
    for (name, path) in &tang.secret_files {
        if let Some(problem) = super::tang::secret_file_problem(path) {
            return Err(error(&format!("unlock.tang.secretFiles.{name}"), problem));
        }
    }
    Ok(())
}

/// An `unlock` section with no `ssh` section and `console: false` has nobody to ask: the boot
/// would wait for a passphrase that cannot come.
pub(super) fn check_someone_can_answer(unlock: Option<&Unlock>, has_ssh: bool) -> Result<()> {
    match unlock {
        Some(u) if !u.console && !has_ssh => Err(error(
            "unlock.console",
            "expected true when there is no ssh section (nothing else could type the passphrase), got false",
        )),
        _ => Ok(()),
    }
}
