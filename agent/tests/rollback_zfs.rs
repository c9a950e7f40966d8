//! `lethe rollback` and `lethe roots list` on a ZFS root, against a STAND-IN for `zfs`
//! (`agent/tests/zfs-stand-in/zfs`, a small Python model of the pool): this host has no ZFS.
//! What these prove is lethe's side: the commands it runs, in which order, what it does after
//! a power cut at every step (the stand-in kills lethe right after its Nth change), and that
//! bad input changes nothing. That real OpenZFS does what the stand-in models is for the VM
//! scenarios.

mod common;

use common::{repo_root, stderr, stdout};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::{Command, Output};

const DAY: i64 = 86_400;

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

struct Pool {
    dir: PathBuf,
}

fn fs(props: Value, creation: i64, txg: u64) -> Value {
    json!({"type": "filesystem", "props": props, "origin": null, "mounted": false, "creation": creation, "createtxg": txg})
}

fn snap(creation: i64, txg: u64) -> Value {
    json!({"type": "snapshot", "props": {}, "origin": null, "mounted": false, "creation": creation, "createtxg": txg})
}

impl Pool {
    /// The "erase your darlings" layout: rpool/local/{root,nix}, rpool/safe/persist, a blank
    /// snapshot and a sanoid snapshot on the root, and an archive lethe made 40 days ago.
    fn new(name: &str) -> Pool {
        Pool::at(name, now())
    }

    /// The same pool, its times counted from `base`: two pools made with one `base` are equal.
    fn at(name: &str, base: i64) -> Pool {
        let dir = std::env::temp_dir().join(format!("lethe-zfs-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let t = base - 60 * DAY;
        let old = "rpool/local/old_roots/2020-01-01_00:00:00";
        let state = json!({
            "clock": base - DAY,
            "txg": 1000,
            "datasets": {
                "rpool": fs(json!({"mountpoint": "none", "canmount": "off"}), t, 1),
                "rpool/local": fs(json!({}), t, 2),
                "rpool/local/root": fs(json!({"mountpoint": "legacy", "compression": "zstd", "xattr": "sa", "com.sun:auto-snapshot": "false"}), base - DAY, 900),
                "rpool/local/root@blank": snap(t, 3),
                "rpool/local/root@autosnap_hourly": snap(base - 3600, 950),
                "rpool/local/nix": fs(json!({"mountpoint": "legacy"}), t, 4),
                "rpool/local/old_roots": fs(json!({"mountpoint": "none", "canmount": "off"}), t, 5),
                old: fs(json!({"mountpoint": "legacy", "lethe:archived": (base - 40 * DAY).to_string()}), t, 6),
                format!("{old}@autosnap_daily"): snap(t, 7),
                "rpool/local/old_roots/by-hand": fs(json!({"mountpoint": "legacy"}), t, 8),
                "rpool/safe": fs(json!({}), t, 9),
                "rpool/safe/persist": fs(json!({"mountpoint": "legacy"}), t, 10),
                "rpool/safe/persist@autosnap_daily": snap(t, 11),
            }
        });
        std::fs::write(dir.join("state.json"), serde_json::to_string_pretty(&state).unwrap()).unwrap();
        Pool { dir }
    }

    fn config(&self, blank: bool) -> PathBuf {
        let mut rollback =
            json!({"dataset": "rpool/local/root", "archive": "rpool/local/old_roots", "keepAtLeast": 1});
        if blank {
            rollback["blankSnapshot"] = json!("rpool/local/root@blank");
        }
        let file = self.dir.join("config.json");
        std::fs::write(&file, json!({"version": 1, "rollback": rollback}).to_string()).unwrap();
        file
    }

    fn lethe(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let stand_in = repo_root().join("agent/tests/zfs-stand-in");
        let path = format!("{}:{}", stand_in.display(), std::env::var("PATH").unwrap());
        // A dataset set_mounted: lethe runs in a mount namespace of its own where a tmpfs whose
        // source is the dataset's name stands for it (lethe reads the source in mountinfo, as
        // libzfs does; the stand-in's `mounted` column serves the `zfs list` fallback).
        let mut cmd = match std::fs::read_to_string(self.dir.join("mounted")) {
            Ok(source) => {
                let point = self.dir.join("mnt");
                std::fs::create_dir_all(&point).unwrap();
                let mut c = Command::new("unshare");
                c.args([
                    "-m",
                    "--propagation",
                    "private",
                    "sh",
                    "-c",
                    r#"mount -t tmpfs "$0" "$1" && shift && exec "$@""#,
                ])
                .arg(source)
                .arg(point)
                .arg(common::lethe());
                c
            }
            Err(_) => Command::new(common::lethe()),
        };
        cmd.args(args)
            .env("PATH", path)
            .env("FAKE_ZFS_STATE", self.dir.join("state.json"))
            .env("FAKE_ZFS_LOG", self.dir.join("log"))
            .env_remove("LETHE_ZFS");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }

    fn rollback(&self, blank: bool, env: &[(&str, &str)]) -> Output {
        let config = self.config(blank);
        self.lethe(&["rollback", "--config", config.to_str().unwrap()], env)
    }

    fn state(&self) -> Value {
        serde_json::from_str(&std::fs::read_to_string(self.dir.join("state.json")).unwrap()).unwrap()
    }

    fn raw(&self) -> String {
        std::fs::read_to_string(self.dir.join("state.json")).unwrap()
    }

    fn names(&self) -> Vec<String> {
        self.state()["datasets"].as_object().unwrap().keys().cloned().collect()
    }

    fn log(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// The commands that change the pool, as run.
    fn changes(&self) -> Vec<String> {
        self.log()
            .into_iter()
            .filter(|l| {
                !l.starts_with("zfs list") && !l.starts_with("zfs get") && !l.starts_with("zfs program -n")
            })
            .collect()
    }

    /// The pool without what differs between two runs that did the same job: the archive
    /// times lethe records (its clock), and the stand-in's change counter.
    fn shape(&self) -> Value {
        let mut s = self.state();
        s.as_object_mut().unwrap().remove("changes");
        for d in s["datasets"].as_object_mut().unwrap().values_mut() {
            if let Some(at) = d["props"].get_mut("lethe:archived") {
                *at = json!("(time)");
            }
        }
        s
    }

    fn set_mounted(&self, name: &str) {
        let mut s = self.state();
        s["datasets"][name]["mounted"] = json!(true);
        std::fs::write(self.dir.join("state.json"), s.to_string()).unwrap();
        std::fs::write(self.dir.join("mounted"), name).unwrap();
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "lethe failed ({}):\n{}{}", out.status, stdout(out), stderr(out));
    stderr(out)
}

fn archive_name(pool: &Pool) -> String {
    let creation = pool.state()["datasets"]["rpool/local/root"]["creation"].as_i64().unwrap();
    let out = Command::new("date")
        .args(["-u", "-d", &format!("@{creation}"), "+%Y-%m-%d_%H:%M:%S"])
        .output()
        .unwrap();
    format!("rpool/local/old_roots/{}", String::from_utf8(out.stdout).unwrap().trim())
}

#[test]
fn a_boot_archives_the_root_and_makes_a_fresh_one_with_its_properties() {
    let pool = Pool::new("create");
    let archived = archive_name(&pool);
    let log = ok(&pool.rollback(false, &[]));
    let changes = pool.changes();
    assert_eq!(
        changes,
        [
            format!("zfs set lethe:rollback=archiving:{archived} lethe:archived={} rpool/local/root", changes[0].rsplit_once("lethe:archived=").unwrap().1.split(' ').next().unwrap()),
            format!("zfs rename rpool/local/root {archived}"),
            "zfs create -u -o casesensitivity=sensitive -o com.sun:auto-snapshot=false -o compression=zstd -o mountpoint=legacy -o normalization=none -o utf8only=off -o xattr=sa rpool/local/root".to_string(),
            "zfs program rpool - rpool/local/old_roots/2020-01-01_00:00:00".to_string(),
            format!("zfs inherit lethe:rollback {archived}"),
        ]
    );
    let s = pool.state();
    let ds = &s["datasets"];
    // The fresh root: the old one's properties, none of lethe's marks, no snapshot.
    assert_eq!(
        ds["rpool/local/root"]["props"],
        json!({"mountpoint": "legacy", "compression": "zstd", "xattr": "sa", "com.sun:auto-snapshot": "false"})
    );
    // The archive: the old root with its sanoid snapshot, dated, unmarked.
    assert!(ds[&archived]["props"]["lethe:archived"].as_str().unwrap().parse::<i64>().unwrap() >= now() - 60);
    assert!(ds[&archived]["props"].get("lethe:rollback").is_none());
    assert!(ds.get(format!("{archived}@autosnap_hourly")).is_some());
    // What lethe did not make or name is untouched.
    for kept in ["rpool/local/old_roots/by-hand", "rpool/safe/persist@autosnap_daily", "rpool/local/nix"] {
        assert!(ds.get(kept).is_some(), "{kept} is gone");
    }
    assert!(log.contains("rollback done"), "{log}");

    // The next boot archives the fresh root too and keeps the first archive (keepAtLeast 1,
    // and young).
    let second = archive_name(&pool);
    ok(&pool.rollback(false, &[]));
    assert!(pool.names().contains(&archived) && pool.names().contains(&second), "{:?}", pool.names());
}

#[test]
fn a_blank_snapshot_of_the_root_comes_back_to_the_root_every_boot() {
    let pool = Pool::new("blank");
    let archived = archive_name(&pool);
    ok(&pool.rollback(true, &[]));
    let changes = pool.changes();
    assert_eq!(changes[2], format!("zfs clone -o com.sun:auto-snapshot=false -o compression=zstd -o mountpoint=legacy -o xattr=sa {archived}@blank rpool/local/root"));
    assert_eq!(changes[3], "zfs promote rpool/local/root");
    let s = pool.state();
    assert!(s["datasets"].get("rpool/local/root@blank").is_some(), "{:?}", pool.names());
    assert_eq!(s["datasets"][&archived]["origin"], "rpool/local/root@blank");
    // The sanoid snapshot, younger than the blank one, stays with the archive.
    assert!(s["datasets"].get(format!("{archived}@autosnap_hourly")).is_some());
    let second = archive_name(&pool);
    ok(&pool.rollback(true, &[]));
    let s = pool.state();
    assert!(s["datasets"].get("rpool/local/root@blank").is_some());
    assert_eq!(s["datasets"][&second]["origin"], "rpool/local/root@blank");
}

/// A power cut right after each change: the next run finishes the job, and ends where a run
/// without the cut ends. Also when the pruning program fails and lethe destroys one archive at
/// a time (an older ZFS, or a clone the program could not order).
#[test]
fn a_cut_after_any_step_is_finished_by_the_next_run() {
    let base = now();
    for (fallback, env) in [(false, vec![]), (true, vec![("FAKE_ZFS_FAIL", "program")])] {
        for blank in [false, true] {
            let name = |what: &str| format!("{what}-{fallback}-{blank}");
            let reference = Pool::at(&name("ref"), base);
            ok(&reference.rollback(blank, &env));
            // The failing program changes nothing: not a step a cut can follow.
            let changes = |pool: &Pool| -> Vec<String> {
                pool.changes().into_iter().filter(|c| !(fallback && c.starts_with("zfs program"))).collect()
            };
            let steps = changes(&reference).len();
            let least = if fallback { 6 } else { 5 };
            assert!(steps >= least, "{:?}", changes(&reference));
            for cut in 1..=steps {
                let pool = Pool::at(&name(&format!("cut-{cut}")), base);
                let mut cut_env = env.clone();
                let n = cut.to_string();
                cut_env.push(("FAKE_ZFS_CUT_AFTER", &n));
                let out = pool.rollback(blank, &cut_env);
                assert!(
                    !out.status.success(),
                    "fallback {fallback}, blank {blank}, cut {cut}: lethe was not stopped"
                );
                let done = changes(&pool);
                let at = format!("fallback {fallback}, blank {blank}, cut after {}", done[cut - 1]);
                if cut == steps {
                    // Cut after the last step: the job was done (the next run is a new boot).
                    assert_eq!(pool.shape(), reference.shape(), "{at}");
                    continue;
                }
                let out = pool.rollback(blank, &env);
                assert!(out.status.success(), "{at}:\n{}", stderr(&out));
                assert_eq!(pool.shape(), reference.shape(), "{at}");
            }
        }
    }
}

#[test]
fn a_failed_step_names_the_dataset_and_the_next_run_finishes() {
    let pool = Pool::new("fail");
    let out = pool.rollback(false, &[("FAKE_ZFS_FAIL", "rename")]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("rpool/local/root: zfs rename rpool/local/root rpool/local/old_roots/"), "{err}");
    assert!(err.contains("cannot rename: fault injected by the stand-in"), "{err}");
    assert!(!pool.changes().iter().any(|c| c.starts_with("zfs create")), "{:?}", pool.changes());
    ok(&pool.rollback(false, &[]));
    assert!(pool.names().contains(&"rpool/local/root".to_string()));
}

/// Makes a pool wrong and returns the config to run.
type Setup = dyn Fn(&Pool) -> PathBuf;

#[test]
fn bad_input_stops_with_a_message_naming_it_and_changes_nothing() {
    let mounted = |p: &Pool| {
        p.set_mounted("rpool/local/root");
        p.config(false)
    };
    let cases: [(&str, &Setup, &str); 6] = [
        ("mounted", &mounted, "rpool/local/root: mounted (mountpoint legacy)"),
        // The same, seen by `zfs list` (a ZFS without channel programs).
        ("mounted-zfs-list", &mounted, "rpool/local/root: mounted (mountpoint legacy)"),
        (
            "no-blank",
            &|p: &Pool| {
                let c = p.config(true);
                let text = std::fs::read_to_string(&c).unwrap().replace("root@blank", "root@nothing");
                std::fs::write(&c, text).unwrap();
                c
            },
            "rpool/local/root@nothing (rollback.blankSnapshot rpool/local/root@nothing): does not exist",
        ),
        (
            "no-pool",
            &|p: &Pool| {
                let c = p.config(false);
                let text = std::fs::read_to_string(&c).unwrap().replace("rpool/", "tank/");
                std::fs::write(&c, text).unwrap();
                c
            },
            "cannot open 'tank/local': dataset does not exist",
        ),
        (
            "no-root",
            &|p: &Pool| {
                let c = p.config(false);
                let text = std::fs::read_to_string(&c).unwrap().replace("local/root", "local/gone");
                std::fs::write(&c, text).unwrap();
                c
            },
            "rpool/local/gone (rollback.dataset): does not exist",
        ),
        ("no-zfs", &|p: &Pool| p.config(false), "cannot run /nonexistent/zfs"),
    ];
    for (name, setup, want) in cases {
        let pool = Pool::new(&format!("bad-{name}"));
        let config = setup(&pool);
        let before = pool.raw();
        let env: &[(&str, &str)] = match name {
            "no-zfs" => &[("LETHE_ZFS", "/nonexistent/zfs")],
            "mounted-zfs-list" => &[("FAKE_ZFS_NO_PROGRAM", "1")],
            _ => &[],
        };
        let out = pool.lethe(&["rollback", "--config", config.to_str().unwrap()], env);
        assert_eq!(out.status.code(), Some(2), "{name}: {}", stderr(&out));
        assert!(stderr(&out).contains(want), "{name}: {}", stderr(&out));
        assert_eq!(pool.raw(), before, "{name}: the pool changed");
        assert!(pool.changes().is_empty(), "{name}: {:?}", pool.changes());
    }
}

/// A clone of an expired archive's snapshot outside what the rollback reads (a recovery clone
/// elsewhere in the pool): the pruning program fails on it, lethe destroys one archive at a
/// time, that archive's destroy fails and is reported, and the clone and the archive stay.
#[test]
fn a_clone_elsewhere_keeps_its_archive_and_is_never_touched() {
    let pool = Pool::new("clone-elsewhere");
    let old = "rpool/local/old_roots/2020-01-01_00:00:00";
    let mut s = pool.state();
    let mut clone = fs(json!({"mountpoint": "legacy"}), now() - DAY, 960);
    clone["origin"] = json!(format!("{old}@autosnap_daily"));
    s["datasets"]["rpool/recovery"] = clone;
    std::fs::write(pool.dir.join("state.json"), s.to_string()).unwrap();
    let out = pool.rollback(false, &[]);
    let err = stderr(&out);
    assert!(err.contains("one archive at a time"), "{err}");
    assert!(err.contains(&format!("cannot destroy '{old}': filesystem has dependent clones")), "{err}");
    assert!(err.contains("(the next rollback retries)"), "{err}");
    let s = pool.state();
    assert_eq!(s["datasets"]["rpool/recovery"]["origin"], format!("{old}@autosnap_daily"));
    assert!(s["datasets"].get(old).is_some() && s["datasets"].get(format!("{old}@autosnap_daily")).is_some());
    assert!(s["datasets"].get("rpool/local/root").is_some(), "a fresh root");
    assert_eq!(out.status.code(), Some(0), "the root's job is done; a failed destroy is only reported");
    // The next boot tries again, and leaves the clone alone again.
    let err = stderr(&pool.rollback(false, &[]));
    assert!(err.contains(&format!("cannot destroy '{old}': filesystem has dependent clones")), "{err}");
    assert_eq!(pool.state()["datasets"]["rpool/recovery"]["origin"], format!("{old}@autosnap_daily"));
}

#[test]
fn roots_list_shows_archives_and_snapshots_lethe_did_not_make() {
    let pool = Pool::new("list");
    ok(&pool.rollback(false, &[]));
    pool.std_log_reset();
    let config = pool.config(false);
    let out = pool.lethe(&["roots", "list", "--config", config.to_str().unwrap()], &[]);
    let text = stdout(&out);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(text.contains("(now rpool/local/root)"), "{text}");
    assert!(
        text.contains("@autosnap_hourly")
            && text.contains("snapshot not made by lethe: goes with its archive"),
        "{text}"
    );
    assert!(text.contains("by-hand") && text.contains("not archived by lethe"), "{text}");
    assert!(pool.changes().is_empty(), "roots list changed the pool: {:?}", pool.changes());
    let out = pool.lethe(&["roots", "list", "--config", config.to_str().unwrap(), "--json"], &[]);
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["dataset"], "rpool/local/root");
    assert!(v["roots"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["foreignSnapshots"].as_array().is_some_and(|s| !s.is_empty())));
}

impl Pool {
    fn std_log_reset(&self) {
        let _ = std::fs::remove_file(self.dir.join("log"));
    }
}
