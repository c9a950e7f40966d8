//! `lethe persist` on real filesystems, in private mount namespaces (see `common::tree`).
//!
//! The table: each directory in `agent/tests/persist-cases/` holds `config.json`, `before`
//! (the tree built below the root), `after` (the tree expected once persisted, as the root
//! shows it, mounts included), `output` (stdout, then stderr lines prefixed `stderr: `; dates
//! read DATE) and optionally `status` (the exit status, 0 by default). Each case also checks
//! that `--dry-run` changes nothing and that a second run changes nothing and stacks no mount.
//! A case with a `mounts` file also checks the mounts below the root after the run (see
//! `common::tree::mounts_of`); `before` can mount a tmpfs (`m`) or bind (`b`) to make them.
//! `LETHE_BLESS=1` writes `after` and `output` from what happened (review them!).

mod common;

use common::tree::{build, list, mounts_below, mounts_of, private_tmpfs};
use common::{lethe, repo_root};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs in the config's directory, so messages name it as `config.json` wherever the repo is.
fn persist(config: &Path, root: &Path, extra: &[&str]) -> Output {
    Command::new(lethe())
        .current_dir(config.parent().unwrap())
        .args(["persist", "--config", config.file_name().unwrap().to_str().unwrap()])
        .args(["--root", root.to_str().unwrap()])
        .args(extra)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

/// `2026-12-02_00:13:31` -> `DATE`.
fn undate(text: &str) -> String {
    let b = text.as_bytes();
    let shape = b"0000-00-00_00:00:00";
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        let fits = b.len() - i >= shape.len()
            && shape.iter().zip(&b[i..]).all(|(s, c)| if *s == b'0' { c.is_ascii_digit() } else { s == c });
        if fits {
            out.push_str("DATE");
            i += shape.len();
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

fn output_text(o: &Output) -> String {
    let mut text = String::from_utf8_lossy(&o.stdout).into_owned();
    for line in String::from_utf8_lossy(&o.stderr).lines() {
        text.push_str(&format!("stderr: {line}\n"));
    }
    undate(&text)
}

fn read(dir: &Path, name: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(name)).ok()
}

/// Where a case's root lives.
#[derive(Clone, Copy)]
enum Fs {
    Tmpfs,
    Btrfs,
}

fn run_case(case: &Path, fs: Fs) -> Result<(), String> {
    let dir = private_tmpfs();
    let root = dir.join("root");
    std::fs::create_dir(&root).unwrap();
    let image = match fs {
        Fs::Tmpfs => None,
        Fs::Btrfs => {
            let image = common::btrfs::Image::new(128);
            let dev = image.dev().to_string();
            common::btrfs::sh("mount", &["-t", "btrfs", "-o", "subvolid=5", &dev, root.to_str().unwrap()]);
            Some(image)
        }
    };
    // Shared, as systemd makes every mount of a host: a mount moved under a shared parent
    // fails (EINVAL), so this is where lethe must get mounts inside targets right.
    common::btrfs::sh("mount", &["--make-rshared", dir.to_str().unwrap()]);
    let result = run_case_in(case, &dir, &root);
    if image.is_some() {
        // Private first: unmounting a shared mount also unmounts its peers, which `-R` then misses.
        common::btrfs::sh("mount", &["--make-rprivate", root.to_str().unwrap()]);
        common::btrfs::sh("umount", &["-R", root.to_str().unwrap()]);
    }
    result
}

fn run_case_in(case: &Path, dir: &Path, root: &Path) -> Result<(), String> {
    let (dir, root) = (dir.to_path_buf(), root.to_path_buf());
    // What a symlink attack would reach: must stay as it is.
    let outside = dir.join("outside");
    build(&dir, "d /outside 0755 0:0\nf /outside/file 0644 0:0 untouched\n");
    let outside_before = list(&outside, &[]);
    build(&root, &read(case, "before").unwrap_or_default());
    let config = case.join("config.json");
    let status: i32 = read(case, "status").map_or(0, |s| s.trim().parse().unwrap());
    let before = list(&root, &[]);
    let mounts_before = mounts_below(&dir);

    // A failure a dry run cannot foresee (a full store) has its own `dry-status`.
    let dry_status: i32 = read(case, "dry-status").map_or(status, |s| s.trim().parse().unwrap());
    let dry = persist(&config, &root, &["--dry-run"]);
    if dry.status.code() != Some(dry_status) {
        return Err(format!(
            "--dry-run: exit {:?}, want {dry_status}\n{}",
            dry.status.code(),
            output_text(&dry)
        ));
    }
    if list(&root, &[]) != before || mounts_below(&dir) != mounts_before {
        return Err(format!("--dry-run changed the tree:\n{}", list(&root, &[])));
    }

    let first = persist(&config, &root, &[]);
    let (output, after) = (output_text(&first), undate(&list(&root, &["run"])));
    let mounts = mounts_below(&dir);
    let mounts_after = mounts_of(&root);
    if std::env::var_os("LETHE_BLESS").is_some() {
        std::fs::write(case.join("output"), &output).unwrap();
        std::fs::write(case.join("after"), &after).unwrap();
        if case.join("mounts").exists() {
            std::fs::write(case.join("mounts"), &mounts_after).unwrap();
        }
    }
    let mut problems = Vec::new();
    if first.status.code() != Some(status) {
        problems.push(format!("exit {:?}, want {status}", first.status.code()));
    }
    if read(case, "output").as_deref() != Some(output.as_str()) {
        problems.push(format!("output differs; got:\n{output}"));
    }
    if read(case, "after").as_deref() != Some(after.as_str()) {
        problems.push(format!("tree differs; got:\n{after}"));
    }
    if read(case, "mounts").is_some_and(|want| want != mounts_after) {
        problems.push(format!("mounts differ; got:\n{mounts_after}"));
    }
    let debris = list(&root, &["run"]);
    if debris.contains(".lethe-new.") {
        problems.push(format!("a temporary copy was left:\n{debris}"));
    }

    let second = persist(&config, &root, &[]);
    let stdout = String::from_utf8_lossy(&second.stdout).into_owned();
    if second.status.code() != Some(status)
        || (status != 1
            && (stdout
                .lines()
                .any(|l| !["refused ", "failed ", "persisted "].iter().any(|p| l.starts_with(p)))
                || !stdout.contains("; 0 created, 0 adopted")))
    {
        problems.push(format!("the second run did something:\n{}", output_text(&second)));
    }
    if mounts_below(&dir) != mounts || mounts_of(&root) != mounts_after {
        problems.push(format!("the second run stacked mounts: {:?} -> {:?}", mounts, mounts_below(&dir)));
    }
    if undate(&list(&root, &["run"])) != after {
        problems.push("the second run changed the tree".into());
    }
    if list(&outside, &[]) != outside_before {
        problems.push(format!("something was written outside the root:\n{}", list(&outside, &[])));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

fn cases() -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(repo_root().join("agent/tests/persist-cases"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    cases
}

#[test]
fn table_of_cases_on_tmpfs() {
    table(Fs::Tmpfs);
}

/// The same cases with the root on a btrfs loop image.
#[test]
fn table_of_cases_on_btrfs() {
    table(Fs::Btrfs);
}

fn table(fs: Fs) {
    let cases = cases();
    assert!(cases.len() >= 6, "expected the cases in agent/tests/persist-cases");
    let mut failures = Vec::new();
    for case in cases {
        // Each case in a thread of its own: a namespace and a tmpfs of its own.
        let c = case.clone();
        match std::thread::spawn(move || run_case(&c, fs)).join().unwrap() {
            Ok(()) => {}
            Err(e) => failures.push(format!("{}:\n{e}", case.file_name().unwrap().to_string_lossy())),
        }
    }
    assert!(failures.is_empty(), "{} cases failed:\n\n{}", failures.len(), failures.join("\n\n"));
}
