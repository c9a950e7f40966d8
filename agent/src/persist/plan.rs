//! What to do for one persisted entry, decided from what is found at its source and target:
//! a pure function, so every case (adoption, conflict, symlink attack, rerun) is a table row.

use crate::config::persistence::{Entry, Kind, Method};
use std::path::{Path, PathBuf};

/// What one path is, as found below the root (never following a symlink).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    Missing,
    /// A directory; `empty` when it holds nothing.
    Dir {
        empty: bool,
    },
    File {
        empty: bool,
    },
    /// A symlink as the path itself, with where it points.
    Symlink(PathBuf),
    /// A device, socket or fifo: never touched.
    Other,
}

/// What was found for one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Facts {
    pub source: Node,
    pub target: Node,
    /// A symlink (or other non-directory) in the middle of the source's or the target's path:
    /// the path so far, and what it is. The entry is refused.
    pub blocked: Option<String>,
    /// The target already shows the source (same device and inode): mounted by an earlier run,
    /// or inside a parent entry mounted from the same store.
    pub in_place: bool,
    /// The source's owner and mode now (when it exists).
    pub source_owner: Option<(u32, u32, u32)>,
    /// The target is itself a mount point (not lethe's bind of the source): systemd's
    /// transient `/etc/machine-id`, a dataset. It is mounted on top of, never moved or emptied.
    pub target_mount: bool,
    /// The target lies inside a directory entry of the same store, so the parent's bind already
    /// shows the source at the target (impermanence's `dotfiles/.dotfilesrc` in `dotfiles`).
    pub covered: bool,
}

/// One step of the entry's plan, in the order they run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// Create the missing source (and its missing parents) with the entry's owner and mode;
    /// for `/etc/machine-id`, holding `uninitialized`.
    CreateSource,
    /// Move the target's data into the store (the source is missing).
    Adopt,
    /// Both hold data: the store wins, the target's data goes to `.lethe-conflict/`.
    KeepAside,
    /// Create the missing target (and its parents), empty, to mount on.
    CreateTarget,
    /// Remove a symlink lethe made at the target (it points at the source).
    RemoveOwnSymlink,
    Bind,
    /// A symlink at the target pointing at the source (the store path as the booted system
    /// sees it).
    Symlink,
    /// Copy the content of a target that is a mount point into the missing source (the mount
    /// stays, under lethe's bind).
    CopyIn,
    /// Re-apply owner and mode to the source (= what the target shows).
    Converge {
        uid: u32,
        gid: u32,
        mode: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Plan {
    /// Nothing to do: the target shows the source with the right owner and mode.
    InPlace,
    Steps(Vec<Step>),
    /// Not applied; the reason names the path.
    Refuse(String),
}

/// `/etc/machine-id` made by lethe holds systemd's first-boot marker.
pub(crate) fn is_machine_id(target: &Path) -> bool {
    target == Path::new("/etc/machine-id")
}

pub(crate) const MACHINE_ID_UNINITIALIZED: &str = "uninitialized\n";

/// A path read from the filesystem (a symlink's target: anyone who owns the directory chose
/// it), for a message: control characters, backslashes and bytes that are not UTF-8 as `\xNN`,
/// so a newline and `<0>` cannot forge a journal line.
pub fn shown(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let bytes = path.as_os_str().as_bytes();
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_control() || c == '\\' {
                for b in c.to_string().bytes() {
                    out.push_str(&format!("\\x{b:02x}"));
                }
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// For each entry, whether its target lies inside a directory entry of the same store: the
/// parent's bind shows the store there already, so the entry's target is its source.
pub fn covered(entries: &[Entry]) -> Vec<bool> {
    let dirs: std::collections::HashSet<(&Path, &Path)> = entries
        .iter()
        .filter(|e| e.kind == Kind::Directory)
        .map(|e| (e.store.as_path(), e.target.as_path()))
        .collect();
    entries
        .iter()
        .map(|e| e.target.ancestors().skip(1).any(|a| dirs.contains(&(e.store.as_path(), a))))
        .collect()
}

/// The plan of `entry` given `facts`; `want` is the entry's resolved (uid, gid, mode).
pub(crate) fn plan(entry: &Entry, facts: &Facts, want: (u32, u32, u32)) -> Plan {
    let target = entry.target.display();
    if let Some(blocked) = &facts.blocked {
        return Plan::Refuse(format!("{blocked}: refusing to persist {target} through it"));
    }
    let steps = match entry.kind {
        Kind::Directory => directory(entry, facts),
        Kind::File(method) => file(entry, facts, method),
    };
    let mut steps = match steps {
        Ok(s) => s,
        Err(why) => return Plan::Refuse(why),
    };
    let converge = Step::Converge { uid: want.0, gid: want.1, mode: want.2 };
    if let Some(i) = steps.iter().position(|s| *s == Step::Adopt).filter(|_| entry.converge) {
        // The adopted data gets the entry's owner and mode (reported only when they change).
        steps.insert(i + 1, converge.clone());
    }
    let creates_source = steps.iter().any(|s| matches!(s, Step::CreateSource | Step::Adopt | Step::CopyIn));
    let links = steps.contains(&Step::Symlink) && facts.source == Node::Missing;
    let has = |owner: Option<(u32, u32, u32)>| owner.is_some_and(|(u, g, m)| (u, g, m & 0o7777) == want);
    if entry.converge
        && !creates_source
        && !links
        && facts.source != Node::Missing
        && !has(facts.source_owner)
    {
        steps.insert(0, converge);
    }
    if steps.is_empty() {
        Plan::InPlace
    } else {
        Plan::Steps(steps)
    }
}

fn directory(entry: &Entry, facts: &Facts) -> Result<Vec<Step>, String> {
    let (source, target) = (entry.source(), entry.target.display());
    match &facts.source {
        Node::Missing | Node::Dir { .. } => {}
        Node::Symlink(to) => {
            return Err(format!("{}: is a symlink (to {}), refusing", source.display(), shown(to)))
        }
        _ => return Err(format!("{}: is not a directory, refusing", source.display())),
    }
    if facts.in_place {
        return Ok(vec![]);
    }
    if facts.target_mount {
        // Mounted on top of, as impermanence does; what the mount holds stays in it, below.
        return match (&facts.source, &facts.target) {
            (Node::Missing, Node::Dir { empty: true }) => Ok(vec![Step::CreateSource, Step::Bind]),
            (Node::Missing, Node::Dir { empty: false }) => Err(format!(
                "{target}: is a mount point holding data and {} does not exist: refusing to hide it \
                 (move its data into the store, or unmount it)",
                source.display()
            )),
            (_, Node::Dir { .. }) => Ok(vec![Step::Bind]),
            _ => Err(format!("{target}: is a mount point and not a directory, refusing")),
        };
    }
    let mut steps = Vec::new();
    match (&facts.source, &facts.target) {
        (_, Node::Symlink(to)) => return Err(format!("{target}: is a symlink (to {}), refusing", shown(to))),
        (_, Node::File { .. } | Node::Other) => {
            return Err(format!("{target}: is not a directory, refusing"))
        }
        (Node::Missing, Node::Missing) => steps.extend([Step::CreateSource, Step::CreateTarget]),
        (Node::Missing, Node::Dir { empty: true }) => steps.push(Step::CreateSource),
        (Node::Missing, Node::Dir { empty: false }) => steps.extend([Step::Adopt, Step::CreateTarget]),
        (_, Node::Missing) => steps.push(Step::CreateTarget),
        (_, Node::Dir { empty: false }) => steps.extend([Step::KeepAside, Step::CreateTarget]),
        (_, Node::Dir { empty: true }) => {}
    }
    steps.push(Step::Bind);
    Ok(steps)
}

fn file(entry: &Entry, facts: &Facts, method: Method) -> Result<Vec<Step>, String> {
    let (source, target) = (entry.source(), entry.target.display());
    if facts.covered {
        // The parent's bind shows the store here: the target is the source. Only a symlink to
        // itself, made there by lethe before it knew this, is removed (it is lethe's).
        return Ok(match &facts.source {
            Node::Symlink(to) if *to == source => vec![Step::RemoveOwnSymlink],
            _ => vec![],
        });
    }
    match &facts.source {
        Node::Missing | Node::File { .. } => {}
        Node::Symlink(to) => {
            return Err(format!("{}: is a symlink (to {}), refusing", source.display(), shown(to)))
        }
        _ => return Err(format!("{}: is not a regular file, refusing", source.display())),
    }
    if facts.target_mount && !facts.in_place {
        return match &facts.target {
            Node::File { .. } if method == Method::Symlink => {
                Err(format!("{target}: is a mount point, not replaced by a symlink, refusing"))
            }
            Node::File { .. } if facts.source == Node::Missing => Ok(vec![Step::CopyIn, Step::Bind]),
            Node::File { .. } => Ok(vec![Step::Bind]),
            _ => Err(format!("{target}: is a mount point and not a regular file, refusing")),
        };
    }
    let points_at_source = matches!(&facts.target, Node::Symlink(to) if *to == source);
    let machine_id = is_machine_id(&entry.target);
    // machine-id is always a bind mount: systemd writes it in place.
    let method = if machine_id && method == Method::Auto { Method::Bind } else { method };
    let source_missing = facts.source == Node::Missing;
    if facts.in_place || (points_at_source && (method == Method::Symlink || method == Method::Auto)) {
        return Ok(vec![]);
    }
    let mut steps = Vec::new();
    match &facts.target {
        Node::Symlink(to) if *to == source => steps.push(Step::RemoveOwnSymlink),
        Node::Symlink(to) => return Err(format!("{target}: is a symlink (to {}), refusing", shown(to))),
        Node::Dir { .. } | Node::Other => return Err(format!("{target}: is not a regular file, refusing")),
        // A file at the target is moved, even when empty: it is not lethe's to delete.
        Node::File { .. } if source_missing => steps.push(Step::Adopt),
        Node::File { .. } => steps.push(Step::KeepAside),
        Node::Missing => {}
    }
    let target_missing = facts.target == Node::Missing || steps.contains(&Step::RemoveOwnSymlink);
    let will_have_source = !source_missing || steps.contains(&Step::Adopt);
    let link = method == Method::Symlink || (method == Method::Auto && !will_have_source);
    if link {
        steps.push(Step::Symlink);
        return Ok(steps);
    }
    if !will_have_source {
        steps.insert(0, Step::CreateSource);
    }
    if target_missing || steps.contains(&Step::Adopt) || steps.contains(&Step::KeepAside) {
        steps.push(Step::CreateTarget);
    }
    steps.push(Step::Bind);
    Ok(steps)
}

#[cfg(test)]
mod tests;
