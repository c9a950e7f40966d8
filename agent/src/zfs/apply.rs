//! The small layer that touches the machine: it gathers the facts for the plan (one `zpool
//! list`, one `zfs get`, a few directory walks) and executes the plan's steps with `zfs`,
//! checking every exit status and quoting stderr when one fails.

use super::plan::{self, DirUsage, Facts, Step, MIGRATION_PROPERTY};
use super::state;
use crate::config::datasets::Datasets;
use crate::error::{Context, Error, Result};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

/// `zfs ARGS...` (or zpool) with its status checked: stdout, or an error that quotes the
/// command and its stderr.
pub(crate) fn run(program: &str, args: &[String]) -> Result<String> {
    let shown = format!("{program} {}", args.join(" "));
    log::debug!("running {shown}");
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("{shown}: cannot run {program}"))?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    Err(failed(&shown, out.status, &out.stderr))
}

fn failed(shown: &str, status: std::process::ExitStatus, stderr: &[u8]) -> Error {
    let stderr = String::from_utf8_lossy(stderr);
    let stderr = stderr.trim();
    let stderr = if stderr.is_empty() { "(no message)" } else { stderr };
    Error::msg(format!("{shown}: {status}: {}", stderr.replace('\n', " / ")))
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// Reads everything the plan needs: `zpool list` (which pools are imported: `zfs` alone says
/// "dataset does not exist" for a pool that is not), then the state of the declared pools in
/// one `zfs get`, then the directories and snapshots the plan asks about.
pub(crate) fn gather(d: &Datasets) -> Result<Facts> {
    let pools = state::parse_pools(&run("zpool", &strings(&["list", "-H", "-o", state::POOL_COLUMNS]))?)
        .map_err(Error::msg)?;
    let wanted: Vec<String> = plan::pools(d).into_iter().filter(|p| pools.contains_key(p)).collect();
    let state = if wanted.is_empty() {
        state::State::default()
    } else {
        let mut args = strings(&[
            "get",
            "-H",
            "-p",
            "-r",
            "-t",
            "filesystem,volume",
            "-o",
            "name,property,value,source",
        ]);
        let properties = plan::properties_to_read(d);
        args.push(properties.join(","));
        args.extend(wanted.iter().cloned());
        let text = run("zfs", &args)?;
        // What zfs get must list: names cannot hold a newline, user property values can.
        let mut list = strings(&["list", "-H", "-p", "-r", "-t", "filesystem,volume", "-o", "name"]);
        list.extend(wanted);
        let names = state::parse_names(&run("zfs", &list)?);
        state::parse_get_exact(&text, &names, &properties).map_err(Error::msg)?
    };
    let max_recordsize = std::fs::read_to_string("/sys/module/zfs/parameters/zfs_max_recordsize")
        .ok()
        .and_then(|t| t.trim().parse().ok());
    let mut dirs = BTreeMap::new();
    for dir in plan::dirs_to_inspect(d, &state) {
        let usage = usage(Path::new(&dir)).with_context(|| format!("{dir}: cannot measure what it holds"))?;
        if usage.files > 0 {
            dirs.insert(dir, usage);
        }
    }
    let mut snapshots = BTreeMap::new();
    for source in plan::restore_sources(d, &state) {
        let args = strings(&[
            "list",
            "-H",
            "-p",
            "-t",
            "snapshot",
            "-o",
            "name",
            "-s",
            "createtxg",
            "-d",
            "1",
            &source,
        ]);
        // A source that does not exist has no snapshot: the plan says so for its dataset.
        let list = run("zfs", &args).map(|t| state::parse_snapshots(&t)).unwrap_or_default();
        snapshots.insert(source, list);
    }
    let now = rustix::time::clock_gettime(rustix::time::ClockId::Realtime).tv_sec;
    Ok(Facts { pools, state, max_recordsize, dirs, snapshots, now: crate::time::format_utc(now) })
}

/// Entries below `dir` and their bytes; a missing directory holds nothing. Symlinks are not
/// followed, other filesystems are counted too (they would be hidden as well).
fn usage(dir: &Path) -> std::io::Result<DirUsage> {
    let mut u = DirUsage::default();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e)
            if e.kind() == std::io::ErrorKind::NotFound || e.kind() == std::io::ErrorKind::NotADirectory =>
        {
            return Ok(u)
        }
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let meta = entry.path().symlink_metadata()?;
        u.files += 1;
        if meta.is_dir() {
            let below = usage(&entry.path())?;
            u.files += below.files;
            u.bytes += below.bytes;
        } else {
            u.bytes += meta.len();
        }
    }
    Ok(u)
}

/// What happened to one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    Done,
    /// An `Own` step that found everything right.
    AlreadyRight,
    /// A report, or a step skipped because its dataset (or a parent) failed.
    Reported,
    Skipped,
    Failed(String),
}

/// Executes the steps in order; a failure skips the later steps of that dataset and of the
/// datasets below it, the others go on. `dry_run` changes nothing (and `Own` says what it
/// would change).
pub(crate) fn apply(steps: &[Step], dry_run: bool) -> Vec<Outcome> {
    let mut failed: Vec<String> = Vec::new();
    let below_failed = |name: &str, failed: &[String]| {
        failed.iter().any(|f| name == f || name.starts_with(&format!("{f}/")))
    };
    let mut out = Vec::new();
    for step in steps {
        if below_failed(step.dataset(), &failed) {
            out.push(Outcome::Skipped);
            continue;
        }
        let result = match step {
            Step::Keep { .. } | Step::Undeclared { .. } => Ok(Outcome::Reported),
            Step::Error { dataset, .. } => {
                failed.push(dataset.clone());
                Ok(Outcome::Reported)
            }
            Step::Own { dataset, path, owner, group, mode } => {
                own(dataset, path, owner, group, mode, dry_run)
            }
            _ if dry_run => Ok(Outcome::Done),
            other => execute(other).map(|()| Outcome::Done),
        };
        out.push(result.unwrap_or_else(|e| {
            failed.push(step.dataset().to_string());
            Outcome::Failed(e.to_string())
        }));
    }
    out
}

fn execute(step: &Step) -> Result<()> {
    match step {
        Step::Create { dataset, properties, .. } => {
            let mut args = strings(&["create"]);
            for (k, v) in properties {
                args.push("-o".into());
                args.push(format!("{k}={v}"));
            }
            args.push(dataset.clone());
            run("zfs", &args).map(drop)
        }
        Step::Restore { dataset, snapshot, properties } => restore(dataset, snapshot, properties),
        Step::Migrate { dataset, from, temporary, renamed, .. } => migrate(dataset, from, temporary, renamed),
        Step::Set { dataset, property, value, .. } => {
            run("zfs", &strings(&["set", &format!("{property}={value}"), dataset])).map(drop)
        }
        Step::MountAll { .. } => run("zfs", &strings(&["mount", "-a"])).map(drop),
        Step::Own { .. } | Step::Keep { .. } | Step::Undeclared { .. } | Step::Error { .. } => Ok(()),
    }
}

/// `zfs send SNAPSHOT | zfs recv -u DATASET`, both statuses checked; then the declared
/// properties (a plain send carries none), then the mount.
fn restore(dataset: &str, snapshot: &str, properties: &BTreeMap<String, String>) -> Result<()> {
    let send_shown = format!("zfs send {snapshot}");
    let mut send = Command::new("zfs")
        .args(["send", snapshot])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("{send_shown}: cannot run zfs"))?;
    let stream = send.stdout.take().expect("piped stdout");
    let recv_shown = format!("zfs recv -u {dataset}");
    let recv = Command::new("zfs")
        .args(["recv", "-u", dataset])
        .stdin(stream)
        .output()
        .with_context(|| format!("{recv_shown}: cannot run zfs"));
    let sent = send.wait_with_output().with_context(|| format!("{send_shown}: waiting"))?;
    let recv = recv?;
    if !sent.status.success() {
        return Err(failed(&send_shown, sent.status, &sent.stderr));
    }
    if !recv.status.success() {
        return Err(failed(&recv_shown, recv.status, &recv.stderr));
    }
    if !properties.is_empty() {
        let mut args = strings(&["set"]);
        args.extend(properties.iter().map(|(k, v)| format!("{k}={v}")));
        args.push(dataset.to_string());
        run("zfs", &args)?;
    }
    // `zfs set mountpoint=` mounts it already; without one, it inherits a place to mount.
    let mounted = mounts()?.iter().any(|(_, source)| source == dataset);
    let mountable = properties.get("mountpoint").is_none_or(|m| m.starts_with('/'));
    if mountable && !mounted {
        run("zfs", &strings(&["mount", dataset]))?;
    }
    Ok(())
}

/// The mount points in /proc/self/mountinfo, with their source (a dataset name for zfs).
fn mounts() -> Result<Vec<(String, String)>> {
    let text =
        std::fs::read_to_string("/proc/self/mountinfo").context("/proc/self/mountinfo: cannot read")?;
    Ok(text
        .lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let point = left.split(' ').nth(4)?;
            let source = right.split(' ').nth(1)?;
            Some((unescape(point), unescape(source)))
        })
        .collect())
}

/// mountinfo writes space, tab, newline and backslash as octal escapes.
fn unescape(s: &str) -> String {
    s.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")
}

fn mounted_at(dataset: &str, path: &str) -> Result<bool> {
    Ok(mounts()?.iter().any(|(p, s)| p == path && s == dataset))
}

/// Copies what `from` holds into the dataset mounted at `temporary` (owners, modes, xattrs,
/// ACLs: `cp -a`), renames `from` to `renamed` (kept; lethe never deletes it), then moves the
/// dataset to `from`. Run again after an interruption, it copies again and goes on.
fn migrate(dataset: &str, from: &str, temporary: &str, renamed: &str) -> Result<()> {
    if temporary != from {
        if !mounted_at(dataset, temporary)? {
            run("zfs", &strings(&["mount", dataset]))?;
        }
        if !mounted_at(dataset, temporary)? {
            crate::bail!("{dataset}: not mounted at {temporary} after zfs mount; nothing copied");
        }
        if usage(Path::new(from)).with_context(|| format!("{from}: cannot read"))?.files > 0 {
            run("cp", &strings(&["-a", &format!("{from}/."), &format!("{temporary}/")]))
                .with_context(|| format!("{from}: copying into {dataset} failed; nothing was renamed"))?;
            std::fs::rename(from, renamed).with_context(|| format!("{from}: cannot rename to {renamed}"))?;
        }
    }
    let done = format!("{MIGRATION_PROPERTY}=done:{renamed}");
    run("zfs", &strings(&["set", &format!("mountpoint={from}"), &done, dataset])).map(drop)
}

fn lookup(file: &str, name: &str) -> Result<u32> {
    let text = std::fs::read_to_string(file).with_context(|| format!("{file}: cannot read"))?;
    for line in text.lines() {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() > 2 && fields[0] == name {
            return fields[2]
                .parse()
                .map_err(|_| Error::msg(format!("{file}: {name}: bad id {:?}", fields[2])));
        }
    }
    // A number names an id directly.
    name.parse().map_err(|_| Error::msg(format!("{file}: no entry {name:?}")))
}

/// Owner, group and mode of a mounted dataset's root; only what differs is changed.
fn own(
    dataset: &str,
    path: &str,
    owner: &Option<String>,
    group: &Option<String>,
    mode: &Option<String>,
    dry_run: bool,
) -> Result<Outcome> {
    use std::os::unix::fs::MetadataExt;
    if !mounted_at(dataset, path)? {
        if dry_run {
            return Ok(Outcome::Reported);
        }
        crate::bail!("{path}: {dataset} is not mounted there, so its owner and mode cannot be set");
    }
    let meta = std::fs::metadata(path).with_context(|| format!("{path}: cannot stat"))?;
    let uid = owner.as_deref().map(|o| lookup("/etc/passwd", o)).transpose()?;
    let gid = group.as_deref().map(|g| lookup("/etc/group", g)).transpose()?;
    let bits = mode.as_deref().map(|m| u32::from_str_radix(m, 8).expect("config checked the mode"));
    let chown = uid.is_some_and(|u| u != meta.uid()) || gid.is_some_and(|g| g != meta.gid());
    let chmod = bits.is_some_and(|b| b != meta.mode() & 0o7777);
    if !chown && !chmod {
        return Ok(Outcome::AlreadyRight);
    }
    if !dry_run {
        if chown {
            rustix::fs::chown(path, uid.map(rustix::fs::Uid::from_raw), gid.map(rustix::fs::Gid::from_raw))
                .with_context(|| format!("{path}: chown"))?;
        }
        if let Some(b) = bits.filter(|_| chmod) {
            rustix::fs::chmod(path, rustix::fs::Mode::from_raw_mode(b))
                .with_context(|| format!("{path}: chmod"))?;
        }
    }
    Ok(Outcome::Done)
}
