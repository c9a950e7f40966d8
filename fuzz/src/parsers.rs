//! One harness per stage-1 parser, shared by the libFuzzer targets (`fuzz_targets/NAME.rs`) and
//! the stable mutation loop (`parsers_loop NAME`). Each takes any bytes and panics only on a bug;
//! besides "no panic", each checks a property the parser promises.

use crate::config::Config;
use crate::init::devices::{gpt, identify, names};
use crate::ssh::line::{Key, LineEditor, MAX_LEN};

/// The targets, by name, with their well-formed seeds.
pub const TARGETS: &[(&str, fn(&[u8]), fn() -> Vec<Vec<u8>>)] = &[
    ("config", config, config_seeds),
    ("authorized_keys", authorized_keys, authorized_keys_seeds),
    ("cmdline", cmdline, cmdline_seeds),
    ("kmod", kmod, kmod_seeds),
    ("probe", probe, probe_seeds),
    ("ask_password", ask_password, ask_password_seeds),
    ("line_editor", line_editor, line_editor_seeds),
];

fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// The config reader; a config it accepts normalizes to itself.
pub fn config(data: &[u8]) {
    if let Ok(c) = Config::parse(&text(data)) {
        let again = Config::parse(&c.to_json()).expect("the normalized form is accepted");
        assert_eq!(again, c, "normalizing changed the config");
    }
}

fn config_seeds() -> Vec<Vec<u8>> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples");
    let mut seeds = Vec::new();
    for sub in ["", "/bad"] {
        for e in std::fs::read_dir(format!("{dir}{sub}")).into_iter().flatten().flatten() {
            if e.path().extension().is_some_and(|x| x == "json") {
                seeds.push(std::fs::read(e.path()).unwrap());
            }
        }
    }
    seeds
}

/// One `authorized_keys` line (options, `from=` patterns, the key).
pub fn authorized_keys(data: &[u8]) {
    let _ = crate::access::keys::parse_authorized_line(&text(data), "fuzz");
}

fn authorized_keys_seeds() -> Vec<Vec<u8>> {
    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICgc0J/APALlu1nQiKn42O/A/4SgbcvKQRisaK3iRdDe alice@laptop";
    [
        key.to_string(),
        format!("from=\"192.0.2.0/24,!192.0.2.7,2001:db8::/32\",no-pty {key}"),
        format!("restrict,command=\"unlock\" {key}"),
        format!("from=\"10.*.?.1\" {key}"),
        "# comment".into(),
    ]
    .into_iter()
    .map(String::into_bytes)
    .collect()
}

/// The kernel command line: lethe's own keys and `ip=`.
pub fn cmdline(data: &[u8]) {
    let line = text(data);
    let _ = crate::init::cmdline::parse(&line);
    if let Some(ip) = crate::net::cmdline::find_ip(&line) {
        let _ = crate::net::cmdline::parse_ip(ip);
    }
    let _ = crate::net::cmdline::effective(None, &line);
}

fn cmdline_seeds() -> Vec<Vec<u8>> {
    [
        "console=ttyS0 rdinit=/lethe lethe.config=/etc/lethe/config.json lethe.onFailure=wait init=/bin/sh",
        "ip=dhcp",
        "ip=192.0.2.10::192.0.2.1:255.255.255.0:host:eth0:off:192.0.2.53:192.0.2.54",
        "ip=eth0:dhcp \"quoted word\" lethe.debug",
        "ip=10.0.0.2:10.0.0.1:10.0.0.1:24::enp1s0:none",
    ]
    .into_iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

/// modules.dep / modules.builtin / modules.softdep / modules.alias (split at NUL bytes), then a
/// load plan for every module named in modules.dep: it ends, dependencies first.
pub fn kmod(data: &[u8]) {
    let t = text(data);
    let mut parts = t.split('\0');
    let (dep, builtin, softdep, alias) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    if let Ok(index) = crate::kmod::Index::parse(dep, builtin, softdep, alias) {
        let names: Vec<String> = dep
            .lines()
            .filter_map(|l| l.split(':').next())
            .map(crate::kmod::name_of)
            .chain(alias.lines().filter_map(|l| l.split_whitespace().nth(1)).map(String::from))
            .take(32)
            .collect();
        let _ = index.plan(&names);
    }
}

fn kmod_seeds() -> Vec<Vec<u8>> {
    let dep = "kernel/drivers/md/dm-crypt.ko: kernel/drivers/md/dm-mod.ko\nkernel/drivers/md/dm-mod.ko:\nkernel/fs/btrfs/btrfs.ko.xz: kernel/lib/raid6/raid6_pq.ko kernel/crypto/xor.ko\nkernel/lib/raid6/raid6_pq.ko:\nkernel/crypto/xor.ko:\n";
    let builtin = "kernel/drivers/block/virtio_blk.ko\n";
    let softdep = "softdep btrfs pre: crc32c post: xxhash\n";
    let alias = "alias crypto-xts xts\nalias pci:v00001AF4d00001000sv*sd*bc*sc*i* virtio_net\n";
    vec![format!("{dep}\0{builtin}\0{softdep}\0{alias}").into_bytes()]
}

/// The superblock probe and the GPT reader over a disk's first bytes; every link name made
/// from what they found is a safe file name.
pub fn probe(data: &[u8]) {
    let id = identify(data);
    for sector in [512, 4096] {
        let parts = gpt::read_image(data, sector).unwrap_or_default();
        for p in parts.iter().take(8) {
            let contents = names::Contents {
                fs_uuid: id.as_ref().map(|i| i.uuid.clone()),
                fs_label: id.as_ref().and_then(|i| i.label.clone()),
                part_uuid: Some(p.uuid.clone()),
                part_label: Some(p.name.clone()),
            };
            let (links, _) = names::links(&contents, None, Some(p.number));
            for (_, name) in links {
                assert!(names::safe_name(&name).is_some(), "unsafe link name {name:?}");
            }
        }
    }
}

fn probe_seeds() -> Vec<Vec<u8>> {
    let mut luks = vec![0u8; 4096];
    luks[0..6].copy_from_slice(b"LUKS\xba\xbe");
    luks[6..8].copy_from_slice(&[0, 2]);
    luks[24..29].copy_from_slice(b"crypt");
    luks[168..204].copy_from_slice(b"0f1e2d3c-0000-4000-8000-123456789abc");
    let mut swap = vec![0u8; 4096];
    swap[4086..4096].copy_from_slice(b"SWAPSPACE2");
    let mut ext4 = vec![0u8; 2048];
    ext4[1024 + 0x38..1024 + 0x3a].copy_from_slice(&[0x53, 0xef]);
    vec![luks, swap, ext4, gpt_seed()]
}

/// A small valid GPT (protective MBR, header, 4 entries, backup), built here so the fuzzer
/// starts from a table whose checksums match.
fn gpt_seed() -> Vec<u8> {
    let sector = 512;
    let mut disk = vec![0u8; 64 * sector];
    disk[446 + 4] = 0xee;
    disk[510..512].copy_from_slice(&[0x55, 0xaa]);
    let mut entries = vec![0u8; 4 * 128];
    entries[0..16].copy_from_slice(&[1; 16]);
    entries[16..32].copy_from_slice(&[2; 16]);
    for (i, u) in "disk-main-luks".encode_utf16().enumerate() {
        entries[56 + 2 * i..58 + 2 * i].copy_from_slice(&u.to_le_bytes());
    }
    let entries_crc = crc32fast::hash(&entries);
    let header = |my: u64, alt: u64, table: u64| {
        let mut h = vec![0u8; 92];
        h[0..8].copy_from_slice(b"EFI PART");
        h[8..12].copy_from_slice(&0x10000u32.to_le_bytes());
        h[12..16].copy_from_slice(&92u32.to_le_bytes());
        h[24..32].copy_from_slice(&my.to_le_bytes());
        h[32..40].copy_from_slice(&alt.to_le_bytes());
        h[72..80].copy_from_slice(&table.to_le_bytes());
        h[80..84].copy_from_slice(&4u32.to_le_bytes());
        h[84..88].copy_from_slice(&128u32.to_le_bytes());
        h[88..92].copy_from_slice(&entries_crc.to_le_bytes());
        let crc = crc32fast::hash(&h);
        h[16..20].copy_from_slice(&crc.to_le_bytes());
        h
    };
    disk[sector..sector + 92].copy_from_slice(&header(1, 63, 2));
    disk[2 * sector..2 * sector + 512].copy_from_slice(&entries);
    disk[62 * sector..62 * sector + 512].copy_from_slice(&entries);
    disk[63 * sector..63 * sector + 92].copy_from_slice(&header(63, 1, 62));
    assert_eq!(gpt::read_image(&disk, 512).map(|p| p.len()), Ok(1), "the starting input is a valid table");
    disk
}

/// A systemd `ask.*` password request file, and the names `unlock TARGET` matches it by.
pub fn ask_password(data: &[u8]) {
    use crate::unlock::agent;
    if let Ok(request) = agent::parse(&text(data)) {
        let names = agent::names(&request);
        let target = agent::target(&request);
        assert!(target.is_none_or(|t| names.contains(&t)), "the target shown is one of the names");
        let _ = agent::pick(std::slice::from_ref(&request), target);
    }
}

fn ask_password_seeds() -> Vec<Vec<u8>> {
    vec![b"[Ask]\nPID=1234\nSocket=/run/systemd/ask-password/sck.1\nAcceptCached=1\nEcho=0\nNotAfter=0\nMessage=Please enter passphrase for disk root:\nId=cryptsetup:/dev/vda2\n".to_vec()]
}

/// The SSH prompt's line editor: whatever is typed, a finished line is at most MAX_LEN bytes
/// and holds no control characters (they are editing keys, never part of a passphrase).
pub fn line_editor(data: &[u8]) {
    let mut e = LineEditor::new();
    for &b in data {
        match e.feed(b) {
            Key::Enter(line) => {
                assert!(line.len() <= MAX_LEN, "{} bytes", line.len());
                assert!(!line.iter().any(|&c| c < 0x20 || c == 0x7f), "a control byte in the line");
            }
            Key::Leave => e.clear(),
            Key::Pending | Key::TooLong => {}
        }
    }
}

fn line_editor_seeds() -> Vec<Vec<u8>> {
    vec![b"secret\r".to_vec(), b"se\x1b[Dcr\x7fet\x15again\r\n".to_vec(), "pässe\x7f\r".as_bytes().to_vec()]
}
