//! Tables made by sfdisk, read back by this parser and by util-linux's `partx` (libblkid), which
//! must agree; then damaged tables.

use super::*;
use std::process::Command;

/// A file name no other test of this process uses at the same time.
fn scratch(what: &str) -> std::path::PathBuf {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("lethe-gpt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("{what}-{n}.img"))
}

/// A disk image of `size` bytes with `sector`-byte sectors, partitioned by sfdisk with `script`.
fn sfdisk_image(script: &str, size: u64, sector: u64) -> Vec<u8> {
    let img = scratch("sfdisk");
    let f = std::fs::File::create(&img).unwrap();
    f.set_len(size).unwrap();
    drop(f);
    // sfdisk takes a file's sector size as 512; other sizes need a loop device that has them.
    let target = if sector == 512 {
        img.clone()
    } else {
        let out = Command::new("losetup")
            .args(["-f", "--show", "-b", &sector.to_string()])
            .arg(&img)
            .output()
            .unwrap();
        assert!(out.status.success(), "losetup: {}", String::from_utf8_lossy(&out.stderr));
        std::path::PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
    };
    let mut child = Command::new("sfdisk")
        .args(["-q", "--no-reread", "--no-tell-kernel"])
        .arg(&target)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("sfdisk (apt-get install fdisk)");
    use std::io::Write;
    child.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
    let ok = child.wait().unwrap().success();
    if target != img {
        assert!(Command::new("losetup").arg("-d").arg(&target).status().unwrap().success());
    }
    assert!(ok, "sfdisk failed on {script}");
    let bytes = std::fs::read(&img).unwrap();
    std::fs::remove_file(&img).unwrap();
    bytes
}

/// What partx (libblkid) reads from the image: (number, uuid, name).
fn partx(image: &[u8], sector: u64) -> Vec<(u32, String, String)> {
    let img = scratch("partx");
    std::fs::write(&img, image).unwrap();
    let out = Command::new("partx")
        .args(["-g", "-r", "-o", "NR,UUID,NAME", "--sector-size", &sector.to_string()])
        .arg(&img)
        .output()
        .unwrap();
    std::fs::remove_file(&img).unwrap();
    assert!(out.status.success(), "partx: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f[0].parse().unwrap(), f[1].to_string(), unescape(f.get(2).copied().unwrap_or("")))
        })
        .collect()
}

/// partx's raw output writes bytes outside printable ASCII (and blanks) as `\xHH`.
fn unescape(s: &str) -> String {
    let mut bytes = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && b.get(i + 1) == Some(&b'x') {
            bytes.push(u8::from_str_radix(&s[i + 2..i + 4], 16).unwrap());
            i += 4;
        } else {
            bytes.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(bytes).unwrap()
}

fn ours(image: &[u8], sector: u64) -> Vec<(u32, String, String)> {
    read_image(image, sector).unwrap().into_iter().map(|p| (p.number, p.uuid, p.name)).collect()
}

const DISKO: &str = "label: gpt\n\
    start=2048, size=2048, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name=\"disk-main-ESP\", uuid=0B1F2A3C-4D5E-4F60-8172-839405A6B7C8\n\
    size=4096, name=\"disk-main-luks\", uuid=A0A1A2A3-B0B1-C0C1-D0D1-E0E1E2E3E4E5\n";

#[test]
fn agrees_with_libblkid() {
    let cases: &[(&str, u64, u64)] = &[
        (DISKO, 512, 8 << 20),
        ("label: gpt\nstart=256, size=256, name=\"root\"\nsize=128\n", 4096, 8 << 20),
        // Names with blanks, a slash, non-ASCII and trailing blanks (dropped by blkid too).
        ("label: gpt\nstart=2048, size=64, name=\"EFI system\"\nsize=64, name=\"a/b ünï x  \"\nsize=64, name=\"..\"\n", 512, 4 << 20),
        // A gap: entry 2 unused, entry 3 used (numbers are entry positions, as the kernel's).
        ("label: gpt\nstart=2048, size=64, name=\"one\"\n3: start=4096, size=64, name=\"three\"\n", 512, 4 << 20),
        ("label: gpt\n", 512, 1 << 20),
    ];
    for &(script, sector, size) in cases {
        let image = sfdisk_image(script, size, sector);
        let got = ours(&image, sector);
        assert_eq!(got, partx(&image, sector), "{script}");
    }
    let disko = ours(&sfdisk_image(DISKO, 8 << 20, 512), 512);
    assert_eq!(
        disko,
        [
            (1, "0b1f2a3c-4d5e-4f60-8172-839405a6b7c8".into(), "disk-main-ESP".into()),
            (2, "a0a1a2a3-b0b1-c0c1-d0d1-e0e1e2e3e4e5".into(), "disk-main-luks".into()),
        ]
    );
}

#[test]
fn a_damaged_primary_falls_back_to_the_backup() {
    let mut image = sfdisk_image(DISKO, 8 << 20, 512);
    image[512 + 40] ^= 0xff; // primary header: first usable LBA, so its checksum fails
    assert_eq!(ours(&image, 512).len(), 2);
    let mut image = sfdisk_image(DISKO, 8 << 20, 512);
    image[1024 + 56] ^= 0xff; // primary entry array: a name byte
    assert_eq!(ours(&image, 512)[1].2, "disk-main-luks");
}

#[test]
fn refusals() {
    let good = sfdisk_image(DISKO, 8 << 20, 512);
    let last = good.len() - 512;
    let mut both = good.clone();
    both[512 + 40] ^= 0xff;
    both[last + 40] ^= 0xff;
    let mut no_pmbr = good.clone();
    no_pmbr[446 + 4] = 0x83;
    let mut huge = good.clone();
    // A header claiming 2^32-1 entries, with a checksum that matches: refused before reading.
    huge[512 + 80..512 + 84].copy_from_slice(&u32::MAX.to_le_bytes());
    huge[512 + 16..512 + 20].fill(0);
    let crc = crc32fast::hash(&huge[512..512 + 92]);
    huge[512 + 16..512 + 20].copy_from_slice(&crc.to_le_bytes());
    huge[last..].fill(0);
    let cases: &[(&[u8], u64, &str)] = &[
        (&[], 512, "shorter than one sector"),
        (&good[..512], 512, "LBA 1: beyond the end of the disk"),
        (&vec![0u8; 1 << 20], 512, "no protective MBR"),
        (&no_pmbr, 512, "no protective MBR"),
        (&both, 512, "primary: LBA 1: header checksum mismatch; backup: LBA 16383: header checksum mismatch"),
        (&huge, 512, "primary: LBA 1: 4294967295 entries of 128 bytes is too many; backup: LBA 16383: no GPT signature"),
        (&good, 4096, "primary: LBA 1: no GPT signature; backup: LBA 2047: no GPT signature"),
        (&good, 1000, "sector size 1000 is not valid"),
    ];
    for (image, sector, want) in cases {
        assert_eq!(read_image(image, *sector).unwrap_err(), *want);
    }
}

#[test]
fn guids_are_mixed_endian() {
    let b = [0x3c, 0x2a, 0x1f, 0x0b, 0x5e, 0x4d, 0x60, 0x4f, 0x81, 0x72, 0x83, 0x94, 0x05, 0xa6, 0xb7, 0xc8];
    assert_eq!(guid_string(&b), "0b1f2a3c-4d5e-4f60-8172-839405a6b7c8");
}
