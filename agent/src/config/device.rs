//! Device paths in the config: stage 1 has no udev, so a `/dev/disk/` link is only there if
//! lethe makes it (`init::devices`). A path of another kind would wait `deviceTimeoutSeconds`
//! at every boot and fail; it is refused when the config is read instead.

use super::reader::{At, Result};
use std::path::PathBuf;

/// The `/dev/disk/` directories lethe makes links in.
pub const KINDS: &[&str] = &["by-uuid", "by-label", "by-partuuid", "by-partlabel", "by-id"];
/// The `by-id/` names lethe makes (udev's `60-persistent-storage.rules` has more: usb-, scsi-,
/// wwn-, mmc- need udev's helpers or buses stage 1 does not read).
pub const BY_ID_PREFIXES: &[&str] = &["nvme-", "virtio-", "ata-"];

/// Whether lethe would make (or the kernel has) the device at `path`.
pub fn findable(path: &str) -> bool {
    let Some(rest) = path.strip_prefix("/dev/disk/") else { return true };
    let (kind, name) = rest.split_once('/').unwrap_or((rest, ""));
    if name.is_empty() || name.contains('/') || !KINDS.contains(&kind) {
        return false;
    }
    kind != "by-id" || BY_ID_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// An absolute device path that stage 1 can wait for.
pub fn read(at: At<'_>) -> Result<PathBuf> {
    let path = at.abs_path()?;
    if findable(&path.to_string_lossy()) {
        return Ok(path);
    }
    at.expected(
        "a device lethe can find without udev (/dev/disk/by-uuid/, by-label/, by-partuuid/, \
         by-partlabel/, by-id/nvme-…, by-id/virtio-…, by-id/ata-…, or /dev/NAME)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_lethe_makes() {
        let cases = [
            ("/dev/vda2", true),
            ("/dev/mapper/crypted", true),
            ("/dev/disk/by-uuid/0f1e2d3c-0000-4000-8000-123456789abc", true),
            ("/dev/disk/by-partlabel/disk-main-luks", true),
            ("/dev/disk/by-id/nvme-WD_BLACK_SN850X_2000GB_24517E4ABM06-part2", true),
            ("/dev/disk/by-id/ata-Samsung_SSD_870_EVO_1TB_S6PTNX0R123456", true),
            ("/dev/disk/by-id/virtio-serial-part1", true),
            ("/dev/disk/by-id/usb-SanDisk_Cruzer-0:0", false),
            ("/dev/disk/by-id/wwn-0x5002538e40a1b2c3", false),
            ("/dev/disk/by-path/pci-0000:00:04.0", false),
            ("/dev/disk/by-diskseq/3", false),
            ("/dev/disk/by-uuid/", false),
            ("/dev/disk/by-uuid", false),
            ("/dev/disk/by-label/a/b", false),
        ];
        for (path, want) in cases {
            assert_eq!(findable(path), want, "{path}");
        }
    }
}
