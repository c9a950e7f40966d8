//! The names of the `/dev/disk/by-*` links, as udev's `60-persistent-storage.rules` (systemd
//! 252, Debian 12) and libblkid make them, from facts read off sysfs and the disk. Pure, so
//! every rule and every escaping step is unit-tested; `mod.rs` reads the facts and makes links.
//!
//! Three kinds of escaping meet here, each copied from where udev does it:
//! - libblkid's `blkid_encode_string` for filesystem UUIDs/labels and GPT partition names
//!   (`ID_FS_LABEL_ENC`, `ID_PART_ENTRY_NAME`): bytes outside `0-9A-Za-z#+-.:=@_` and valid
//!   multi-byte UTF-8 become `\xHH` (a blank is `\x20`, a slash `\x2f`);
//! - udev's `$attr{}` substitution: trailing blanks dropped, other characters outside the
//!   allowed set become `_`; in a link of a rule with `string_escape=replace` a blank becomes `_`,
//!   without it a blank separates two links (we keep the first);
//! - `ata_id`: leading/trailing blanks dropped, each run of blanks one `_`.
//!
//! One deliberate difference: udev keeps a `/` from a sysfs value (making a link in a
//! subdirectory); lethe writes `_`, so a link never leaves its directory. And every name is
//! checked last by [`safe_name`]: a disk's header is not trusted to name a file.

/// What the kernel and the disk say about a whole disk, for its `by-id` names.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct DiskIds {
    /// The kernel's name (`nvme0n1`, `vda`, `sda`): the rules match on it.
    pub kernel: String,
    /// `wwid` (NVMe namespaces: `eui.…`, `uuid.…`, `nvme.…`).
    pub wwid: Option<String>,
    /// `model` / `serial` of the NVMe controller or the virtio disk's `serial`.
    pub model: Option<String>,
    pub serial: Option<String>,
    /// NVMe namespace id (`nsid`).
    pub nsid: Option<String>,
    /// SCSI `vendor` (libata disks say `ATA`).
    pub vendor: Option<String>,
    /// ATA IDENTIFY DEVICE data (512 bytes, from the disk's `device/vpd_pg89`).
    pub ata_identify: Option<Vec<u8>>,
}

/// True when `c` may stand as itself in a udev link name (`allow_listed_char_for_devnode`).
fn plain(c: char) -> bool {
    c.is_ascii_alphanumeric() || "#+-.:=@_".contains(c)
}

/// libblkid's `blkid_encode_string`.
pub(crate) fn blkid_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c != '\\' && (plain(c) || !c.is_ascii()) {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("\\x{b:02x}"));
            }
        }
    }
    out
}

/// udev's `$attr{}` value: trailing blanks dropped; characters outside the allowed input set
/// (`plain`, UTF-8, and `/ $%?,`) become `_`.
fn attr(raw: &str) -> String {
    raw.trim_end()
        .chars()
        .map(|c| if plain(c) || !c.is_ascii() || " /$%?,".contains(c) { c } else { '_' })
        .collect()
}

/// A value in a link of a `string_escape=replace` rule: blanks (and, see above, `/`) become `_`.
fn replaced(s: &str) -> String {
    s.chars().map(|c| if c.is_whitespace() || c == '/' { '_' } else { c }).collect()
}

/// A value in a link of a rule without `string_escape`: a blank separates links, so only the
/// first word names this one.
fn first_word(s: &str) -> String {
    replaced(s.split_whitespace().next().unwrap_or(""))
}

/// `ata_id`'s `udev_replace_whitespace` + `udev_replace_chars(NULL)`.
fn ata_clean(s: &str) -> String {
    let words: Vec<&str> = s.split(|c: char| c.is_ascii_whitespace()).filter(|w| !w.is_empty()).collect();
    words.join("_").chars().map(|c| if plain(c) || !c.is_ascii() { c } else { '_' }).collect()
}

/// An ATA string from IDENTIFY words: each 16-bit word holds two characters, high byte first.
fn ata_string(identify: &[u8], word: usize, words: usize) -> Option<String> {
    let raw = identify.get(word * 2..(word + words) * 2)?;
    let swapped: Vec<u8> = raw.chunks_exact(2).flat_map(|w| [w[1], w[0]]).collect();
    let end = swapped.iter().position(|&b| b == 0).unwrap_or(swapped.len());
    Some(ata_clean(&String::from_utf8_lossy(&swapped[..end])))
}

/// `ata_id`'s ID_SERIAL: MODEL_SERIAL (MODEL alone without a serial).
fn ata_serial(identify: &[u8]) -> Option<String> {
    let model = ata_string(identify, 27, 20)?;
    let serial = ata_string(identify, 10, 10)?;
    match (model.is_empty(), serial.is_empty()) {
        (true, _) => None,
        (false, true) => Some(model),
        (false, false) => Some(format!("{model}_{serial}")),
    }
}

fn non_empty(v: &Option<String>) -> Option<String> {
    v.as_deref().map(attr).filter(|s| !s.is_empty())
}

/// udev's `%n`: the kernel's number, the trailing digits of its name (`nvme0n1p2` → 2).
pub(crate) fn kernel_number(name: &str) -> Option<u32> {
    let digits = name.len() - name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    name[name.len() - digits..].parse().ok()
}

fn is_nvme_namespace(kernel: &str) -> bool {
    // nvme*[0-9]n*[0-9]: a controller number, `n`, a namespace number; not a partition.
    let Some(rest) = kernel.strip_prefix("nvme") else { return false };
    let Some((ctrl, ns)) = rest.split_once('n') else { return false };
    !ctrl.is_empty()
        && ctrl.ends_with(|c: char| c.is_ascii_digit())
        && ns.ends_with(|c: char| c.is_ascii_digit())
        && !ns.contains('p')
}

/// The `by-id/` names (without the directory) of `disk`, or of its partition number `part`.
pub(crate) fn by_id(disk: &DiskIds, part: Option<u32>) -> Vec<String> {
    let suffix = part.map(|n| format!("-part{n}")).unwrap_or_default();
    let k = disk.kernel.as_str();
    let mut names = Vec::new();
    if is_nvme_namespace(k) {
        if let Some(wwid) = non_empty(&disk.wwid) {
            names.push(format!("nvme-{}{suffix}", first_word(&wwid)));
        }
        if let (Some(model), Some(serial)) = (non_empty(&disk.model), non_empty(&disk.serial)) {
            let id = replaced(&format!("{model}_{serial}"));
            names.push(format!("nvme-{id}{suffix}"));
            if let Some(nsid) = non_empty(&disk.nsid) {
                names.push(format!("nvme-{id}_{}{suffix}", replaced(&nsid)));
            }
        }
    } else if k.starts_with("vd") {
        if let Some(serial) = non_empty(&disk.serial) {
            names.push(format!("virtio-{}{suffix}", first_word(&serial)));
        }
    } else if k.starts_with("sd") && non_empty(&disk.vendor).as_deref() == Some("ATA") {
        if let Some(id) = disk.ata_identify.as_deref().and_then(ata_serial) {
            names.push(format!("ata-{id}{suffix}"));
        }
    }
    names
}

/// `name` if it can be a link's file name: not empty, not `.` or `..`, no `/` or NUL, at most
/// 255 bytes. Names come from disk headers and device firmware, so nothing else is trusted.
pub(crate) fn safe_name(name: &str) -> Option<&str> {
    let ok =
        !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\0']) && name.len() <= 255;
    ok.then_some(name)
}

/// Facts about one block device's contents, for the links that do not depend on its kind.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Contents {
    /// Filesystem (or LUKS) UUID and label from its superblock.
    pub fs_uuid: Option<String>,
    pub fs_label: Option<String>,
    /// The partition's GPT (or MBR) entry UUID and its GPT name.
    pub part_uuid: Option<String>,
    pub part_label: Option<String>,
}

/// Every `/dev/disk/` link of a device as (directory, file name), only names that are safe.
/// Rejected names are returned second, for the log.
pub(crate) fn links(
    contents: &Contents,
    ids: Option<&DiskIds>,
    part: Option<u32>,
) -> (Vec<(&'static str, String)>, Vec<String>) {
    let mut wanted: Vec<(&'static str, String)> = Vec::new();
    if let Some(u) = &contents.fs_uuid {
        wanted.push(("by-uuid", blkid_encode(u)));
    }
    if let Some(l) = &contents.fs_label {
        wanted.push(("by-label", blkid_encode(l)));
    }
    if let Some(u) = &contents.part_uuid {
        wanted.push(("by-partuuid", blkid_encode(u)));
    }
    if let Some(l) = &contents.part_label {
        wanted.push(("by-partlabel", blkid_encode(l)));
    }
    if let Some(ids) = ids {
        wanted.extend(by_id(ids, part).into_iter().map(|n| ("by-id", n)));
    }
    let mut rejected = Vec::new();
    wanted.retain(|(dir, name)| {
        let ok = safe_name(name).is_some();
        if !ok {
            rejected.push(format!("{dir}/{name:?}"));
        }
        ok
    });
    (wanted, rejected)
}

// Which of these a config may name is `config::device` (the one list).

#[cfg(test)]
mod tests;
