//! Block devices in stage 1 without udev: waiting (bounded) for a device node, and the
//! `/dev/disk/` links that configs name, with udev's names ([`names`]): `by-uuid/` and
//! `by-label/` from the filesystem's own superblock (btrfs, ext2/3/4, LUKS, swap),
//! `by-partuuid/` and `by-partlabel/` from the partition table ([`gpt`]), `by-id/` (nvme-, ata-,
//! virtio-) from sysfs. The kernel's devtmpfs makes `/dev/vda` etc. by itself; only the links
//! are ours.

pub(crate) mod gpt;
pub(crate) mod names;

use crate::error::{Error, Result};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What a superblock says about a block device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Identity {
    pub kind: &'static str,
    pub uuid: String,
    pub label: Option<String>,
}

/// Bytes from the start of a device that [`identify`] needs (btrfs' superblock is at 64 KiB).
pub(crate) const PROBE_BYTES: usize = 0x10000 + 0x1000;

fn uuid_string(b: &[u8]) -> String {
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

fn c_string(b: &[u8]) -> Option<String> {
    let end = b.iter().position(|&x| x == 0).unwrap_or(b.len());
    let s = String::from_utf8_lossy(&b[..end]).trim().to_string();
    (!s.is_empty()).then_some(s)
}

/// Recognizes the filesystems stage 1 cares about from the first [`PROBE_BYTES`] of a device.
pub(crate) fn identify(head: &[u8]) -> Option<Identity> {
    let at = |off: usize, len: usize| head.get(off..off + len);
    if at(0, 6) == Some(b"LUKS\xba\xbe") {
        let uuid = c_string(at(168, 40)?)?;
        let version = u16::from_be_bytes(at(6, 2)?.try_into().ok()?);
        let label = if version == 2 { c_string(at(24, 48)?) } else { None };
        return Some(Identity { kind: "crypto_LUKS", uuid, label });
    }
    if at(0x10040, 8) == Some(b"_BHRfS_M") {
        return Some(Identity {
            kind: "btrfs",
            uuid: uuid_string(at(0x10020, 16)?),
            label: c_string(at(0x1012b, 256)?),
        });
    }
    if at(1024 + 0x38, 2) == Some(&[0x53, 0xef]) {
        return Some(Identity {
            kind: "ext4",
            uuid: uuid_string(at(1024 + 0x68, 16)?),
            label: c_string(at(1024 + 0x78, 16)?),
        });
    }
    if at(4096 - 10, 10) == Some(b"SWAPSPACE2") {
        return Some(Identity {
            kind: "swap",
            uuid: uuid_string(at(1024 + 12, 16)?),
            label: c_string(at(1024 + 28, 16)?),
        });
    }
    None
}

/// Block device names the kernel knows now (`vda`, `vda1`, `dm-0`), sorted.
pub(crate) fn block_devices() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir("/sys/class/block")
        .map(|dir| dir.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.sort();
    names
}

/// A sysfs attribute's text, if the file exists.
fn sysfs_attr(dir: &Path, name: &str) -> Option<String> {
    std::fs::read(dir.join(name)).ok().map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// udev's `ATTRS{name}`: the attribute of the device or of its nearest parent that has one.
fn sysfs_attr_up(dir: &Path, name: &str) -> Option<String> {
    dir.ancestors().take_while(|d| d.starts_with("/sys/devices/")).find_map(|d| sysfs_attr(d, name))
}

/// What sysfs says about the whole disk `dir` (canonical sysfs path) for its by-id names.
fn disk_ids(dir: &Path) -> names::DiskIds {
    let kernel = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    // SAT's ATA Information VPD page: IDENTIFY DEVICE data starts at byte 60.
    let ata_identify =
        std::fs::read(dir.join("device/vpd_pg89")).ok().and_then(|p| p.get(60..572).map(<[u8]>::to_vec));
    names::DiskIds {
        wwid: sysfs_attr(dir, "wwid"),
        nsid: sysfs_attr_up(dir, "nsid"),
        model: sysfs_attr_up(dir, "model"),
        serial: sysfs_attr_up(dir, "serial"),
        vendor: sysfs_attr_up(dir, "vendor"),
        ata_identify,
        kernel,
    }
}

/// The partition table entry of partition `number` of the disk at `/dev/DISK`: (uuid, GPT name).
/// An MBR partition's "UUID" is blkid's `DISKID-NN`; it has no name.
fn partition_entry(disk_node: &Path, disk_dir: &Path, number: u32) -> Option<(String, Option<String>)> {
    let file = std::fs::File::open(disk_node).ok()?;
    let sector: u64 = sysfs_attr(disk_dir, "queue/logical_block_size")?.trim().parse().ok()?;
    let size = sysfs_attr(disk_dir, "size")?.trim().parse::<u64>().ok()?.checked_mul(512)?;
    let mut read = |at: u64, len: usize| {
        use std::os::unix::fs::FileExt;
        let mut buf = vec![0u8; len];
        file.read_exact_at(&mut buf, at).ok().map(|()| buf)
    };
    match gpt::read_table(&mut read, sector, size) {
        Ok(parts) => parts.into_iter().find(|p| p.number == number).map(|p| (p.uuid, Some(p.name))),
        Err(why) => {
            log::debug!("{}: no GPT: {why}", disk_node.display());
            let mbr = read(0, 512)?;
            let id = u32::from_le_bytes(mbr[440..444].try_into().ok()?);
            (mbr[510..512] == [0x55, 0xaa] && id != 0).then(|| (format!("{id:08x}-{number:02x}"), None))
        }
    }
}

/// Makes the `/dev/disk/by-*` links of the devices not probed yet (`seen`): by-uuid and
/// by-label from the superblock, by-partuuid and by-partlabel from the partition table, by-id
/// from sysfs. Unreadable devices (an empty CD drive) are skipped; names that cannot be a file
/// name (a header saying `..`) are refused with a warning.
pub(crate) fn link_new_devices(seen: &mut HashSet<String>) {
    for name in block_devices() {
        if seen.contains(&name) {
            continue;
        }
        let node = Path::new("/dev").join(&name);
        let mut head = vec![0u8; PROBE_BYTES];
        let n = match std::fs::File::open(&node).and_then(|mut f| read_up_to(&mut f, &mut head)) {
            Ok(n) => n,
            Err(_) => continue,
        };
        seen.insert(name.clone());
        let mut contents = names::Contents::default();
        if let Some(id) = identify(&head[..n]) {
            log::debug!("{}: {} uuid {} label {:?}", node.display(), id.kind, id.uuid, id.label);
            contents.fs_uuid = Some(id.uuid);
            contents.fs_label = id.label;
        }
        let dir = std::fs::canonicalize(Path::new("/sys/class/block").join(&name)).unwrap_or_default();
        let part = sysfs_attr(&dir, "partition").and_then(|p| p.trim().parse::<u32>().ok());
        let disk_dir = if part.is_some() { dir.parent().map(Path::to_path_buf) } else { Some(dir.clone()) };
        let ids = disk_dir.as_deref().map(disk_ids);
        if let (Some(number), Some(disk_dir), Some(ids)) = (part, &disk_dir, &ids) {
            if let Some((uuid, label)) =
                partition_entry(&Path::new("/dev").join(&ids.kernel), disk_dir, number)
            {
                contents.part_uuid = Some(uuid);
                contents.part_label = label.filter(|l| !l.is_empty());
            }
        }
        let number = part.and_then(|_| names::kernel_number(&name));
        let (links, rejected) = names::links(&contents, ids.as_ref(), number);
        for bad in rejected {
            log::warn!("{}: not making link /dev/disk/{bad}: not a safe file name", node.display());
        }
        let target = Path::new("../..").join(&name);
        for (kind, file) in links {
            let dir = Path::new("/dev/disk").join(kind);
            let _ = std::fs::create_dir_all(&dir);
            let link = dir.join(file);
            if link.symlink_metadata().is_err() {
                log::debug!("{} -> {}", link.display(), target.display());
                let _ = std::os::unix::fs::symlink(&target, &link);
            }
        }
    }
}

fn read_up_to(f: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    use std::io::Read;
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Waits until `path` exists, up to `timeout`. Paths under /dev/disk/ are made by probing
/// superblocks as devices appear.
pub(crate) fn wait_for(path: &Path, timeout: Duration) -> Result<PathBuf> {
    let start = Instant::now();
    let mut seen = HashSet::new();
    let by_id = path.starts_with("/dev/disk/");
    loop {
        if by_id {
            link_new_devices(&mut seen);
        }
        if path.exists() {
            log::debug!("{} appeared after {} ms", path.display(), start.elapsed().as_millis());
            return Ok(path.to_path_buf());
        }
        if start.elapsed() >= timeout {
            let present = block_devices();
            let present = if present.is_empty() { "none".to_string() } else { present.join(", ") };
            return Err(Error::msg(format!(
                "{}: did not appear within {} s (block devices present: {present}; is the disk's \
                 driver in boot.kernelModules? boot.deviceTimeoutSeconds sets the wait)",
                path.display(),
                timeout.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blank() -> Vec<u8> {
        vec![0u8; PROBE_BYTES]
    }

    #[test]
    fn btrfs() {
        let mut b = blank();
        b[0x10040..0x10048].copy_from_slice(b"_BHRfS_M");
        b[0x10020..0x10030]
            .copy_from_slice(&[0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 1, 2, 3, 4, 5, 6, 7, 8]);
        b[0x1012b..0x1012b + 4].copy_from_slice(b"host");
        let id = identify(&b).unwrap();
        assert_eq!(
            id,
            Identity {
                kind: "btrfs",
                uuid: "12345678-9abc-def0-0102-030405060708".into(),
                label: Some("host".into())
            }
        );
    }

    #[test]
    fn luks2_ext4_swap_and_nothing() {
        let mut b = blank();
        b[0..6].copy_from_slice(b"LUKS\xba\xbe");
        b[6..8].copy_from_slice(&[0, 2]);
        b[24..29].copy_from_slice(b"crypt");
        b[168..204].copy_from_slice(b"0f1e2d3c-0000-4000-8000-123456789abc");
        let id = identify(&b).unwrap();
        assert_eq!(
            (id.kind, id.uuid.as_str(), id.label.as_deref()),
            ("crypto_LUKS", "0f1e2d3c-0000-4000-8000-123456789abc", Some("crypt"))
        );

        let mut e = blank();
        e[1024 + 0x38..1024 + 0x3a].copy_from_slice(&[0x53, 0xef]);
        e[1024 + 0x68] = 0xaa;
        let id = identify(&e).unwrap();
        assert_eq!((id.kind, id.label), ("ext4", None));
        assert!(id.uuid.starts_with("aa000000-"));

        let mut s = blank();
        s[4086..4096].copy_from_slice(b"SWAPSPACE2");
        s[1024 + 28..1024 + 32].copy_from_slice(b"swap");
        assert_eq!(identify(&s).unwrap().label.as_deref(), Some("swap"));

        assert_eq!(identify(&blank()), None);
        assert_eq!(identify(&[]), None, "a short read is not a match");
    }

    #[test]
    fn a_missing_device_times_out_with_what_is_there() {
        let e = wait_for(Path::new("/dev/lethe-test-no-such-device"), Duration::from_millis(50)).unwrap_err();
        let e = e.to_string();
        assert!(
            e.starts_with(
                "/dev/lethe-test-no-such-device: did not appear within 0 s (block devices present: "
            ),
            "{e}"
        );
    }
}
