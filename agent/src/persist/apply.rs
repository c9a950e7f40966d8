//! Applies the persistence entries to a root: looks each one up (never through a symlink),
//! asks [`plan`](super::plan) what to do, and does it with `open_tree` + `move_mount`. What it
//! mounted is recorded under `/run/lethe/`, so a later run unmounts an entry that left the
//! config; a run that fails part-way unmounts what it mounted itself.

use super::accounts::Accounts;
use super::copy;
use super::plan::{self, shown, Facts, Node, Plan, Step};
use super::record::{Made, Record};
use super::tree::{self, Emptiness, Look, New};
use crate::config::persistence::{join, Entry, Kind, Method};
use crate::error::{Context, Error, Result};
use rustix::fd::{AsFd, OwnedFd};
use rustix::mount::{MoveMountFlags, OpenTreeFlags, UnmountFlags};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

pub(crate) struct Options {
    /// Every path of the config is taken below this root (`/`, or `/sysroot` from stage 1).
    pub root: PathBuf,
    /// Where the record of lethe's mounts lives (`/run/lethe` as the booted system sees it).
    pub state: PathBuf,
    pub dry_run: bool,
}

/// Counts for the summary line.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Summary {
    pub directories: usize,
    pub files: usize,
    pub created: usize,
    pub adopted: usize,
    pub kept_aside: usize,
    pub converged: usize,
    pub unmounted: usize,
    /// Entries refused (a symlink in the way, a type mismatch): each was reported.
    pub refused: usize,
    /// Entries that failed while being applied: each was undone, named, and its target left
    /// with an empty read-only mount.
    pub failed: usize,
}

impl Summary {
    /// Entries not in place (refused or failed): the run's exit status says so.
    pub fn not_applied(&self) -> usize {
        self.refused + self.failed
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let plural = |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        write!(
            f,
            "persisted {}, {}; {} created, {} adopted",
            plural(self.directories, "directory", "directories"),
            plural(self.files, "file", "files"),
            self.created,
            self.adopted
        )?;
        for (n, what) in [
            (self.kept_aside, "kept aside"),
            (self.converged, "owner/mode changed"),
            (self.unmounted, "unmounted"),
            (self.refused, "refused"),
            (self.failed, "failed"),
        ] {
            if n > 0 {
                write!(f, ", {n} {what}")?;
            }
        }
        Ok(())
    }
}

/// Owners of one entry, resolved to numbers.
struct Owners {
    want: (u32, u32, u32),
    parents: (u32, u32, u32),
    parent_directory: Option<(u32, u32, u32)>,
}

fn owners(entries: &[Entry], accounts: &Accounts) -> std::result::Result<Vec<Owners>, String> {
    entries
        .iter()
        .map(|e| {
            let at = |field: &str, why: String, parent: bool| {
                let p = if parent { ".parentDirectory" } else { "" };
                format!("{}{p}.{field}: {why}", e.at)
            };
            let want = accounts.resolve(&e.owner).map_err(|(f, w)| at(f, w, false))?;
            let parents = accounts.resolve(&e.parents).map_err(|(f, w)| at(f, w, false))?;
            let parent_directory = match &e.parent_directory {
                Some(p) => Some(accounts.resolve(p).map_err(|(f, w)| at(f, w, true))?),
                None => None,
            };
            Ok(Owners { want, parents, parent_directory })
        })
        .collect()
}

/// The bad-input error of a run: nothing was changed.
#[derive(Debug)]
pub(crate) enum RunError {
    /// The config cannot be applied as it is (an unknown user): exit 1.
    BadInput(String),
    /// Something failed while applying; the mounts of this run were undone: exit 2.
    Failed(Error),
}

/// Applies `entries` below `opts.root`, one line per action through `out`.
pub(crate) fn run(
    entries: &[Entry],
    accounts: &Accounts,
    opts: &Options,
    out: &mut dyn FnMut(String),
) -> std::result::Result<Summary, RunError> {
    let owners = owners(entries, accounts).map_err(RunError::BadInput)?;
    let root = tree::open_root(&opts.root).map_err(RunError::Failed)?;
    let mut ctx = Ctx::new(root, opts, out);
    let previous = Record::load(&opts.state).map_err(RunError::Failed)?;
    let result = ctx.apply_all(entries, &owners, &previous);
    match result {
        Ok(kept) => {
            if !opts.dry_run {
                super::units::write_markers(&opts.state, &ctx.in_place).map_err(RunError::Failed)?;
                // An entry mounted again (someone unmounted it) is recorded once.
                let again: std::collections::HashSet<&Path> =
                    ctx.made.iter().map(|m| m.target.as_path()).collect();
                let mut record = Record { mounts: kept };
                record.mounts.retain(|r| !again.contains(r.target.as_path()));
                record.mounts.extend(ctx.made.iter().cloned());
                record.save(&opts.state).map_err(RunError::Failed)?;
            }
            Ok(ctx.summary)
        }
        Err(e) => {
            let undone = ctx.undo();
            Err(RunError::Failed(Error::msg(format!("{e}; undid this run's {undone} mounts and symlinks"))))
        }
    }
}

struct Ctx<'a> {
    root: OwnedFd,
    opts: &'a Options,
    out: &'a mut dyn FnMut(String),
    /// Mounts and symlinks made by this run, in order (undone in reverse on failure).
    made: Vec<Made>,
    summary: Summary,
    /// Each store looked at once per run: `Some(why)` when it cannot be used.
    stores: std::collections::HashMap<PathBuf, Option<String>>,
    /// The target this run just created (step CreateTarget), for the Bind step after it.
    fresh_target: Option<(PathBuf, OwnedFd)>,
    /// The source of the entry being applied, as its facts found it.
    known_source: Option<(PathBuf, OwnedFd)>,
    /// Mount points found inside a target whose data moved (relative to it): re-mounted on top
    /// of the bind, so they stay where they were.
    children: std::collections::HashMap<PathBuf, Vec<PathBuf>>,
    /// Targets that show their source at the end of the run (the markers `neededBy` asks for).
    in_place: Vec<PathBuf>,
}

/// What pass one learned of an entry.
enum Seen {
    /// The target holds no data to move: only the target was looked at.
    Target(Look),
    /// Source and target (data may have moved for it).
    Full(Facts),
}

/// Parents first, whatever the config's order; ties keep it.
fn by_depth(entries: &[Entry]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..entries.len()).collect();
    order.sort_by_cached_key(|&i| entries[i].target.components().count());
    order
}

impl<'a> Ctx<'a> {
    fn new(root: OwnedFd, opts: &'a Options, out: &'a mut dyn FnMut(String)) -> Ctx<'a> {
        Ctx {
            root,
            opts,
            out,
            made: Vec::new(),
            summary: Summary::default(),
            stores: Default::default(),
            fresh_target: None,
            known_source: None,
            children: Default::default(),
            in_place: Vec::new(),
        }
    }

    fn say(&mut self, line: String) {
        let line = if self.opts.dry_run { format!("would: {line}") } else { line };
        (self.out)(line);
    }

    /// Returns the previous record's entries that are still configured and in place.
    ///
    /// Two passes. First, deepest entries first, data found at targets is moved into the
    /// stores (adopted, or kept aside), so a nested entry's data (`/var/lib/private`) goes to its
    /// own source rather than along with its parent's (`/var/lib`). Then, parents first, sources
    /// and targets are created and mounted.
    fn apply_all(&mut self, entries: &[Entry], owners: &[Owners], previous: &Record) -> Result<Vec<Made>> {
        let kept = self.unmount_removed(entries, previous)?;
        let mut order = by_depth(entries);
        let covered = plan::covered(entries);
        let mut moved = vec![false; entries.len()];
        // Each entry on its own: one that fails is undone, named and fenced; the others apply.
        let mut failed: Vec<Option<String>> = vec![None; entries.len()];
        // What the first pass saw stays true for an entry unless data moved for it, or an
        // entry it lies in (by target or by source) was changed earlier in the second pass.
        let mut seen: Vec<Option<Seen>> = (0..entries.len()).map(|_| None).collect();
        for &i in order.iter().rev() {
            match self.move_data(&entries[i], &owners[i], covered[i]) {
                Ok((s, m)) => (seen[i], moved[i]) = (s, m),
                Err(err) => failed[i] = Some(err.to_string()),
            }
        }
        order.dedup();
        let mut changed: std::collections::HashSet<PathBuf> = std::collections::HashSet::new();
        for i in order {
            let e = &entries[i];
            match e.kind {
                Kind::Directory => self.summary.directories += 1,
                Kind::File(_) => self.summary.files += 1,
            }
            let mark = self.made.len();
            let applied = match failed[i].take() {
                Some(err) => Err(Error::msg(err)),
                None => {
                    let seen = seen[i].take();
                    self.apply_one(e, &owners[i], seen, moved[i], covered[i], &mut changed)
                }
            };
            self.known_source = None;
            self.fresh_target = None;
            match applied {
                Ok(true) => self.in_place.push(e.target.clone()),
                Ok(false) => {}
                Err(err) => self.fail(e, mark, &err),
            }
        }
        Ok(kept)
    }

    /// Pass one for an entry: data found at its target moves into the store (adopted, or kept
    /// aside). Returns what was seen and whether data moved.
    fn move_data(&mut self, e: &Entry, owners: &Owners, covered: bool) -> Result<(Option<Seen>, bool)> {
        let mut target = tree::look(self.root.as_fd(), &e.target, Emptiness::Check)?;
        target.fd = None;
        if !matches!(target.node, Node::Dir { empty: false } | Node::File { .. }) {
            // Nothing there to adopt or keep aside: the source is looked at in pass two.
            return Ok((Some(Seen::Target(target)), false));
        }
        let (facts, _) = self.observe(e, Some(target), covered)?;
        let plan = plan::plan(e, &facts, owners.want);
        let mut moved = false;
        if let Plan::Steps(steps) = plan {
            if steps.iter().any(|s| matches!(s, Step::Adopt | Step::KeepAside)) {
                moved = true;
                let (dir, name) = self.parent_of(&e.target)?;
                if let Some(mounts) = copy::only_mounts(dir.as_fd(), &name)? {
                    // No data: only mounts, which stay (a dataset, a stage-1 bind on a fresh root).
                    self.keep_mounts(e, mounts);
                    return Ok((Some(Seen::Full(facts)), moved));
                }
                let data = steps.iter().take_while(|s| **s != Step::CreateTarget && **s != Step::Bind);
                for step in data.filter(|s| !matches!(s, Step::Symlink)) {
                    self.step(e, owners, step)?;
                }
            }
        }
        Ok((Some(Seen::Full(facts)), moved))
    }

    /// Pass two for an entry: returns whether its target shows its source at the end.
    fn apply_one(
        &mut self,
        e: &Entry,
        owners: &Owners,
        seen: Option<Seen>,
        moved: bool,
        covered: bool,
        changed: &mut std::collections::HashSet<PathBuf>,
    ) -> Result<bool> {
        let source = e.source();
        let inside_changed = e.target.ancestors().chain(source.ancestors()).any(|a| changed.contains(a));
        let (facts, source_fd) = match seen {
            Some(Seen::Full(f)) if !moved && !inside_changed => (f, None),
            Some(Seen::Target(t)) if !inside_changed => self.observe(e, Some(t), covered)?,
            _ => self.observe(e, None, covered)?,
        };
        // The source as just looked up, for the Bind step (its steps before keep it).
        self.known_source = source_fd.map(|fd| (source.clone(), fd));
        let plan = match self.children.contains_key(&e.target) {
            // The data moved (or there was none), but mount points inside stayed, with the
            // directories to them: the target is not empty, and is what to mount on.
            true if moved && facts.source == Node::Missing => {
                Plan::Steps(vec![Step::CreateSource, Step::Bind])
            }
            true if moved => Plan::Steps(vec![Step::Bind]),
            _ => plan::plan(e, &facts, owners.want),
        };
        match plan {
            Plan::InPlace => {
                log::debug!("{}: in place", e.target.display());
                Ok(true)
            }
            Plan::Refuse(why) => {
                self.summary.refused += 1;
                (self.out)(format!("refused {} ({}): {why}", e.target.display(), e.at));
                if e.kind == Kind::Directory {
                    self.summary.directories -= 1;
                } else {
                    self.summary.files -= 1;
                }
                Ok(false)
            }
            Plan::Steps(mut steps) => {
                if self.opts.dry_run && moved {
                    // Already told in the first pass (nothing moved for real).
                    steps.retain(|s| !matches!(s, Step::Adopt | Step::KeepAside | Step::Converge { .. }));
                }
                changed.insert(e.target.clone());
                changed.insert(source);
                for step in steps {
                    self.step(e, owners, &step)?;
                }
                Ok(true)
            }
        }
    }

    /// An entry failed: what this run made for it is undone, it is named, and its target gets an
    /// empty read-only mount, so nothing writes there believing it is persisted.
    fn fail(&mut self, e: &Entry, mark: usize, err: &Error) {
        self.summary.failed += 1;
        if e.kind == Kind::Directory {
            self.summary.directories -= 1;
        } else {
            self.summary.files -= 1;
        }
        let made: Vec<Made> = self.made.drain(mark..).collect();
        for m in made.iter().rev() {
            if let Err(why) = self.undo_one(m, false) {
                log::warn!("undo {}: {why}", m.target.display());
            }
        }
        let fenced = if self.opts.dry_run {
            Ok("would leave an empty read-only mount there".to_string())
        } else {
            self.fence(e).map(|()| "left an empty read-only mount there".to_string())
        };
        let state = match fenced {
            Ok(s) => s,
            Err(why) => format!("no read-only mount there either: {why}"),
        };
        (self.out)(format!("failed {} ({}): {err}; {state}; nothing was deleted", e.target.display(), e.at));
    }

    /// Puts an empty read-only tmpfs (a directory or a file, as the entry) on the target.
    fn fence(&mut self, e: &Entry) -> Result<()> {
        use rustix::mount::{FsMountFlags, FsOpenFlags, FsPickFlags, MountAttrFlags};
        let target = self.open_existing(&e.target)?;
        let is_dir = e.kind == Kind::Directory;
        let fs = rustix::mount::fsopen("tmpfs", FsOpenFlags::FSOPEN_CLOEXEC).context("fsopen tmpfs")?;
        rustix::mount::fsconfig_set_string(&fs, "size", "4k")?;
        rustix::mount::fsconfig_create(&fs).context("tmpfs")?;
        let mnt = rustix::mount::fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, MountAttrFlags::empty())?;
        let name = "empty";
        if is_dir {
            rustix::fs::mkdirat(&mnt, name, rustix::fs::Mode::from_raw_mode(0o555))?;
        } else {
            let flags = rustix::fs::OFlags::CREATE | rustix::fs::OFlags::EXCL | rustix::fs::OFlags::WRONLY;
            rustix::fs::openat(
                &mnt,
                name,
                flags | rustix::fs::OFlags::CLOEXEC,
                rustix::fs::Mode::from_raw_mode(0o444),
            )?;
        }
        let one = rustix::mount::open_tree(
            &mnt,
            name,
            OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC,
        )
        .context("open_tree")?;
        // The whole filesystem read-only, not only this mount: nothing can make it writable.
        let pick =
            rustix::mount::fspick(&mnt, "", FsPickFlags::FSPICK_EMPTY_PATH | FsPickFlags::FSPICK_CLOEXEC)?;
        rustix::mount::fsconfig_set_flag(&pick, "ro")?;
        rustix::mount::fsconfig_reconfigure(&pick).context("read-only")?;
        let flags = MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH;
        rustix::mount::move_mount(&one, "", &target, "", flags).context("move_mount")?;
        self.made.push(Made::fence(e));
        Ok(())
    }

    /// The facts of one entry, looking the target up unless `target` says what it is; and the
    /// source's descriptor, when it exists.
    fn observe(
        &mut self,
        e: &Entry,
        target: Option<Look>,
        covered: bool,
    ) -> Result<(Facts, Option<OwnedFd>)> {
        if !self.stores.contains_key(&e.store) {
            let store = tree::find(self.root.as_fd(), &e.store)?;
            let problem = match (store.blocked, &store.node) {
                (Some(b), _) => Some(b),
                (None, Node::Missing) => {
                    Some(format!("{}: the store does not exist (not mounted?)", e.store.display()))
                }
                (None, Node::Dir { .. }) => None,
                (None, _) => Some(format!("{}: the store is not a directory", e.store.display())),
            };
            self.stores.insert(e.store.clone(), problem);
        }
        if let Some(problem) = &self.stores[&e.store] {
            return Ok((blocked(problem.clone()), None));
        }
        // The plan never asks whether a source directory is empty, only a target.
        let source = tree::look(self.root.as_fd(), &e.source(), Emptiness::Skip)?;
        let target = match target {
            Some(t) => t,
            None => tree::look(self.root.as_fd(), &e.target, Emptiness::Check)?,
        };
        let in_place = match (source.meta, target.meta) {
            (Some(s), Some(t)) => s.identity == t.identity,
            _ => false,
        };
        let facts = Facts {
            blocked: source.blocked.or(target.blocked),
            in_place,
            source_owner: source.meta.map(|m| m.owner),
            source: source.node,
            target: target.node,
            target_mount: target.mount_root,
            covered,
        };
        Ok((facts, source.fd))
    }

    fn step(&mut self, e: &Entry, owners: &Owners, step: &Step) -> Result<()> {
        let source = e.source();
        let is_dir = e.kind == Kind::Directory;
        match step {
            Step::CreateSource => {
                let content =
                    if plan::is_machine_id(&e.target) { plan::MACHINE_ID_UNINITIALIZED } else { "" };
                let new = if is_dir { New::Dir } else { New::File(content.as_bytes()) };
                self.make_path(e, owners, &e.store, Some(new))?;
            }
            Step::CreateTarget => {
                let new = if is_dir { New::Dir } else { New::File(b"") };
                self.make_path(e, owners, Path::new("/"), Some(new))?;
            }
            Step::Adopt => {
                let (to, name) = self.make_path(e, owners, &e.store, None)?;
                let (from, from_name) = self.parent_of(&e.target)?;
                if !self.opts.dry_run {
                    let mounts = copy::move_tree(from.as_fd(), &from_name, to.as_fd(), &name)?;
                    self.keep_mounts(e, mounts);
                }
                // Said once done: a copy that fails (a full store) adopted nothing.
                self.say(format!("adopted {} into {}", e.target.display(), source.display()));
                self.summary.adopted += 1;
            }
            Step::CopyIn => {
                let (to, name) = self.make_path(e, owners, &e.store, None)?;
                let (from, from_name) = self.parent_of(&e.target)?;
                self.say(format!(
                    "copied {} into {} (a mount point: it stays, below lethe's mount)",
                    e.target.display(),
                    source.display()
                ));
                self.summary.adopted += 1;
                if !self.opts.dry_run {
                    copy::copy_file(from.as_fd(), &from_name, to.as_fd(), &name)?;
                    let fd = tree::open_read(to.as_fd(), &name, false)?;
                    if tree::owner_of(&fd)? != owners.want {
                        tree::set_owner(to.as_fd(), &name, false, owners.want)?;
                    }
                }
            }
            Step::KeepAside => self.keep_aside(e, &e.target)?,
            Step::RemoveOwnSymlink => {
                let (dir, name) = self.parent_of(&e.target)?;
                self.say(format!("removed lethe's symlink {} (now a bind mount)", e.target.display()));
                if !self.opts.dry_run {
                    rustix::fs::unlinkat(&dir, &name, rustix::fs::AtFlags::empty())?;
                }
            }
            Step::Bind => self.bind(e)?,
            Step::Symlink => {
                // The source's parents too, so the first write through the link lands.
                self.make_path(e, owners, &e.store, None)?;
                let (dir, name) = self.make_path(e, owners, Path::new("/"), None)?;
                self.say(format!("linked {} -> {}", e.target.display(), source.display()));
                if !self.opts.dry_run {
                    rustix::fs::symlinkat(&source, &dir, &name)?;
                    self.made.push(Made::symlink(e));
                }
            }
            Step::Converge { uid, gid, mode } => {
                if self.opts.dry_run && tree::find(self.root.as_fd(), &source)?.fd.is_none() {
                    return Ok(());
                }
                let found = tree::find(self.root.as_fd(), &source)?;
                let fd = found.fd.ok_or_else(|| Error::msg(format!("{}: vanished", source.display())))?;
                let now = tree::owner_of(&fd)?;
                if now != (*uid, *gid, *mode) {
                    self.summary.converged += 1;
                    self.say(format!(
                        "owner/mode of {}: {}:{} {:04o} -> {uid}:{gid} {mode:04o}",
                        source.display(),
                        now.0,
                        now.1,
                        now.2
                    ));
                    if !self.opts.dry_run {
                        let name = tree::components(&source).pop().unwrap_or_default();
                        tree::set_owner(found.dir.as_fd(), &name, is_dir, (*uid, *gid, *mode))?;
                    }
                }
            }
        }
        Ok(())
    }

    /// An existing path, in one lookup (the plan saw it, or this run made it); when that fails,
    /// looked up again component by component to name what is in the way.
    fn open_existing(&self, path: &Path) -> Result<OwnedFd> {
        if let Ok(fd) = tree::open_beneath(self.root.as_fd(), path, rustix::fs::OFlags::empty()) {
            return Ok(fd);
        }
        let found = tree::find_with(self.root.as_fd(), path, Emptiness::Skip)?;
        match (found.blocked, found.fd, found.node) {
            (Some(b), _, _) => Err(Error::msg(b)),
            (None, Some(_), Node::Symlink(to)) => {
                Err(Error::msg(format!("{}: is a symlink (to {})", path.display(), shown(&to))))
            }
            (None, Some(fd), _) => Ok(fd),
            (None, None, _) => Err(Error::msg(format!("{}: missing", path.display()))),
        }
    }

    /// The parent directory of an existing path, and its last name.
    fn parent_of(&self, path: &Path) -> Result<(OwnedFd, OsString)> {
        let found = tree::find(self.root.as_fd(), path)?;
        if let Some(b) = found.blocked {
            return Err(Error::msg(b));
        }
        Ok((found.dir, tree::components(path).pop().unwrap_or_default()))
    }

    /// Creates what is missing of `base + e.target` (only below `base`): parents with their
    /// owners, and the last component as `last` (or not at all). Returns the parent of the last
    /// component and its name.
    fn make_path(
        &mut self,
        e: &Entry,
        owners: &Owners,
        base: &Path,
        last: Option<New<'_>>,
    ) -> Result<(OwnedFd, OsString)> {
        let full = join(base, &e.target);
        let parts = tree::components(&full);
        let base_len = tree::components(base).len();
        // The parent in one lookup when it is there (the usual case), and the last component
        // then made without looking first: the rename that puts it in place replaces nothing,
        // so one that is there already is found then.
        let parent: PathBuf = Path::new("/").join(parts[..parts.len() - 1].iter().collect::<PathBuf>());
        let fast = match self.opts.dry_run {
            true => None,
            false => tree::open_beneath(self.root.as_fd(), &parent, rustix::fs::OFlags::DIRECTORY).ok(),
        };
        let (mut dir, existing, guessed) = match fast {
            Some(dir) => (dir, parts.len() - 1, true),
            None => {
                let found = tree::find(self.root.as_fd(), &full)?;
                if let Some(b) = found.blocked {
                    return Err(Error::msg(b));
                }
                let existing = if found.fd.is_some() { parts.len() } else { found.depth };
                (found.dir, existing, false)
            }
        };
        if existing < base_len {
            return Err(Error::msg(format!("{}: does not exist", base.display())));
        }
        let mut here: PathBuf = parts[..existing].iter().collect();
        for (i, name) in parts.iter().enumerate().skip(existing) {
            here.push(name);
            let is_last = i + 1 == parts.len();
            if is_last && last.is_none() {
                break;
            }
            let rel: PathBuf = Path::new("/").join(parts[base_len..=i].iter().collect::<PathBuf>());
            let owner = self.owner_for(e, owners, &rel, is_last);
            let shown = Path::new("/").join(&here);
            let line = format!("created {} ({}:{} {:04o})", shown.display(), owner.0, owner.1, owner.2);
            if self.opts.dry_run {
                self.summary.created += 1;
                self.say(line);
                // Nothing below a directory that is not there can be looked at.
                return Ok((dir, parts.last().cloned().unwrap_or_default()));
            }
            let new = match (&last, is_last) {
                (Some(New::File(c)), true) => New::File(c),
                _ => New::Dir,
            };
            let made = match tree::create(dir.as_fd(), name, new, owner) {
                Ok(made) => made,
                // It was there after all: nothing to make.
                Err(_) if guessed && tree::open_path(dir.as_fd(), name).is_ok() => break,
                Err(err) => return Err(err).with_context(|| format!("{}: cannot create", shown.display())),
            };
            self.summary.created += 1;
            self.say(line);
            if !is_last {
                dir = made;
            } else if base == Path::new("/") {
                self.fresh_target = Some((e.target.clone(), made));
            }
        }
        Ok((dir, parts.last().cloned().unwrap_or_default()))
    }

    fn owner_for(&self, e: &Entry, owners: &Owners, rel: &Path, is_last: bool) -> (u32, u32, u32) {
        if is_last {
            return owners.want;
        }
        if let (Kind::File(_), Some(p)) = (e.kind, owners.parent_directory) {
            if e.target.parent() == Some(rel) {
                return p;
            }
        }
        match &e.home {
            // Above the home (`/home`) is root's, as in impermanence.
            Some(home) if home != rel && home.starts_with(rel) => (0, 0, 0o755),
            _ => owners.parents,
        }
    }

    /// Moves `moving` (the target, or at shutdown the store's older copy) to
    /// `<store>/.lethe-conflict/<target>/<date>`.
    fn keep_aside(&mut self, e: &Entry, moving: &Path) -> Result<()> {
        let date = crate::time::format_utc(now());
        let dir = join(&e.store.join(".lethe-conflict"), &e.target);
        self.summary.kept_aside += 1;
        let aside = dir.join(&date);
        self.say(format!(
            "kept aside {} in {} (the store wins; nothing was deleted)",
            moving.display(),
            aside.display()
        ));
        log::warn!(
            "{}: both {} and {} hold data: {} is kept in {}",
            e.at,
            e.target.display(),
            e.source().display(),
            moving.display(),
            aside.display()
        );
        if self.opts.dry_run {
            return Ok(());
        }
        // Conflict copies may hold secrets: root 0700 all the way.
        let mut at =
            tree::find(self.root.as_fd(), &e.store)?.fd.ok_or_else(|| Error::msg("store vanished"))?;
        for name in tree::components(&dir).into_iter().skip(tree::components(&e.store).len()) {
            match tree::open_path(at.as_fd(), &name) {
                Ok(fd) => at = fd,
                Err(rustix::io::Errno::NOENT) => {
                    tree::create(at.as_fd(), &name, New::Dir, (0, 0, 0o700))?;
                    at = tree::open_path(at.as_fd(), &name)?;
                }
                Err(err) => {
                    return Err(Error::msg(format!("{}: {}", dir.display(), std::io::Error::from(err))))
                }
            }
        }
        let (from, name) = self.parent_of(moving)?;
        let mut unique = OsString::from(&date);
        for n in 1.. {
            if tree::open_path(at.as_fd(), &unique).is_err() {
                break;
            }
            unique = OsString::from(format!("{date}.{n}"));
        }
        let mounts =
            copy::move_tree(from.as_fd(), &name, at.as_fd(), &unique).with_context(|| aside.display())?;
        if moving == e.target {
            self.keep_mounts(e, mounts);
        }
        Ok(())
    }

    /// Mount points found inside a target whose data moved: they stayed, and are mounted again
    /// on top of the entry's bind.
    fn keep_mounts(&mut self, e: &Entry, mounts: Vec<PathBuf>) {
        if !mounts.is_empty() {
            for m in &mounts {
                log::info!("{}: a mount point inside {}: left in place", e.target.join(m).display(), e.at);
            }
            self.children.insert(e.target.clone(), mounts);
        }
    }

    fn bind(&mut self, e: &Entry) -> Result<()> {
        let source = e.source();
        if self.opts.dry_run {
            self.say(format!("mounted {} on {}", source.display(), e.target.display()));
            return Ok(());
        }
        let from = match self.known_source.take() {
            Some((looked, fd)) if looked == source => fd,
            _ => self.open_existing(&source)?,
        };
        let to = match self.fresh_target.take() {
            // Made empty a moment ago: it cannot show the source already.
            Some((made, fd)) if made == e.target => fd,
            _ => {
                let to = self.open_existing(&e.target)?;
                if tree::identity(&from)? == tree::identity(&to)? {
                    // Inside a parent entry mounted from the same store: shows the source.
                    return Ok(());
                }
                to
            }
        };
        // Mounts inside the target (a dataset, a bind made by stage 1) are cloned while they are
        // still visible, to be mounted again on top of the bind, as a boot would mount them.
        let mut inside = Vec::new();
        for rel in self.children.remove(&e.target).unwrap_or_default() {
            let path = e.target.join(&rel);
            let fd = tree::open_beneath(self.root.as_fd(), &path, rustix::fs::OFlags::NOFOLLOW)
                .with_context(|| format!("{}: cannot open", path.display()))?;
            let flags = OpenTreeFlags::OPEN_TREE_CLONE
                | OpenTreeFlags::OPEN_TREE_CLOEXEC
                | OpenTreeFlags::AT_EMPTY_PATH
                | OpenTreeFlags::AT_RECURSIVE;
            let clone = rustix::mount::open_tree(&fd, "", flags).with_context(|| path.display())?;
            inside.push((path, fd, clone));
        }
        let tree_fd = rustix::mount::open_tree(
            &from,
            "",
            OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC | OpenTreeFlags::AT_EMPTY_PATH,
        )
        .context("open_tree")?;
        rustix::mount::move_mount(
            &tree_fd,
            "",
            &to,
            "",
            MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH,
        )
        .context("move_mount")?;
        self.say(format!("mounted {} on {}", source.display(), e.target.display()));
        self.made.push(Made::bind(e));
        if e.hide_mount {
            super::record::hide_mount(&self.opts.state, &self.opts.root, e);
        }
        for (path, original, clone) in inside {
            self.mount_again(e, &path, original, clone)?;
        }
        Ok(())
    }

    /// Mounts `clone` (of the mount that was at `path` inside the target) on the same path,
    /// now in the store, then detaches the original, hidden below the bind: the same filesystem
    /// stays at the same place, seen once.
    fn mount_again(&mut self, e: &Entry, path: &Path, original: OwnedFd, clone: OwnedFd) -> Result<()> {
        let st = rustix::fs::fstat(&original)?;
        let is_dir = rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Directory;
        // The original, hidden below the bind, goes first: once the clone is attached, a shared
        // mount (every mount on a systemd host) propagates a copy onto the original's root when
        // the original is a peer (a bind from the store), and the unmount would take that.
        // Only this descriptor reaches the original; it keeps it busy, hence detach.
        let magic = format!("/proc/self/fd/{}", rustix::fd::AsRawFd::as_raw_fd(&original));
        if let Err(err) = rustix::mount::unmount(magic.as_str(), UnmountFlags::DETACH) {
            log::warn!(
                "{}: the original mount stays below the bind: {}",
                path.display(),
                std::io::Error::from(err)
            );
        }
        drop(original);
        let at = match tree::open_beneath(self.root.as_fd(), path, rustix::fs::OFlags::NOFOLLOW) {
            Ok(at) => at,
            Err(rustix::io::Errno::NOENT) => {
                // The store's source has no place for it yet: made, empty, as the boot's
                // mkdir for a mount point would (root's 0755 on the way).
                let mut dir = self.open_existing(&e.target)?;
                let parts = tree::components(path);
                let below = tree::components(&e.target).len();
                for (i, name) in parts.iter().enumerate().skip(below) {
                    let last = i + 1 == parts.len();
                    dir = match tree::open_path(dir.as_fd(), name) {
                        Ok(fd) if !last => fd,
                        Err(rustix::io::Errno::NOENT) if !last => {
                            tree::create(dir.as_fd(), name, New::Dir, (0, 0, 0o755))?
                        }
                        Err(rustix::io::Errno::NOENT) => {
                            let new = if is_dir { New::Dir } else { New::File(b"") };
                            tree::create(dir.as_fd(), name, new, (st.st_uid, st.st_gid, st.st_mode & 0o7777))?
                        }
                        Ok(fd) => fd,
                        Err(err) => return Err(err).with_context(|| path.display()),
                    };
                }
                dir
            }
            Err(err) => return Err(Error::msg(format!("{}: {}", path.display(), std::io::Error::from(err)))),
        };
        let flags = MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH;
        rustix::mount::move_mount(&clone, "", &at, "", flags)
            .with_context(|| format!("{}: mount again on top of {}", path.display(), e.target.display()))?;
        self.say(format!(
            "mounted {} again on top of {} (a mount that was inside it)",
            path.display(),
            e.target.display()
        ));
        Ok(())
    }

    /// Unmounts (or unlinks) what an earlier run made for entries no longer configured, when
    /// the target still shows the recorded source; keeps the rest of the record.
    fn unmount_removed(&mut self, entries: &[Entry], previous: &Record) -> Result<Vec<Made>> {
        let mut kept = Vec::new();
        let mut gone: Vec<&Made> = Vec::new();
        let sources: Vec<PathBuf> = entries.iter().map(Entry::source).collect();
        let configured: std::collections::HashSet<(&Path, &Path)> =
            entries.iter().zip(&sources).map(|(e, s)| (e.target.as_path(), s.as_path())).collect();
        for m in &previous.mounts {
            if m.fence {
                // A failed entry of an earlier run: taken away, so the entry is tried again.
                gone.push(m);
                continue;
            }
            let configured = configured.contains(&(m.target.as_path(), m.source.as_path()));
            if configured {
                kept.push(m.clone());
            } else {
                gone.push(m);
            }
        }
        // Children first.
        gone.sort_by_key(|m| std::cmp::Reverse(m.target.components().count()));
        for m in gone {
            // Like an entry, on its own: what cannot be undone is named, kept in the record, and
            // the rest of the run goes on.
            if let Err(err) = self.undo_one(m, !m.fence) {
                self.summary.failed += 1;
                (self.out)(format!("failed to unmount {}: {err}; left as it is", m.target.display()));
                kept.push(m.clone());
            }
        }
        Ok(kept)
    }

    /// Undoes one recorded mount or symlink if it is still what lethe made.
    fn undo_one(&mut self, m: &Made, report: bool) -> Result<bool> {
        let target = tree::find(self.root.as_fd(), &m.target)?;
        let Some(fd) = target.fd else { return Ok(false) };
        if m.symlink {
            if target.node != Node::Symlink(m.source.clone()) {
                return Ok(false);
            }
            if report {
                self.say(format!(
                    "removed the symlink {} (no longer configured; {} kept)",
                    m.target.display(),
                    m.source.display()
                ));
                self.summary.unmounted += 1;
            }
            if !self.opts.dry_run {
                let name = tree::components(&m.target).pop().unwrap_or_default();
                rustix::fs::unlinkat(&target.dir, &name, rustix::fs::AtFlags::empty())?;
            }
            return Ok(true);
        }
        let same = if m.fence {
            tree::is_mount_root(&fd)? && is_fence(&fd)?
        } else {
            let source = tree::find(self.root.as_fd(), &m.source)?;
            match &source.fd {
                Some(s) => tree::identity(s)? == tree::identity(&fd)? && tree::is_mount_root(&fd)?,
                None => false,
            }
        };
        if !same {
            if report {
                log::warn!("{}: no longer shows {}: left alone", m.target.display(), m.source.display());
            }
            return Ok(false);
        }
        if !self.opts.dry_run {
            let name = tree::components(&m.target).pop().unwrap_or_default();
            unmount_checked(&target.dir, &name, fd)
                .with_context(|| format!("unmount {}", m.target.display()))?;
        }
        // Said once done: a busy mount stays, and is named as such.
        if report {
            self.say(format!(
                "unmounted {} (no longer configured; {} kept)",
                m.target.display(),
                m.source.display()
            ));
            self.summary.unmounted += 1;
        }
        Ok(true)
    }

    /// After a failure: unmounts and unlinks what this run made, newest first.
    fn undo(&mut self) -> usize {
        let made = std::mem::take(&mut self.made);
        let mut n = 0;
        for m in made.iter().rev() {
            match self.undo_one(m, false) {
                Ok(true) => n += 1,
                Ok(false) => {}
                Err(e) => log::warn!("undo {}: {e}", m.target.display()),
            }
        }
        n
    }
}

fn blocked(why: String) -> Facts {
    Facts {
        source: Node::Missing,
        target: Node::Missing,
        blocked: Some(why),
        in_place: false,
        source_owner: None,
        target_mount: false,
        covered: false,
    }
}

/// The mount id of what `fd` is on.
fn mount_id(fd: &OwnedFd) -> Result<u64> {
    let st = rustix::fs::statx(fd, "", rustix::fs::AtFlags::EMPTY_PATH, rustix::fs::StatxFlags::MNT_ID)?;
    Ok(st.stx_mnt_id)
}

/// Unmounts the mount whose root `checked` is (found as `name` in the directory `dir`, both
/// looked up without following a symlink). An open descriptor keeps a mount busy, so the
/// unmount goes by name, but through the checked parent directory (`/proc/self/fd/N/name`, the
/// last component not followed), never through a path whose directories could have been
/// swapped for symlinks since; and only if `name` is still the mount that was checked.
fn unmount_checked(dir: &OwnedFd, name: &std::ffi::OsStr, checked: OwnedFd) -> Result<()> {
    let id = mount_id(&checked)?;
    drop(checked);
    if mount_id(&tree::open_path(dir.as_fd(), name)?)? != id {
        return Err(Error::msg("changed since it was checked: left alone"));
    }
    super::hooks::race(super::hooks::BEFORE_UNMOUNT);
    let mut path =
        std::ffi::OsString::from(format!("/proc/self/fd/{}/", rustix::fd::AsRawFd::as_raw_fd(dir)));
    path.push(name);
    rustix::mount::unmount(path.as_os_str(), UnmountFlags::NOFOLLOW)?;
    Ok(())
}

/// Whether `fd` is on a read-only tmpfs (lethe's fence for a failed entry).
fn is_fence(fd: &OwnedFd) -> Result<bool> {
    let st = rustix::fs::fstatfs(fd)?;
    let vfs = rustix::fs::fstatvfs(fd)?;
    const TMPFS_MAGIC: i64 = 0x0102_1994;
    Ok(st.f_type as i64 == TMPFS_MAGIC && vfs.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY))
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// At shutdown (`persist --stop`): a persisted file whose target a program replaced by a
/// regular file (it wrote a new file and renamed it over lethe's symlink, impermanence#197) is
/// adopted into the store; the store's older copy is kept aside. Returns how many.
pub(crate) fn adopt_replaced(
    entries: &[Entry],
    opts: &Options,
    out: &mut dyn FnMut(String),
) -> Result<usize> {
    let root = tree::open_root(&opts.root)?;
    let mut ctx = Ctx::new(root, opts, out);
    let mut n = 0;
    let covered = plan::covered(entries);
    for (i, e) in entries.iter().enumerate() {
        if !matches!(e.kind, Kind::File(Method::Auto | Method::Symlink)) {
            continue;
        }
        let (facts, _) = ctx.observe(e, None, covered[i])?;
        if facts.covered
            || facts.blocked.is_some()
            || facts.in_place
            || !matches!(facts.target, Node::File { .. })
        {
            continue;
        }
        if facts.source != Node::Missing {
            ctx.keep_aside(e, &e.source())?;
        }
        let (to, name) = ctx.parent_of(&e.source())?;
        let (from, from_name) = ctx.parent_of(&e.target)?;
        (ctx.out)(format!(
            "adopted {} into {} (a program replaced lethe's symlink)",
            e.target.display(),
            e.source().display()
        ));
        if !opts.dry_run {
            copy::move_tree(from.as_fd(), &from_name, to.as_fd(), &name)?;
        }
        n += 1;
    }
    Ok(n)
}
