//! The small layer that runs `zfs` for the ZFS rollback: the listings the plan reads, and one
//! process per step. The program is `zfs` from `PATH`, or `LETHE_ZFS` when set (a test's
//! stand-in, or a build that keeps it elsewhere).

use super::listing::{self, Listing, COLUMNS};
use super::plan::Step;
use crate::config::rollback::ZfsRollback;
use crate::error::{Error, Result};
use std::collections::BTreeMap;

fn program() -> String {
    std::env::var("LETHE_ZFS").unwrap_or_else(|_| "zfs".into())
}

fn zfs(args: &[String]) -> Result<String> {
    crate::zfs::apply::run(&program(), args)
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| a.to_string()).collect()
}

/// The datasets the listing covers (`-r`): the root's parent, the archive's parent, and the
/// blank snapshot's dataset, less those inside another.
pub(super) fn scopes(config: &ZfsRollback) -> Vec<String> {
    let parent = |n: &str| n.rsplit_once('/').map_or(n.to_string(), |(p, _)| p.to_string());
    let mut all = vec![parent(&config.dataset), parent(&config.archive)];
    if let Some(b) = &config.blank_snapshot {
        all.push(b.split('@').next().unwrap_or_default().to_string());
    }
    let mut out: Vec<String> = Vec::new();
    all.sort_by_key(|s| s.len());
    for s in all {
        if !out.iter().any(|o| listing::inside(&s, o)) {
            out.push(s);
        }
    }
    out
}

/// What the plan reads of the pool: [`listing::LIST_PROGRAM`] (`for_list`: with every
/// archive's snapshots, for `roots list`), or, should the program fail (a ZFS without channel
/// programs, a pool beyond a program's memory or instruction limit; the config keeps the
/// archive and the blank snapshot on the root's pool), two `zfs list`s of the scopes.
pub(super) fn gather(config: &ZfsRollback, for_list: bool) -> Result<Listing> {
    let scopes = scopes(config);
    let fail =
        |e: String| Error::msg(format!("{}: listing failed: {e}; nothing was changed", scopes.join(", ")));
    let pool = config.dataset.split('/').next().unwrap_or(&config.dataset);
    let mut args = strings(&["program", "-n", "-j", pool, "-", if for_list { "list" } else { "boot" }]);
    args.extend([config.dataset.clone(), config.archive.clone()]);
    if let Some(b) = &config.blank_snapshot {
        let of = b.split('@').next().unwrap_or_default();
        if !listing::inside(of, &config.dataset) {
            args.push(of.to_string());
        }
    }
    let json = match crate::zfs::apply::run_with_input(&program(), &args, Some(listing::LIST_PROGRAM)) {
        Ok(json) => json,
        Err(e) => {
            log::warn!("{e}; listing with zfs list instead");
            let mut listing = listed(&scopes)?;
            // As libzfs's `mounted`, with what else holds a dataset's name (see parse_program).
            listing
                .mounted
                .extend(crate::mountinfo::read().map_err(Error::msg)?.into_iter().map(|m| m.source));
            return Ok(listing);
        }
    };
    let mounts = crate::mountinfo::read().map_err(Error::msg)?;
    let found = listing::parse_program(&json, &mounts).map_err(fail)?;
    let mut listing = found.listing;
    let mut wanted: Vec<String> = listing::needs_encryption_root(&config.dataset, &config.archive)
        .into_iter()
        .filter(|n| found.encrypted.contains(n))
        .collect();
    wanted.sort();
    wanted.dedup();
    if !wanted.is_empty() {
        let mut args = strings(&["get", "-H", "-p", "-o", "name,value", "encryptionroot"]);
        args.extend(wanted.iter().cloned());
        let text = zfs(&args).map_err(|e| fail(e.to_string()))?;
        listing::set_encryption_roots(&mut listing, &text, &wanted).map_err(fail)?;
    }
    Ok(listing)
}

/// The listing in two `zfs list`s: the names, then the columns the plan reads (checked against
/// the names: a user property value holding a newline could forge a line).
fn listed(scopes: &[String]) -> Result<Listing> {
    let list = |columns: &str| {
        let mut args =
            strings(&["list", "-H", "-p", "-t", "filesystem,volume,snapshot", "-o", columns, "-r"]);
        args.extend(scopes.iter().cloned());
        zfs(&args).map_err(|e| {
            Error::msg(format!("{}: listing failed: {e}; nothing was changed", scopes.join(", ")))
        })
    };
    let names: Vec<String> = list("name")?.lines().filter(|l| !l.is_empty()).map(str::to_string).collect();
    let text = list(COLUMNS)?;
    listing::parse_list(&text, &names)
        .map_err(|e| Error::msg(format!("{}: {e}; nothing was changed", scopes.join(", "))))
}

/// The properties a fresh root copies from `dataset`.
pub(super) fn properties(dataset: &str, for_clone: bool) -> Result<BTreeMap<String, String>> {
    let text =
        zfs(&strings(&["get", "-H", "-p", "-o", "property,value,source", "all", dataset])).map_err(|e| {
            Error::msg(format!("{dataset}: reading its properties failed: {e}; nothing was changed"))
        })?;
    listing::fresh_properties(&text, for_clone)
        .map_err(|e| Error::msg(format!("{dataset}: {e}; nothing was changed")))
}

/// Runs one step: `DATASET: zfs ARGS: why` when it fails.
pub(super) fn execute(step: &Step) -> Result<()> {
    let args = step.args();
    log::info!("zfs {}", args.join(" "));
    let input = matches!(step, Step::Prune { .. }).then_some(super::plan::PRUNE_PROGRAM);
    crate::zfs::apply::run_with_input(&program(), &args, input)
        .map(drop)
        .map_err(|e| Error::msg(format!("{}: {e}", step.dataset())))
}
