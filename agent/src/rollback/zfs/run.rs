//! The ZFS rollback as `lethe rollback` runs it, and what `lethe roots list` shows of it.

use super::super::hooks::now;
use super::super::plan::{format_age, format_utc, Fate, Policy};
use super::super::run::{NewRoot, Report};
use super::apply;
use super::plan::{self, Plan, Stage, Step};
use crate::config::rollback::ZfsRollback;
use crate::error::{Error, Result};

fn policy(config: &ZfsRollback) -> Policy {
    Policy {
        retention_days: config.retention_days,
        keep_at_least: config.keep_at_least,
        build_time: super::super::build_time(),
    }
}

/// Reads the pool and decides: the plan, or a refusal (`DATASET: why; nothing was changed`).
/// `for_list`: for `roots list`, on the booted system: what the next boot would do (see
/// `Listing::as_at_boot`), with every archive's snapshots read, to show them.
fn decide(config: &ZfsRollback, now: i64, for_list: bool) -> Result<Plan> {
    let refuse = |why: String| Error::msg(format!("{why}; nothing was changed"));
    let mut listing = apply::gather(config, for_list)?;
    if for_list {
        listing.as_at_boot(&config.dataset);
    }
    let stage = plan::stage(config, &listing).map_err(refuse)?;
    let properties = match plan::properties_source(config, &stage) {
        Some(source) => Some(apply::properties(&source, config.blank_snapshot.is_some())?),
        None => None,
    };
    plan::plan(config, &listing, properties.as_ref(), now, policy(config)).map_err(refuse)
}

/// The rollback: refusals and failures of the root's steps return an error (the boot must not
/// go on: the root may be missing); failed destroys of old archives are reported and retried
/// by the next run. The pool must be imported (and the root's key loaded).
pub(crate) fn run(config: &ZfsRollback) -> Result<Report> {
    let now = now();
    let plan = decide(config, now, false)?;
    let mut report = Report::default();
    if let Stage::Made { .. } | Stage::Archived { .. } | Stage::Marked { .. } = plan.stage {
        log::info!("finishing a rollback a previous run started ({:?})", plan.stage);
    }
    for step in &plan.root_steps {
        apply::execute(step)?;
        match step {
            Step::Rename { to, .. } => report.archived = Some(to.clone()),
            Step::Create { .. } => report.root = NewRoot::Created,
            Step::Clone { .. } => report.root = NewRoot::Snapshot,
            _ => {}
        }
    }
    if report.archived.is_none() {
        report.archived = Some(plan.stage.target().to_string());
    }
    if let Some(d) = &plan.distrust {
        log::warn!("{}", plan::clock_text(d));
        report.pruning_skipped = Some(plan::clock_text(d));
    }
    for row in &plan.rows {
        match (&row.fate, &row.held) {
            (Fate::Foreign, _) => {
                log::info!(
                    "{}: left alone: not archived by lethe (no {} property, or not named by lethe)",
                    row.dataset,
                    super::listing::ARCHIVED
                );
                report.ignored.push(row.dataset.clone());
            }
            (f, Some(held)) if f.deletes() => {
                log::warn!("{}: expired, but kept: {held} (the next rollback retries)", row.dataset);
                report.kept += 1;
            }
            (f, _) if f.deletes() => {}
            _ => report.kept += 1,
        }
    }
    for step in &plan.prune_steps {
        match apply::execute(step) {
            Ok(()) => {
                for row in plan.rows.iter().filter(|r| r.destroys()) {
                    log::info!(
                        "destroyed {} with its children and snapshots{}",
                        row.dataset,
                        why(config, row)
                    );
                    report.pruned.push((row.dataset.clone(), 0));
                }
            }
            Err(e) => {
                log::warn!("{e}; destroying one archive at a time instead");
                prune_one_by_one(config, &plan, &mut report);
            }
        }
    }
    apply::execute(&plan.finish)?;
    log::info!("{report}");
    Ok(report)
}

fn why(config: &ZfsRollback, row: &plan::Row) -> String {
    match row.fate {
        Fate::Prune { age } => {
            format!(": archived more than {} days ago ({} ago)", config.retention_days, format_age(age))
        }
        _ => ": finishing a destroy a previous run started".into(),
    }
}

/// The plan's fallback pruning: the mark, then one `zfs destroy -r` per archive. Failures are
/// reported and retried by the next run.
fn prune_one_by_one(config: &ZfsRollback, plan: &Plan, report: &mut Report) {
    let mut unmarked = true;
    for step in &plan.prune_fallback {
        if let Step::Destroy { archive } = step {
            let row = plan.rows.iter().find(|r| &r.dataset == archive);
            // Never destroy what could not be marked first: a cut would leave it half gone
            // with nothing saying so.
            if !unmarked && !row.is_some_and(|r| r.fate == Fate::Finish) {
                continue;
            }
            match apply::execute(step) {
                Ok(()) => {
                    let why = row.map_or(String::new(), |r| why(config, r));
                    log::info!("destroyed {archive} with its children and snapshots{why}");
                    report.pruned.push((archive.clone(), 0));
                }
                Err(e) => {
                    log::error!("{e} (the next rollback retries)");
                    report.failed.push(e.to_string());
                }
            }
        } else if let Err(e) = apply::execute(step) {
            log::error!("{e} (the next rollback retries)");
            report.failed.push(e.to_string());
            unmarked = false;
        }
    }
}

/// What `lethe roots list` shows for a ZFS root: the plan the next rollback would follow.
pub(crate) struct Listing {
    pub now: i64,
    pub plan: Plan,
}

pub(crate) fn list(config: &ZfsRollback) -> Result<Listing> {
    let now = now();
    Ok(Listing { now, plan: decide(config, now, true)? })
}

/// The human-readable table: one row per entry of the archive parent (the root as the archive
/// it is about to become), each snapshot below it indented (none is lethe's).
pub(crate) fn render(listing: &Listing, config: &ZfsRollback) -> String {
    let plan = &listing.plan;
    let target = plan.stage.target();
    let mut table: Vec<[String; 5]> = vec![[
        "NAME".into(),
        "CREATED (UTC)".into(),
        "ARCHIVED (UTC)".into(),
        "AGE".into(),
        "NEXT ROLLBACK".into(),
    ]];
    for row in &plan.rows {
        let is_root =
            row.dataset == target && matches!(plan.stage, Stage::Start { .. } | Stage::Marked { .. });
        let name = if is_root {
            format!("{} (now {})", row.entry.name, config.dataset)
        } else {
            row.entry.name.clone()
        };
        let star = if row.entry.archived.is_some() { "" } else { "*" };
        // Not lethe's: it has no archive time, and no age that means anything to lethe.
        let foreign = row.fate == Fate::Foreign;
        let archived =
            if foreign { "-".into() } else { format!("{}{star}", format_utc(row.entry.archive_time())) };
        let age = if foreign { "-".into() } else { format_age(listing.now - row.entry.archive_time()) };
        table.push([
            name,
            format_utc(row.entry.mtime),
            archived,
            age,
            plan::describe(row, config.retention_days),
        ]);
        for s in &row.snapshots {
            let at = s.split_once('@').map_or(s.as_str(), |(_, n)| n);
            let goes = if is_root { "moves with the root into the archive" } else { "goes with its archive" };
            table.push([
                format!("  @{at}"),
                String::new(),
                String::new(),
                String::new(),
                format!("snapshot not made by lethe: {goes}"),
            ]);
        }
    }
    let widths: Vec<usize> =
        (0..5).map(|c| table.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for row in &table {
        let line: Vec<String> = row.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    let destroyed = plan.rows.iter().filter(|r| r.destroys()).count();
    out.push_str(&format!("\narchive {}: the next rollback would destroy {destroyed}.\n", config.archive));
    if plan.rows.iter().any(|r| r.entry.archived.is_none() && r.fate != Fate::Foreign) {
        out.push_str(&format!("* no {} time recorded: aged from its creation.\n", super::listing::ARCHIVED));
    }
    if let Some(d) = &plan.distrust {
        out.push_str(&format!("warning: {}\n", plan::clock_text(d)));
    }
    out.push_str(&format!(
        "To get files back: mount -t zfs -o ro {}/NAME /mnt (see README, Recovery)\n",
        config.archive
    ));
    out
}

/// `lethe roots list --json` for a ZFS root.
pub(crate) fn render_json(listing: &Listing, config: &ZfsRollback) -> String {
    let plan = &listing.plan;
    let roots: Vec<serde_json::Value> = plan
        .rows
        .iter()
        .map(|row| {
            let next = match (&row.fate, &row.held) {
                (Fate::Foreign, _) => "ignore",
                (f, None) if f.deletes() => "delete",
                _ => "keep",
            };
            serde_json::json!({
                "name": row.entry.name,
                "dataset": row.dataset,
                "currentRoot": row.dataset == plan.stage.target() && matches!(plan.stage, Stage::Start { .. } | Stage::Marked { .. }),
                "created": row.entry.mtime,
                "createdUtc": format_utc(row.entry.mtime),
                "archived": row.entry.archive_time(),
                "archivedUtc": format_utc(row.entry.archive_time()),
                "archivedRecorded": row.entry.archived.is_some(),
                "ageSeconds": listing.now - row.entry.archive_time(),
                "nextRollback": next,
                "reason": plan::describe(row, config.retention_days),
                "foreignSnapshots": row.snapshots,
            })
        })
        .collect();
    let out = serde_json::json!({
        "dataset": config.dataset,
        "archive": config.archive,
        "now": listing.now,
        "pruningSkipped": plan.distrust.as_ref().map(plan::clock_text),
        "roots": roots,
    });
    serde_json::to_string_pretty(&out).expect("listing serializes")
}
