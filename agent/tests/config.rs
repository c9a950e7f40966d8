//! `lethe check-config` against the files in `examples/`: every good example is accepted and
//! printed normalized; every `examples/bad/NAME.json` fails with exit 1 and the message in
//! `examples/bad/NAME.expected`.

mod common;

use common::{repo_root, run, stderr, stdout};
use std::path::{Path, PathBuf};

fn files(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == extension))
        .collect();
    found.sort();
    found
}

#[test]
fn good_examples_are_accepted_and_normalized() {
    let examples = files(&repo_root().join("examples"), "json");
    assert!(examples.len() >= 3, "expected the example configs in examples/");
    for file in examples {
        let out = run(&["check-config", file.to_str().unwrap()]);
        assert!(out.status.success(), "{}: {}", file.display(), stderr(&out));
        let normalized: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(normalized["version"], 1, "{}", file.display());
        // The normalized form is itself a valid config that normalizes to itself.
        let again = std::env::temp_dir()
            .join(format!("lethe-normalized-{}", file.file_name().unwrap().to_str().unwrap()));
        std::fs::write(&again, stdout(&out)).unwrap();
        let out2 = run(&["check-config", again.to_str().unwrap()]);
        std::fs::remove_file(&again).unwrap();
        assert!(out2.status.success(), "{}: normalized form rejected: {}", file.display(), stderr(&out2));
        assert_eq!(stdout(&out), stdout(&out2), "{}: normalizing is not idempotent", file.display());
    }
}

#[test]
fn forge_gets_its_defaults() {
    let out = run(&["check-config", repo_root().join("examples/forge.json").to_str().unwrap()]);
    let config: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let rollback = &config["rollback"];
    assert_eq!(rollback["device"], "/dev/mapper/crypted");
    assert_eq!(rollback["subvolume"], "root");
    assert_eq!(rollback["archive"], "old_roots");
    assert_eq!(rollback["retentionDays"], 30);
    assert_eq!(rollback["keepAtLeast"], 5);
    let device = &config["unlock"]["devices"][0];
    assert_eq!(device["name"], "crypted");
    assert_eq!(device["device"], "/dev/disk/by-id/nvme-WD_BLACK_SN850X_2000GB_24517E4ABM06-part2");
}

#[test]
fn every_bad_example_fails_with_its_message() {
    let dir = repo_root().join("examples/bad");
    let cases = files(&dir, "json");
    assert!(cases.len() >= 30, "expected the table of bad configs in examples/bad");
    let mut failures = Vec::new();
    for file in cases {
        let expected_file = file.with_extension("expected");
        let expected = std::fs::read_to_string(&expected_file)
            .unwrap_or_else(|e| panic!("{}: {e}", expected_file.display()));
        let out = run(&["check-config", file.to_str().unwrap()]);
        // The message names the file first, then the JSON path and what was expected.
        let want = format!("lethe: {}: {}", file.display(), expected.trim_end());
        let got = stderr(&out);
        if out.status.code() != Some(1) || got.trim_end() != want {
            failures.push(format!(
                "{}\n  exit {:?}\n  want {want}\n  got  {}",
                file.display(),
                out.status.code(),
                got.trim_end()
            ));
        }
    }
    assert!(failures.is_empty(), "{} bad configs misjudged:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn unreadable_file_exits_2() {
    let out = run(&["check-config", "/nonexistent/lethe.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out).trim_end(),
        "lethe: /nonexistent/lethe.json: cannot read: No such file or directory (os error 2)"
    );
}

#[test]
fn help_version_and_usage_errors() {
    let out = run(&["--help"]);
    assert!(out.status.success());
    assert!(stdout(&out).contains("check-config FILE"));
    let out = run(&["--version"]);
    assert_eq!(stdout(&out).trim(), format!("lethe {}", env!("CARGO_PKG_VERSION")));
    let out = run(&["no-such-command"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).starts_with("lethe: unknown command no-such-command"));
}

#[test]
fn a_reader_that_went_away_is_not_a_crash() {
    let example = repo_root().join("examples/forge.json");
    for args in [vec!["check-config", example.to_str().unwrap()], vec!["--help"], vec!["--version"]] {
        // The read end is closed before lethe starts, so its first write fails with EPIPE.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = std::process::Command::new(common::lethe())
            .args(&args)
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).is_empty(), "{args:?}: {}", stderr(&out));
    }
}

/// `check-config` looks at the Tang JWE files themselves: readable by others is refused (at
/// boot it would still be used: refusing it there would only lock the owner out).
#[test]
fn check_config_refuses_a_world_readable_tang_jwe() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("lethe-config-jwe-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let jwe = dir.join("crypted.jwe");
    std::fs::write(&jwe, "eyJhbGciOiJFQ0RILUVTIn0..x.y.z").unwrap();
    let config = dir.join("config.json");
    std::fs::write(
        &config,
        format!(
            r#"{{"version": 1, "unlock": {{"devices": [{{"name": "crypted", "device": "/dev/vda"}}],
                "tang": {{"secretFiles": {{"crypted": {jwe:?}}}}}}}}}"#
        ),
    )
    .unwrap();
    std::fs::set_permissions(&jwe, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = run(&["check-config", config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let want = format!(
        "lethe: {}: unlock.tang.secretFiles.crypted: {}: a Tang JWE must not be world-readable (mode 644; chmod o-r)",
        config.display(),
        jwe.display()
    );
    assert_eq!(stderr(&out).trim_end(), want);
    std::fs::set_permissions(&jwe, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = run(&["check-config", config.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    std::fs::remove_dir_all(&dir).unwrap();
}
