//! Moving data into the store (adoption, keep-aside) without ever crossing into another mount.
//!
//! A tree with no mount point inside, on the destination's filesystem, is renamed (atomic).
//! Anything else is copied to a temporary name beside the destination (owners, modes, times,
//! xattrs set after the owner, since `chown` clears `security.capability`; hard links kept by
//! (device, inode); holes kept with `SEEK_DATA`/`SEEK_HOLE`), compared with the original once
//! complete (refused, the copy removed, when anything changed meanwhile), renamed into place,
//! and only then is the original removed. Mount points inside (a ZFS dataset, a bind mount made
//! by stage 1) are neither copied nor emptied: the copy gets an empty placeholder, the original
//! keeps the mount and the directories leading to it, and the caller re-mounts it on top.

use super::tree::{is_mount_root_statx, list, open_path, open_read, temp_name};
use crate::error::{Context, Error, Result};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, RenameFlags, SeekFrom, Statx, StatxFlags};
use rustix::io::Errno;
use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// One `statx` of everything the comparison and the copy need.
fn stat(fd: &OwnedFd) -> Result<Statx> {
    let want = StatxFlags::BASIC_STATS;
    Ok(rustix::fs::statx(fd, "", AtFlags::EMPTY_PATH | AtFlags::SYMLINK_NOFOLLOW, want)?)
}

fn dev(st: &Statx) -> u64 {
    rustix::fs::makedev(st.stx_dev_major, st.stx_dev_minor)
}

/// What is compared before and after a copy: a change to any of these means someone wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Print {
    path: PathBuf,
    ino: u64,
    mode: u16,
    owner: (u32, u32),
    size: u64,
    nlink: u32,
    mtime: (i64, u32),
    ctime: (i64, u32),
}

impl Print {
    fn of(path: PathBuf, st: &Statx, mount: bool) -> Print {
        if mount {
            // Only that it is a mount point: its content is not copied.
            return Print {
                path,
                ino: 0,
                mode: 0,
                owner: (0, 0),
                size: 0,
                nlink: 0,
                mtime: (0, 0),
                ctime: (0, 0),
            };
        }
        Print {
            path,
            ino: st.stx_ino,
            mode: st.stx_mode,
            owner: (st.stx_uid, st.stx_gid),
            size: st.stx_size,
            nlink: st.stx_nlink,
            mtime: (st.stx_mtime.tv_sec, st.stx_mtime.tv_nsec),
            ctime: (st.stx_ctime.tv_sec, st.stx_ctime.tv_nsec),
        }
    }
}

/// A walk of the original: the mount points found inside (relative paths), and what it saw.
#[derive(Default)]
struct Walk {
    top_dev: u64,
    mounts: Vec<PathBuf>,
    prints: Vec<Print>,
    /// Copies made of files with more than one link: (device, inode) -> path below the copy.
    links: HashMap<(u64, u64), PathBuf>,
}

impl Walk {
    /// Whether `st` (below the top) is another mount: never entered.
    fn crosses(&self, st: &Statx) -> bool {
        is_mount_root_statx(st) || dev(st) != self.top_dev
    }
}

/// Moves `name` from `from` to `to_name` in `to`, never replacing and never crossing into
/// another mount (see the module). Returns the mount points found inside, relative to the top;
/// they stay where they were, with the directories leading to them.
pub fn move_tree(
    from: BorrowedFd<'_>,
    name: &OsStr,
    to: BorrowedFd<'_>,
    to_name: &OsStr,
) -> Result<Vec<PathBuf>> {
    let top = open_path(from, name)?;
    let st = stat(&top)?;
    if is_mount_root_statx(&st) {
        return Err(Error::msg("is a mount point: not moved (the mount stays where it is)"));
    }
    let mut scan = Walk { top_dev: dev(&st), ..Walk::default() };
    walk(from, name, Path::new(""), &mut scan, None)?;
    if scan.mounts.is_empty() {
        match rustix::fs::renameat_with(from, name, to, to_name, RenameFlags::NOREPLACE) {
            Ok(()) => return Ok(Vec::new()),
            Err(Errno::XDEV) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let temp = temp_name(to_name);
    let mut copied = Walk { top_dev: scan.top_dev, ..Walk::default() };
    let made =
        walk(from, name, Path::new(""), &mut copied, Some((to, &temp))).context("copy").and_then(|()| {
            super::hooks::race(super::hooks::AFTER_COPY);
            let mut again = Walk { top_dev: scan.top_dev, ..Walk::default() };
            walk(from, name, Path::new(""), &mut again, None)?;
            if again.prints != copied.prints {
                return Err(Error::msg("changed while it was copied: not moved (the copy was removed)"));
            }
            rustix::fs::renameat_with(to, &temp, to, to_name, RenameFlags::NOREPLACE)
                .context("rename the copy")
        });
    if let Err(e) = made {
        // Only what this run made: a temporary name of lethe's in the destination.
        if let Err(left) = remove_all(to, &temp) {
            log::warn!("{}: cannot remove the unfinished copy: {left}", Path::new(&temp).display());
        }
        return Err(e);
    }
    remove_beside(from, name, &copied).context("remove the original after copying")?;
    Ok(copied.mounts)
}

/// When the tree `name` in `from` holds nothing but mount points (and the directories leading
/// to them: what a boot leaves in a fresh root where a dataset or a stage-1 bind is mounted),
/// those mount points; `None` when it holds anything else (data to move).
pub fn only_mounts(from: BorrowedFd<'_>, name: &OsStr) -> Result<Option<Vec<PathBuf>>> {
    let st = stat(&open_path(from, name)?)?;
    let mut w = Walk { top_dev: dev(&st), ..Walk::default() };
    walk(from, name, Path::new(""), &mut w, None)?;
    let mounts: Vec<&Path> = w.mounts.iter().map(PathBuf::as_path).collect();
    let only = !mounts.is_empty()
        && w.prints.iter().all(|p| {
            mounts.contains(&p.path.as_path())
                || (FileType::from_raw_mode(p.mode.into()) == FileType::Directory
                    && mounts.iter().any(|m| m.starts_with(&p.path) && *m != p.path))
        });
    Ok(only.then_some(w.mounts))
}

/// Walks `name` in `from` (`rel` below the top), recording what it sees; with `copy`, copies
/// each entry to the same relative place below `copy`'s top.
fn walk(
    from: BorrowedFd<'_>,
    name: &OsStr,
    rel: &Path,
    w: &mut Walk,
    copy: Option<(BorrowedFd<'_>, &OsStr)>,
) -> Result<()> {
    let src = open_path(from, name)?;
    let st = stat(&src)?;
    let mount = !rel.as_os_str().is_empty() && w.crosses(&st);
    w.prints.push(Print::of(rel.to_path_buf(), &st, mount));
    let kind = FileType::from_raw_mode(st.stx_mode.into());
    if mount {
        w.mounts.push(rel.to_path_buf());
        if let Some((to, to_name)) = copy {
            // An empty place to mount on, as the original has.
            placeholder(to, to_name, kind == FileType::Directory, &st)?;
        }
        return Ok(());
    }
    if kind == FileType::Directory {
        let dir = open_read(from, name, true)?;
        let dst = match copy {
            Some((to, to_name)) => {
                rustix::fs::mkdirat(to, to_name, Mode::from_raw_mode(0o700))?;
                Some(open_read(to, to_name, true)?)
            }
            None => None,
        };
        let mut children = list(&dir)?;
        children.sort_by(|a, b| a.0.cmp(&b.0));
        for (child, _) in children {
            let below = rel.join(&child);
            let into = dst.as_ref().map(|d| (d.as_fd(), child.as_os_str()));
            walk(dir.as_fd(), &child, &below, w, into).with_context(|| below.display().to_string())?;
        }
        if let Some(dst) = dst {
            finish(&dir, &dst, &st)?;
        }
        return Ok(());
    }
    let Some((to, to_name)) = copy else { return Ok(()) };
    match kind {
        FileType::RegularFile => {
            if st.stx_nlink > 1 && !rel.as_os_str().is_empty() {
                if let Some(first) = w.links.get(&(dev(&st), st.stx_ino)) {
                    // The copy's top is where `rel` paths start: the first copy is found there
                    // through directories this walk made.
                    let up = rel.components().count() - 1;
                    let mut first_rel = PathBuf::new();
                    for _ in 0..up {
                        first_rel.push("..");
                    }
                    first_rel.push(first);
                    rustix::fs::linkat(to, &first_rel, to, to_name, AtFlags::empty())?;
                    return Ok(());
                }
                w.links.insert((dev(&st), st.stx_ino), rel.to_path_buf());
            }
            let src = open_read(from, name, false)?;
            let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            let dst = rustix::fs::openat(to, to_name, flags, Mode::from_raw_mode(0o600))?;
            copy_data(&src, &dst, st.stx_size)?;
            finish(&src, &dst, &st)?;
        }
        FileType::Symlink => {
            let target = rustix::fs::readlinkat(from, name, Vec::new())?;
            rustix::fs::symlinkat(target.as_c_str(), to, to_name)?;
            let (uid, gid) = ids(&st);
            rustix::fs::chownat(to, to_name, Some(uid), Some(gid), AtFlags::SYMLINK_NOFOLLOW)?;
            rustix::fs::utimensat(to, to_name, &times(&st), AtFlags::SYMLINK_NOFOLLOW)?;
        }
        kind => {
            let dev = rustix::fs::makedev(st.stx_rdev_major, st.stx_rdev_minor);
            rustix::fs::mknodat(
                to,
                to_name,
                kind,
                Mode::from_raw_mode(u32::from(st.stx_mode) & 0o7777),
                dev,
            )?;
            let (uid, gid) = ids(&st);
            rustix::fs::chownat(to, to_name, Some(uid), Some(gid), AtFlags::SYMLINK_NOFOLLOW)?;
            rustix::fs::chmodat(
                to,
                to_name,
                Mode::from_raw_mode(u32::from(st.stx_mode) & 0o7777),
                AtFlags::empty(),
            )?;
            rustix::fs::utimensat(to, to_name, &times(&st), AtFlags::SYMLINK_NOFOLLOW)?;
        }
    }
    Ok(())
}

fn placeholder(to: BorrowedFd<'_>, to_name: &OsStr, directory: bool, st: &Statx) -> Result<()> {
    let mode = Mode::from_raw_mode(u32::from(st.stx_mode) & 0o7777);
    let fd = if directory {
        rustix::fs::mkdirat(to, to_name, mode)?;
        open_read(to, to_name, true)?
    } else {
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        rustix::fs::openat(to, to_name, flags, mode)?
    };
    let (uid, gid) = ids(st);
    rustix::fs::fchown(&fd, Some(uid), Some(gid))?;
    rustix::fs::fchmod(&fd, mode)?;
    Ok(())
}

fn ids(st: &Statx) -> (rustix::process::Uid, rustix::process::Gid) {
    (rustix::process::Uid::from_raw(st.stx_uid), rustix::process::Gid::from_raw(st.stx_gid))
}

fn times(st: &Statx) -> rustix::fs::Timestamps {
    let ts =
        |t: &rustix::fs::StatxTimestamp| rustix::fs::Timespec { tv_sec: t.tv_sec, tv_nsec: t.tv_nsec as _ };
    rustix::fs::Timestamps { last_access: ts(&st.stx_atime), last_modification: ts(&st.stx_mtime) }
}

/// Owner, then mode (chown clears setuid bits), then xattrs (chown clears
/// `security.capability`), then times.
fn finish(src: &OwnedFd, dst: &OwnedFd, st: &Statx) -> Result<()> {
    let (uid, gid) = ids(st);
    rustix::fs::fchown(dst, Some(uid), Some(gid)).context("chown")?;
    rustix::fs::fchmod(dst, Mode::from_raw_mode(u32::from(st.stx_mode) & 0o7777)).context("chmod")?;
    copy_xattrs(src, dst)?;
    rustix::fs::futimens(dst, &times(st))?;
    Ok(())
}

/// Copies the data of a regular file, leaving holes as holes: only the ranges `SEEK_DATA`
/// finds are read and written; the size is set at the end, so a trailing hole stays one.
fn copy_data(src: &OwnedFd, dst: &OwnedFd, size: u64) -> Result<()> {
    let (r, w) = (std::fs::File::from(src.try_clone()?), std::fs::File::from(dst.try_clone()?));
    let mut buf = vec![0u8; 128 * 1024];
    let mut at = 0u64;
    while at < size {
        let start = match rustix::fs::seek(src, SeekFrom::Data(at)) {
            Ok(start) => start,
            Err(Errno::NXIO) => break,
            Err(e) => return Err(e.into()),
        };
        let end = rustix::fs::seek(src, SeekFrom::Hole(start))?.min(size);
        let mut pos = start;
        while pos < end {
            let want = ((end - pos) as usize).min(buf.len());
            let n = r.read_at(&mut buf[..want], pos)?;
            if n == 0 {
                break;
            }
            w.write_all_at(&buf[..n], pos)?;
            pos += n as u64;
        }
        at = end;
    }
    rustix::fs::ftruncate(dst, size)?;
    Ok(())
}

fn copy_xattrs(src: &OwnedFd, dst: &OwnedFd) -> Result<()> {
    let size = match rustix::fs::flistxattr_query(src) {
        Ok(n) => n,
        Err(Errno::NOTSUP) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let mut names = vec![0u8; size];
    let n = rustix::fs::flistxattr(src, &mut names[..])?;
    for name in names[..n].split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let name = OsStr::from_bytes(name);
        let len = rustix::fs::fgetxattr_query(src, name)?;
        let mut value = vec![0u8; len];
        let len = rustix::fs::fgetxattr(src, name, &mut value[..])?;
        rustix::fs::fsetxattr(dst, name, &value[..len], rustix::fs::XattrFlags::empty())
            .with_context(|| format!("xattr {}", name.to_string_lossy()))?;
    }
    Ok(())
}

/// Removes the original after its copy was checked: never entering a mount point, and keeping
/// the directories that lead to one (they still hold it).
fn remove_beside(dir: BorrowedFd<'_>, name: &OsStr, walked: &Walk) -> Result<()> {
    let keep: Vec<&Path> = walked.mounts.iter().map(PathBuf::as_path).collect();
    remove_below(dir, name, Path::new(""), walked.top_dev, &keep)
}

fn remove_below(dir: BorrowedFd<'_>, name: &OsStr, rel: &Path, top_dev: u64, keep: &[&Path]) -> Result<()> {
    let fd = open_path(dir, name)?;
    let st = stat(&fd)?;
    if !rel.as_os_str().is_empty() && (is_mount_root_statx(&st) || dev(&st) != top_dev) {
        return Ok(());
    }
    if FileType::from_raw_mode(st.stx_mode.into()) == FileType::Directory {
        let d = open_read(dir, name, true)?;
        for (child, _) in list(&d)? {
            remove_below(d.as_fd(), &child, &rel.join(&child), top_dev, keep)?;
        }
        if keep.iter().any(|k| k.starts_with(rel) && *k != rel) {
            return Ok(());
        }
        rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR)?;
    } else {
        rustix::fs::unlinkat(dir, name, AtFlags::empty())?;
    }
    Ok(())
}

/// Removes a tree lethe made (an unfinished copy), never entering another mount.
pub fn remove_all(dir: BorrowedFd<'_>, name: &OsStr) -> Result<()> {
    let st = stat(&open_path(dir, name)?)?;
    remove_below(dir, name, Path::new(""), dev(&st), &[])
}

/// Copies one regular file `name` from `from` to a new `to_name` in `to` (a temporary name,
/// renamed into place without replacing): for a file target that is a mount point, whose
/// content goes to the store while the mount stays.
pub fn copy_file(from: BorrowedFd<'_>, name: &OsStr, to: BorrowedFd<'_>, to_name: &OsStr) -> Result<()> {
    let temp = temp_name(to_name);
    let mut w = Walk::default();
    let st = stat(&open_path(from, name)?)?;
    w.top_dev = dev(&st);
    let made = walk(from, name, Path::new(""), &mut w, Some((to, &temp)))
        .and_then(|()| Ok(rustix::fs::renameat_with(to, &temp, to, to_name, RenameFlags::NOREPLACE)?));
    if made.is_err() {
        let _ = rustix::fs::unlinkat(to, &temp, AtFlags::empty());
    }
    made
}
