//! The plan as a table: each directory in `cases/` holds `config.json` (a lethe config),
//! `state.txt` (what `zfs get -H -p -o name,property,value,source` printed), optionally
//! `facts.json` (`{"pools": {"tank": "active"}` or `"active disabled"` for large_blocks and
//! zstd_compress, "maxRecordsize": N, "dirs": {"/path": [files,
//! bytes]}, "snapshots": {"src": ["src@a"]}, "listings": {"dataset": ["empty", "has src@a",
//! "failed: why", "not asked"]}, "empty": ["dataset"], "only": "dataset"}`; pools default to those in state.txt, with
//! large_blocks active) and `expected.txt`: the plan as `lethe datasets --dry-run` prints it.
//! Adding a case is adding a directory. `LETHE_BLESS=1` writes what the plan gives instead
//! (read every diff before committing it).

use super::*;
use crate::config::Config;
use crate::zfs::state::{parse_get, Pool};
use std::path::Path;

fn facts(dir: &Path, state: State) -> Facts {
    let extra: serde_json::Value = std::fs::read_to_string(dir.join("facts.json"))
        .map(|t| serde_json::from_str(&t).expect("facts.json"))
        .unwrap_or(serde_json::json!({}));
    let mut pools = BTreeMap::new();
    if let Some(given) = extra["pools"].as_object() {
        for (name, features) in given {
            // "large_blocks zstd_compress", or one value for both.
            let f: Vec<&str> = features.as_str().unwrap().split(' ').collect();
            let (large_blocks, zstd) = (f[0].to_string(), f[f.len() - 1].to_string());
            pools.insert(name.clone(), Pool { name: name.clone(), large_blocks, zstd });
        }
    } else {
        for name in state.datasets.keys() {
            let pool = pool_of(name).to_string();
            pools.insert(
                pool.clone(),
                Pool { name: pool, large_blocks: "active".into(), zstd: "active".into() },
            );
        }
    }
    let mut dirs = BTreeMap::new();
    for (path, usage) in extra["dirs"].as_object().into_iter().flatten() {
        let usage = DirUsage { files: usage[0].as_u64().unwrap(), bytes: usage[1].as_u64().unwrap() };
        dirs.insert(path.clone(), usage);
    }
    let mut snapshots = BTreeMap::new();
    for (source, list) in extra["snapshots"].as_object().into_iter().flatten() {
        let list = list.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect();
        snapshots.insert(source.clone(), list);
    }
    let mut listings = BTreeMap::new();
    for (dataset, list) in extra["listings"].as_object().into_iter().flatten() {
        let list = list.as_array().unwrap().iter().map(|l| listing(l.as_str().unwrap())).collect();
        listings.insert(dataset.clone(), list);
    }
    let empty =
        extra["empty"].as_array().into_iter().flatten().map(|d| d.as_str().unwrap().to_string()).collect();
    Facts {
        pools,
        state,
        max_recordsize: extra["maxRecordsize"].as_u64().or(Some(16 << 20)),
        dirs,
        snapshots,
        now: "2026-12-02_00:15:00".into(),
        listings,
        empty,
        only: extra["only"].as_str().map(str::to_string),
    }
}

fn listing(text: &str) -> Listing {
    match text {
        "empty" => Listing::Empty,
        "not asked" => Listing::NotAsked,
        t => match (t.strip_prefix("has "), t.strip_prefix("failed: ")) {
            (Some(what), _) => Listing::Has(what.into()),
            (_, Some(why)) => Listing::Failed(why.into()),
            _ => panic!("facts.json: listing {t:?}: expected empty, not asked, has X or failed: WHY"),
        },
    }
}

fn run_case(dir: &Path) -> Result<(), String> {
    let read =
        |f: &str| std::fs::read_to_string(dir.join(f)).map_err(|e| format!("{}: {e}", dir.join(f).display()));
    let config = Config::parse(&read("config.json")?).map_err(|e| format!("config.json: {e}"))?;
    let datasets = config.all_datasets();
    let state = parse_get(&read("state.txt")?)?;
    let got = crate::zfs::render_plan(&plan(&datasets, &facts(dir, state)));
    let expected_file = dir.join("expected.txt");
    if std::env::var_os("LETHE_BLESS").is_some() {
        std::fs::write(&expected_file, &got).unwrap();
        return Ok(());
    }
    let want = read("expected.txt")?;
    if got == want {
        Ok(())
    } else {
        Err(format!("--- want\n{want}--- got\n{got}"))
    }
}

#[test]
fn plan_cases() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/zfs/plan/cases");
    let mut cases: Vec<_> = std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().path()).collect();
    cases.sort();
    assert!(cases.len() >= 15, "expected the table of plan cases in {}", root.display());
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|c| {
            run_case(c).err().map(|e| format!("{}:\n{e}", c.file_name().unwrap().to_string_lossy()))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} plan cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn normalizes_what_zfs_prints_differently() {
    assert_eq!(normalize("recordsize", "1M"), "1048576");
    assert_eq!(normalize("recordsize", "128K"), "131072");
    assert_eq!(normalize("quota", "1.5G"), "1610612736");
    assert_eq!(normalize("quota", "none"), "0");
    assert_eq!(normalize("compression", "gzip-6"), normalize("compression", "gzip"));
    assert_eq!(normalize("compression", "zstd-3"), "zstd");
    assert_ne!(normalize("compression", "on"), normalize("compression", "lz4"));
    assert_eq!(normalize("atime", "off"), "off");
    assert_eq!(normalize("nixos:shutdown-time", "1M"), "1M");
}

#[test]
fn reads_only_what_the_plan_needs() {
    let config = Config::parse(
        r#"{"version": 1, "datasets": {"parentDataset": "tank/s", "parentMount": "/p",
        "services": {"a": {"properties": {"atime": "off", "backup:policy": "daily"}}}}}"#,
    )
    .unwrap();
    let d = config.datasets.unwrap();
    assert_eq!(
        properties_to_read(&d),
        [
            "atime",
            "backup:policy",
            "canmount",
            "compression",
            "lethe:migration",
            "lethe:restore",
            "mounted",
            "mountpoint",
            "recordsize"
        ]
    );
    assert_eq!(pools(&d).into_iter().collect::<Vec<_>>(), ["tank"]);
}
