use super::*;

const NOW: i64 = 1_800_000_000; // 2027-01-15_08:00:00
const BUILD: i64 = 1_700_000_000;

fn policy(retention_days: u32, keep_at_least: u32) -> Policy {
    Policy { retention_days, keep_at_least, build_time: BUILD }
}

fn sub(name: &str, age_days: i64) -> Entry {
    // Made in the order of their age, as successive boots make them.
    Entry {
        name: name.into(),
        kind: Kind::Subvolume,
        mtime: NOW - age_days * DAY,
        archived: None,
        created: created(age_days),
    }
}

fn created(age_days: i64) -> u64 {
    (1_000_000 - age_days * 10) as u64
}

/// Pruning as a run decides it, on a disk last changed at NOW (as a used machine's is).
fn prune_at(entries: &[Entry], now: i64, policy: Policy) -> Pruning {
    prune(entries, now, policy, None, distrust(entries, now, policy, NOW))
}

fn fates(p: &Pruning) -> Vec<(&str, &Fate)> {
    p.fates.iter().map(|(e, f)| (e.name.as_str(), f)).collect()
}

fn pruned(p: &Pruning) -> Vec<&str> {
    p.deleted().map(|(e, _)| e.name.as_str()).collect()
}

#[test]
fn formats_utc_like_date() {
    // Checked against `date -u -d @N +%Y-%m-%d_%H:%M:%S`.
    let cases = [
        (0, "1970-01-01_00:00:00"),
        (951_782_400, "2000-02-29_00:00:00"),
        (951_868_799, "2000-02-29_23:59:59"),
        (1_709_251_199, "2024-02-29_23:59:59"),
        (1_800_000_000, "2027-01-15_08:00:00"),
        (4_102_444_800, "2100-01-01_00:00:00"),
        (-1, "1969-12-31_23:59:59"),
    ];
    for (epoch, text) in cases {
        assert_eq!(format_utc(epoch), text, "{epoch}");
    }
}

#[test]
fn formats_ages() {
    assert_eq!(format_age(40), "40s");
    assert_eq!(format_age(125), "2m");
    assert_eq!(format_age(3 * 3600 + 120), "3h 2m");
    assert_eq!(format_age(31 * DAY + 3600), "31d 1h");
    assert_eq!(format_age(-DAY), "in the future (1d 0h)");
}

#[test]
fn archive_name_is_root_mtime_with_a_suffix_when_taken() {
    let none = BTreeSet::new();
    assert_eq!(archive_name(NOW, &none), "2027-01-15_08:00:00");
    let taken: BTreeSet<String> =
        ["2027-01-15_08:00:00", "2027-01-15_08:00:00_2", ".lethe-deleting.2027-01-15_08:00:00_3"]
            .into_iter()
            .map(String::from)
            .collect();
    assert_eq!(archive_name(NOW, &taken), "2027-01-15_08:00:00_4");
}

#[test]
fn nothing_to_prune_in_an_empty_archive() {
    let p = prune_at(&[], NOW, policy(30, 5));
    assert!(p.fates.is_empty());
    assert_eq!(p.distrust, None);
}

/// A name lethe gives an archive: day `i` of December 2026 (the names say nothing of the age
/// the tests give the entries: lethe goes by mtime).
fn n(i: u32) -> String {
    format!("2026-12-{:02}_00:00:00", i + 1)
}

#[test]
fn prunes_zero_one_or_many_expired() {
    let young = [sub(&n(0), 1), sub(&n(1), 29), sub(&n(2), 30)];
    assert!(pruned(&prune_at(&young, NOW, policy(30, 0))).is_empty());

    let one = [sub(&n(0), 1), sub(&n(1), 31)];
    assert_eq!(pruned(&prune_at(&one, NOW, policy(30, 0))), [n(1)]);

    let many: Vec<Entry> = (0..10).map(|i| sub(&n(i), 25 + i64::from(i))).collect();
    assert_eq!(pruned(&prune_at(&many, NOW, policy(30, 0))), [n(6), n(7), n(8), n(9)]);
}

#[test]
fn exactly_retention_days_old_is_kept() {
    let at = [Entry { name: n(0), kind: Kind::Subvolume, mtime: NOW - 30 * DAY, archived: None, created: 1 }];
    assert!(pruned(&prune_at(&at, NOW, policy(30, 0))).is_empty());
    let past =
        [Entry { name: n(0), kind: Kind::Subvolume, mtime: NOW - 30 * DAY - 1, archived: None, created: 1 }];
    assert_eq!(pruned(&prune_at(&past, NOW, policy(30, 0))), [n(0)]);
}

#[test]
fn keep_at_least_overrides_age() {
    let old: Vec<Entry> = (0..6).map(|i| sub(&n(i), 100 + i64::from(i))).collect();
    let p = prune_at(&old, NOW, policy(30, 5));
    assert_eq!(pruned(&p), [n(5)]);
    assert_eq!(fates(&p)[0], (n(0).as_str(), &Fate::KeepNewest(5)));
    assert_eq!(fates(&p)[5], (n(5).as_str(), &Fate::Prune { age: 105 * DAY }));
    // Fewer archives than keepAtLeast: none is pruned.
    assert!(pruned(&prune_at(&old[..3], NOW, policy(30, 5))).is_empty());
}

#[test]
fn keep_at_least_counts_only_archives() {
    let entries = [
        Entry {
            name: "notes.txt".into(),
            kind: Kind::Other("a regular file"),
            mtime: NOW,
            archived: None,
            created: 0,
        },
        Entry { name: "plain".into(), kind: Kind::Directory, mtime: NOW, archived: None, created: 0 },
        sub(".lethe-deleting.z", 1),
        sub("snapper-1", 0),
        sub(&n(1), 1),
        sub(&n(2), 90),
    ];
    let p = prune_at(&entries, NOW, policy(30, 1));
    assert_eq!(
        fates(&p),
        [
            (n(1).as_str(), &Fate::KeepNewest(1)),
            (n(2).as_str(), &Fate::Prune { age: 90 * DAY }),
            ("notes.txt", &Fate::Ignore),
            ("plain", &Fate::Ignore),
            (".lethe-deleting.z", &Fate::Finish),
            ("snapper-1", &Fate::Foreign),
        ]
    );
}

#[test]
fn recognises_the_names_lethe_gives() {
    for good in
        ["2027-01-15_08:00:00", "1970-01-01_00:00:12", "2027-01-15_08:00:00_2", "2027-01-15_08:00:00_13"]
    {
        assert!(is_archive_name(good), "{good}");
    }
    let bad = [
        "",
        "old",
        "ancient",
        "young",
        "1",
        "root.20240101T1200",
        "2027-01-15",
        "2027-01-15_08:00",
        "2027-01-15 08:00:00",
        "2027-01-15_08:00:00_",
        "2027-01-15_08:00:00_1",
        "2027-01-15_08:00:00_02",
        "2027-01-15_08:00:00_x",
        "2027-01-15_08:00:00.bak",
        "2027-01-15_08:00:00_2_3",
        "x027-01-15_08:00:00",
        ".lethe-deleting.2027-01-15_08:00:00",
        "2027-01-15_08:00:0\u{e9}",
    ];
    for name in bad {
        assert!(!is_archive_name(name), "{name}");
    }
    // Every name archive_name gives is recognised.
    let taken: BTreeSet<String> = ["2027-01-15_08:00:00".to_string()].into();
    assert!(is_archive_name(&archive_name(NOW, &taken)));
    assert!(is_archive_name(&archive_name(-1, &BTreeSet::new())));
}

#[test]
fn other_tools_subvolumes_are_never_pruned() {
    // An archive directory shared with snapper and btrbk: their snapshots are old and many.
    let entries =
        [sub("1", 400), sub("root.20240101T1200", 400), sub("ancient", 400), sub(&n(0), 400), sub(&n(1), 1)];
    let p = prune_at(&entries, NOW, policy(30, 0));
    assert_eq!(pruned(&p), [n(0)]);
    let foreign: Vec<&str> =
        p.fates.iter().filter(|(_, f)| *f == Fate::Foreign).map(|(e, _)| e.name.as_str()).collect();
    assert_eq!(foreign, ["1", "root.20240101T1200", "ancient"]);
    // Nor do they count towards keepAtLeast, nor does their date decide the clock check.
    let p = prune_at(&[sub(&n(0), 400), sub("future-snapshot", -10)], NOW, policy(30, 0));
    assert_eq!(p.distrust, None);
    assert_eq!(pruned(&p), [n(0)]);
}

#[test]
fn equal_mtimes_are_ordered_by_name() {
    let (a, b, c) = (n(3), format!("{}_2", n(3)), format!("{}_3", n(3)));
    let mut entries = [sub(&b, 50), sub(&a, 50), sub(&c, 50)];
    for e in &mut entries {
        e.created = 7;
    }
    assert_eq!(pruned(&prune_at(&entries, NOW, policy(30, 1))), [b, a]);
}

#[test]
fn clock_before_build_date_prunes_nothing_but_finishes_deletions() {
    let entries = [sub(&n(0), 90), sub(".lethe-deleting.x", 90)];
    let p = prune_at(&entries, BUILD - 1, policy(30, 0));
    assert_eq!(p.distrust, Some(ClockDistrust::BeforeBuild { now: BUILD - 1, build: BUILD }));
    assert_eq!(pruned(&p), [".lethe-deleting.x"]);
    // 1970, the dead-RTC case.
    let p = prune_at(&entries, 0, policy(30, 0));
    assert!(matches!(p.distrust, Some(ClockDistrust::BeforeBuild { .. })));
    assert!(p.distrust.unwrap().to_string().contains("1970-01-01_00:00:00"));
}

#[test]
fn clock_before_newest_archive_prunes_nothing() {
    // The archive made this boot carries root's mtime from a boot whose clock was right.
    let entries = [sub(&n(0), -2), sub(&n(1), 90)];
    let p = prune_at(&entries, NOW, policy(30, 0));
    assert_eq!(
        p.distrust,
        Some(ClockDistrust::BeforeNewest { now: NOW, newest: n(0), mtime: NOW + 2 * DAY })
    );
    assert_eq!(fates(&p)[1], (n(1).as_str(), &Fate::KeepClock));
    assert!(pruned(&p).is_empty());
}

fn state(root: Kind, empty: bool) -> State {
    State {
        root,
        root_empty: empty,
        root_fresh: empty,
        root_mtime: NOW,
        root_created: 5,
        last_change: NOW,
        archive: vec![("old_roots".into(), Kind::Directory)],
        root_parents: vec![],
        blank: None,
    }
}

#[test]
fn steps_for_every_state() {
    let none = BTreeSet::new();
    let name = "2027-01-15_08:00:00".to_string();
    // Normal boot.
    assert_eq!(
        steps(&state(Kind::Subvolume, false), &none, None, Some(NOW)),
        [Step::Archive { to: name.clone(), at: Some(NOW) }, Step::CreateRoot]
    );
    // First boot: no archive directory yet.
    let mut first = state(Kind::Subvolume, false);
    first.archive = vec![("a".into(), Kind::Missing), ("a/b".into(), Kind::Missing)];
    assert_eq!(
        steps(&first, &none, None, Some(NOW)),
        [
            Step::MakeArchiveDir(vec!["a".into(), "a/b".into()]),
            Step::Archive { to: name, at: Some(NOW) },
            Step::CreateRoot
        ]
    );
    // Crash after the archive, before the new root: just create it.
    assert_eq!(steps(&state(Kind::Missing, false), &none, None, Some(NOW)), [Step::CreateRoot]);
    assert_eq!(
        steps(&state(Kind::Missing, false), &none, Some("blank"), Some(NOW)),
        [Step::SnapshotRoot { from: "blank".into() }]
    );
    // Crash after the new root was made (or a root never used): it is already fresh.
    assert_eq!(steps(&state(Kind::Subvolume, true), &none, None, Some(NOW)), [Step::KeepFreshRoot]);
    let mut clone = state(Kind::Subvolume, false);
    clone.root_fresh = true;
    assert_eq!(steps(&clone, &none, Some("blank"), Some(NOW)), [Step::KeepFreshRoot]);
    // An empty root when a blank snapshot is wanted: nothing to keep, clone the blank.
    let mut empty = state(Kind::Subvolume, true);
    empty.root_fresh = false;
    assert_eq!(
        steps(&empty, &none, Some("blank"), Some(NOW)),
        [Step::DeleteEmptyRoot, Step::SnapshotRoot { from: "blank".into() }]
    );
}

#[test]
fn refuses_what_it_must_not_touch() {
    assert_eq!(check(&state(Kind::Subvolume, false), "root", "old_roots"), Ok(()));
    assert_eq!(check(&state(Kind::Missing, false), "root", "old_roots"), Ok(()));
    let err = check(&state(Kind::Directory, false), "root", "old_roots").unwrap_err();
    assert_eq!(err, "root: exists but is not a btrfs subvolume (a plain directory); refusing to archive it");
    let mut s = state(Kind::Subvolume, false);
    s.archive = vec![("old_roots".into(), Kind::Other("a regular file"))];
    assert_eq!(
        check(&s, "root", "old_roots").unwrap_err(),
        "old_roots (archive path): exists but is neither a directory nor a subvolume (a regular file)"
    );
    let mut s = state(Kind::Subvolume, false);
    s.blank = Some(("blank".into(), Kind::Missing));
    assert_eq!(
        check(&s, "root", "old_roots").unwrap_err(),
        "blank (blankSnapshot): expected a subvolume, found missing"
    );
    let mut s = state(Kind::Subvolume, false);
    s.root_parents = vec![("sys".into(), Kind::Other("a symbolic link"))];
    assert_eq!(
        check(&s, "sys/root", "old_roots").unwrap_err(),
        "sys (parent of sys/root): expected a directory, found a symbolic link"
    );
}

#[test]
fn finds_where_root_is_mounted() {
    let info = "\
22 1 0:21 / /proc rw,nosuid shared:5 - proc proc rw
36 1 0:32 /root / rw,relatime shared:1 - btrfs /dev/mapper/crypted rw,subvol=/root
37 36 0:32 /nix /nix rw,relatime shared:2 - btrfs /dev/mapper/crypted rw,subvol=/nix
38 36 0:32 / /mnt/top rw,relatime shared:3 - btrfs /dev/mapper/crypted rw,subvolid=5
39 36 0:40 /root /other rw shared:4 - btrfs /dev/sdb1 rw,subvol=/root
40 36 0:32 /root2/x /srv/a\\040b rw shared:4 - btrfs /dev/mapper/crypted rw
41 36 0:32 /root2/x/y /srv/c rw shared:4 - btrfs /dev/mapper/crypted rw
";
    let info = &crate::mountinfo::parse(info);
    let ours = |s: &str| s == "/dev/mapper/crypted";
    assert_eq!(mounted_at(info, "root", ours).as_deref(), Some("/"));
    assert_eq!(mounted_at(info, "root2/x", ours).as_deref(), Some("/srv/a b"));
    assert_eq!(mounted_at(info, "old_roots", ours), None, "the top level mount is not a root mount");
    assert_eq!(mounted_at(info, "roo", ours), None);
    assert_eq!(mounted_at(info, "root", |s: &str| s == "/dev/sdb1").as_deref(), Some("/other"));
    assert_eq!(mounted_at(&[], "root", ours), None);
}

#[test]
fn keep_at_least_counts_by_creation_not_by_clock() {
    // The last boot had a dead RTC: its root is dated 1970, yet it is the newest archive.
    let mut last_boot = sub("1970-01-01_00:00:12", 0);
    last_boot.mtime = 12;
    last_boot.created = created(-1);
    let entries = [sub(&n(0), 40), sub(&n(1), 50), last_boot];
    let p = prune_at(&entries, NOW, policy(30, 1));
    assert_eq!(fates(&p)[0], ("1970-01-01_00:00:12", &Fate::KeepNewest(1)));
    assert_eq!(pruned(&p), [n(0), n(1)]);
    // The clock check looks at the newest date, not the newest creation.
    assert_eq!(p.distrust, None);
}

/// An archive made at `archived` (by this version: the time is recorded) of a root last
/// modified `mtime`, `created` in the order of the boots that made it.
fn archived(name: &str, mtime: i64, archived: i64, created: u64) -> Entry {
    Entry { name: name.into(), kind: Kind::Subvolume, mtime, archived: Some(archived), created }
}

#[test]
fn an_archive_ages_from_when_it_was_archived_not_from_its_mtime() {
    // Root untouched at the top for 60 days (a long uptime), archived a day ago.
    let day_old = [archived(&n(0), NOW - 60 * DAY, NOW - DAY, 1)];
    let p = prune_at(&day_old, NOW, policy(30, 0));
    assert_eq!(fates(&p), [(n(0).as_str(), &Fate::KeepYoung)]);
    // Archived 31 days ago: pruned, its age counted from then.
    let month_old = [archived(&n(0), NOW - 90 * DAY, NOW - 31 * DAY, 1)];
    assert_eq!(fates(&prune_at(&month_old, NOW, policy(30, 0)))[0].1, &Fate::Prune { age: 31 * DAY });
    // Archived by an earlier lethe (no time recorded): aged by its mtime, as it always was.
    assert_eq!(pruned(&prune_at(&[sub(&n(0), 31)], NOW, policy(30, 0))), [n(0)]);
}

#[test]
fn the_archive_made_by_this_run_is_never_pruned() {
    // Archived while the clock was behind (no time recorded), root modified 60 days earlier.
    let entries = [sub(&n(0), 60), sub(&n(1), 90)];
    let p = prune(&entries, NOW, policy(30, 0), Some(&n(0)), None);
    assert_eq!(
        fates(&p),
        [(n(0).as_str(), &Fate::KeepCurrent), (n(1).as_str(), &Fate::Prune { age: 90 * DAY })]
    );
    // Among the keepAtLeast newest, it says so instead.
    let p = prune(&entries, NOW, policy(30, 1), Some(&n(0)), None);
    assert_eq!(fates(&p)[0], (n(0).as_str(), &Fate::KeepNewest(1)));
}

/// The archive directory after `boots` rollbacks, `gap` seconds apart from `start`, the first
/// of a root whose top directory was last modified 60 days before; later roots are modified
/// during their short boot.
fn after_boots(start: i64, boots: i64, gap: i64) -> Vec<Entry> {
    (0..boots)
        .map(|i| {
            let at = start + i * gap;
            let mtime = if i == 0 { at - 60 * DAY } else { at - gap / 2 };
            archived(&format_utc(mtime), mtime, at, 100 + i as u64)
        })
        .collect()
}

#[test]
fn a_root_archived_after_a_60_day_uptime_stays_retention_days() {
    // Pruned in the same run with keepAtLeast 0 when aged by mtime; kept when aged by its
    // archive time.
    let first = after_boots(NOW, 1, 60);
    let p = prune(&first, NOW, policy(30, 0), Some(&first[0].name), None);
    assert!(pruned(&p).is_empty());
    let p = prune_at(&first, NOW + 60, policy(30, 0));
    assert_eq!(fates(&p), [(first[0].name.as_str(), &Fate::KeepYoung)]);
    // After 5 quick reboots with the defaults (30 days, keep 5), it is the sixth newest.
    let six = after_boots(NOW, 6, 60);
    let p = prune_at(&six, NOW + 5 * 60, policy(30, 5));
    assert!(pruned(&p).is_empty(), "{:?}", fates(&p));
    assert_eq!(fates(&p)[5], (six[0].name.as_str(), &Fate::KeepYoung));
    // Until 30 days after it was archived, whatever its mtime says.
    let p = prune_at(&six, NOW + 30 * DAY, policy(30, 5));
    assert!(pruned(&p).is_empty());
    let p = prune_at(&six, NOW + 30 * DAY + 1, policy(30, 5));
    assert_eq!(pruned(&p), [six[0].name.as_str()]);
}

#[test]
fn a_clock_far_ahead_of_everything_on_disk_prunes_nothing() {
    let entries = [
        archived(&n(0), NOW - 50 * DAY, NOW - 40 * DAY, 2),
        archived(&n(1), NOW - 99 * DAY, NOW - 90 * DAY, 1),
    ];
    // The filesystem last changed 31 days ago, the newest archive is older: more than 30 days.
    let d = distrust(&entries, NOW, policy(30, 0), NOW - 31 * DAY);
    assert_eq!(d, Some(ClockDistrust::FarAhead { now: NOW, last: NOW - 31 * DAY, days: 30 }));
    assert!(!d.as_ref().unwrap().behind(), "an archive time from a clock ahead is still recorded");
    let text = d.as_ref().unwrap().to_string();
    assert!(text.contains("31d 0h after the last change on this filesystem"), "{text}");
    let p = prune(&entries, NOW, policy(30, 0), None, d);
    assert!(pruned(&p).is_empty());
    assert_eq!(fates(&p)[1].1, &Fate::KeepClock);
    // A century ahead, the same.
    let far = NOW + 100 * 365 * DAY;
    assert!(matches!(distrust(&entries, far, policy(30, 0), NOW), Some(ClockDistrust::FarAhead { .. })));
    // Within retentionDays of the last change (or of the newest archive): trusted.
    assert_eq!(distrust(&entries, NOW, policy(30, 0), NOW - 30 * DAY), None);
    assert_eq!(distrust(&entries, NOW, policy(60, 0), NOW - 59 * DAY), None);
    let recent = [archived(&n(0), NOW - 50 * DAY, NOW - DAY, 2)];
    assert_eq!(distrust(&recent, NOW, policy(30, 0), NOW - 99 * DAY), None);
    // Nothing known at all: nothing to compare with.
    assert_eq!(distrust(&[], NOW, policy(30, 0), 0), None);
}

#[test]
fn a_clock_before_an_archive_time_prunes_nothing_and_records_none() {
    // The newest archive was archived 2 days "from now": the clock is behind.
    let entries = [archived(&n(0), NOW - 10 * DAY, NOW + 2 * DAY, 2), sub(&n(1), 90)];
    let d = distrust(&entries, NOW, policy(30, 0), NOW);
    assert_eq!(d, Some(ClockDistrust::BeforeNewest { now: NOW, newest: n(0), mtime: NOW + 2 * DAY }));
    assert!(d.as_ref().unwrap().behind());
    assert!(d.as_ref().unwrap().to_string().contains("setfattr -n trusted.lethe.archived"));
    assert!(pruned(&prune(&entries, NOW, policy(30, 0), None, d)).is_empty());
}
