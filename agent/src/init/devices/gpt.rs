//! A GUID partition table reader, for the `by-partuuid/` and `by-partlabel/` links: what the
//! kernel and blkid read (UEFI spec 2.10, section 5.3). Pure: the disk is a function from a byte
//! offset and a length to bytes, so tests and the fuzzer hand it an image in memory.
//!
//! Checked as the kernel checks before trusting a table: a protective MBR, the `EFI PART`
//! signature, the header's and the entry array's CRC32, the header's own LBA. The backup
//! header at the last LBA is used when the primary one is damaged. Sizes from the header are
//! bounded before anything is allocated: a hostile header cannot make us read or allocate much.

/// One used partition entry. `number` is the kernel's partition number (entry index + 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Partition {
    pub number: u32,
    /// The entry's unique GUID, lowercase, as blkid prints `PART_ENTRY_UUID`.
    pub uuid: String,
    /// The partition name (UTF-16LE in the entry), trailing blanks removed, as blkid reads it.
    pub name: String,
}

/// Entry arrays larger than this are refused (the usual one is 128 x 128 bytes = 16 KiB).
const MAX_ENTRIES_BYTES: u64 = 1 << 20;
const HEADER_MIN: usize = 92;

/// Reads `len` bytes at byte `offset`; `None` when the disk is shorter.
pub(crate) type ReadAt<'a> = dyn FnMut(u64, usize) -> Option<Vec<u8>> + 'a;

/// The GUID as text: the first three fields are little-endian on disk.
pub(crate) fn guid_string(b: &[u8; 16]) -> String {
    format!(
        "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
        b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]
    )
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn le64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Whether sector 0 is a protective MBR (a partition of type 0xEE), as the kernel requires.
fn protective_mbr(mbr: &[u8]) -> bool {
    mbr.len() >= 512 && mbr[510..512] == [0x55, 0xaa] && (0..4).any(|i| mbr[446 + 16 * i + 4] == 0xee)
}

struct Header {
    entries_lba: u64,
    count: u32,
    entry_size: u32,
    entries_crc: u32,
}

/// The header at `lba`, if it is a valid one that says it lives there.
fn header(read: &mut ReadAt<'_>, sector: u64, lba: u64) -> Result<Header, String> {
    let h = read(lba.checked_mul(sector).ok_or("LBA out of range")?, sector as usize)
        .ok_or_else(|| format!("LBA {lba}: beyond the end of the disk"))?;
    if h.len() < HEADER_MIN || &h[0..8] != b"EFI PART" {
        return Err(format!("LBA {lba}: no GPT signature"));
    }
    let size = le32(&h, 12) as usize;
    if !(HEADER_MIN..=h.len()).contains(&size) {
        return Err(format!("LBA {lba}: header size {size} out of range"));
    }
    let mut copy = h[..size].to_vec();
    copy[16..20].fill(0);
    if crc32fast::hash(&copy) != le32(&h, 16) {
        return Err(format!("LBA {lba}: header checksum mismatch"));
    }
    if le64(&h, 24) != lba {
        return Err(format!("LBA {lba}: header names LBA {} as its own", le64(&h, 24)));
    }
    let header = Header {
        entries_lba: le64(&h, 72),
        count: le32(&h, 80),
        entry_size: le32(&h, 84),
        entries_crc: le32(&h, 88),
    };
    if header.entry_size < 128 || !header.entry_size.is_multiple_of(8) {
        return Err(format!("LBA {lba}: entry size {} is not valid", header.entry_size));
    }
    if u64::from(header.count) * u64::from(header.entry_size) > MAX_ENTRIES_BYTES {
        return Err(format!(
            "LBA {lba}: {} entries of {} bytes is too many",
            header.count, header.entry_size
        ));
    }
    Ok(header)
}

fn entries(read: &mut ReadAt<'_>, sector: u64, h: &Header) -> Result<Vec<Partition>, String> {
    let len = h.count as usize * h.entry_size as usize;
    let at = h.entries_lba.checked_mul(sector).ok_or("entry array LBA out of range")?;
    let bytes = read(at, len).ok_or("entry array beyond the end of the disk")?;
    if bytes.len() != len || crc32fast::hash(&bytes) != h.entries_crc {
        return Err("entry array checksum mismatch".into());
    }
    let mut out = Vec::new();
    for (i, e) in bytes.chunks_exact(h.entry_size as usize).enumerate() {
        if e[0..16].iter().all(|&b| b == 0) {
            continue; // unused entry
        }
        let units =
            e[56..128].chunks_exact(2).map(|u| u16::from_le_bytes([u[0], u[1]])).take_while(|&u| u != 0);
        let name: String =
            char::decode_utf16(units).map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER)).collect();
        out.push(Partition {
            number: i as u32 + 1,
            uuid: guid_string(e[16..32].try_into().expect("16 bytes")),
            name: name.trim_end().to_string(),
        });
    }
    Ok(out)
}

/// The used partitions of a disk of `size` bytes with `sector`-byte logical blocks. An error
/// says why there is no usable table (most disks without GPT: "no GPT signature").
pub(crate) fn read_table(read: &mut ReadAt<'_>, sector: u64, size: u64) -> Result<Vec<Partition>, String> {
    if !(512..=65536).contains(&sector) || !sector.is_power_of_two() {
        return Err(format!("sector size {sector} is not valid"));
    }
    let mbr = read(0, 512).ok_or("shorter than one sector")?;
    if !protective_mbr(&mbr) {
        return Err("no protective MBR".into());
    }
    let primary = header(read, sector, 1).and_then(|h| entries(read, sector, &h));
    match primary {
        Ok(parts) => Ok(parts),
        Err(why) => {
            let last = (size / sector).checked_sub(1).filter(|&l| l > 1).ok_or(why.clone())?;
            header(read, sector, last)
                .and_then(|h| entries(read, sector, &h))
                .map_err(|backup| format!("primary: {why}; backup: {backup}"))
        }
    }
}

/// [`read_table`] over an image in memory (tests, the fuzzer).
#[allow(dead_code)] // for the unit tests and fuzz/, which compiles this file
pub(crate) fn read_image(image: &[u8], sector: u64) -> Result<Vec<Partition>, String> {
    let mut read = |at: u64, len: usize| {
        let at = usize::try_from(at).ok()?;
        image.get(at..at.checked_add(len)?).map(<[u8]>::to_vec)
    };
    read_table(&mut read, sector, image.len() as u64)
}

#[cfg(test)]
mod tests;
