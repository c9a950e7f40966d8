//! Unit tests of the parts the example table does not reach: accepted spellings and defaults.

use super::*;

fn parse(json: &str) -> Config {
    Config::parse(json).unwrap_or_else(|e| panic!("{json}: {e}"))
}

fn error(json: &str) -> String {
    Config::parse(json).unwrap_err().to_string()
}

#[test]
fn absent_sections_are_off() {
    let c = parse(r#"{"version": 1}"#);
    assert!(c.network.is_none() && c.ssh.is_none() && c.unlock.is_none() && c.rollback.is_none());
    assert_eq!(c.to_json(), "{\n  \"version\": 1\n}");
}

#[test]
fn null_means_absent() {
    let c =
        parse(r#"{"version": 1, "rollback": {"device": "/dev/sda2", "blankSnapshot": null}, "ssh": null}"#);
    assert_eq!(c.rollback.unwrap().blank_snapshot, None);
    assert!(c.ssh.is_none());
}

#[test]
fn recordsize_spellings() {
    for (given, bytes) in
        [("512", 512), ("\"128K\"", 131072), ("\"1M\"", 1 << 20), ("\"16M\"", 16 << 20), ("\"4KiB\"", 4096)]
    {
        let c = parse(&format!(r#"{{"version": 1, "datasets": {{"tank/a": {{"recordsize": {given}}}}}}}"#));
        assert_eq!(c.datasets.unwrap().others["tank/a"].recordsize, Some(bytes), "{given}");
    }
    for bad in ["\"1G\"", "\"K\"", "\"128X\"", "-512", "\"99999999999999999999K\""] {
        let e = error(&format!(r#"{{"version": 1, "datasets": {{"tank/a": {{"recordsize": {bad}}}}}}}"#));
        assert!(e.contains("recordsize: expected a power of two"), "{bad}: {e}");
    }
}

#[test]
fn mac_is_normalized_and_checked() {
    assert_eq!(network::parse_mac("52:54:00:AB:cd:0f"), Some([0x52, 0x54, 0, 0xab, 0xcd, 0x0f]));
    for bad in [
        "52:54:00:ab:cd",
        "52:54:00:ab:cd:0f:11",
        "52-54-00-ab-cd-0f",
        "5:54:00:ab:cd:0f",
        "zz:54:00:ab:cd:0f",
    ] {
        assert_eq!(network::parse_mac(bad), None, "{bad}");
    }
    let c = parse(r#"{"version": 1, "network": {"interface": {"mac": "52:54:00:AB:CD:EF"}}}"#);
    let want = network::Interface::Mac { mac: "52:54:00:ab:cd:ef".into() };
    assert_eq!(c.network.unwrap().interface, Some(want));
}

#[test]
fn paths_quote_keys_that_are_not_plain_names() {
    let e = error(r#"{"version": 1, "persistence": {"/persist": {"files": [3]}}}"#);
    assert_eq!(e, r#"persistence."/persist".files[0]: expected an object, got 3"#);
}

#[test]
fn modes_are_normalized_to_four_digits() {
    let c = parse(
        r#"{"version": 1, "persistence": {"/p": {"directories": [{"directory": "/d", "mode": "700"}]}}}"#,
    );
    assert_eq!(c.persistence.unwrap()[std::path::Path::new("/p")].directories[0].owner.mode, "0700");
}

#[test]
fn symbolic_modes_are_normalized_to_octal() {
    // impermanence's README form, pasted unchanged; a dataset's mode takes the same.
    let c = parse(
        r#"{"version": 1, "persistence": {"/p": {"directories": [{"directory": "/d", "mode": "u=rwx,g=,o="}]}}}"#,
    );
    assert_eq!(c.persistence.unwrap()[std::path::Path::new("/p")].directories[0].owner.mode, "0700");
}

#[test]
fn long_values_are_cut_in_messages() {
    let long = "x".repeat(200);
    let e = error(&format!(r#"{{"version": 1, "rollback": {{"device": "{long}"}}}}"#));
    assert!(e.len() < 200 && e.ends_with("..."), "{e}");
}

#[test]
fn subvolume_options_and_overlaps() {
    use rollback::{overlap, subvolume_options, Overlap};
    assert_eq!(subvolume_options("subvol=/nix/,noatime"), (Some("nix".into()), None));
    assert_eq!(
        subvolume_options("compress=zstd, subvol=@/persist ,subvolid=260"),
        (Some("@/persist".into()), Some(260))
    );
    assert_eq!(subvolume_options("subvol=/"), (Some(String::new()), None));
    assert_eq!(subvolume_options("noatime"), (None, None));
    assert_eq!(overlap("persist", "persist"), Some(Overlap::Same));
    assert_eq!(overlap("persist/old_roots", "persist"), Some(Overlap::Inside));
    assert_eq!(overlap("@", "@/persist"), Some(Overlap::Contains));
    assert_eq!(overlap("persist2", "persist"), None);
    assert_eq!(overlap("root", ""), None, "the top level is not a conflict");
}

#[test]
fn rollback_apart_from_mounts_on_other_devices_or_subvolumes() {
    let boot = |options: &str, device: &str| {
        format!(
            r#"{{"version": 1, "boot": {{"root": {{"device": "/dev/a"}}, "mounts": [{{"device": "{device}", "mountPoint": "/persist", "options": "{options}"}}]}}, "rollback": {{"device": "/dev/a", "subvolume": "persist"}}}}"#
        )
    };
    assert!(error(&boot("subvol=persist", "/dev/a")).starts_with("rollback.subvolume: must be apart"));
    // Another device, the top level, or what only the disk can tell: left to the run-time check.
    parse(&boot("subvol=persist", "/dev/b"));
    parse(&boot("subvol=/", "/dev/a"));
    parse(&boot("subvolid=257", "/dev/a"));
    parse(&boot("", "/dev/a"));
}

#[test]
fn service_datasets_get_their_names_and_mountpoints() {
    let c = parse(
        r#"{"version": 1, "datasets": {"parentDataset": "tank/persist", "parentMount": "/persist/",
        "services": {"sonarr": {"mountpoint": "/var/lib/sonarr/"}, "wal": {},
                     "postgresql": {"mountpoint": "/var/lib/postgresql", "persist": true}},
        "rpool/other/x": {"properties": {"dnsize": "auto", "atime": "off"}}}}"#,
    );
    let d = c.datasets.unwrap();
    let got: Vec<(String, Option<String>)> =
        datasets::entries(&d).into_iter().map(|e| (e.name, e.mountpoint)).collect();
    let want = [
        ("tank/persist/postgresql", Some("/persist/var/lib/postgresql")),
        ("tank/persist/sonarr", Some("/var/lib/sonarr")),
        ("tank/persist/wal", Some("/persist/wal")),
        ("rpool/other/x", None),
    ];
    let want: Vec<(String, Option<String>)> =
        want.iter().map(|(n, m)| (n.to_string(), m.map(str::to_string))).collect();
    assert_eq!(got, want);
    // Short property names are kept in the long form `zfs get` prints.
    assert_eq!(d.others["rpool/other/x"].properties["dnodesize"], "auto");
}

#[test]
fn dataset_names_follow_zfs_rules() {
    for ok in ["tank", "tank/a", "rpool/safe/persist/services", "t/a b/c_d-e.f:g"] {
        assert_eq!(datasets::name_problem(ok), None, "{ok}");
    }
    let long = format!("tank/{}", "x".repeat(251));
    for bad in [
        "tank/", "/tank", "tank//a", "tank/a@s", "tank/a#b", "tank/./a", "tank/..", "1tank/a", "c0/a",
        "raidz1/a", "tank/ä", &long,
    ] {
        assert!(datasets::name_problem(bad).is_some(), "{bad}");
    }
}

#[test]
fn compression_values_of_openzfs_2_1() {
    for ok in [
        "lz4",
        "gzip",
        "gzip-6",
        "zstd",
        "zstd-19",
        "zstd-fast",
        "zstd-fast-10",
        "zstd-fast-500",
        "zle",
        "on",
    ] {
        assert!(datasets::compression_known(ok), "{ok}");
    }
    for bad in ["zstd-20", "zstd-fast-11", "gzip-0", "brotli", "LZ4", ""] {
        assert!(!datasets::compression_known(bad), "{bad}");
    }
}

/// `rollback.stage2Mounts` (what NixOS mounts) is kept clear of by the same rule as
/// `boot.mounts`: by `subvol=` path here, the rest (`subvolid=`, the default subvolume, other
/// device names) by subvolume id when the rollback runs.
#[test]
fn stage2_mounts_are_kept_clear_of() {
    let config = |mounts: &str| {
        format!(
            r#"{{"version": 1, "rollback": {{"device": "/dev/mapper/crypted", "stage2Mounts": [{mounts}]}}}}"#
        )
    };
    let mount = |device: &str, at: &str, options: &str| {
        format!(
            r#"{{"device": "{device}", "mountPoint": "{at}", "fsType": "btrfs", "options": "{options}"}}"#
        )
    };
    let crypted = "/dev/mapper/crypted";
    for (mounts, wanted) in [
        (mount(crypted, "/home", "subvol=root/home"), "rollback.subvolume: must be apart"),
        (mount(crypted, "/srv/old", "subvol=/old_roots/x"), "rollback.archive: must be apart"),
        (
            mount(crypted, "/", "subvol=root"),
            "rollback.stage2Mounts[0].mountPoint: expected a mount point other than /",
        ),
    ] {
        let e = error(&config(&mounts));
        assert!(e.contains(wanted), "{mounts}: {e}");
    }
    for mounts in [
        mount(crypted, "/persist", "subvolid=258"),
        mount(crypted, "/home", ""),
        mount("/dev/disk/by-uuid/0f1e2d3c-0000-4000-8000-123456789abc", "/home", "subvol=root/home"),
        mount(crypted, "/nix", "subvol=nix,compress=zstd"),
        format!(
            r#"{{"device": "{crypted}", "mountPoint": "/data", "fsType": "ext4", "options": "subvol=root/x"}}"#
        ),
    ] {
        let c = parse(&config(&mounts));
        assert_eq!(c.rollback.unwrap().stage2_mounts.len(), 1, "{mounts}");
    }
}

#[test]
fn the_strict_json_reader_reads_what_serde_json_reads() {
    let text = r#"{"a": [1, -2, 3.5, 1e300, true, null, "s\u00e9", {"b": {}}, []], "c": {"d": 18446744073709551615}}"#;
    let strict = reader::parse_json(text).unwrap();
    assert_eq!(strict, serde_json::from_str::<serde_json::Value>(text).unwrap());
    // The same key in two different objects is not a repetition.
    assert!(reader::parse_json(r#"{"a": {"x": 1}, "b": {"x": 1}, "l": [{"x": 1}, {"x": 2}]}"#).is_ok());
}

#[test]
fn a_repeated_key_is_refused_with_its_path() {
    let cases = [
        (r#"{"version": 1, "version": 1}"#, "version: given twice"),
        (r#"{"l": [{"x": 1}, {"x": 2, "y": 0, "x": 3}]}"#, "l[1].x: given twice"),
        (r#"{"a": {"/var/lib": 1, "/var/lib": 2}}"#, r#"a."/var/lib": given twice"#),
    ];
    for (text, want) in cases {
        let e = reader::parse_json(text).unwrap_err().to_string();
        assert!(e.starts_with(want), "{text}: {e}");
    }
    // Broken JSON still says where.
    let e = reader::parse_json(r#"{"a": 1,}"#).unwrap_err().to_string();
    assert!(e.starts_with("not valid JSON at line 1 column 9"), "{e}");
}

#[test]
fn persisted_paths_with_control_characters_are_refused() {
    for (json, at) in [
        (r#"{"/persist": {"directories": ["/var/lib/a\nb"]}}"#, r#"persistence."/persist".directories[0]"#),
        (r#"{"/persist": {"files": ["/etc/x\u001b[0m"]}}"#, r#"persistence."/persist".files[0]"#),
        (r#"{"/pers\tist": {"files": ["/etc/x"]}}"#, r#"persistence."/pers\tist".files[0]"#),
        (
            r#"{"/persist": {"users": {"alice": {"files": ["a\u007f"]}}}}"#,
            r#"persistence."/persist".users.alice.files[0]"#,
        ),
    ] {
        let e = error(&format!(r#"{{"version": 1, "persistence": {json}}}"#));
        assert!(e.starts_with(&format!("{at}: ")) && e.contains("contains the control character"), "{e}");
    }
}
