//! `lethe datasets`: gather, plan, apply, report.

use super::plan::{self, Step};
use super::{apply, render};
use crate::exit::{self, CommandError};
use std::collections::BTreeMap;
use std::path::Path;

/// `lethe datasets --config FILE [--dry-run] [--json] [--restore DATASET]`: exit 0 when the
/// state matches (or would, for `--dry-run`), 1 for a config this machine cannot take (nothing
/// is changed), 2 when anything failed. `--restore`: only that declared dataset, with its
/// network restore sources asked too (its restore unit, after the network is up).
pub fn run(file: &Path, dry_run: bool, json: bool, restore: Option<&str>) -> Result<(), CommandError> {
    let config = crate::config::command::load(file)?;
    if config.datasets.is_none() {
        return Err(CommandError::bad_input(format!(
            "{}: no \"datasets\" section: no datasets to create",
            file.display()
        )));
    }
    let datasets = config.all_datasets();
    if let Some(name) = restore {
        if !crate::config::datasets::entries(&datasets).iter().any(|e| e.name == name) {
            return Err(CommandError::bad_input(format!(
                "{}: --restore {name}: no such dataset in the config's datasets",
                file.display()
            )));
        }
    }
    let facts = apply::gather(&datasets, restore)
        .map_err(|e| CommandError::failed(format!("datasets: reading the ZFS state failed: {e}")))?;
    let plan = plan::plan(&datasets, &facts);
    if !plan.refused.is_empty() {
        for r in &plan.refused {
            eprintln!("lethe: {}: {r}", file.display());
        }
        if json {
            let _ = exit::print_stdout(&format!("{}\n", report_json(&plan, &[], dry_run)));
        }
        return Err(CommandError::bad_input("datasets: nothing was changed"));
    }
    let outcomes = apply::apply(&plan.steps, dry_run);
    let text = if json {
        format!("{}\n", report_json(&plan, &outcomes, dry_run))
    } else {
        report_text(&plan, &outcomes, dry_run)
    };
    let printed = exit::print(&text);
    let failed = outcomes.iter().any(|o| matches!(o, apply::Outcome::Failed(_)))
        || plan.steps.iter().any(|s| matches!(s, Step::Error { .. }));
    if failed {
        if let Err(e) = printed {
            e.report();
        }
        return Err(CommandError::failed(
            "datasets: some datasets could not be made right (see the error lines)",
        ));
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
                    Step::Restore { .. } | Step::Receive { .. } | Step::Restic { .. } => "restored",
                    Step::Discard { .. } => "partial restores discarded",
                    Step::SetAside { .. } => "set aside",
                    Step::Deferred { .. } => "restores deferred",
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
