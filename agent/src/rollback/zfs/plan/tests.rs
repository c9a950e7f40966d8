//! The ZFS rollback's plan as a table: each directory in `cases/` holds `config.json` (a lethe
//! config), `list.txt` (what `zfs list -H -p -o name,type,origin,mounted,mountpoint,canmount,
//! encryptionroot,creation,createtxg,lethe:archived,lethe:rollback` printed, with runs of
//! spaces for the tabs), optionally `props.txt` (`zfs get -H -p -o property,value,source all`
//! of the dataset the fresh root copies, spaces for tabs) and `now` (epoch seconds; default
//! 2026-12-03_04:00:00 UTC), and `expected.txt`: the commands and each archive's fate (see
//! `plan::render`), or `refused: WHY`. The crash cases (`NN-cut-after-STEP`) are the state a
//! power cut leaves after each step of `01-normal-boot`: each must finish the job. Adding a
//! case is adding a directory; `LETHE_BLESS=1` writes what the plan gives (read every diff).

use super::super::listing::{fresh_properties, parse_list};
use super::*;
use crate::config::Config;
use std::path::Path;

const NOW: i64 = 1_796_270_400; // 2026-12-03_04:00:00
const BUILD: i64 = 1_767_225_600; // 2026-01-01

fn tabs(text: &str) -> String {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join("\t") + "\n")
        .collect()
}

fn run_case(dir: &Path) -> Result<String, String> {
    let read = |f: &str| std::fs::read_to_string(dir.join(f));
    let config = Config::parse(&read("config.json").unwrap()).map_err(|e| format!("config.json: {e}"))?;
    let config = config.zfs_rollback.expect("config.json: a ZFS rollback section");
    let list = tabs(&read("list.txt").unwrap());
    let names: Vec<String> = list.lines().map(|l| l.split('\t').next().unwrap().to_string()).collect();
    let listing = parse_list(&list, &names)?;
    let now = read("now").map_or(NOW, |t| t.trim().parse().unwrap());
    let policy = Policy {
        retention_days: config.retention_days,
        keep_at_least: config.keep_at_least,
        build_time: BUILD,
    };
    let properties = match read("props.txt") {
        Ok(t) => Some(fresh_properties(&tabs(&t), config.blank_snapshot.is_some())?),
        Err(_) => None,
    };
    Ok(match plan(&config, &listing, properties.as_ref(), now, policy) {
        Ok(p) => render(&p, config.retention_days),
        Err(why) => format!("refused: {why}\n"),
    })
}

#[test]
fn plan_cases() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/rollback/zfs/plan/cases");
    let mut cases: Vec<_> = std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().path()).collect();
    cases.sort();
    assert!(cases.len() >= 10, "the cases are missing");
    let mut failures = Vec::new();
    for case in &cases {
        let got = run_case(case).unwrap_or_else(|e| format!("error: {e}\n"));
        let expected = case.join("expected.txt");
        if std::env::var_os("LETHE_BLESS").is_some() {
            std::fs::write(&expected, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&expected).unwrap_or_default();
        if got != want {
            failures.push(format!("{}:\n--- want\n{want}--- got\n{got}", case.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_forged_line_refuses_the_listing() {
    let line = |n: &str| format!("{n}\tfilesystem\t-\tno\tlegacy\ton\t-\t1\t1\t-\t-\n");
    let names = vec!["rpool/a".to_string()];
    assert!(parse_list(&line("rpool/a"), &names).is_ok());
    let forged = format!("{}{}", line("rpool/a"), line("rpool/b"));
    assert!(parse_list(&forged, &names).unwrap_err().contains("2 lines for 1 datasets"));
    assert!(parse_list(&line("rpool/b"), &names).unwrap_err().contains("expected rpool/a"));
}

#[test]
fn properties_listed_twice_are_refused() {
    let text = "mountpoint\tlegacy\tlocal\nx:y\ta\tlocal\nmountpoint\t/\tlocal\n";
    assert!(fresh_properties(text, false).unwrap_err().contains("mountpoint listed twice"));
}
