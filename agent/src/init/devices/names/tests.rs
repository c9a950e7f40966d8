//! Names as udev makes them. Where the expected value is not written from the rules alone, the
//! comment says where it was seen: `udevadm test` on this host, or sysfs in the QEMU VM.

use super::*;

fn nvme(model: &str, serial: &str, wwid: &str, nsid: &str) -> DiskIds {
    DiskIds {
        kernel: "nvme0n1".into(),
        model: Some(model.into()),
        serial: Some(serial.into()),
        wwid: Some(wwid.into()),
        nsid: Some(nsid.into()),
        ..Default::default()
    }
}

/// IDENTIFY DEVICE data with `model` and `serial` in their words, byte-swapped as ATA stores them.
fn identify(model: &str, serial: &str) -> Vec<u8> {
    let mut id = vec![0u8; 512];
    let mut put = |word: usize, words: usize, s: &str| {
        let mut padded = s.as_bytes().to_vec();
        padded.resize(words * 2, b' ');
        for (i, pair) in padded.chunks_exact(2).enumerate() {
            id[(word + i) * 2] = pair[1];
            id[(word + i) * 2 + 1] = pair[0];
        }
    };
    put(10, 10, serial);
    put(27, 20, model);
    id
}

#[test]
fn by_id_names() {
    // The forge example host's disk, its model and serial padded as the kernel (6.1) shows them.
    let wd = nvme(
        "WD_BLACK SN850X 2000GB                  \n",
        "24517E4ABM06        \n",
        "eui.e8238fa6bf530001001b444a41cf4f9c\n",
        "1\n",
    );
    // Exactly as sysfs showed them in the VM (vm-tests disk-by-id, `-device nvme,serial=...`).
    let qemu = nvme(
        "QEMU NVMe Ctrl                          \n",
        "24517E4ABM06        \n",
        "nvme.1b36-3234353137453441424d3036-51454d55204e564d65204374726c-00000001\n",
        "1\n",
    );
    let virtio = DiskIds { kernel: "vda".into(), serial: Some("overlayblk".into()), ..Default::default() };
    let ata = DiskIds {
        kernel: "sda".into(),
        vendor: Some("ATA     ".into()),
        ata_identify: Some(identify("  QEMU  HARDDISK  ", "LETHE-ATA-1")),
        ..Default::default()
    };
    let cases: Vec<(&DiskIds, Option<u32>, Vec<&str>)> = vec![
        (
            &wd,
            Some(2),
            vec![
                "nvme-eui.e8238fa6bf530001001b444a41cf4f9c-part2",
                "nvme-WD_BLACK_SN850X_2000GB_24517E4ABM06-part2",
                "nvme-WD_BLACK_SN850X_2000GB_24517E4ABM06_1-part2",
            ],
        ),
        (
            &wd,
            None,
            vec![
                "nvme-eui.e8238fa6bf530001001b444a41cf4f9c",
                "nvme-WD_BLACK_SN850X_2000GB_24517E4ABM06",
                "nvme-WD_BLACK_SN850X_2000GB_24517E4ABM06_1",
            ],
        ),
        (
            &qemu,
            None,
            vec![
                "nvme-nvme.1b36-3234353137453441424d3036-51454d55204e564d65204374726c-00000001",
                "nvme-QEMU_NVMe_Ctrl_24517E4ABM06",
                "nvme-QEMU_NVMe_Ctrl_24517E4ABM06_1",
            ],
        ),
        // As `udevadm test /sys/class/block/vda` printed on this host: LINK 'disk/by-id/virtio-overlayblk'.
        (&virtio, None, vec!["virtio-overlayblk"]),
        (&virtio, Some(3), vec!["virtio-overlayblk-part3"]),
        // ata_id: blanks around dropped, each inner run one `_`.
        (&ata, None, vec!["ata-QEMU_HARDDISK_LETHE-ATA-1"]),
        (&ata, Some(1), vec!["ata-QEMU_HARDDISK_LETHE-ATA-1-part1"]),
    ];
    for (disk, part, want) in cases {
        assert_eq!(by_id(disk, part), want, "{disk:?} part {part:?}");
    }
}

#[test]
fn what_gets_no_by_id_name() {
    let none: &[DiskIds] = &[
        // QEMU's virtio disk without serial=: the attribute exists and is empty.
        DiskIds { kernel: "vda".into(), serial: Some(String::new()), ..Default::default() },
        DiskIds {
            kernel: "sda".into(),
            vendor: Some("QEMU".into()),
            ata_identify: Some(identify("M", "S")),
            ..Default::default()
        },
        DiskIds {
            kernel: "sda".into(),
            vendor: Some("ATA".into()),
            ata_identify: Some(vec![0; 10]),
            ..Default::default()
        },
        DiskIds { kernel: "loop0".into(), serial: Some("x".into()), ..Default::default() },
        DiskIds {
            kernel: "nvme0c0n1x".into(),
            serial: Some("x".into()),
            model: Some("m".into()),
            ..Default::default()
        },
    ];
    for d in none {
        assert_eq!(by_id(d, None), Vec::<String>::new(), "{d:?}");
    }
}

#[test]
fn odd_values_are_escaped_as_udev_does() {
    // A blank ends a link name of a rule without string_escape (udev makes two links; we keep
    // the first); a slash never makes a subdirectory.
    let v = DiskIds { kernel: "vdb".into(), serial: Some("ab cd".into()), ..Default::default() };
    assert_eq!(by_id(&v, None), ["virtio-ab"]);
    let n = nvme("a/b  c\u{1}", " S/N ", "", "");
    assert_eq!(by_id(&n, Some(1)), ["nvme-a_b__c___S_N-part1"]);
    let ata = DiskIds {
        kernel: "sdb".into(),
        vendor: Some("ATA".into()),
        ata_identify: Some(identify("Samsung SSD 870 EVO 1TB", "")),
        ..Default::default()
    };
    assert_eq!(by_id(&ata, None), ["ata-Samsung_SSD_870_EVO_1TB"]);
}

#[test]
fn blkid_encoding() {
    // As libblkid's ID_FS_LABEL_ENC / ID_PART_ENTRY_NAME (`partx -r` escapes the same bytes).
    let cases = [
        ("disk-main-luks", "disk-main-luks"),
        ("EFI system", "EFI\\x20system"),
        ("a/b", "a\\x2fb"),
        ("back\\slash", "back\\x5cslash"),
        ("ünï", "ünï"),
        ("tab\there", "tab\\x09here"),
        ("0f1e2d3c-0000-4000-8000-123456789abc", "0f1e2d3c-0000-4000-8000-123456789abc"),
    ];
    for (raw, want) in cases {
        assert_eq!(blkid_encode(raw), want, "{raw:?}");
    }
}

#[test]
fn names_from_headers_are_checked_before_links() {
    // A LUKS header may say anything in its UUID field: `/` is encoded, `.`/`..` refused.
    let hostile = Contents {
        fs_uuid: Some("..".into()),
        fs_label: Some("../../etc/shadow".into()),
        part_uuid: Some(".".into()),
        part_label: Some(String::new()),
    };
    let (made, rejected) = links(&hostile, None, None);
    assert_eq!(made, [("by-label", "..\\x2f..\\x2fetc\\x2fshadow".to_string())]);
    assert_eq!(rejected, ["by-uuid/\"..\"", "by-partuuid/\".\"", "by-partlabel/\"\""]);
    let long = Contents { fs_label: Some("x".repeat(256)), ..Default::default() };
    assert_eq!(links(&long, None, None).1.len(), 1);
    for name in ["", ".", "..", "a/b", "a\0b"] {
        assert_eq!(safe_name(name), None, "{name:?}");
    }
    assert_eq!(safe_name("..."), Some("..."));
}

#[test]
fn kernel_numbers() {
    let cases = [("nvme0n1p2", Some(2)), ("vda1", Some(1)), ("sda15", Some(15)), ("vda", None)];
    for (name, want) in cases {
        assert_eq!(kernel_number(name), want, "{name}");
    }
}
