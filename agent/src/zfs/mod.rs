//! ZFS datasets per service (`lethe datasets`): read the state in one `zfs get`, decide with a
//! pure plan, apply it with `zfs`/`zpool`, report. OpenZFS 2.1's command-line interface is all
//! it assumes (Debian 12: no `--json`, no `zfs set -u`).

pub(crate) mod apply;
pub mod command;
pub(crate) mod plan;
pub(crate) mod restore;
pub(crate) mod state;

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
pub(crate) fn render(step: &Step) -> String {
    match step {
        Step::Create { dataset, properties, parent: true } => {
            format!("create  {dataset} ({}): parent of declared datasets", props(properties))
        }
        Step::Create { dataset, properties, parent: false } => format!("create  {dataset}: {}", props(properties)),
        Step::Restore { dataset, snapshot, properties } => {
            format!("restore {dataset} from {snapshot} (zfs send | zfs recv), then set {}", props(properties))
        }
        Step::Receive { dataset, source, snapshot, ssh, properties, .. } => {
            let over = ssh.as_ref().map(|h| format!("ssh {h} ")).unwrap_or_default();
            format!(
                "restore {dataset} from {source}: {snapshot} ({over}zfs send -w | zfs recv), then set {}",
                props(properties)
            )
        }
        Step::Restic { dataset, source, snapshot, restic, mountpoint, .. } => format!(
            "restore {dataset} from {source}: restic snapshot {snapshot} of {}, into a new dataset at {mountpoint}",
            restic.root
        ),
        Step::Discard { dataset } => format!(
            "discard {dataset}: an interrupted restore left it partial (lethe created it, lethe:restore=pending); restoring again"
        ),
        Step::SetAside { dataset, renamed } => {
            format!("aside   {dataset}: empty and never restored: renamed {renamed}, unmounted, kept")
        }
        Step::Deferred { dataset, unit } => {
            format!("defer   {dataset}: its restore asks network sources: {unit} does it before the service starts")
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

/// The whole plan, one line per step, then the refusals (the plan's table tests read it).
#[cfg(test)]
pub(crate) fn render_plan(p: &plan::Plan) -> String {
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
