//! One exit status per kind of config failure, for every subcommand that reads a config
//! (`config::command::load` is the one place that maps them, `main.rs` the one that exits):
//! 1 for a config that is invalid or lacks the section the command needs (the user's to fix),
//! 2 for one that cannot be read; and the statuses of the subcommands that read none.

mod common;

use common::{run, stderr};

/// Every subcommand that takes a config, with FILE where the path goes.
const COMMANDS: &[&[&str]] = &[
    &["check-config", "FILE"],
    &["unlock", "--config", "FILE"],
    &["serve", "--config", "FILE"],
    &["rollback", "--config", "FILE"],
    &["roots", "list", "--config", "FILE"],
    &["roots", "list", "--config", "FILE", "--json"],
    &["net", "--config", "FILE", "--once"],
    &["datasets", "--config", "FILE"],
    &["datasets", "--config", "FILE", "--dry-run", "--json"],
    &["persist", "--config", "FILE", "--root", "EMPTY"],
    &["persist", "--config", "FILE", "--root", "EMPTY", "--stop"],
    &["unpersisted", "--config", "FILE", "--root", "EMPTY"],
];

/// An empty directory, for the commands that take a `--root`.
fn empty_root() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("lethe-exit-empty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn with_file(command: &[&str], file: &std::path::Path) -> Vec<String> {
    let replace = |a: &&str| match *a {
        "FILE" => file.display().to_string(),
        "EMPTY" => empty_root().display().to_string(),
        other => other.to_string(),
    };
    command.iter().map(replace).collect()
}

/// Runs every command on `file`; checks the status and that stderr contains `message`, but
/// for the subcommands named in `except`, which answer otherwise.
fn check_all(file: &std::path::Path, status: i32, message: &str, except: &[(&str, i32, &str)]) {
    let mut wrong = Vec::new();
    for command in COMMANDS {
        let args = with_file(command, file);
        let out = run(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let (want_status, want_message) = match except.iter().find(|(name, _, _)| *name == command[0]) {
            Some(&(_, s, m)) => (s, m),
            None => (status, message),
        };
        let err = stderr(&out);
        if out.status.code() != Some(want_status) || !err.contains(want_message) {
            wrong.push(format!(
                "lethe {}: exit {:?}, want {want_status} and {want_message:?}: {err}",
                args.join(" "),
                out.status.code()
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("lethe-exit-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn an_invalid_config_exits_1_naming_the_file_and_the_field() {
    let dir = scratch("invalid");
    let file = dir.join("config.json");
    std::fs::write(&file, "{\"version\": 1,").unwrap();
    check_all(&file, 1, &format!("lethe: {}: not valid JSON at line 1", file.display()), &[]);
    std::fs::write(&file, r#"{"version": 1, "rollback": {"device": "/dev/x", "retentionDays": 0}}"#).unwrap();
    check_all(&file, 1, &format!("lethe: {}: rollback.retentionDays: expected", file.display()), &[]);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn an_unreadable_config_exits_2() {
    let dir = scratch("unreadable");
    let missing = dir.join("missing.json");
    check_all(
        &missing,
        2,
        &format!("lethe: {}: cannot read: No such file or directory", missing.display()),
        &[],
    );
    check_all(&dir, 2, &format!("lethe: {}: cannot read: Is a directory", dir.display()), &[]);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_config_without_the_section_the_command_needs_exits_1() {
    let dir = scratch("section");
    let file = dir.join("config.json");
    std::fs::write(&file, r#"{"version": 1}"#).unwrap();
    // check-config accepts it (every section is optional) and prints it; unpersisted needs no
    // section either: without one, everything below the root is forgotten.
    check_all(&file, 1, &file.display().to_string(), &[("check-config", 0, ""), ("unpersisted", 0, "")]);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_subcommands_without_a_config() {
    let cases: &[(&[&str], i32, &str)] = &[
        (&["--help"], 0, ""),
        (&["--version"], 0, ""),
        (&["frobnicate"], 2, "lethe: unknown command frobnicate"),
        (&["rollback"], 2, "lethe: missing --config FILE"),
        // Not PID 1 here; as PID 1 lethe never exits (agent/tests/init.rs, the VM scenarios).
        (&["init"], 2, "lethe: init: must run as PID 1 of an initrd"),
    ];
    let mut wrong = Vec::new();
    for (args, status, message) in cases {
        let out = run(args);
        if out.status.code() != Some(*status) || !stderr(&out).contains(message) {
            wrong.push(format!(
                "lethe {}: exit {:?}, want {status} and {message:?}",
                args.join(" "),
                out.status.code()
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
