//! `lethe persist` cases that need more than a table: watching it with inotify, runs over
//! several configs (an entry removed, `--stop` at shutdown, a failure part-way), and a btrfs
//! loop image as the store, so adoption crosses filesystems. Each test runs in a private mount
//! namespace of its own thread (see `common::tree`).

mod common;

use common::btrfs::{sh, Image};
use common::tree::{build, list, mounts_below, private_tmpfs};
use common::{lethe, persist, text};
use rustix::fs::inotify;
use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn write_config(dir: &Path, persistence: &str) -> PathBuf {
    let path = dir.join("config.json");
    std::fs::write(&path, format!(r#"{{"version": 1, "persistence": {persistence}}}"#)).unwrap();
    path
}

fn ok(o: Output) -> String {
    assert!(o.status.success(), "lethe persist failed ({}):\n{}", o.status, text(&o));
    text(&o)
}

/// A root on a private tmpfs, with a `/persist` directory.
fn root() -> (PathBuf, PathBuf) {
    let dir = private_tmpfs();
    let root = dir.join("root");
    build(&dir, "d /root 0755 0:0\nd /root/persist 0755 0:0\n");
    (dir, root)
}

#[test]
fn created_parents_never_show_the_wrong_owner_or_mode() {
    let (dir, root) = root();
    let config = write_config(
        &dir,
        r#"{"/persist": {"directories": [{"directory": "/srv/a/b/data", "user": "1000", "group": "1000", "mode": "0700"}],
            "files": [{"file": "/opt/x/y/key", "method": "bind", "mode": "0600",
                       "parentDirectory": {"user": "1000", "group": "1000", "mode": "0750"}}]}}"#,
    );
    // Expected owner and mode of every path lethe makes, as the config asks.
    let want: BTreeMap<&str, (u32, u32, u32)> = [
        ("srv", (0, 0, 0o755)),
        ("srv/a", (0, 0, 0o755)),
        ("srv/a/b", (0, 0, 0o755)),
        ("srv/a/b/data", (1000, 1000, 0o700)),
        ("opt", (0, 0, 0o755)),
        ("opt/x", (0, 0, 0o755)),
        ("opt/x/y", (1000, 1000, 0o750)),
        // A file's owner defaults to its parent's.
        ("opt/x/y/key", (1000, 1000, 0o600)),
    ]
    .into_iter()
    .collect();
    let inotify_fd = inotify::init(inotify::CreateFlags::NONBLOCK | inotify::CreateFlags::CLOEXEC).unwrap();
    let mask = inotify::WatchFlags::CREATE | inotify::WatchFlags::MOVED_TO | inotify::WatchFlags::ATTRIB;
    let mut watched: BTreeMap<i32, PathBuf> = BTreeMap::new();
    for base in [root.clone(), root.join("persist")] {
        watched.insert(inotify::add_watch(&inotify_fd, &base, mask).unwrap(), base);
    }
    // umask 077: a plain mkdir(0755) would make root-owned 0700 directories for a moment.
    let mut child = Command::new("sh")
        .args(["-c", "umask 077; exec \"$0\" \"$@\""])
        .arg(lethe())
        .args(["persist", "--config", config.to_str().unwrap(), "--root", root.to_str().unwrap()])
        .spawn()
        .unwrap();
    let mut seen = Vec::new();
    let mut problems = Vec::new();
    let mut buf = vec![std::mem::MaybeUninit::<u8>::uninit(); 64 << 10];
    loop {
        let done = child.try_wait().unwrap().is_some();
        let mut reader = inotify::Reader::new(&inotify_fd, &mut buf);
        let mut new_dirs = Vec::new();
        loop {
            let event = match reader.next() {
                Ok(e) => e,
                Err(rustix::io::Errno::AGAIN) => break,
                Err(e) => panic!("inotify: {e}"),
            };
            let Some(name) = event.file_name().map(|n| n.to_string_lossy().into_owned()) else { continue };
            if name.starts_with(".lethe-new.") {
                continue;
            }
            let parent = &watched[&event.wd()];
            let path = parent.join(&name);
            let rel = path.strip_prefix(&root).unwrap();
            let rel = rel.strip_prefix("persist").unwrap_or(rel).to_string_lossy().into_owned();
            if event.events().contains(inotify::ReadFlags::ATTRIB) {
                problems.push(format!("{}: owner or mode changed after it appeared", path.display()));
            }
            // Stat at once: what any other process could see at this moment.
            if let Ok(meta) = std::fs::symlink_metadata(&path) {
                let got = (meta.uid(), meta.gid(), meta.permissions().mode() & 0o7777);
                if want.get(rel.as_str()).is_some_and(|w| *w != got) {
                    problems.push(format!(
                        "{}: appeared as {got:?}, want {:?}",
                        path.display(),
                        want[rel.as_str()]
                    ));
                }
                if meta.is_dir() {
                    new_dirs.push(path.clone());
                }
            }
            seen.push(rel);
        }
        for d in new_dirs {
            if let Ok(wd) = inotify::add_watch(&inotify_fd, &d, mask) {
                watched.insert(wd, d);
            }
        }
        if done {
            break;
        }
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
    assert!(child.wait().unwrap().success());
    assert!(problems.is_empty(), "{problems:#?}");
    // The top of each side was certainly watched before lethe started.
    assert!(seen.iter().filter(|s| *s == "srv").count() == 2 && seen.iter().any(|s| s == "opt"), "{seen:?}");
    // And in the end every path has what was asked, on both sides.
    for (rel, w) in &want {
        for side in [root.join(rel), root.join("persist").join(rel)] {
            let meta = std::fs::symlink_metadata(&side).unwrap();
            assert_eq!(
                (meta.uid(), meta.gid(), meta.permissions().mode() & 0o7777),
                *w,
                "{}",
                side.display()
            );
        }
    }
    drop(dir);
}

#[test]
fn setgid_parents_and_the_umask_do_not_change_what_is_made() {
    // lethe makes each path with the asked mode and sets what then differs: a setgid parent
    // gives new directories its group and the setgid bit, the umask takes bits away.
    let dir = private_tmpfs();
    let root = dir.join("root");
    build(&dir, "d /root 2775 0:1000\nd /root/persist 2775 0:1000\n");
    let config = write_config(
        &dir,
        r#"{"/persist": {"directories": ["/srv/plain", {"directory": "/srv/shared", "group": "100", "mode": "0775"}],
            "files": [{"file": "/etc/app.conf", "method": "bind", "mode": "0664"}]}}"#,
    );
    let status = Command::new("sh")
        .args(["-c", "umask 027; exec \"$0\" \"$@\""])
        .arg(lethe())
        .args(["persist", "--config", config.to_str().unwrap(), "--root", root.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(status.success());
    for (rel, want) in [
        ("srv", (0, 0, 0o755)),
        ("srv/plain", (0, 0, 0o755)),
        ("srv/shared", (0, 100, 0o775)),
        ("etc", (0, 0, 0o755)),
        ("etc/app.conf", (0, 0, 0o664)),
    ] {
        for side in [root.join(rel), root.join("persist").join(rel)] {
            let meta = std::fs::symlink_metadata(&side).unwrap();
            let got = (meta.uid(), meta.gid(), meta.permissions().mode() & 0o7777);
            assert_eq!(got, want, "{}", side.display());
        }
    }
    drop(dir);
}

#[test]
fn a_removed_entry_is_unmounted_and_its_data_kept() {
    let (dir, root) = root();
    let both = write_config(
        &dir,
        r#"{"/persist": {"directories": ["/var/log", "/var/lib/app"], "files": ["/etc/x"]}}"#,
    );
    ok(persist(&both, &root, &[]));
    std::fs::write(root.join("var/lib/app/state"), "kept").unwrap();
    // (The link points at /persist/etc/x as the booted system sees it.)
    assert_eq!(std::fs::read_link(root.join("etc/x")).unwrap(), Path::new("/persist/etc/x"));
    std::fs::write(root.join("persist/etc/x"), "through the link").unwrap();
    assert_eq!(mounts_below(&dir).len(), 2);

    let one = write_config(&dir, r#"{"/persist": {"directories": ["/var/log"]}}"#);
    let out = ok(persist(&one, &root, &[]));
    assert!(
        out.contains("unmounted /var/lib/app (no longer configured; /persist/var/lib/app kept)"),
        "{out}"
    );
    assert!(out.contains("removed the symlink /etc/x"), "{out}");
    assert!(out.contains("1 unmounted") || out.contains("2 unmounted"), "{out}");
    assert_eq!(mounts_below(&dir), [format!("{}/var/log", root.display())]);
    assert!(!root.join("var/lib/app/state").exists());
    assert_eq!(std::fs::read_to_string(root.join("persist/var/lib/app/state")).unwrap(), "kept");
    assert_eq!(std::fs::read_to_string(root.join("persist/etc/x")).unwrap(), "through the link");
    // Nothing left to undo: a third run is quiet.
    let out = ok(persist(&one, &root, &[]));
    assert_eq!(out.lines().count(), 1, "{out}");
}

#[test]
fn a_mount_that_no_longer_shows_its_source_is_left_alone() {
    let (dir, root) = root();
    let config = write_config(&dir, r#"{"/persist": {"directories": ["/srv"]}}"#);
    ok(persist(&config, &root, &[]));
    // Someone mounted something else over it since.
    sh("mount", &["-t", "tmpfs", "tmpfs", root.join("srv").to_str().unwrap()]);
    let none = write_config(&dir, r#"{"/persist": {}}"#);
    let out = ok(persist(&none, &root, &[]));
    assert!(out.contains("no longer shows /persist/srv: left alone"), "{out}");
    assert_eq!(mounts_below(&dir).len(), 2);
}

#[test]
fn a_failing_entry_is_named_and_the_others_stay_in_place() {
    let (dir, root) = root();
    build(&root, "d /ro 0755 0:0\nd /ro/d 0755 0:0\n");
    let ro = root.join("ro");
    sh("mount", &["--bind", ro.to_str().unwrap(), ro.to_str().unwrap()]);
    sh("mount", &["-o", "remount,bind,ro", ro.to_str().unwrap()]);
    let config = write_config(&dir, r#"{"/persist": {"directories": ["/a", "/ro/b/c", "/z"]}}"#);
    let out = persist(&config, &root, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("mounted /persist/a on /a") && t.contains("mounted /persist/z on /z"), "{t}");
    assert!(
        t.contains("failed /ro/b/c (persistence.\"/persist\".directories[1]): ")
            && t.contains("/ro/b: cannot create"),
        "{t}"
    );
    let a = root.join("a").display().to_string();
    let z = root.join("z").display().to_string();
    assert_eq!(mounts_below(&dir), [ro.display().to_string(), a, z], "the other entries stay mounted");
    // Only the entries in place have a marker: the units of /ro/b/c's neededBy do not start.
    let markers = list(&root.join("run/lethe/persisted"), &[]);
    assert_eq!(markers, "f /a 0644 0:0\nf /z 0644 0:0\n");
}

#[test]
fn stop_adopts_a_file_a_program_put_in_place_of_the_symlink() {
    let (dir, root) = root();
    let config = write_config(&dir, r#"{"/persist": {"files": ["/etc/app.conf", "/etc/new.conf"]}}"#);
    build(&root, "d /persist/etc 0755 0:0\nf /persist/etc/app.conf 0644 0:0 old\nd /etc 0755 0:0\n");
    std::os::unix::fs::symlink("/persist/etc/app.conf", root.join("etc/app.conf")).unwrap();
    ok(persist(&config, &root, &[]));
    // /etc/app.conf was a link lethe made earlier (kept as is); /etc/new.conf is made now.
    assert!(root.join("etc/new.conf").symlink_metadata().unwrap().file_type().is_symlink());
    // Programs write a new file and rename it over the link (impermanence#197).
    for (name, content) in [("app.conf", "new"), ("new.conf", "first")] {
        std::fs::write(root.join("etc/.tmp"), content).unwrap();
        std::fs::rename(root.join("etc/.tmp"), root.join("etc").join(name)).unwrap();
    }
    let out = ok(persist(&config, &root, &["--stop"]));
    assert!(out.contains("adopted /etc/app.conf into /persist/etc/app.conf"), "{out}");
    assert!(out.contains("adopted 2 replaced files"), "{out}");
    assert_eq!(std::fs::read_to_string(root.join("persist/etc/app.conf")).unwrap(), "new");
    assert_eq!(std::fs::read_to_string(root.join("persist/etc/new.conf")).unwrap(), "first");
    let aside = list(&root.join("persist/.lethe-conflict"), &[]);
    assert!(aside.contains("0644 0:0 old"), "the store's older copy is kept aside:\n{aside}");
    assert!(!root.join("etc/app.conf").exists());
}

/// A btrfs image: `root` and `persist` subvolumes mounted as a host has them, so moving data
/// into the store crosses mounts (a rename fails with EXDEV) and is a copy.
#[test]
fn adoption_across_filesystems_keeps_owners_modes_times_and_xattrs() {
    let dir = private_tmpfs();
    let image = Image::new(256);
    image.subvolume("root");
    image.subvolume("persist");
    let root = dir.join("root");
    std::fs::create_dir(&root).unwrap();
    sh("mount", &["-t", "btrfs", "-o", "subvol=root", image.dev(), root.to_str().unwrap()]);
    std::fs::create_dir(root.join("persist")).unwrap();
    sh(
        "mount",
        &["-t", "btrfs", "-o", "subvol=persist", image.dev(), root.join("persist").to_str().unwrap()],
    );
    build(
        &root,
        "d /var 0755 0:0\nd /var/lib 0755 0:0\nd /var/lib/app 0750 7:8\nf /var/lib/app/db 0640 7:8 rows\n\
         d /var/lib/app/sub 0700 7:8\nl /var/lib/app/sub/link -> ../db\nd /etc 0755 0:0\nf /etc/hostid 0600 0:0 abc\n",
    );
    rustix::fs::lsetxattr(
        root.join("var/lib/app/db"),
        "user.origin",
        b"boot1",
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();
    sh("touch", &["-h", "-d", "@1000000000", root.join("var/lib/app/db").to_str().unwrap()]);
    let before = list(&root.join("var/lib/app"), &[]);
    let config = write_config(
        &dir,
        r#"{"/persist": {"directories": [{"directory": "/var/lib/app", "user": "7", "group": "8", "mode": "0750"}], "files": ["/etc/hostid"]}}"#,
    );
    let out = ok(persist(&config, &root, &[]));
    assert!(out.contains("adopted /var/lib/app into /persist/var/lib/app"), "{out}");
    assert!(out.contains("adopted /etc/hostid into /persist/etc/hostid"), "{out}");
    // The store holds the same tree (owners, modes, symlink), the xattr and the time.
    assert_eq!(list(&root.join("persist/var/lib/app"), &[]), before);
    let db = root.join("persist/var/lib/app/db");
    let mut value = [0u8; 16];
    let n = rustix::fs::lgetxattr(&db, "user.origin", &mut value[..]).unwrap();
    assert_eq!(&value[..n], b"boot1");
    assert_eq!(std::fs::metadata(&db).unwrap().mtime(), 1_000_000_000);
    assert_eq!(std::fs::read_to_string(root.join("persist/etc/hostid")).unwrap(), "abc");
    // The root shows it through the mounts; a second run changes nothing.
    assert_eq!(list(&root.join("var/lib/app"), &[]), before);
    let again = ok(persist(&config, &root, &[]));
    assert_eq!(again.lines().count(), 1, "{again}");
    sh("umount", &["-R", root.to_str().unwrap()]);
    // On disk, below the root subvolume, only the empty mount points are left.
    image.unmount();
    image.mount();
    assert_eq!(image.names("root/var/lib/app"), Vec::<String>::new());
    assert_eq!(std::fs::read_to_string(image.path("root/etc/hostid")).unwrap(), "");
    assert_eq!(std::fs::read_to_string(image.path("persist/etc/hostid")).unwrap(), "abc");
}

#[test]
fn unpersisted_lists_what_the_next_boot_forgets_and_what_the_store_holds_unnamed() {
    let (dir, root) = root();
    build(
        &root,
        "d /srv 0755 0:0\nd /srv/scratch 0755 0:0\nf /srv/scratch/big 0644 0:0 0123456789\n\
         d /etc 0755 0:0\nf /etc/hostname 0644 0:0 host\nl /etc/static -> /nix/store/abc-etc\n\
         d /mnt 0755 0:0\n\
         d /persist/old-service 0755 0:0\nf /persist/old-service/db 0644 0:0 12345\n",
    );
    // Another filesystem (as /nix, /proc are): not the root's, skipped.
    sh("mount", &["-t", "tmpfs", "tmpfs", root.join("mnt").to_str().unwrap()]);
    std::fs::write(root.join("mnt/elsewhere"), "x").unwrap();
    let config =
        write_config(&dir, r#"{"/persist": {"directories": ["/var/log"], "files": ["/etc/machine-id"]}}"#);
    ok(persist(&config, &root, &[]));
    std::fs::write(root.join("var/log/boot.log"), "persisted").unwrap();
    let out = Command::new(lethe())
        .args([
            "unpersisted",
            "--config",
            config.to_str().unwrap(),
            "--root",
            root.to_str().unwrap(),
            "--json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let tops: Vec<(&str, u64)> = report["vanishing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["top"].as_str().unwrap(), g["bytes"].as_u64().unwrap()))
        .collect();
    // /srv (10 bytes) before /etc (4 bytes); /run holds lethe's record. Not /var (persisted),
    // /mnt (another filesystem), /persist, the /nix/store link or the machine-id mount.
    assert_eq!(tops.iter().map(|t| t.0).collect::<Vec<_>>(), ["/run", "/srv", "/etc"], "{report:#}");
    assert_eq!(tops[1].1, 10);
    let etc: Vec<&str> = report["vanishing"][2]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["path"].as_str().unwrap())
        .collect();
    assert_eq!(etc, ["/etc/hostname"]);
    let unnamed: Vec<&str> =
        report["unnamed"].as_array().unwrap().iter().map(|i| i["path"].as_str().unwrap()).collect();
    assert_eq!(unnamed, ["/persist/old-service"]);
    // The text form names the same, biggest first.
    let out = Command::new(lethe())
        .args(["unpersisted", "--config", config.to_str().unwrap(), "--root", root.to_str().unwrap()])
        .output()
        .unwrap();
    let t = text(&out);
    assert!(t.contains("/srv  10 B in 1 file\n/etc  4 B in 1 file\n  /etc/hostname  4 B in 1 file\n"), "{t}");
    assert!(t.contains("  /persist/old-service  5 B in 1 file"), "{t}");
}

#[test]
fn hide_mounts_marks_the_mounts_for_file_managers() {
    let (dir, root) = root();
    let config = write_config(
        &dir,
        r#"{"/persist": {"hideMounts": true, "directories": ["/var/log"], "files": [{"file": "/etc/x", "method": "bind"}]}}"#,
    );
    ok(persist(&config, &root, &[]));
    let utab = std::fs::read_to_string(root.join("run/mount/utab")).unwrap();
    for target in ["/var/log", "/etc/x"] {
        let line = utab
            .lines()
            .find(|l| l.contains(&format!(" TARGET={target} ")))
            .unwrap_or_else(|| panic!("{utab}"));
        assert!(line.starts_with("ID=") && line.ends_with(" OPTS=x-gvfs-hide"), "{line}");
    }
}

/// The unit as an installer writes it (`@lethe@` replaced) passes `systemd-analyze verify`.
#[test]
fn the_stage_2_unit_is_valid() {
    let unit_text =
        std::fs::read_to_string(common::repo_root().join("initrd-glue/systemd/system/lethe-persist.service"))
            .unwrap();
    assert!(unit_text.contains("ExecStart=@lethe@ persist --config /etc/lethe/config.json\n"));
    assert!(
        unit_text.contains("DefaultDependencies=no")
            && unit_text.contains("Before=local-fs.target systemd-tmpfiles-setup.service")
    );
    let dir = PathBuf::from(sh("mktemp", &["-d"]).trim());
    let unit = dir.join("lethe-persist.service");
    std::fs::write(&unit, unit_text.replace("@lethe@", lethe().to_str().unwrap())).unwrap();
    let out = Command::new("systemd-analyze").args(["verify", unit.to_str().unwrap()]).output().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(out.status.success() && out.stderr.is_empty(), "{}", text(&out));
}

/// The generator as installed writes the `neededBy` drop-ins into the directory systemd gives.
#[test]
fn the_generator_writes_the_needed_by_drop_ins() {
    let dir = PathBuf::from(sh("mktemp", &["-d"]).trim());
    let text = std::fs::read_to_string(
        common::repo_root().join("initrd-glue/systemd/system-generators/lethe-persist-generator"),
    )
    .unwrap();
    let config = write_config(
        &dir,
        r#"{"/persist": {"directories": [{"directory": "/var/lib/syncthing", "neededBy": ["syncthing.service"]}]}}"#,
    );
    let generator = dir.join("generator");
    let text = text
        .replace("@lethe@", lethe().to_str().unwrap())
        .replace("/etc/lethe/config.json", config.to_str().unwrap());
    std::fs::write(&generator, text).unwrap();
    let out = Command::new("sh")
        .arg(&generator)
        .arg(dir.join("normal"))
        .arg(dir.join("early"))
        .arg(dir.join("late"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let dropin = std::fs::read_to_string(dir.join("normal/syncthing.service.d/lethe-persist.conf")).unwrap();
    assert!(
        dropin.contains("After=lethe-persist.service\n")
            && dropin.contains("RequiresMountsFor=\"/var/lib/syncthing\"\n")
            && dropin.contains("AssertPathExists=/run/lethe/persisted/var-lib-syncthing\n"),
        "{dropin}"
    );
    let stores =
        std::fs::read_to_string(dir.join("normal/lethe-persist.service.d/lethe-stores.conf")).unwrap();
    assert!(stores.contains("RequiresMountsFor=\"/persist\"\n"), "{stores}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `lethe persist` of this build with a race made certain (`LETHE_PERSIST_RACE`, a hook of the
/// `fault-injection` feature: cargo's binary, not `LETHE_BIN`).
fn persist_racing(config: &Path, root: &Path, point: &str, command: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lethe"))
        .args(["persist", "--config", config.to_str().unwrap(), "--root", root.to_str().unwrap()])
        .env("LETHE_PERSIST_RACE", format!("{point}:{command}"))
        .output()
        .unwrap()
}

/// An entry removed from the config is unmounted through the directory that was checked: a
/// user who swaps a directory on the way for a symlink between the check and the unmount
/// (here, certainly) cannot make lethe unmount something else.
#[test]
fn a_removed_entry_is_unmounted_through_the_checked_directory() {
    let (dir, root) = root();
    build(&root, "d /a 0755 0:0\nd /a/b 0755 1000:1000\nd /x 0755 0:0\nd /x/c 0755 0:0\n");
    let config = write_config(&dir, r#"{"/persist": {"directories": ["/a/b/c"]}}"#);
    ok(persist(&config, &root, &[]));
    let victim = root.join("x/c");
    sh("mount", &["-t", "tmpfs", "tmpfs", victim.to_str().unwrap()]);
    let config = write_config(&dir, r#"{"/persist": {"directories": []}}"#);
    let (b, old, x) = (root.join("a/b"), root.join("a/b.old"), root.join("x"));
    let swap = format!("mv {} {} && ln -s {} {}", b.display(), old.display(), x.display(), b.display());
    let out = persist_racing(&config, &root, "before-unmount", &swap);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("unmounted /a/b/c (no longer configured"), "{}", text(&out));
    assert_eq!(mounts_below(&dir), [victim.display().to_string()], "only the unrelated mount is left");
}

/// Data written into a directory while it is being copied into the store (another filesystem)
/// is not lost: the copy is compared with the original, and the entry fails with the copy
/// removed and the original untouched.
#[test]
fn a_tree_that_changes_while_it_is_copied_is_not_adopted() {
    let (dir, root) = root();
    sh("mount", &["-t", "tmpfs", "tmpfs", root.join("persist").to_str().unwrap()]);
    build(&root, "d /srv 0755 0:0\nd /srv/app 0755 0:0\nf /srv/app/db 0644 0:0 rows\n");
    let config = write_config(&dir, r#"{"/persist": {"directories": ["/srv/app"]}}"#);
    let write = format!("echo late >> {}", root.join("srv/app/db").display());
    let out = persist_racing(&config, &root, "after-copy", &write);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("failed /srv/app") && text(&out).contains("changed while it was copied"),
        "{}",
        text(&out)
    );
    let store = list(&root.join("persist"), &[]);
    assert!(!store.contains(".lethe-new") && !store.contains("/srv/app"), "no copy is left:\n{store}");
    // Below the read-only fence, the original holds what was written during the copy.
    sh("umount", &[root.join("srv/app").to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(root.join("srv/app/db")).unwrap(), "rowslate\n");
}

/// `persist --generate` writes paths as systemd reads them: `RequiresMountsFor=` quoted with
/// `%` doubled (a space would split the path, `%` is a specifier), the marker named as
/// `systemd-escape --path` names it; `systemd-analyze verify` reads the drop-in without a word.
#[test]
fn generated_drop_ins_escape_paths_as_systemd_does() {
    let dir = PathBuf::from(sh("mktemp", &["-d"]).trim());
    let target = "/srv/my dir/100%";
    let config = write_config(
        &dir,
        &format!(
            r#"{{"/persist": {{"directories": [{{"directory": "{target}", "neededBy": ["app.service"]}}]}}}}"#
        ),
    );
    let out = Command::new(lethe())
        .args(["persist", "--config", config.to_str().unwrap(), "--generate", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let dropin = std::fs::read_to_string(dir.join("app.service.d/lethe-persist.conf")).unwrap();
    let escaped = sh("systemd-escape", &["--path", target]);
    assert!(dropin.contains("RequiresMountsFor=\"/srv/my dir/100%%\"\n"), "{dropin}");
    assert!(
        dropin.contains(&format!("AssertPathExists=/run/lethe/persisted/{}\n", escaped.trim())),
        "{dropin}"
    );
    std::fs::write(dir.join("app.service"), "[Unit]\nDescription=app\n[Service]\nExecStart=/bin/true\n")
        .unwrap();
    let verify = Command::new("systemd-analyze").arg("verify").arg(dir.join("app.service")).output().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(verify.status.success() && verify.stderr.is_empty(), "{}", text(&verify));
}

/// A removed entry whose mount is busy is named and left as it is; the rest of the run applies.
#[test]
fn a_busy_removed_entry_does_not_stop_the_others() {
    let (dir, root) = root();
    let config = write_config(&dir, r#"{"/persist": {"directories": ["/old"]}}"#);
    ok(persist(&config, &root, &[]));
    let busy = std::fs::File::create(root.join("old/open-file")).unwrap();
    let config = write_config(&dir, r#"{"/persist": {"directories": ["/new"]}}"#);
    let out = persist(&config, &root, &[]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    assert!(t.contains("failed to unmount /old: ") && t.contains("mounted /persist/new on /new"), "{t}");
    assert!(!t.contains("unmounted /old"), "{t}");
    drop(busy);
    // Kept in the record: the next run unmounts it.
    let again = ok(persist(&config, &root, &[]));
    assert!(again.contains("unmounted /old (no longer configured"), "{again}");
}
