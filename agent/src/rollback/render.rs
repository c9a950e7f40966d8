//! `lethe roots list` as a table for people and as JSON for scripts.

use super::listing::Listing;
use super::plan::{self, Fate, Kind};
use crate::config::rollback::Rollback;

/// The human-readable table of `lethe roots list`.
pub(crate) fn render(listing: &Listing, config: &Rollback) -> String {
    let mut table: Vec<[String; 6]> = vec![[
        "NAME".into(),
        "MODIFIED (UTC)".into(),
        "ARCHIVED (UTC)".into(),
        "AGE".into(),
        "NESTED".into(),
        "NEXT ROLLBACK".into(),
    ]];
    for row in &listing.rows {
        let is_root = Some(&row.name) == listing.root_as.as_ref();
        let name =
            if is_root { format!("{} (now {})", row.name, config.subvolume) } else { row.name.clone() };
        let fate = match (&row.fate, row.kind) {
            (Fate::Ignore, kind) => format!("ignore ({}, not a subvolume)", kind.describe()),
            (fate, _) => fate.describe(config.retention_days),
        };
        // `*`: no archive time recorded, aged by its mtime (see the note below the table).
        let archived = if row.archived_recorded || row.kind != Kind::Subvolume { "" } else { "*" };
        table.push([
            name,
            plan::format_utc(row.mtime),
            format!("{}{archived}", plan::format_utc(row.archived)),
            plan::format_age(listing.now - row.archived),
            row.nested.map_or("-".into(), |n| n.to_string()),
            fate,
        ]);
    }
    let widths: Vec<usize> =
        (0..6).map(|c| table.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for row in &table {
        let line: Vec<String> = row.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    let foreign = listing.rows.iter().filter(|r| r.fate == Fate::Foreign).count();
    let archived = listing.rows.iter().filter(|r| r.kind == Kind::Subvolume).count() - foreign;
    let pruned = listing.rows.iter().filter(|r| r.fate.deletes()).count();
    out.push_str(&format!(
        "\n{} archived root(s) in {}{}; the next rollback would delete {pruned}.\n",
        archived - usize::from(listing.root_as.is_some()),
        listing.archive,
        if listing.root_as.is_some() {
            format!(" (plus {} once archived)", config.subvolume)
        } else {
            String::new()
        },
    ));
    if foreign > 0 {
        out.push_str(&format!(
            "{foreign} subvolume(s) in {} not named by lethe (YYYY-MM-DD_HH:MM:SS): not archived roots, \
             never deleted by lethe.\n",
            listing.archive
        ));
    }
    let unrecorded = listing.rows.iter().any(|r| r.kind == Kind::Subvolume && !r.archived_recorded);
    if unrecorded {
        out.push_str(
            "* no archive time recorded (archived by an earlier lethe, or while the clock was behind): \
             aged from its last modification.\n",
        );
    }
    if let Some(d) = &listing.distrust {
        out.push_str(&format!("warning: {d}\n"));
    }
    out.push_str(&format!(
        "To get files back: mount -o subvol={}/NAME {} /mnt\n",
        listing.archive,
        config.device.display()
    ));
    out
}

/// `lethe roots list --json`: the same listing for scripts (times as epoch seconds and UTC).
pub(crate) fn render_json(listing: &Listing, config: &Rollback) -> String {
    let roots: Vec<serde_json::Value> = listing
        .rows
        .iter()
        .map(|row| {
            let next = match &row.fate {
                Fate::KeepNewest(_) | Fate::KeepCurrent | Fate::KeepYoung | Fate::KeepClock => "keep",
                Fate::Prune { .. } | Fate::Finish => "delete",
                Fate::Ignore | Fate::Foreign => "ignore",
            };
            serde_json::json!({
                "name": row.name,
                "currentRoot": Some(&row.name) == listing.root_as.as_ref(),
                "kind": match row.kind {
                    Kind::Subvolume => "subvolume",
                    Kind::Directory => "directory",
                    _ => "other",
                },
                "modified": row.mtime,
                "modifiedUtc": plan::format_utc(row.mtime),
                "archived": row.archived,
                "archivedUtc": plan::format_utc(row.archived),
                "archivedRecorded": row.archived_recorded,
                "ageSeconds": listing.now - row.archived,
                "nestedSubvolumes": row.nested,
                "nextRollback": next,
                "reason": row.fate.describe(config.retention_days),
            })
        })
        .collect();
    let out = serde_json::json!({
        "device": config.device,
        "archive": listing.archive,
        "now": listing.now,
        "pruningSkipped": listing.distrust.as_ref().map(|d| d.to_string()),
        "roots": roots,
    });
    serde_json::to_string_pretty(&out).expect("listing serializes")
}
