//! Crash safety and clock safety of `lethe rollback`, on real btrfs loop images (as root).
//!
//! These need the test hooks of the `fault-injection` feature (`LETHE_FAULT=point` stops the
//! process abruptly there; `LETHE_NOW=epoch` plays a wrong clock), so they run the binary cargo
//! built for this test run (`cargo test --all-features`), not `LETHE_BIN`.

mod common;

use common::btrfs::{impermanent_layout, now, sh, Image, DAY};
use common::require_root;
use lethe::rollback::FAULT_POINTS;
use std::collections::BTreeSet;
use std::process::{Command, Output};

const MARKER: &str = "written during the last boot\n";
/// Archives named as lethe names them (their age comes from their mtime, not their name).
const EXPIRED: &str = "2021-01-01_00:00:00";
const YOUNG: &str = "2021-01-02_00:00:00";

/// A private copy of the binary cargo built for this run, checked to have the test hooks: in
/// a shared target directory, a plain `cargo build` may replace it while the tests run.
fn lethe_bin() -> &'static std::path::Path {
    static BIN: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        let base = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
        // Copies left by earlier runs (each run has its own, a copy may still be running).
        for entry in std::fs::read_dir(base).into_iter().flatten().flatten() {
            if entry.file_name().to_string_lossy().starts_with("lethe-faults-") {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        let dir = base.join(format!("lethe-faults-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bin = dir.join("lethe");
        std::fs::copy(env!("CARGO_BIN_EXE_lethe"), &bin).unwrap();
        let config = dir.join("config.json");
        std::fs::write(&config, r#"{"version": 1, "rollback": {"device": "/dev/null"}}"#).unwrap();
        let out = output(
            Command::new(&bin)
                .args(["rollback", "--config", config.to_str().unwrap()])
                .env("LETHE_FAULT", "loaded"),
        );
        assert_eq!(
            out.status.code(),
            Some(99),
            "{} lacks the fault-injection feature (build with cargo test --all-features): {}",
            env!("CARGO_BIN_EXE_lethe"),
            text(&out)
        );
        bin
    })
}

/// Runs `cmd`, retrying while its binary is "busy": a test thread forking just as the copy
/// above was open for writing holds it open until that child execs (ETXTBSY).
fn output(cmd: &mut Command) -> Output {
    for _ in 0..50 {
        match cmd.output() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            other => return other.unwrap(),
        }
    }
    panic!("{cmd:?}: executable still busy")
}

fn lethe_rollback(image: &Image, extra: &str, env: &[(&str, String)]) -> Output {
    let config = image.config(extra);
    let mut cmd = Command::new(lethe_bin());
    cmd.args(["rollback", "--config", config.to_str().unwrap()])
        .env_remove("LETHE_FAULT")
        .env_remove("LETHE_NOW");
    for (k, v) in env {
        cmd.env(k, v);
    }
    output(&mut cmd)
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// The starting states a crash is injected into.
#[derive(Debug, Clone, Copy)]
enum Fixture {
    /// Used root, an expired archive (3 nested deep, one read-only snapshot with a nested
    /// subvolume) and a young one.
    Normal,
    /// Used root, no archive directory yet.
    FirstBoot,
    /// Empty root left by an earlier run, `blankSnapshot` configured.
    BlankAfterCrash,
}

impl Fixture {
    fn build(self) -> Image {
        let image = impermanent_layout(256);
        match self {
            Fixture::Normal => {
                let rel = image.archive(EXPIRED, 90, 3);
                image.snapshot_ro(&format!("{rel}/n1"), &format!("{rel}/n1/snap"));
                let snap = image.path(&format!("{rel}/n1/snap"));
                sh("btrfs", &["property", "set", "-ts", snap.to_str().unwrap(), "ro", "false"]);
                image.subvolume(&format!("{rel}/n1/snap/inner"));
                sh("btrfs", &["property", "set", "-ts", snap.to_str().unwrap(), "ro", "true"]);
                image.set_mtime(&rel, now() - 90 * DAY);
                image.archive(YOUNG, 2, 1);
            }
            Fixture::FirstBoot => {}
            Fixture::BlankAfterCrash => {
                image.subvolume("blank-src");
                image.write("blank-src/etc/machine-id", "uninitialized\n");
                image.snapshot_ro("blank-src", "root-blank");
                sh(
                    "btrfs",
                    &["-q", "subvolume", "delete", image.path("root/var/lib/machines").to_str().unwrap()],
                );
                sh("btrfs", &["-q", "subvolume", "delete", image.path("root").to_str().unwrap()]);
                image.subvolume("root");
            }
        }
        image
    }

    fn config(self) -> &'static str {
        match self {
            Fixture::BlankAfterCrash => r#""keepAtLeast": 0, "blankSnapshot": "root-blank""#,
            _ => r#""keepAtLeast": 0"#,
        }
    }

    /// Whether the old root holds data that must end up archived exactly once.
    fn has_used_root(self) -> bool {
        !matches!(self, Fixture::BlankAfterCrash)
    }
}

/// Where the last boot's root is now: every subvolume holding its marker file.
fn copies_of_old_root(image: &Image) -> Vec<String> {
    let mut places: Vec<String> =
        image.names("old_roots").into_iter().map(|n| format!("old_roots/{n}")).collect();
    places.push("root".into());
    places
        .into_iter()
        .filter(|p| std::fs::read_to_string(image.path(&format!("{p}/marker"))).is_ok_and(|m| m == MARKER))
        .collect()
}

/// What must hold after any crash, and after any run.
struct Invariants {
    siblings: std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>,
    young: Option<std::collections::BTreeMap<String, String>>,
    used_root: bool,
}

impl Invariants {
    fn record(image: &Image, fixture: Fixture) -> Invariants {
        Invariants {
            siblings: image.siblings(&[]),
            young: image
                .exists(&format!("old_roots/{YOUNG}"))
                .then(|| image.fingerprint(&format!("old_roots/{YOUNG}"))),
            used_root: fixture.has_used_root(),
        }
    }

    fn check(&self, image: &Image, when: &str) {
        assert_eq!(image.siblings(&[]), self.siblings, "{when}: siblings untouched");
        if let Some(young) = &self.young {
            assert_eq!(
                &image.fingerprint(&format!("old_roots/{YOUNG}")),
                young,
                "{when}: young archive intact"
            );
        }
        let root = image.kind_of("root");
        assert!(root == "missing" || root == "subvolume", "{when}: root is {root}");
        if self.used_root {
            assert_eq!(copies_of_old_root(image).len(), 1, "{when}: the old root exists exactly once");
        }
        for name in image.names("old_roots") {
            assert!(
                image.is_subvolume(&format!("old_roots/{name}")),
                "{when}: old_roots/{name} is a subvolume"
            );
        }
    }

    fn check_done(&self, image: &Image, fixture: Fixture, when: &str) {
        self.check(image, when);
        assert!(image.is_subvolume("root"), "{when}: root exists");
        match fixture {
            Fixture::BlankAfterCrash => {
                assert_eq!(image.names("root"), ["etc"], "{when}: root cloned from the blank");
            }
            _ => assert!(image.names("root").is_empty(), "{when}: root is fresh"),
        }
        let names = image.names("old_roots");
        assert!(
            names.iter().all(|n| !n.starts_with(".lethe-deleting.") && n != EXPIRED),
            "{when}: {names:?}"
        );
        let leftovers: Vec<String> =
            image.all_subvolumes().into_iter().filter(|p| p.contains(EXPIRED)).collect();
        assert!(leftovers.is_empty(), "{when}: nothing of the expired archive is left: {leftovers:?}");
        if self.used_root {
            assert!(
                copies_of_old_root(image)[0].starts_with("old_roots/"),
                "{when}: the old root is archived"
            );
        }
    }
}

#[test]
fn every_crash_point_is_finished_by_the_next_run() {
    require_root();
    let mut reached = BTreeSet::new();
    for fixture in [Fixture::Normal, Fixture::FirstBoot, Fixture::BlankAfterCrash] {
        for point in FAULT_POINTS {
            let image = fixture.build();
            let inv = Invariants::record(&image, fixture);
            // Crash at the same point again while that changes something (the mid-delete
            // point fires once per run, after one more nested subvolume is gone): each crash
            // must leave a state the next run continues from.
            let mut crashes = 0;
            let mut last = image.fingerprint("");
            loop {
                let out = lethe_rollback(&image, fixture.config(), &[("LETHE_FAULT", point.to_string())]);
                let when = format!("{fixture:?}, crash #{} at {point}", crashes + 1);
                match out.status.code() {
                    Some(99) => {
                        assert!(
                            text(&out).contains(&format!("stopping abruptly at {point}")),
                            "{}",
                            text(&out)
                        );
                        reached.insert(*point);
                        crashes += 1;
                        assert!(crashes < 12, "{when}: still crashing after {crashes} runs");
                        inv.check(&image, &when);
                        let now = image.fingerprint("");
                        if now == last {
                            break;
                        }
                        last = now;
                    }
                    Some(0) => break,
                    _ => panic!("{when}: lethe failed: {}", text(&out)),
                }
            }
            let out = lethe_rollback(&image, fixture.config(), &[]);
            assert!(out.status.success(), "{fixture:?}, rerun after {point}: {}", text(&out));
            inv.check_done(&image, fixture, &format!("{fixture:?}, after crashes at {point} and a rerun"));
        }
    }
    reached.insert("loaded"); // checked by lethe_bin()
    let missed: Vec<&&str> = FAULT_POINTS.iter().filter(|p| !reached.contains(*p)).collect();
    assert!(missed.is_empty(), "fault points never reached: {missed:?}");
}

fn build_time() -> i64 {
    let t = lethe::rollback::build_time();
    assert!(t > 1_600_000_000, "the test build knows its build date (got {t})");
    t
}

#[test]
fn clock_in_1970_skips_pruning_but_archives_and_recreates() {
    require_root();
    build_time();
    let image = Fixture::Normal.build();
    let inv = Invariants::record(&image, Fixture::Normal);
    let out = lethe_rollback(&image, r#""keepAtLeast": 0"#, &[("LETHE_NOW", "0".into())]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("the clock says 1970-01-01_00:00:00 (UTC), before lethe was built"),
        "{}",
        text(&out)
    );
    assert!(image.exists(&format!("old_roots/{EXPIRED}")), "nothing pruned");
    assert_eq!(image.names("old_roots").len(), 3);
    assert!(image.is_subvolume("root") && image.names("root").is_empty(), "fresh root");
    inv.check(&image, "after a 1970 boot");
    assert_eq!(image.archived_at(&this_runs_archive(&image)), None, "no 1970 archive time");
    // With a good clock, the next boot prunes.
    let out = lethe_rollback(&image, r#""keepAtLeast": 0"#, &[]);
    assert!(out.status.success(), "{}", text(&out));
    inv.check_done(&image, Fixture::Normal, "after a good boot");
}

#[test]
fn clock_before_the_newest_archive_skips_pruning() {
    require_root();
    let image = Fixture::Normal.build();
    let inv = Invariants::record(&image, Fixture::Normal);
    // After the build date, but 10 days before root was (as its mtime says) last modified.
    image.set_mtime("root", now() + 10 * DAY);
    let wrong = now();
    let out = lethe_rollback(&image, r#""keepAtLeast": 0"#, &[("LETHE_NOW", wrong.to_string())]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("before the newest archived root"), "{}", text(&out));
    assert!(image.exists(&format!("old_roots/{EXPIRED}")), "nothing pruned");
    inv.check(&image, "after a boot with a clock behind");
    // A clock behind dates nothing: the archive is aged by its mtime, as before this version.
    assert_eq!(image.archived_at(&this_runs_archive(&image)), None);
}

#[test]
fn clock_before_the_build_date_skips_pruning() {
    require_root();
    let build = build_time();
    let image = Fixture::Normal.build();
    // Everything on disk is older than the wrong clock, so only the build date gives it away.
    image.set_mtime("root", build - 10 * DAY);
    image.set_mtime(&format!("old_roots/{YOUNG}"), build - 20 * DAY);
    let inv = Invariants::record(&image, Fixture::Normal);
    image.set_mtime(&format!("old_roots/{EXPIRED}"), build - 100 * DAY);
    let out = lethe_rollback(&image, r#""keepAtLeast": 0"#, &[("LETHE_NOW", (build - 1).to_string())]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("before lethe was built"), "{}", text(&out));
    assert!(
        image.exists(&format!("old_roots/{EXPIRED}")) && image.exists(&format!("old_roots/{YOUNG}")),
        "nothing pruned"
    );
    inv.check(&image, "after a boot with a clock before the build");
}

/// The archive this run made (the newest subvolume in old_roots holding the last boot's root).
fn this_runs_archive(image: &Image) -> String {
    let copies = copies_of_old_root(image);
    assert_eq!(copies.len(), 1, "{copies:?}");
    copies[0].clone()
}

#[test]
fn far_future_clock_prunes_nothing_and_warns() {
    require_root();
    let image = Fixture::Normal.build();
    let inv = Invariants::record(&image, Fixture::Normal);
    let future = now() + 100 * 365 * DAY;
    let out = lethe_rollback(&image, r#""keepAtLeast": 0"#, &[("LETHE_NOW", future.to_string())]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("after the last change on this filesystem or its newest archive"),
        "{}",
        text(&out)
    );
    assert!(text(&out).contains("(pruning skipped: clock untrusted)"), "{}", text(&out));
    assert!(image.exists(&format!("old_roots/{EXPIRED}")), "nothing pruned: {:?}", image.names("old_roots"));
    assert_eq!(image.names("old_roots").len(), 3);
    inv.check(&image, "after a boot with a clock a century ahead");
    // A clock ahead still dates the archive (an early date would prune it too soon)...
    let made = this_runs_archive(&image);
    assert_eq!(image.archived_at(&made), Some(future));
    // ...so the next boot, with the right clock, is behind it: still nothing pruned, and the
    // message says which archive and how to correct it.
    let out = lethe_rollback(&image, r#""keepAtLeast": 0"#, &[]);
    assert!(out.status.success(), "{}", text(&out));
    let name = made.trim_start_matches("old_roots/");
    assert!(text(&out).contains(&format!("before the newest archived root {name:?}")), "{}", text(&out));
    assert!(text(&out).contains("setfattr -n trusted.lethe.archived"), "{}", text(&out));
    assert!(image.exists(&format!("old_roots/{EXPIRED}")), "nothing pruned");
    // Corrected as it says, the next boot prunes.
    image.set_archived_at(&made, now() - DAY);
    let out = lethe_rollback(&image, r#""keepAtLeast": 0"#, &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!image.exists(&format!("old_roots/{EXPIRED}")), "{}", text(&out));
    assert!(image.exists(&made), "archived a day ago: kept");
}

#[test]
fn a_60_day_uptime_then_31_days_later_prunes_by_archive_time() {
    require_root();
    let image = impermanent_layout(256);
    image.set_mtime("root", now() - 60 * DAY);
    let out = lethe_rollback(&image, r#""keepAtLeast": 0"#, &[]);
    assert!(out.status.success(), "{}", text(&out));
    let first = this_runs_archive(&image);
    // 29 days later (the disk used every day since: its last change is recent), still kept;
    // 31 days later, pruned.
    for (days, kept) in [(29, true), (31, false)] {
        image.set_archived_at(&first, now() - days * DAY);
        image.write("root/etc/hostname", &format!("{days} days later\n"));
        let out = lethe_rollback(&image, r#""keepAtLeast": 0"#, &[]);
        assert!(out.status.success(), "{}", text(&out));
        assert_eq!(image.exists(&first), kept, "{days} days after it was archived: {}", text(&out));
    }
}

#[test]
fn a_listing_failure_after_the_fresh_root_only_warns_and_the_next_run_prunes() {
    require_root();
    let image = Fixture::Normal.build();
    let inv = Invariants::record(&image, Fixture::Normal);
    // The archive cannot be listed once the new root is made: the boot must go on.
    let out = lethe_rollback(&image, r#""keepAtLeast": 0"#, &[("LETHE_FAIL", "list-archive".into())]);
    assert!(out.status.success(), "a failed pruning must not fail the boot: {}", text(&out));
    assert!(
        text(&out).contains(
            "old roots not pruned this boot (the fresh root is in place; the next rollback retries)"
        ),
        "{}",
        text(&out)
    );
    assert!(text(&out).contains("(pruning failed: retried next boot)"), "{}", text(&out));
    assert!(image.exists(&format!("old_roots/{EXPIRED}")), "nothing pruned");
    assert!(image.is_subvolume("root") && image.names("root").is_empty(), "fresh root");
    inv.check(&image, "after a boot whose listing failed");
    // The next boot keeps the fresh root and prunes.
    let out = lethe_rollback(&image, r#""keepAtLeast": 0"#, &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("root is still fresh"), "{}", text(&out));
    inv.check_done(&image, Fixture::Normal, "after the next boot");
}
