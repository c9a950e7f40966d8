//! Paths below a root, never through a symlink: every lookup is `openat2` with
//! `RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH`, one component at a time, so a symlink planted
//! anywhere in a path is found and named instead of followed. New files and directories get
//! their owner and mode under a temporary name and are renamed into place, so nobody ever sees
//! them root-owned or with the wrong mode.

use super::plan::Node;
use crate::error::{Context, Error, Result};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, RenameFlags, ResolveFlags};
use rustix::io::Errno;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

const RESOLVE: ResolveFlags =
    ResolveFlags::NO_SYMLINKS.union(ResolveFlags::BENEATH).union(ResolveFlags::NO_MAGICLINKS);

/// Prefix of lethe's temporary names (never a persisted name).
pub(crate) const TEMP_PREFIX: &str = ".lethe-new.";

/// Opens `name` in `dir` without following anything: an `O_PATH` descriptor of the thing itself.
pub(crate) fn open_path(dir: BorrowedFd<'_>, name: &OsStr) -> rustix::io::Result<OwnedFd> {
    rustix::fs::openat2(dir, name, OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty(), RESOLVE)
}

/// Opens an existing absolute `path` below `root` in one `openat2`, refusing a symlink
/// anywhere on the way (the last component too): an `O_PATH` descriptor.
/// `extra` may add `O_NOFOLLOW`: then a symlink as the last component is opened as itself.
pub(crate) fn open_beneath(root: BorrowedFd<'_>, path: &Path, extra: OFlags) -> rustix::io::Result<OwnedFd> {
    let rel = path.strip_prefix("/").unwrap_or(path);
    let rel = if rel.as_os_str().is_empty() { Path::new(".") } else { rel };
    rustix::fs::openat2(root, rel, OFlags::PATH | OFlags::CLOEXEC | extra, Mode::empty(), RESOLVE)
}

/// Opens `name` in `dir` for reading (a directory or a regular file), refusing symlinks.
pub(crate) fn open_read(dir: BorrowedFd<'_>, name: &OsStr, directory: bool) -> rustix::io::Result<OwnedFd> {
    let mut flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK;
    if directory {
        flags |= OFlags::DIRECTORY;
    }
    rustix::fs::openat2(dir, name, flags, Mode::empty(), RESOLVE)
}

pub(crate) fn open_root(root: &Path) -> Result<OwnedFd> {
    rustix::fs::open(root, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
        .with_context(|| format!("{}: cannot open", root.display()))
}

/// The components of an absolute path (without the leading `/`).
pub(crate) fn components(path: &Path) -> Vec<OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            _ => None,
        })
        .collect()
}

/// What one `fstat` of a found path told: kept so callers need not ask again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Meta {
    /// (device, inode)
    pub identity: (u64, u64),
    /// (uid, gid, mode & 0o7777)
    pub owner: (u32, u32, u32),
}

impl Meta {
    fn of(st: &rustix::fs::Stat) -> Meta {
        Meta { identity: (st.st_dev, st.st_ino), owner: (st.st_uid, st.st_gid, st.st_mode & 0o7777) }
    }
}

/// Whether [`find`] reads a found directory to tell whether it is empty (one more open and a
/// `getdents`): the plan needs it for targets, never for sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Emptiness {
    Check,
    /// A found directory is reported as `Dir { empty: false }` without looking.
    Skip,
}

/// An absolute path looked up below the root.
pub(crate) struct Found {
    /// The deepest existing directory on the way (the root at least).
    pub dir: OwnedFd,
    /// How many components exist (`dir` is the parent of the last when all exist).
    pub depth: usize,
    /// The last component, when it exists.
    pub fd: Option<OwnedFd>,
    pub node: Node,
    /// The last component's identity, owner and mode, when it exists.
    pub meta: Option<Meta>,
    /// Something other than a directory in the middle of the path, named.
    pub blocked: Option<String>,
}

/// Looks `path` up below `root`: in one `openat2` of the parent when that works, else
/// component by component, to name what is in the way.
pub(crate) fn find(root: BorrowedFd<'_>, path: &Path) -> Result<Found> {
    find_with(root, path, Emptiness::Check)
}

/// [`find`], telling whether a found directory is empty only when asked.
pub(crate) fn find_with(root: BorrowedFd<'_>, path: &Path, emptiness: Emptiness) -> Result<Found> {
    let parts = components(path);
    if let Some((last, parents)) = parts.split_last() {
        let dir = if parents.is_empty() {
            rustix::io::fcntl_dupfd_cloexec(root, 0)
        } else {
            let rel: PathBuf = parents.iter().collect();
            let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
            rustix::fs::openat2(root, &rel, flags, Mode::empty(), RESOLVE)
        };
        if let Ok(dir) = dir {
            let depth = parents.len();
            match open_path(dir.as_fd(), last) {
                Ok(fd) => {
                    let st = rustix::fs::fstat(&fd).with_context(|| path.display())?;
                    let node = node_of(&fd, &st, emptiness).with_context(|| path.display())?;
                    let meta = Some(Meta::of(&st));
                    return Ok(Found { dir, depth, fd: Some(fd), node, meta, blocked: None });
                }
                Err(Errno::NOENT) => {
                    return Ok(Found { dir, depth, fd: None, node: Node::Missing, meta: None, blocked: None })
                }
                Err(_) => {}
            }
        }
    }
    find_slowly(root, &parts, emptiness)
}

/// What is at a path: [`find`] without the parent's descriptor.
pub(crate) struct Look {
    pub node: Node,
    pub meta: Option<Meta>,
    pub blocked: Option<String>,
    /// An `O_PATH` descriptor of the path itself, when it exists.
    pub fd: Option<OwnedFd>,
    /// The path is the root of a mount (a bind mount, a dataset, systemd's machine-id).
    pub mount_root: bool,
}

/// What is at an absolute `path` below `root`: one `openat2` of the whole path when it exists or
/// some part of it is missing (`RESOLVE_NO_SYMLINKS` fails on a symlink before reaching a
/// missing part, so `ENOENT` means plain directories up to it); anything else is looked up
/// again by [`find_with`], which names what is in the way.
pub(crate) fn look(root: BorrowedFd<'_>, path: &Path, emptiness: Emptiness) -> Result<Look> {
    let fd = match open_beneath(root, path, OFlags::NOFOLLOW) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => {
            return Ok(Look { node: Node::Missing, meta: None, blocked: None, fd: None, mount_root: false })
        }
        Err(_) => {
            let found = find_with(root, path, emptiness)?;
            let mount_root = match &found.fd {
                Some(fd) => is_mount_root(fd).with_context(|| path.display())?,
                None => false,
            };
            let (node, meta, blocked, fd) = (found.node, found.meta, found.blocked, found.fd);
            return Ok(Look { node, meta, blocked, fd, mount_root });
        }
    };
    let st = rustix::fs::fstat(&fd).with_context(|| path.display())?;
    let node = node_of(&fd, &st, emptiness).with_context(|| path.display())?;
    let mount_root = is_mount_root(&fd).with_context(|| path.display())?;
    Ok(Look { node, meta: Some(Meta::of(&st)), blocked: None, fd: Some(fd), mount_root })
}

fn find_slowly(root: BorrowedFd<'_>, parts: &[OsString], emptiness: Emptiness) -> Result<Found> {
    let mut dir = rustix::io::fcntl_dupfd_cloexec(root, 0).context("dup")?;
    let mut here = PathBuf::from("/");
    for (i, name) in parts.iter().enumerate() {
        here.push(name);
        let last = i + 1 == parts.len();
        let fd = match open_path(dir.as_fd(), name) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => {
                return Ok(Found { dir, depth: i, fd: None, node: Node::Missing, meta: None, blocked: None });
            }
            Err(e) => {
                return Err(Error::msg(format!(
                    "{}: cannot open: {}",
                    here.display(),
                    std::io::Error::from(e)
                )))
            }
        };
        let st = rustix::fs::fstat(&fd).with_context(|| format!("{}: cannot stat", here.display()))?;
        let kind = FileType::from_raw_mode(st.st_mode);
        if last {
            let node = node_of(&fd, &st, emptiness).with_context(|| here.display())?;
            let meta = Some(Meta::of(&st));
            return Ok(Found { dir, depth: i, fd: Some(fd), node, meta, blocked: None });
        }
        let blocked = match kind {
            FileType::Directory => {
                dir = fd;
                continue;
            }
            FileType::Symlink => {
                let to = rustix::fs::readlinkat(&dir, name, Vec::new())
                    .map(|t| super::plan::shown(Path::new(OsStr::from_bytes(t.as_bytes()))));
                format!("{}: is a symlink (to {})", here.display(), to.unwrap_or_else(|_| "?".into()))
            }
            _ => format!("{}: is not a directory", here.display()),
        };
        return Ok(Found {
            dir,
            depth: i,
            fd: None,
            node: Node::Missing,
            meta: None,
            blocked: Some(blocked),
        });
    }
    // The root itself.
    let fd = rustix::io::fcntl_dupfd_cloexec(root, 0).context("dup")?;
    let meta = Some(Meta::of(&rustix::fs::fstat(&fd)?));
    Ok(Found {
        dir: fd.try_clone()?,
        depth: 0,
        fd: Some(fd),
        node: Node::Dir { empty: false },
        meta,
        blocked: None,
    })
}

/// What the `O_PATH` descriptor `fd` (opened without following, stat'ed as `st`) is. Read
/// through the descriptor itself, so it is the same inode, not a second lookup by name.
fn node_of(fd: &OwnedFd, st: &rustix::fs::Stat, emptiness: Emptiness) -> Result<Node> {
    Ok(match FileType::from_raw_mode(st.st_mode) {
        FileType::Directory if emptiness == Emptiness::Skip => Node::Dir { empty: false },
        FileType::Directory => {
            let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NONBLOCK;
            Node::Dir { empty: is_empty_dir(rustix::fs::openat(fd, ".", flags, Mode::empty())?)? }
        }
        FileType::RegularFile => Node::File { empty: st.st_size == 0 },
        FileType::Symlink => Node::Symlink(PathBuf::from(OsStr::from_bytes(
            rustix::fs::readlinkat(fd, "", Vec::new())?.as_bytes(),
        ))),
        _ => Node::Other,
    })
}

fn is_empty_dir(fd: OwnedFd) -> Result<bool> {
    // `Dir::new` reads this descriptor; `read_from` would open the directory once more.
    let mut d = rustix::fs::Dir::new(fd)?;
    while let Some(e) = d.read() {
        let name = e?.file_name().to_bytes().to_vec();
        if name != b"." && name != b".." {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Names in a directory, without `.` and `..`.
pub(crate) fn list(fd: &OwnedFd) -> Result<Vec<(OsString, FileType)>> {
    let mut out = Vec::new();
    let mut d = rustix::fs::Dir::read_from(fd)?;
    while let Some(e) = d.read() {
        let e = e?;
        let name = e.file_name().to_bytes();
        if name != b"." && name != b".." {
            out.push((OsStr::from_bytes(name).to_os_string(), e.file_type()));
        }
    }
    Ok(out)
}

/// (device, inode) of an open descriptor.
pub(crate) fn identity(fd: &OwnedFd) -> Result<(u64, u64)> {
    let st = rustix::fs::fstat(fd)?;
    Ok((st.st_dev, st.st_ino))
}

/// Owner and mode of an open descriptor.
pub(crate) fn owner_of(fd: &OwnedFd) -> Result<(u32, u32, u32)> {
    let st = rustix::fs::fstat(fd)?;
    Ok((st.st_uid, st.st_gid, st.st_mode & 0o7777))
}

/// Whether the descriptor is the root of a mount (bind-mounted there).
pub(crate) fn is_mount_root(fd: &OwnedFd) -> Result<bool> {
    let st = rustix::fs::statx(fd, "", AtFlags::EMPTY_PATH, rustix::fs::StatxFlags::BASIC_STATS)?;
    Ok(is_mount_root_statx(&st))
}

/// Whether `st` (from `statx`) is the root of a mount.
pub(crate) fn is_mount_root_statx(st: &rustix::fs::Statx) -> bool {
    let bit = rustix::fs::StatxAttributes::MOUNT_ROOT;
    st.stx_attributes_mask.contains(bit) && st.stx_attributes.contains(bit)
}

/// Sets owner and mode on a directory or regular file found as `name` in `dir`.
pub(crate) fn set_owner(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    directory: bool,
    (uid, gid, mode): (u32, u32, u32),
) -> Result<()> {
    let fd = open_read(dir, name, directory)?;
    set_owner_fd(&fd, (uid, gid, mode))
}

fn set_owner_fd(fd: &OwnedFd, (uid, gid, mode): (u32, u32, u32)) -> Result<()> {
    // chown clears setuid bits, so the mode comes second.
    rustix::fs::fchown(
        fd,
        Some(rustix::process::Uid::from_raw(uid)),
        Some(rustix::process::Gid::from_raw(gid)),
    )
    .context("chown")?;
    rustix::fs::fchmod(fd, Mode::from_raw_mode(mode)).context("chmod")?;
    Ok(())
}

/// Sets owner and mode when they are not what is wanted already.
fn converge_fd(fd: &OwnedFd, want: (u32, u32, u32)) -> Result<()> {
    let st = rustix::fs::fstat(fd).context("stat")?;
    if (st.st_uid, st.st_gid, st.st_mode & 0o7777) != want {
        set_owner_fd(fd, want)?;
    }
    Ok(())
}

pub(crate) fn temp_name(name: &OsStr) -> OsString {
    static PID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    let mut t = OsString::from(format!("{TEMP_PREFIX}{}.", PID.get_or_init(std::process::id)));
    t.push(name);
    t
}

/// What a new path holds.
pub(crate) enum New<'a> {
    Dir,
    File(&'a [u8]),
}

/// Creates `name` in `dir` with its owner and mode already set when it appears (made under a
/// temporary name, renamed into place without replacing anything). Returns a descriptor of what
/// it made, so a caller that mounts on it need not look it up again.
pub(crate) fn create(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    what: New<'_>,
    owner: (u32, u32, u32),
) -> Result<OwnedFd> {
    let temp = temp_name(name);
    // Made with the wanted mode: the umask, a setgid parent or a default ACL can only take
    // bits away or change the group, and what differs is then set (owner first: chown clears
    // setuid bits), all before the rename makes it visible.
    let mode = Mode::from_raw_mode(owner.2 & 0o777);
    let made = match what {
        New::Dir => rustix::fs::mkdirat(dir, &temp, mode).map_err(Error::from).and_then(|()| {
            let fd = open_read(dir, &temp, true)?;
            converge_fd(&fd, owner)?;
            Ok(fd)
        }),
        New::File(content) => (|| {
            let fd = rustix::fs::openat2(
                dir,
                &temp,
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                mode,
                RESOLVE,
            )?;
            let mut file = std::fs::File::from(fd);
            if !content.is_empty() {
                // Content lethe writes (machine-id's marker) must survive a crash; an empty
                // file is only a place to mount on.
                std::io::Write::write_all(&mut file, content)?;
                file.sync_all()?;
            }
            let fd = OwnedFd::from(file);
            converge_fd(&fd, owner)?;
            Ok(fd)
        })(),
    };
    let placed = made.and_then(|fd| {
        rustix::fs::renameat_with(dir, &temp, dir, name, RenameFlags::NOREPLACE).map_err(Error::from)?;
        Ok(fd)
    });
    if placed.is_err() {
        let flags = if matches!(what, New::Dir) { AtFlags::REMOVEDIR } else { AtFlags::empty() };
        let _ = rustix::fs::unlinkat(dir, &temp, flags);
    }
    placed
}
