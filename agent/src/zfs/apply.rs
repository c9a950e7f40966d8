//! The small layer that touches the machine: it gathers the facts for the plan (one `zpool
//! list`, one `zfs get`, a few directory walks) and executes the plan's steps with `zfs`,
//! checking every exit status and quoting stderr when one fails.

use super::plan::{self, DirUsage, Facts, Step, MIGRATION_PROPERTY};
use super::restore::{Listing, RESTORE_PROPERTY};
use super::state;
use crate::config::datasets::{Datasets, Entry, Restic, RestoreFrom};
use crate::error::{Context, Error, Result};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

/// `zfs ARGS...` (or zpool) with its status checked: stdout, or an error that quotes the
/// command and its stderr.
pub(crate) fn run(program: &str, args: &[String]) -> Result<String> {
    run_with_input(program, args, None)
}

/// [`run`], with `input` on stdin (a channel program: never a secret).
pub(crate) fn run_with_input(program: &str, args: &[String], input: Option<&str>) -> Result<String> {
    use std::io::Write;
    let shown = format!("{program} {}", args.join(" "));
    log::debug!("running {shown}");
    let mut child = Command::new(program)
        .args(args)
        .stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("{shown}: cannot run {program}"))?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        // A program that exits without reading says why on stderr: that error wins.
        let _ = stdin.write_all(text.as_bytes());
    }
    let out = child.wait_with_output().with_context(|| format!("{shown}: waiting for {program}"))?;
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
pub(crate) fn gather(d: &Datasets, only: Option<&str>) -> Result<Facts> {
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
        // A source that does not exist has no snapshot: the plan says so for its dataset.
        let list =
            run("zfs", &list_snapshots(&source)).map(|t| state::parse_snapshots(&t)).unwrap_or_default();
        snapshots.insert(source, list);
    }
    let now = rustix::time::clock_gettime(rustix::time::ClockId::Realtime).tv_sec;
    let mut facts = Facts {
        pools,
        state,
        max_recordsize,
        dirs,
        snapshots,
        now: crate::time::format_utc(now),
        only: only.map(str::to_string),
        ..Facts::default()
    };
    facts.empty = empty_datasets(d, &facts.state)?;
    for e in plan::restore_listings_needed(d, &facts) {
        let listings = listings(&e, only.is_some());
        facts.listings.insert(e.name.clone(), listings);
    }
    Ok(facts)
}

fn list_snapshots(dataset: &str) -> Vec<String> {
    strings(&["list", "-H", "-p", "-t", "snapshot", "-o", "name", "-s", "createtxg", "-d", "1", dataset])
}

/// Declared datasets with `restore` and no record that hold nothing: mounted, no entry below
/// the mountpoint, no snapshot, no child dataset.
fn empty_datasets(d: &Datasets, st: &state::State) -> Result<std::collections::BTreeSet<String>> {
    let mut out = std::collections::BTreeSet::new();
    for e in crate::config::datasets::entries(d) {
        let unmarked = st.get(&e.name, RESTORE_PROPERTY).is_none_or(|p| p.source == state::Source::None);
        if e.dataset.restore.is_empty() || !st.exists(&e.name) || !unmarked {
            continue;
        }
        let children = st.datasets.keys().any(|n| n.starts_with(&format!("{}/", e.name)));
        let Some(point) = st.get(&e.name, "mountpoint").map(|p| p.value.clone()) else { continue };
        if children || !mounted_at(&e.name, &point)? {
            continue;
        }
        // The first entry settles it: a dataset with data is never walked (every boot).
        let mut entries = std::fs::read_dir(&point).with_context(|| format!("{point}: cannot read"))?;
        if entries.next().is_some() {
            continue;
        }
        if state::parse_snapshots(&run("zfs", &list_snapshots(&e.name))?).is_empty() {
            out.insert(e.name.clone());
        }
    }
    Ok(out)
}

/// What each source holds, in order, up to the first that is not empty (the walk stops
/// there). Without `network`, a network source is not asked.
fn listings(e: &Entry<'_>, network: bool) -> Vec<Listing> {
    let mut out = Vec::new();
    for s in &e.dataset.restore {
        let listing = match &s.from {
            _ if s.is_remote() && !network => Listing::NotAsked,
            RestoreFrom::Replica { replica, ssh: None, .. } => {
                zfs_listing(run("zfs", &list_snapshots(replica)))
            }
            RestoreFrom::Replica { replica, ssh: Some(host), ssh_key } => {
                let mut args = ssh_args(host, ssh_key.as_deref());
                args.push(remote_command(&list_snapshots(replica)));
                zfs_listing(run("ssh", &args))
            }
            RestoreFrom::Restic { restic } => {
                let mut args = restic_args(restic);
                args.extend(strings(&["snapshots", "--json"]));
                for p in &restic.paths {
                    args.extend(["--path".to_string(), p.clone()]);
                }
                match run("restic", &args) {
                    Ok(text) => match newest_restic_snapshot(&text) {
                        Ok(Some(id)) => Listing::Has(id),
                        Ok(None) => Listing::Empty,
                        Err(why) => Listing::Failed(why),
                    },
                    Err(e) => Listing::Failed(e.to_string()),
                }
            }
        };
        let stop = listing != Listing::Empty;
        out.push(listing);
        if stop {
            break;
        }
    }
    out
}

/// `zfs list` of a replica's snapshots: "does not exist" is an empty source (no replica made
/// yet); any other failure (a pool not imported, ssh refused) is a source that was not asked.
fn zfs_listing(listed: Result<String>) -> Listing {
    match listed {
        Ok(text) => state::parse_snapshots(&text).pop().map_or(Listing::Empty, Listing::Has),
        Err(e) if e.to_string().contains("dataset does not exist") => Listing::Empty,
        Err(e) => Listing::Failed(e.to_string()),
    }
}

/// The id of the newest snapshot in `restic snapshots --json` (by its time), if any.
pub(crate) fn newest_restic_snapshot(text: &str) -> std::result::Result<Option<String>, String> {
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("restic snapshots --json: not JSON: {e}"))?;
    let list = v.as_array().ok_or("restic snapshots --json: expected a list")?;
    let mut best: Option<(&str, &str)> = None;
    for s in list {
        let (Some(time), Some(id)) = (s["time"].as_str(), s["id"].as_str()) else {
            return Err("restic snapshots --json: a snapshot without time or id".into());
        };
        if best.is_none_or(|(t, _)| time >= t) {
            best = Some((time, id));
        }
    }
    Ok(best.map(|(_, id)| id.to_string()))
}

/// `ssh` to a replica host: no prompt (the unit has no terminal), a host key learnt on first
/// use unless `/etc/ssh/ssh_known_hosts` pins it.
fn ssh_args(host: &str, key: Option<&str>) -> Vec<String> {
    let mut args = strings(&["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=accept-new"]);
    if let Some(k) = key {
        args.extend(["-i".to_string(), k.to_string()]);
    }
    // check-config refused a host starting with `-`; a `--` here would go to the remote shell.
    args.push(host.to_string());
    args
}

/// A command line for the remote shell: every word single-quoted (dataset names may hold
/// spaces).
fn remote_command(words: &[String]) -> String {
    let quoted: Vec<String> = std::iter::once("zfs".to_string())
        .chain(words.iter().map(|w| format!("'{}'", w.replace('\'', "'\\''"))))
        .collect();
    quoted.join(" ")
}

fn restic_args(r: &Restic) -> Vec<String> {
    let mut args = match (&r.repository, &r.repository_file) {
        (Some(repo), _) => strings(&["--repo", repo]),
        (None, Some(file)) => strings(&["--repository-file", file]),
        (None, None) => Vec::new(),
    };
    args.extend(strings(&["--password-file", &r.password_file, "--no-cache"]));
    args
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
        Step::Receive { dataset, source, snapshot, ssh, ssh_key, properties } => {
            receive(dataset, source, snapshot, ssh.as_deref(), ssh_key.as_deref(), properties)
        }
        Step::Restic { dataset, source, snapshot, restic, temporary, mountpoint, properties } => {
            restic_restore(dataset, source, snapshot, restic, temporary, mountpoint, properties)
        }
        Step::Discard { dataset } => discard(dataset),
        Step::SetAside { dataset, renamed } => {
            run("zfs", &strings(&["set", "canmount=off", "mountpoint=none", dataset]))?;
            run("zfs", &strings(&["rename", dataset, renamed])).map(drop)
        }
        Step::Migrate { dataset, from, temporary, renamed, .. } => migrate(dataset, from, temporary, renamed),
        Step::Set { dataset, property, value, .. } => {
            run("zfs", &strings(&["set", &format!("{property}={value}"), dataset])).map(drop)
        }
        Step::MountAll { .. } => run("zfs", &strings(&["mount", "-a"])).map(drop),
        Step::Own { .. }
        | Step::Keep { .. }
        | Step::Undeclared { .. }
        | Step::Error { .. }
        | Step::Deferred { .. } => Ok(()),
    }
}

/// `zfs send SNAPSHOT | zfs recv -u DATASET`, both statuses checked; then the declared
/// properties (a plain send carries none), then the mount.
fn restore(dataset: &str, snapshot: &str, properties: &BTreeMap<String, String>) -> Result<()> {
    pipe("zfs", &strings(&["send", snapshot]), &strings(&["recv", "-u", dataset]))?;
    finish_receive(dataset, properties)
}

/// A `restore` source's replica, local or over ssh: a raw send (the replica was received raw,
/// and a remote one's key is never on that host), received as a new dataset (atomic: an
/// interrupted receive leaves no dataset) carrying lethe's `done` record.
fn receive(
    dataset: &str,
    source: &str,
    snapshot: &str,
    ssh: Option<&str>,
    ssh_key: Option<&str>,
    properties: &BTreeMap<String, String>,
) -> Result<()> {
    let send = strings(&["send", "-w", snapshot]);
    let done = format!("{RESTORE_PROPERTY}=done:{source}");
    let recv = strings(&["recv", "-u", "-o", &done, dataset]);
    match ssh {
        None => pipe("zfs", &send, &recv)?,
        Some(host) => {
            let mut args = ssh_args(host, ssh_key);
            args.push(remote_command(&send));
            pipe("ssh", &args, &recv)?;
        }
    }
    finish_receive(dataset, properties)
}

/// `PROGRAM ARGS | zfs RECV`, both statuses checked.
fn pipe(program: &str, args: &[String], recv: &[String]) -> Result<()> {
    let send_shown = format!("{program} {}", args.join(" "));
    let mut send = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("{send_shown}: cannot run {program}"))?;
    let stream = send.stdout.take().expect("piped stdout");
    let recv_shown = format!("zfs {}", recv.join(" "));
    let recv = Command::new("zfs")
        .args(recv)
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
    Ok(())
}

/// After a receive: the declared properties, then the mount.
fn finish_receive(dataset: &str, properties: &BTreeMap<String, String>) -> Result<()> {
    if !properties.is_empty() {
        let mut args = strings(&["set"]);
        args.extend(properties.iter().map(|(k, v)| format!("{k}={v}")));
        args.push(dataset.to_string());
        run("zfs", &args)?;
    }
    // `zfs set mountpoint=` mounts it already; without one, it inherits a place to mount.
    let mounted = crate::mountinfo::read().map_err(Error::msg)?.iter().any(|m| m.source == dataset);
    let mountable = properties.get("mountpoint").is_none_or(|m| m.starts_with('/'));
    if mountable && !mounted {
        run("zfs", &strings(&["mount", dataset]))?;
    }
    Ok(())
}

/// A restic source: a new dataset recorded `pending:SOURCE` (so an interrupted run is known as
/// lethe's partial dataset and discarded), the snapshot restored below it, moved to its root,
/// then the real mountpoint and `done:SOURCE`.
fn restic_restore(
    dataset: &str,
    source: &str,
    snapshot: &str,
    r: &Restic,
    temporary: &str,
    mountpoint: &str,
    properties: &BTreeMap<String, String>,
) -> Result<()> {
    let mut args = strings(&["create"]);
    for (k, v) in properties {
        args.extend(["-o".to_string(), format!("{k}={v}")]);
    }
    args.push(dataset.to_string());
    run("zfs", &args)?;
    if !mounted_at(dataset, temporary)? {
        run("zfs", &strings(&["mount", dataset]))?;
    }
    let staging = format!("{temporary}/.lethe-restic");
    let mut args = restic_args(r);
    args.extend(strings(&["restore", snapshot, "--target", &staging]));
    run("restic", &args)
        .with_context(|| format!("{dataset}: restoring from {source} failed; the next run starts again"))?;
    let inner = format!("{staging}{}", r.root);
    for entry in std::fs::read_dir(&inner)
        .with_context(|| format!("{inner}: the snapshot holds nothing below {}", r.root))?
    {
        let entry = entry.with_context(|| format!("{inner}: cannot read"))?;
        let to = Path::new(temporary).join(entry.file_name());
        std::fs::rename(entry.path(), &to)
            .with_context(|| format!("{}: cannot move to {}", entry.path().display(), to.display()))?;
    }
    // Only the empty directories above `inner` are left: lethe's own staging tree.
    std::fs::remove_dir_all(&staging).with_context(|| format!("{staging}: cannot remove"))?;
    let done = format!("{RESTORE_PROPERTY}=done:{source}");
    run("zfs", &strings(&["set", &format!("mountpoint={mountpoint}"), &done, dataset])).map(drop)
}

/// Destroys a dataset an interrupted restore left, after checking again that lethe's
/// `pending` record is on the dataset itself and that no dataset lives below it.
fn discard(dataset: &str) -> Result<()> {
    let record = run("zfs", &strings(&["get", "-H", "-p", "-o", "value,source", RESTORE_PROPERTY, dataset]))?;
    let (value, source) = record.trim_end().split_once('\t').unwrap_or(("", ""));
    if !value.starts_with("pending:") || source != "local" {
        crate::bail!("{dataset}: {RESTORE_PROPERTY} is {value:?} ({source}), not lethe's pending record: not destroyed");
    }
    let below =
        run("zfs", &strings(&["list", "-H", "-o", "name", "-r", "-t", "filesystem,volume", dataset]))?;
    if below.lines().count() > 1 {
        crate::bail!("{dataset}: datasets below it; a partial restore is never destroyed with them (destroy it yourself)");
    }
    run("zfs", &strings(&["destroy", "-r", dataset])).map(drop)
}

fn mounted_at(dataset: &str, path: &str) -> Result<bool> {
    Ok(crate::mountinfo::read().map_err(Error::msg)?.iter().any(|m| m.point == path && m.source == dataset))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_restic_snapshot_by_time() {
        // The fields restic 0.14's `snapshots --json` prints that lethe reads.
        let text = r#"[{"time":"2026-12-01T03:00:00.1+00:00","paths":["/run/lethe/backup/a"],"id":"old"},
                       {"time":"2026-12-02T03:00:00.2+00:00","paths":["/run/lethe/backup/a"],"id":"new"},
                       {"time":"2026-11-30T03:00:00+00:00","paths":["/run/lethe/backup/a"],"id":"older"}]"#;
        assert_eq!(newest_restic_snapshot(text), Ok(Some("new".into())));
        assert_eq!(newest_restic_snapshot("[]"), Ok(None));
        assert!(newest_restic_snapshot("null").is_err());
        assert!(newest_restic_snapshot(r#"[{"id":"x"}]"#).is_err());
    }

    #[test]
    fn ssh_command_line() {
        let args = ssh_args("syncoid@nas", Some("/persist/key"));
        assert_eq!(
            args.join(" "),
            "-o BatchMode=yes -o StrictHostKeyChecking=accept-new -i /persist/key syncoid@nas"
        );
    }

    #[test]
    fn remote_words_are_quoted() {
        let words = strings(&["list", "-d", "1", "tank/it's here"]);
        assert_eq!(remote_command(&words), r"zfs 'list' '-d' '1' 'tank/it'\''s here'");
    }
}
