//! ZFS datasets per service (`lethe datasets`): read the state in one `zfs get`, decide with a
//! pure plan, apply it with `zfs`/`zpool`, report. OpenZFS 2.1's command-line interface is all
//! it assumes (Debian 12: no `--json`, no `zfs set -u`).

pub mod apply;
pub mod plan;
pub mod state;

use plan::Step;
use std::collections::BTreeMap;

fn props(p: &BTreeMap<String, String>) -> String {
    p.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")
}

fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / f64::from(1u32 << 30)),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / f64::from(1u32 << 20)),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} bytes"),
    }
}

/// One line of the plan as a person reads it (`lethe datasets` prints these).
pub fn render(step: &Step) -> String {
    match step {
        Step::Create { dataset, properties, parent: true } => {
            format!("create  {dataset} ({}): parent of declared datasets", props(properties))
        }
        Step::Create { dataset, properties, parent: false } => format!("create  {dataset}: {}", props(properties)),
        Step::Restore { dataset, snapshot, properties } => {
            format!("restore {dataset} from {snapshot} (zfs send | zfs recv), then set {}", props(properties))
        }
        Step::Migrate { dataset, from, renamed, files, bytes, .. } => format!(
            "migrate {from} ({files} entries, {}) into {dataset}, then mount it there; the old directory stays as {renamed}",
            size(*bytes)
        ),
        Step::Set { dataset, property, value, was, source, note } => {
            let note = if note.is_empty() { String::new() } else { format!(": {note}") };
            format!("set     {dataset} {property}={value} (was {was}, {source}){note}")
        }
        Step::MountAll { datasets } => format!("mount   zfs mount -a ({} not mounted yet)", datasets.join(", ")),
        Step::Own { path, owner, group, mode, .. } => {
            let who = format!("{}:{}", owner.as_deref().unwrap_or("-"), group.as_deref().unwrap_or("-"));
            format!("own     {path} {who} {}", mode.as_deref().unwrap_or("-"))
        }
        Step::Keep { dataset, property, value, source, declared } => format!(
            "keep    {dataset} {property}={value} ({source}; declared {declared}): lethe does not override {source} values"
        ),
        Step::Undeclared { dataset } => format!(
            "kept    {dataset}: no longer declared; lethe never destroys (zfs destroy -r {dataset} removes it)"
        ),
        Step::Error { dataset, message } => format!("error   {dataset}: {message}"),
    }
}

/// The whole plan, one line per step, then the refusals.
pub fn render_plan(p: &plan::Plan) -> String {
    let mut out = String::new();
    for s in &p.steps {
        out.push_str(&render(s));
        out.push('\n');
    }
    for r in &p.refused {
        out.push_str(&format!("refused {r}\n"));
    }
    out
}

/// `lethe datasets --config FILE [--dry-run] [--json]`: exit 0 when the state matches (or
/// would, for `--dry-run`), 1 for a config this machine cannot take (nothing is changed), 2
/// when anything failed.
pub fn main(file: &std::path::Path, dry_run: bool, json: bool) -> std::process::ExitCode {
    use std::process::ExitCode;
    let config = match crate::cli::load_config(file) {
        Ok(c) => c,
        Err(status) => return ExitCode::from(status),
    };
    let datasets = config.all_datasets();
    let facts = match apply::gather(&datasets) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("lethe: datasets: reading the ZFS state failed: {e}");
            return ExitCode::from(crate::cli::EXIT_FAILED);
        }
    };
    let plan = plan::plan(&datasets, &facts);
    if !plan.refused.is_empty() {
        for r in &plan.refused {
            eprintln!("lethe: {}: {r}", file.display());
        }
        if json {
            let _ = crate::cli::print_stdout(&format!("{}\n", report_json(&plan, &[], dry_run)));
        }
        eprintln!("lethe: datasets: nothing was changed");
        return ExitCode::from(crate::cli::EXIT_BAD_INPUT);
    }
    let outcomes = apply::apply(&plan.steps, dry_run);
    let text = if json {
        format!("{}\n", report_json(&plan, &outcomes, dry_run))
    } else {
        report_text(&plan, &outcomes, dry_run)
    };
    let printed = crate::cli::print_result(&text);
    let failed = outcomes.iter().any(|o| matches!(o, apply::Outcome::Failed(_)))
        || plan.steps.iter().any(|s| matches!(s, Step::Error { .. }));
    if failed {
        eprintln!("lethe: datasets: some datasets could not be made right (see the error lines)");
        return ExitCode::from(crate::cli::EXIT_FAILED);
    }
    printed
}

/// One line per thing done (or, with `dry_run`, to do) and per report; an `Own` that found
/// everything right prints nothing, so a run with nothing to do prints only its summary.
fn report_text(p: &plan::Plan, outcomes: &[apply::Outcome], dry_run: bool) -> String {
    use apply::Outcome;
    let mut out = String::new();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (step, outcome) in p.steps.iter().zip(outcomes) {
        let line = render(step);
        match outcome {
            Outcome::AlreadyRight => continue,
            Outcome::Skipped => out.push_str(&format!("skipped {}\n", line.split_at(8).1)),
            Outcome::Failed(e) => {
                out.push_str(&format!("error   {}\n        {e}\n", line.split_at(8).1));
                *counts.entry("errors").or_default() += 1;
            }
            Outcome::Done | Outcome::Reported => {
                let prefix = if dry_run && step.changes() { "would " } else { "" };
                out.push_str(&format!("{prefix}{line}\n"));
                let kind = match step {
                    Step::Create { .. } => "created",
                    Step::Restore { .. } => "restored",
                    Step::Migrate { .. } => "migrated",
                    Step::Set { .. } => "properties set",
                    Step::MountAll { .. } => "mounted",
                    Step::Own { .. } => "owners fixed",
                    Step::Keep { .. } => "left alone",
                    Step::Undeclared { .. } => "undeclared kept",
                    Step::Error { .. } => "errors",
                };
                *counts.entry(kind).or_default() += 1;
            }
        }
    }
    let what: Vec<String> = counts.iter().map(|(k, n)| format!("{n} {k}")).collect();
    let tail = if what.is_empty() { "all as declared".to_string() } else { what.join(", ") };
    let mode = if dry_run { " (dry run: nothing changed)" } else { "" };
    out.push_str(&format!("datasets: {} declared, {tail}{mode}\n", p.declared));
    out
}

fn report_json(p: &plan::Plan, outcomes: &[apply::Outcome], dry_run: bool) -> String {
    use apply::Outcome;
    let steps: Vec<serde_json::Value> = p
        .steps
        .iter()
        .enumerate()
        .map(|(i, step)| {
            let mut v = serde_json::to_value(step).expect("step serializes");
            let outcome = match outcomes.get(i) {
                None => "not run",
                Some(Outcome::Done) if dry_run => "planned",
                Some(Outcome::Done) => "done",
                Some(Outcome::AlreadyRight) => "already right",
                Some(Outcome::Reported) => "reported",
                Some(Outcome::Skipped) => "skipped",
                Some(Outcome::Failed(e)) => {
                    v["error"] = serde_json::Value::String(e.clone());
                    "failed"
                }
            };
            v["outcome"] = serde_json::Value::String(outcome.into());
            v
        })
        .collect();
    let report = serde_json::json!({
        "dryRun": dry_run,
        "declared": p.declared,
        "steps": steps,
        "refused": p.refused,
    });
    serde_json::to_string_pretty(&report).expect("report serializes")
}
