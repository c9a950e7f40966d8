//! `lethe rollback` and `lethe roots list` on real btrfs images on loop devices (as root).
//! These run `common::lethe()`, the static release binary in CI, so its libbtrfsutil linking is
//! exercised; the fault-injection and clock tests are in rollback_faults.rs.

mod common;

use common::btrfs::{impermanent_layout, now, sh, Image, DAY};
use common::{require_root, stderr, stdout};
use std::process::{Command, Output};

/// Archives named as lethe names them (their age comes from their mtime, not their name).
const OLD: &str = "2021-01-01_00:00:00";
const YOUNG: &str = "2021-01-02_00:00:00";
/// Made by a boot whose clock was dead.
const DEAD_RTC: &str = "1970-01-01_00:00:12";

/// The `i`th of more lethe-named archives.
fn name(i: i64) -> String {
    format!("2021-03-{:02}_00:00:00", i + 1)
}

fn rollback(image: &Image, extra: &str) -> Output {
    let config = image.config(extra);
    Command::new(common::lethe()).args(["rollback", "--config", config.to_str().unwrap()]).output().unwrap()
}

fn roots_list(image: &Image, extra: &str) -> Output {
    let config = image.config(extra);
    Command::new(common::lethe())
        .args(["roots", "list", "--config", config.to_str().unwrap()])
        .output()
        .unwrap()
}

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "lethe failed ({}):\n{}{}", out.status, stdout(out), stderr(out));
    stderr(out)
}

/// `date -u +%Y-%m-%d_%H:%M:%S` of an epoch, to compare lethe's names with coreutils'.
fn date_name(epoch: i64) -> String {
    sh("date", &["-u", "-d", &format!("@{epoch}"), "+%Y-%m-%d_%H:%M:%S"]).trim().to_string()
}

fn assert_fresh_root(image: &Image) {
    assert!(image.is_subvolume("root"), "root is a subvolume");
    assert!(image.names("root").is_empty(), "root is empty: {:?}", image.names("root"));
}

#[test]
fn first_boot_archives_root_and_creates_a_fresh_one() {
    require_root();
    let image = impermanent_layout(256);
    let siblings = image.siblings(&[]);
    let root_mtime = image.mtime("root");
    let log = ok(&rollback(&image, ""));

    let name = date_name(root_mtime);
    assert_eq!(image.names("old_roots"), std::slice::from_ref(&name));
    let archived = format!("old_roots/{name}");
    assert!(image.is_subvolume(&archived));
    assert_eq!(
        std::fs::read_to_string(image.path(&format!("{archived}/marker"))).unwrap(),
        "written during the last boot\n"
    );
    assert!(image.is_subvolume(&format!("{archived}/var/lib/machines")), "nested subvolume moved along");
    assert_fresh_root(&image);
    assert_eq!(image.siblings(&[]), siblings, "siblings untouched");
    assert!(log.contains(&format!("moved root to {archived}")), "{log}");
    assert!(log.contains("created a fresh empty root"), "{log}");
}

#[test]
fn a_second_run_keeps_the_fresh_root_instead_of_archiving_it() {
    require_root();
    let image = impermanent_layout(256);
    ok(&rollback(&image, ""));
    let archives = image.names("old_roots");
    let log = ok(&rollback(&image, ""));
    assert_eq!(image.names("old_roots"), archives, "no empty archive added");
    assert_fresh_root(&image);
    assert!(log.contains("root is still fresh"), "{log}");
}

#[test]
fn name_collision_gets_a_suffix() {
    require_root();
    let image = impermanent_layout(256);
    let t = now() - 3600;
    image.set_mtime("root", t);
    let name = date_name(t);
    image.archive(&name, 0, 0);
    image.subvolume(&format!("old_roots/{name}_2"));
    let old = image.fingerprint(&format!("old_roots/{name}"));
    ok(&rollback(&image, ""));
    assert_eq!(image.names("old_roots"), [name.clone(), format!("{name}_2"), format!("{name}_3")]);
    assert_eq!(image.fingerprint(&format!("old_roots/{name}")), old, "the existing archive is untouched");
    assert!(image.exists(&format!("old_roots/{name}_3/marker")));
}

#[test]
fn prunes_nothing_when_nothing_is_expired() {
    require_root();
    let image = impermanent_layout(256);
    image.archive(&name(1), 1, 1);
    image.archive(&name(2), 29, 0);
    let log = ok(&rollback(&image, r#""keepAtLeast": 0"#));
    assert_eq!(image.names("old_roots").len(), 3, "{:?}", image.names("old_roots"));
    assert!(!log.contains("deleted old_roots"), "{log}");
}

#[test]
fn prunes_one_expired_root() {
    require_root();
    let image = impermanent_layout(256);
    image.archive(YOUNG, 1, 0);
    image.archive(OLD, 31, 1);
    let log = ok(&rollback(&image, r#""keepAtLeast": 0"#));
    let names = image.names("old_roots");
    assert!(names.contains(&YOUNG.to_string()) && !names.contains(&OLD.to_string()), "{names:?}");
    assert_eq!(names.len(), 2);
    assert!(
        log.contains(&format!(
            "deleted old_roots/{OLD} with 1 nested subvolume(s): archived more than 30 days ago"
        )),
        "{log}"
    );
}

#[test]
fn prunes_many_expired_roots_with_nested_subvolumes_three_deep() {
    require_root();
    let image = impermanent_layout(256);
    let siblings = image.siblings(&[]);
    for i in 0..6 {
        image.archive(&name(10 + i), 40 + i, 3);
    }
    image.archive(YOUNG, 3, 3);
    ok(&rollback(&image, r#""keepAtLeast": 1, "retentionDays": 30"#));
    let names = image.names("old_roots");
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.contains(&YOUNG.to_string()));
    let left: Vec<String> =
        image.all_subvolumes().into_iter().filter(|p| p.contains("old_roots/2021-03-1")).collect();
    assert!(left.is_empty(), "nothing of the pruned roots is left: {left:?}");
    assert_eq!(image.fingerprint(&format!("old_roots/{YOUNG}")).len(), 8, "young archive intact");
    assert_eq!(image.siblings(&[]), siblings);
}

#[test]
fn deletes_read_only_nested_snapshots() {
    require_root();
    let image = impermanent_layout(256);
    let rel = image.archive(OLD, 90, 2);
    // A read-only snapshot with a subvolume nested in it (made writable, then read-only again),
    // and a read-only snapshot of a read-only snapshot.
    image.snapshot_ro(&format!("{rel}/n1"), &format!("{rel}/n1/n2/snap"));
    sh(
        "btrfs",
        &[
            "property",
            "set",
            "-ts",
            image.path(&format!("{rel}/n1/n2/snap")).to_str().unwrap(),
            "ro",
            "false",
        ],
    );
    image.subvolume(&format!("{rel}/n1/n2/snap/inner"));
    sh(
        "btrfs",
        &["property", "set", "-ts", image.path(&format!("{rel}/n1/n2/snap")).to_str().unwrap(), "ro", "true"],
    );
    image.snapshot_ro(&format!("{rel}/n1/n2/snap"), &format!("{rel}/snap2"));
    sh(
        "btrfs",
        &["property", "set", "-ts", image.path(&format!("{rel}/n1")).to_str().unwrap(), "ro", "true"],
    );
    image.set_mtime(&rel, now() - 90 * DAY);
    sh("btrfs", &["property", "set", "-ts", image.path(&rel).to_str().unwrap(), "ro", "true"]);
    assert_eq!(image.names("old_roots"), [OLD]);
    ok(&rollback(&image, r#""keepAtLeast": 0"#));
    let left: Vec<String> =
        image.all_subvolumes().into_iter().filter(|p| p.starts_with(&format!("old_roots/{OLD}"))).collect();
    assert!(left.is_empty(), "{left:?}");
}

/// A root whose top directory has not changed for 60 days (a long uptime), archived now.
fn root_of_a_60_day_uptime(image: &Image) -> (String, i64) {
    let mtime = now() - 60 * DAY;
    image.set_mtime("root", mtime);
    (date_name(mtime), mtime)
}

#[test]
fn a_root_archived_after_a_60_day_uptime_is_not_pruned_in_the_same_run() {
    require_root();
    let image = impermanent_layout(256);
    let (name, _) = root_of_a_60_day_uptime(&image);
    let before = now();
    let log = ok(&rollback(&image, r#""keepAtLeast": 0"#));
    let after = now();
    assert_eq!(image.names("old_roots"), std::slice::from_ref(&name), "{log}");
    let archived = image.archived_at(&format!("old_roots/{name}")).expect("archive time recorded");
    assert!((before..=after).contains(&archived), "archived at {archived}, run between {before} and {after}");
    // The listing ages it from then, and says when that was.
    let table = stdout(&roots_list(&image, r#""keepAtLeast": 0"#));
    let line = table.lines().find(|l| l.starts_with(&name)).unwrap_or_else(|| panic!("{table}"));
    assert!(
        line.contains(&date_name(archived)) && line.contains("keep (archived less than 30 days ago)"),
        "{table}"
    );
}

#[test]
fn a_root_archived_after_a_60_day_uptime_survives_5_quick_reboots() {
    require_root();
    let image = impermanent_layout(256);
    let (name, _) = root_of_a_60_day_uptime(&image);
    ok(&rollback(&image, ""));
    for boot in 1..=5 {
        image.write("root/etc/hostname", &format!("boot {boot}\n"));
        ok(&rollback(&image, ""));
    }
    let names = image.names("old_roots");
    assert_eq!(names.len(), 6, "{names:?}");
    assert!(names.contains(&name), "the first archive stays retentionDays: {names:?}");
}

#[test]
fn keep_at_least_overrides_age() {
    require_root();
    let image = impermanent_layout(256);
    for i in 0..4 {
        image.archive(&name(20 + i), 100 + i, 1);
    }
    // The root archived now is the newest; with keepAtLeast 3, old0 and old1 stay too.
    ok(&rollback(&image, r#""keepAtLeast": 3"#));
    let names = image.names("old_roots");
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(names.contains(&name(20)) && names.contains(&name(21)), "{names:?}");
}

#[test]
fn keep_at_least_counts_boots_not_clock_dates() {
    require_root();
    let image = impermanent_layout(256);
    image.archive(OLD, 60, 0);
    // A later boot (a later btrfs transaction) whose clock was dead: its root is dated 1970.
    sh("btrfs", &["filesystem", "sync", image.top.to_str().unwrap()]);
    image.archive(DEAD_RTC, 0, 1);
    image.set_mtime(&format!("old_roots/{DEAD_RTC}"), 12);
    ok(&rollback(&image, r#""keepAtLeast": 1"#));
    let names = image.names("old_roots");
    assert!(names.contains(&DEAD_RTC.to_string()), "the newest-made archive is kept: {names:?}");
    assert!(!names.contains(&OLD.to_string()), "{names:?}");
}

#[test]
fn blank_snapshot_is_cloned_writable() {
    require_root();
    let image = impermanent_layout(256);
    image.subvolume("blank-src");
    image.write("blank-src/etc/machine-id", "uninitialized\n");
    image.snapshot_ro("blank-src", "root-blank");
    let blank = image.fingerprint("root-blank");
    let log = ok(&rollback(&image, r#""blankSnapshot": "root-blank""#));
    assert_eq!(std::fs::read_to_string(image.path("root/etc/machine-id")).unwrap(), "uninitialized\n");
    std::fs::write(image.path("root/etc/machine-id"), "writable\n").expect("the new root is writable");
    assert_eq!(image.fingerprint("root-blank"), blank, "the blank snapshot is untouched");
    assert_eq!(image.names("old_roots").len(), 1);
    assert!(log.contains("writable snapshot of root-blank"), "{log}");
}

#[test]
fn plain_entries_in_the_archive_are_left_alone() {
    require_root();
    let image = impermanent_layout(256);
    image.archive(OLD, 60, 0);
    // The script deletes what `btrfs subvolume list -o` lists here: lethe must not.
    sh("mkdir", &["-p", image.path("old_roots/plain-dir").to_str().unwrap()]);
    image.subvolume("old_roots/plain-dir/inner");
    image.write("old_roots/notes.txt", "mine\n");
    std::os::unix::fs::symlink("/persist", image.path("old_roots/link")).unwrap();
    for p in ["old_roots/plain-dir", "old_roots/notes.txt"] {
        image.set_mtime(p, now() - 400 * DAY);
    }
    let kept: Vec<_> = ["plain-dir", "notes.txt", "link"]
        .iter()
        .map(|n| image.fingerprint(&format!("old_roots/{n}")))
        .collect();
    let log = ok(&rollback(&image, r#""keepAtLeast": 0"#));
    let after: Vec<_> = ["plain-dir", "notes.txt", "link"]
        .iter()
        .map(|n| image.fingerprint(&format!("old_roots/{n}")))
        .collect();
    assert_eq!(after, kept);
    assert!(!image.exists(&format!("old_roots/{OLD}")));
    assert!(log.contains("old_roots/plain-dir: left alone: a plain directory"), "{log}");
    assert!(log.contains("old_roots/notes.txt: left alone: a regular file"), "{log}");
    assert!(log.contains("old_roots/link: left alone: a symbolic link"), "{log}");
}

#[test]
fn other_tools_snapshots_in_the_archive_are_left_alone_and_listed() {
    require_root();
    let image = impermanent_layout(256);
    image.archive(OLD, 60, 1);
    // snapper (a numbered directory holding a read-only snapshot), btrbk (a read-only snapshot
    // named root.DATE), a person's subvolume: as old as OLD, none of them lethe's.
    let foreign = ["1", "root.20240101T1200", "keep-me"];
    sh("mkdir", &["-p", image.path("old_roots/1").to_str().unwrap()]);
    image.subvolume("old_roots/1/snapshot");
    image.subvolume("old_roots/root.20240101T1200");
    image.subvolume("old_roots/keep-me");
    image.subvolume("old_roots/keep-me/nested");
    for name in foreign {
        image.write(&format!("old_roots/{name}/data"), name);
        image.set_mtime(&format!("old_roots/{name}"), now() - 400 * DAY);
    }
    sh(
        "btrfs",
        &[
            "property",
            "set",
            "-ts",
            image.path("old_roots/root.20240101T1200").to_str().unwrap(),
            "ro",
            "true",
        ],
    );
    let before: Vec<_> = foreign.iter().map(|n| image.fingerprint(&format!("old_roots/{n}"))).collect();

    let list = roots_list(&image, r#""keepAtLeast": 0"#);
    let table = stdout(&list);
    assert!(list.status.success(), "{table}{}", stderr(&list));
    for name in ["root.20240101T1200", "keep-me"] {
        let line = table.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("{name} in {table}"));
        assert!(line.contains("ignore (a subvolume lethe did not name: not an archived root)"), "{line}");
    }
    assert!(table.lines().any(|l| l.starts_with("1 ") && l.contains("ignore (a plain directory")), "{table}");
    assert!(table.contains("2 subvolume(s) in old_roots not named by lethe"), "{table}");
    assert!(table.contains("1 archived root(s) in old_roots (plus root once archived)"), "{table}");
    let config = image.config(r#""keepAtLeast": 0"#);
    let json = Command::new(common::lethe())
        .args(["roots", "list", "--config", config.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let by = |name: &str| v["roots"].as_array().unwrap().iter().find(|r| r["name"] == name).cloned().unwrap();
    assert_eq!(by("keep-me")["nextRollback"], "ignore");
    assert_eq!(by("keep-me")["kind"], "subvolume");
    assert_eq!(by("keep-me")["reason"], "ignore (a subvolume lethe did not name: not an archived root)");
    assert_eq!(by(OLD)["nextRollback"], "delete");

    let log = ok(&rollback(&image, r#""keepAtLeast": 0"#));
    let after: Vec<_> = foreign.iter().map(|n| image.fingerprint(&format!("old_roots/{n}"))).collect();
    assert_eq!(after, before, "other tools' snapshots untouched");
    assert!(!image.exists(&format!("old_roots/{OLD}")), "lethe's own expired archive is pruned");
    assert!(image.is_subvolume("old_roots/keep-me/nested"));
    assert!(log.contains("old_roots/keep-me: left alone: a subvolume not named by lethe"), "{log}");
}

/// Runs lethe on a state it must refuse; checks the message and that nothing changed.
fn refused(image: &Image, extra: &str, expected: &str) {
    let before = image.fingerprint("");
    let out = rollback(image, extra);
    assert_eq!(out.status.code(), Some(2), "{}{}", stdout(&out), stderr(&out));
    let err = stderr(&out);
    assert!(err.contains(expected), "expected {expected:?} in:\n{err}");
    assert_eq!(image.fingerprint(""), before, "nothing changed");
}

#[test]
fn refuses_a_root_that_is_not_a_subvolume() {
    require_root();
    let image = Image::new(256);
    image.write("root/etc/fstab", "plain directory\n");
    image.subvolume("persist");
    refused(&image, "", "root: exists but is not a btrfs subvolume (a plain directory); refusing to archive it; nothing was changed");
}

#[test]
fn refuses_an_archive_path_that_is_a_file() {
    require_root();
    let image = impermanent_layout(256);
    image.write("old_roots", "a file\n");
    refused(
        &image,
        "",
        "old_roots (archive path): exists but is neither a directory nor a subvolume (a regular file)",
    );
    std::fs::remove_file(image.path("old_roots")).unwrap();
    std::os::unix::fs::symlink("persist", image.path("old_roots")).unwrap();
    refused(
        &image,
        "",
        "old_roots (archive path): exists but is neither a directory nor a subvolume (a symbolic link)",
    );
}

#[test]
fn refuses_a_root_that_is_mounted() {
    require_root();
    let image = impermanent_layout(256);
    let at = image.dir.join("booted");
    std::fs::create_dir_all(&at).unwrap();
    sh("mount", &["-t", "btrfs", "-o", "subvol=root", image.dev(), at.to_str().unwrap()]);
    let expected = format!("root: mounted at {}: the rollback runs before the root is mounted", at.display());
    refused(&image, "", &expected);
    sh("umount", &[at.to_str().unwrap()]);
}

#[test]
fn refuses_a_missing_blank_snapshot() {
    require_root();
    let image = impermanent_layout(256);
    refused(
        &image,
        r#""blankSnapshot": "nope""#,
        "nope (blankSnapshot): expected a subvolume, found missing",
    );
}

/// A config with this image as `rollback.device`, extra rollback fields, and `boot.mounts`
/// given as (device, mount point, options).
fn config_with_mounts(image: &Image, rollback: &str, mounts: &[(&str, &str, &str)]) -> std::path::PathBuf {
    let mounts: Vec<serde_json::Value> = mounts
        .iter()
        .map(|(d, m, o)| serde_json::json!({"device": d, "mountPoint": m, "options": o}))
        .collect();
    let rollback: serde_json::Value = serde_json::from_str(&format!(
        r#"{{"device": "{}"{}{rollback}}}"#,
        image.dev(),
        if rollback.is_empty() { "" } else { ", " }
    ))
    .unwrap();
    let config = serde_json::json!({
        "version": 1,
        "boot": {"root": {"device": image.dev(), "options": "subvol=root"}, "mounts": mounts},
        "rollback": rollback,
    });
    let path = image.dir.join("config.json");
    std::fs::write(&path, config.to_string()).unwrap();
    path
}

fn subvolume_id(image: &Image, rel: &str) -> String {
    sh("btrfs", &["inspect-internal", "rootid", image.path(rel).to_str().unwrap()]).trim().to_string()
}

/// check-config accepts `config` (only the disk can tell), and `lethe rollback` refuses it,
/// with `expected`, changing nothing.
fn refused_at_run_time(image: &Image, config: &std::path::Path, expected: &str) {
    let check = common::run(&["check-config", config.to_str().unwrap()]);
    assert!(check.status.success(), "{}", stderr(&check));
    let before = image.fingerprint("");
    let out = common::run(&["rollback", "--config", config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}{}", stdout(&out), stderr(&out));
    assert!(stderr(&out).contains(expected), "expected {expected:?} in:\n{}", stderr(&out));
    assert!(stderr(&out).contains("refusing to archive or delete what stage 2 mounts; nothing was changed"));
    assert_eq!(image.fingerprint(""), before, "nothing changed");
}

#[test]
fn refuses_an_archive_inside_a_subvolume_mounted_by_id() {
    require_root();
    let image = impermanent_layout(256);
    let id = subvolume_id(&image, "persist");
    let config = config_with_mounts(
        &image,
        r#""archive": "persist/old_roots""#,
        &[(image.dev(), "/nix", "subvol=nix"), (image.dev(), "/persist", &format!("noatime,subvolid={id}"))],
    );
    let expected = format!(
        "persist/old_roots (rollback.archive) is inside persist (subvolume id {id}), which boot.mounts[1] mounts at /persist"
    );
    refused_at_run_time(&image, &config, &expected);
}

#[test]
fn refuses_a_root_that_is_the_default_subvolume_a_mount_gets() {
    require_root();
    let image = impermanent_layout(256);
    // No subvol= option: the mount gets the filesystem's default subvolume, here persist.
    sh("btrfs", &["subvolume", "set-default", image.path("persist").to_str().unwrap()]);
    let id = subvolume_id(&image, "persist");
    let config = config_with_mounts(&image, r#""subvolume": "persist""#, &[(image.dev(), "/persist", "")]);
    let expected = format!(
        "persist (rollback.subvolume) is the same as persist (subvolume id {id}), which boot.mounts[0] mounts at /persist"
    );
    refused_at_run_time(&image, &config, &expected);
}

#[test]
fn refuses_a_root_containing_a_mount_named_through_another_device_path() {
    require_root();
    let image = impermanent_layout(256);
    // The same disk under another name (as /dev/disk/by-uuid/... would be).
    let alias = image.dir.join("by-uuid-alias");
    std::os::unix::fs::symlink(image.dev(), &alias).unwrap();
    let config = config_with_mounts(
        &image,
        "",
        &[(alias.to_str().unwrap(), "/var/lib/machines", "subvol=root/var/lib/machines")],
    );
    let id = subvolume_id(&image, "root/var/lib/machines");
    let expected = format!(
        "root (rollback.subvolume) contains root/var/lib/machines (subvolume id {id}), which boot.mounts[0] mounts at /var/lib/machines"
    );
    refused_at_run_time(&image, &config, &expected);
}

#[test]
fn mounts_apart_from_root_and_archive_are_fine() {
    require_root();
    let image = impermanent_layout(256);
    let top_id = "5";
    let config = config_with_mounts(
        &image,
        "",
        &[
            (image.dev(), "/nix", "subvol=/nix"),
            (image.dev(), "/persist", "subvol=persist,compress=zstd"),
            // The top level holds everything; mounting it is a view (btrbk does), not a conflict.
            (image.dev(), "/mnt/top", &format!("subvolid={top_id}")),
            (image.dev(), "/mnt/default", ""),
        ],
    );
    let out = common::run(&["rollback", "--config", config.to_str().unwrap()]);
    ok(&out);
    assert_fresh_root(&image);
}

#[test]
fn refuses_a_device_that_is_not_btrfs() {
    require_root();
    let dir = sh("mktemp", &["-d", "/tmp/lethe-notbtrfs.XXXXXX"]).trim().to_string();
    let file = format!("{dir}/ext4.img");
    std::fs::File::create(&file).unwrap().set_len(64 << 20).unwrap();
    sh("mkfs.ext4", &["-q", "-F", &file]);
    let hash = sh("sha256sum", &[&file]);
    let config = format!("{dir}/config.json");
    std::fs::write(&config, format!(r#"{{"version": 1, "rollback": {{"device": "{file}"}}}}"#)).unwrap();
    let out = Command::new(common::lethe()).args(["rollback", "--config", &config]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(&format!("{file}: not a btrfs filesystem (no btrfs superblock)")),
        "{}",
        stderr(&out)
    );
    assert_eq!(sh("sha256sum", &[&file]), hash);
    let missing = format!("{dir}/missing");
    std::fs::write(&config, format!(r#"{{"version": 1, "rollback": {{"device": "{missing}"}}}}"#)).unwrap();
    let out = Command::new(common::lethe()).args(["rollback", "--config", &config]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(&format!("{missing}: cannot open: No such file or directory")),
        "{}",
        stderr(&out)
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn refuses_when_the_top_level_cannot_be_mounted() {
    require_root();
    let image = impermanent_layout(256);
    image.unmount();
    // Flip a byte of the superblock's fsid: the magic is intact, so this gets past lethe's
    // superblock check to a mount the kernel refuses (checksum mismatch).
    let flip = || {
        use std::os::unix::fs::FileExt;
        let f = std::fs::OpenOptions::new().read(true).write(true).open(&image.file).unwrap();
        let mut b = [0u8; 1];
        f.read_exact_at(&mut b, 0x10000 + 0x20).unwrap();
        f.write_all_at(&[b[0] ^ 0xff], 0x10000 + 0x20).unwrap();
        f.sync_all().unwrap();
        sh("blockdev", &["--flushbufs", image.dev()]);
    };
    flip();
    let hash = sh("sha256sum", &[image.file.to_str().unwrap()]);
    let out = rollback(&image, "");
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("cannot mount the btrfs top level (subvolid=5)"), "{err}");
    assert_eq!(sh("sha256sum", &[image.file.to_str().unwrap()]), hash, "nothing written");
    flip();
    image.mount();
}

#[test]
fn roots_list_shows_what_the_next_rollback_prunes() {
    require_root();
    let image = impermanent_layout(256);
    image.archive("2026-01-01_00:00:00", 90, 2);
    image.archive(YOUNG, 2, 0);
    let before = image.fingerprint("");
    let out = roots_list(&image, r#""keepAtLeast": 1"#);
    let table = stdout(&out);
    assert!(out.status.success(), "{table}{}", stderr(&out));
    assert_eq!(image.fingerprint(""), before, "listing changes nothing");
    let line = |name: &str| {
        table.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("{name} in {table}"))
    };
    assert!(table.starts_with("NAME"), "{table}");
    let old = line("2026-01-01_00:00:00");
    assert!(old.contains("prune (archived more than 30 days ago") && old.contains(" 2 "), "{old}");
    assert!(line(YOUNG).contains("keep (archived less than 30 days ago)"), "{table}");
    let root_name = date_name(image.mtime("root"));
    let root = line(&root_name);
    assert!(
        root.contains("(now root)") && root.contains("keep (one of the 1 newest)") && root.contains(" 1 "),
        "{root}"
    );
    assert!(
        table.contains(
            "2 archived root(s) in old_roots (plus root once archived); the next rollback would delete 1."
        ),
        "{table}"
    );
    assert!(table.contains(&format!("mount -o subvol=old_roots/NAME {} /mnt", image.dev())), "{table}");
}

#[test]
fn roots_list_json_for_scripts() {
    require_root();
    let image = impermanent_layout(256);
    image.archive(OLD, 90, 3);
    image.write("old_roots/notes.txt", "mine\n");
    let config = image.config(r#""keepAtLeast": 0"#);
    let out = Command::new(common::lethe())
        .args(["roots", "list", "--config", config.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    let text = ok(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(v["archive"], "old_roots");
    assert_eq!(v["pruningSkipped"], serde_json::Value::Null);
    let roots = v["roots"].as_array().unwrap();
    let by = |name: &str| roots.iter().find(|r| r["name"] == name).unwrap_or_else(|| panic!("{name} in {v}"));
    assert_eq!(by(OLD)["nextRollback"], "delete");
    assert_eq!(by(OLD)["nestedSubvolumes"], 3);
    assert_eq!(by(OLD)["currentRoot"], false);
    assert_eq!(by("notes.txt")["nextRollback"], "ignore");
    let root = roots.iter().find(|r| r["currentRoot"] == true).expect("current root listed");
    assert_eq!(root["nextRollback"], "keep");
    assert_eq!(root["modified"], image.mtime("root"));
}

#[test]
fn bad_invocations_are_explained() {
    let out = common::run(&["rollback"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("missing --config FILE"), "{}", stderr(&out));
    let out = common::run(&["roots", "prune"]);
    assert!(stderr(&out).contains("unknown command roots prune, expected roots list"), "{}", stderr(&out));
    let dir = std::env::temp_dir().join(format!("lethe-rb-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("c.json");
    std::fs::write(&config, r#"{"version": 1}"#).unwrap();
    let out = common::run(&["rollback", "--config", config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("rollback: missing; nothing to roll back"), "{}", stderr(&out));
    std::fs::write(&config, r#"{"version": 1, "rollback": {"device": "/dev/x", "keepAtLeast": -1}}"#)
        .unwrap();
    let out = common::run(&["rollback", "--config", config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("rollback.keepAtLeast: expected"), "{}", stderr(&out));
    std::fs::remove_dir_all(dir).unwrap();
}

/// A config as the NixOS module writes it: no `boot` section, `rollback.stage2Mounts` (from
/// `fileSystems`) given as (device, mount point, options), and extra rollback fields.
fn config_with_stage2_mounts(
    image: &Image,
    rollback: &str,
    mounts: &[(&str, &str, &str)],
) -> std::path::PathBuf {
    let mounts: Vec<serde_json::Value> = mounts
        .iter()
        .map(|(d, m, o)| serde_json::json!({"device": d, "mountPoint": m, "fsType": "btrfs", "options": o}))
        .collect();
    let mut rollback: serde_json::Value =
        serde_json::from_str(&format!(r#"{{"device": "{}"{rollback}}}"#, image.dev())).unwrap();
    rollback["stage2Mounts"] = serde_json::Value::Array(mounts);
    let path = image.dir.join("config.json");
    std::fs::write(&path, serde_json::json!({"version": 1, "rollback": rollback}).to_string()).unwrap();
    path
}

#[test]
fn refuses_an_archive_inside_what_stage2_mounts_by_id() {
    require_root();
    let image = impermanent_layout(256);
    let id = subvolume_id(&image, "persist");
    let config = config_with_stage2_mounts(
        &image,
        r#", "archive": "persist/old_roots""#,
        &[(image.dev(), "/nix", "subvol=nix"), (image.dev(), "/persist", &format!("subvolid={id}"))],
    );
    let expected = format!(
        "persist/old_roots (rollback.archive) is inside persist (subvolume id {id}), which rollback.stage2Mounts[1] mounts at /persist"
    );
    refused_at_run_time(&image, &config, &expected);
}

#[test]
fn refuses_a_root_containing_what_stage2_mounts_under_another_device_name() {
    require_root();
    let image = impermanent_layout(256);
    // fileSystems."/home" with subvol=root/home, its device named by UUID as NixOS hosts do.
    image.subvolume("root/home");
    let alias = image.dir.join("by-uuid-alias");
    std::os::unix::fs::symlink(image.dev(), &alias).unwrap();
    let config =
        config_with_stage2_mounts(&image, "", &[(alias.to_str().unwrap(), "/home", "subvol=root/home")]);
    let id = subvolume_id(&image, "root/home");
    let expected = format!(
        "root (rollback.subvolume) contains root/home (subvolume id {id}), which rollback.stage2Mounts[0] mounts at /home"
    );
    refused_at_run_time(&image, &config, &expected);
}

#[test]
fn refuses_an_archive_containing_what_stage2_mounts() {
    require_root();
    let image = impermanent_layout(256);
    // A mount of something kept in the archive (an old root brought back by hand).
    sh("mkdir", &["-p", image.path("old_roots").to_str().unwrap()]);
    image.subvolume("old_roots/kept");
    let alias = image.dir.join("by-uuid-alias");
    std::os::unix::fs::symlink(image.dev(), &alias).unwrap();
    let config = config_with_stage2_mounts(
        &image,
        "",
        &[(alias.to_str().unwrap(), "/srv/kept", "subvol=old_roots/kept")],
    );
    let id = subvolume_id(&image, "old_roots/kept");
    let expected = format!(
        "old_roots (rollback.archive) contains old_roots/kept (subvolume id {id}), which rollback.stage2Mounts[0] mounts at /srv/kept"
    );
    refused_at_run_time(&image, &config, &expected);
}
