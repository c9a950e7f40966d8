//! The syscalls of a rollback: mount the btrfs top level, look at what is there, and make the
//! changes `plan` decided, through libbtrfsutil for everything subvolume-shaped.
//!
//! The top level is mounted *detached* (`fsopen` + `fsmount`, no mount point at all): no other
//! process can see or use it, and when lethe exits, even killed half-way, the kernel drops it.
//! libbtrfsutil takes paths, so it is handed `/proc/self/fd/N/...`, which resolves through the
//! mount's file descriptor; our own calls use `*at` syscalls relative to it.

use super::plan::{Entry, Kind, ARCHIVED_XATTR};
use crate::error::{Context, Error, Result};
use rustix::fd::OwnedFd;
use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::mount::{FsMountFlags, FsOpenFlags, MountAttrFlags};
use std::path::{Path, PathBuf};

/// btrfs puts its primary superblock at 64 KiB; its magic is at offset 0x40 inside it.
const SUPERBLOCK_MAGIC_OFFSET: u64 = 0x10000 + 0x40;
const BTRFS_MAGIC: &[u8; 8] = b"_BHRfS_M";
/// Inode number of every subvolume's root directory (BTRFS_FIRST_FREE_OBJECTID).
const SUBVOLUME_ROOT_INO: u64 = 256;
/// `BTRFS_ROOT_SUBVOL_RDONLY` in the root item flags.
const SUBVOL_RDONLY: u64 = 1;

/// The btrfs top level (`subvolid=5`) of a device, mounted where only this process can see it.
pub(crate) struct TopLevel {
    fd: OwnedFd,
    device: PathBuf,
}

/// Fails unless `device` carries a btrfs superblock: a clear refusal before any mount attempt.
pub(crate) fn check_btrfs(device: &Path) -> Result<()> {
    use std::os::unix::fs::FileExt;
    let file = std::fs::File::open(device).with_context(|| format!("{}: cannot open", device.display()))?;
    let mut magic = [0u8; 8];
    match file.read_exact_at(&mut magic, SUPERBLOCK_MAGIC_OFFSET) {
        Ok(()) if &magic == BTRFS_MAGIC => Ok(()),
        Ok(()) => {
            Err(Error::msg(format!("{}: not a btrfs filesystem (no btrfs superblock)", device.display())))
        }
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(Error::msg(format!(
            "{}: not a btrfs filesystem (too small to hold a btrfs superblock)",
            device.display()
        ))),
        Err(e) => Err(Error::msg(format!("{}: cannot read the superblock: {e}", device.display()))),
    }
}

/// The kernel's own explanation of a failed mount, read from the filesystem context.
fn kernel_messages(fs_fd: &OwnedFd) -> String {
    let mut messages = Vec::new();
    let mut buf = [0u8; 1024];
    while let Ok(n) = rustix::io::read(fs_fd, &mut buf) {
        if n == 0 {
            break;
        }
        // Each message is "e text", "w text" or "i text".
        let text = String::from_utf8_lossy(&buf[..n]);
        messages.push(text.get(2..).unwrap_or("").trim().to_string());
    }
    if messages.is_empty() {
        String::new()
    } else {
        format!(" ({})", messages.join("; "))
    }
}

/// A btrfs mount of `device` that no other process can see (`fsopen` + `fsmount`, no mount
/// point): dropped by the kernel when the returned descriptor is closed.
fn detached_mount(
    device: &Path,
    params: &[(&str, &str)],
    read_only: bool,
) -> std::result::Result<OwnedFd, String> {
    let fs_fd = rustix::mount::fsopen("btrfs", FsOpenFlags::FSOPEN_CLOEXEC).map_err(|e| e.to_string())?;
    let configure = || -> rustix::io::Result<()> {
        rustix::mount::fsconfig_set_string(&fs_fd, "source", device)?;
        for (key, value) in params {
            rustix::mount::fsconfig_set_string(&fs_fd, *key, *value)?;
        }
        rustix::mount::fsconfig_create(&fs_fd)
    };
    if let Err(e) = configure() {
        return Err(format!("{e}{}", kernel_messages(&fs_fd)));
    }
    let mut attrs = MountAttrFlags::MOUNT_ATTR_NOSUID
        | MountAttrFlags::MOUNT_ATTR_NODEV
        | MountAttrFlags::MOUNT_ATTR_NOEXEC;
    if read_only {
        attrs |= MountAttrFlags::MOUNT_ATTR_RDONLY;
    }
    rustix::mount::fsmount(&fs_fd, FsMountFlags::FSMOUNT_CLOEXEC, attrs).map_err(|e| e.to_string())
}

impl TopLevel {
    pub(crate) fn mount(device: &Path, read_only: bool) -> Result<TopLevel> {
        check_btrfs(device)?;
        let what = || format!("{}: cannot mount the btrfs top level (subvolid=5)", device.display());
        let fd = detached_mount(device, &[("subvolid", "5")], read_only)
            .map_err(|e| Error::msg(format!("{}: {e}", what())))?;
        let top = TopLevel { fd, device: device.to_path_buf() };
        // libbtrfsutil reaches the mount through /proc: fail now, clearly, if it is not there.
        if !top.proc_path("").is_dir() {
            crate::bail!(
                "{}: /proc is not mounted: lethe needs /proc/self/fd to reach its private mount",
                what()
            );
        }
        Ok(top)
    }

    /// The id of the subvolume that a mount of `device` with these btrfs options (`subvol`,
    /// `subvolid`; none: the filesystem's default subvolume) shows at its root: mounted the way
    /// stage 1 will mount it, detached and read-only, and dropped again.
    pub(crate) fn mounted_subvolume_id(device: &Path, options: &[(&str, String)]) -> Result<u64> {
        let params: Vec<(&str, &str)> = options.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let fd = detached_mount(device, &params, true)
            .map_err(|e| Error::msg(format!("{}: cannot mount to look at it: {e}", device.display())))?;
        use std::os::fd::AsRawFd;
        let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
        libbtrfsutil::subvolume_id(&path)
            .with_context(|| format!("{}: cannot read the subvolume id", device.display()))
    }

    /// Every subvolume below the top level: (id, path relative to the top level).
    pub(crate) fn all_subvolumes(&self) -> Result<Vec<(u64, String)>> {
        let what = || format!("{}: cannot list the subvolumes", self.device.display());
        let iter =
            libbtrfsutil::IterateSubvolume::new(self.proc_path("")).iter_with_id().with_context(what)?;
        iter.map(|item| {
            let (path, id) = item.with_context(what)?;
            Ok((id.get(), path.to_string_lossy().into_owned()))
        })
        .collect()
    }

    /// A path libbtrfsutil can open: `rel` below the top level, through our mount's fd.
    pub(crate) fn proc_path(&self, rel: &str) -> PathBuf {
        use std::os::fd::AsRawFd;
        let mut p = PathBuf::from(format!("/proc/self/fd/{}", self.fd.as_raw_fd()));
        if !rel.is_empty() {
            p.push(rel);
        }
        p
    }

    /// `device: rel`, the start of every message about a path on this filesystem.
    pub(crate) fn at(&self, rel: &str) -> String {
        format!("{}: {rel}", self.device.display())
    }

    pub(crate) fn device(&self) -> &Path {
        &self.device
    }

    /// What is at `rel` (not following symlinks), and its mtime.
    pub(crate) fn stat(&self, rel: &str) -> Result<(Kind, i64)> {
        match rustix::fs::statat(&self.fd, rel, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => {
                let kind = match FileType::from_raw_mode(st.st_mode) {
                    FileType::Directory if st.st_ino == SUBVOLUME_ROOT_INO => Kind::Subvolume,
                    FileType::Directory => Kind::Directory,
                    FileType::RegularFile => Kind::Other("a regular file"),
                    FileType::Symlink => Kind::Other("a symbolic link"),
                    FileType::Fifo => Kind::Other("a named pipe"),
                    FileType::Socket => Kind::Other("a socket"),
                    FileType::CharacterDevice | FileType::BlockDevice => Kind::Other("a device node"),
                    FileType::Unknown => Kind::Other("a file of unknown type"),
                };
                Ok((kind, st.st_mtime))
            }
            Err(rustix::io::Errno::NOENT) => Ok((Kind::Missing, 0)),
            Err(e) => Err(Error::msg(format!("{}: cannot stat: {e}", self.at(rel)))),
        }
    }

    pub(crate) fn kind(&self, rel: &str) -> Result<Kind> {
        Ok(self.stat(rel)?.0)
    }

    /// Whether the directory `rel` has no entries.
    pub(crate) fn is_empty_dir(&self, rel: &str) -> Result<bool> {
        let fd = self.open_dir(rel)?;
        let mut dir = rustix::fs::Dir::new(fd).with_context(|| format!("{}: cannot read", self.at(rel)))?;
        for entry in dir.by_ref() {
            let entry = entry.with_context(|| format!("{}: cannot read", self.at(rel)))?;
            let name = entry.file_name().to_bytes();
            if name != b"." && name != b".." {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn open_dir(&self, rel: &str) -> Result<OwnedFd> {
        rustix::fs::openat(
            &self.fd,
            rel,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .with_context(|| format!("{}: cannot open", self.at(rel)))
    }

    /// The entries directly inside directory `rel` (empty when it does not exist).
    pub(crate) fn list(&self, rel: &str) -> Result<Vec<Entry>> {
        if self.kind(rel)? == Kind::Missing {
            return Ok(Vec::new());
        }
        let fd = self.open_dir(rel)?;
        let mut names = Vec::new();
        for entry in rustix::fs::Dir::new(fd).with_context(|| format!("{}: cannot read", self.at(rel)))? {
            let entry = entry.with_context(|| format!("{}: cannot read", self.at(rel)))?;
            let name = entry.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            match std::str::from_utf8(name) {
                Ok(n) => names.push(n.to_string()),
                Err(_) => log::warn!(
                    "{}: left alone: name is not UTF-8: {}",
                    self.at(rel),
                    String::from_utf8_lossy(name)
                ),
            }
        }
        names.sort();
        names
            .into_iter()
            .map(|name| {
                let path = format!("{rel}/{name}");
                let (kind, mtime) = self.stat(&path)?;
                let (created, archived) = if kind == Kind::Subvolume {
                    (self.created(&path)?, self.archived(&path)?)
                } else {
                    (0, None)
                };
                Ok(Entry { name, kind, mtime, archived, created })
            })
            .collect()
    }

    /// When subvolume `rel` was archived ([`ARCHIVED_XATTR`]); `None` when not recorded, or
    /// not a number lethe wrote (then it is aged by its mtime, like an archive of an earlier
    /// lethe).
    pub fn archived(&self, rel: &str) -> Result<Option<i64>> {
        let fd = self.open_dir(rel)?;
        let mut buf = [0u8; 32];
        match rustix::fs::fgetxattr(&fd, ARCHIVED_XATTR, &mut buf) {
            Ok(n) => {
                let time = std::str::from_utf8(&buf[..n]).ok().and_then(|t| t.parse().ok());
                if time.is_none() {
                    log::warn!(
                        "{}: {ARCHIVED_XATTR} is not a number of seconds: aged by its mtime",
                        self.at(rel)
                    );
                }
                Ok(time)
            }
            Err(rustix::io::Errno::NODATA) => Ok(None),
            Err(rustix::io::Errno::RANGE) => {
                log::warn!("{}: {ARCHIVED_XATTR} is too long: aged by its mtime", self.at(rel));
                Ok(None)
            }
            Err(e) => Err(Error::msg(format!("{}: cannot read {ARCHIVED_XATTR}: {e}", self.at(rel)))),
        }
    }

    /// Records on directory `rel` that it is archived at `time` ([`ARCHIVED_XATTR`]).
    pub fn set_archived(&self, rel: &str, time: i64) -> Result<()> {
        let fd = self.open_dir(rel)?;
        rustix::fs::fsetxattr(
            &fd,
            ARCHIVED_XATTR,
            time.to_string().as_bytes(),
            rustix::fs::XattrFlags::empty(),
        )
        .with_context(|| format!("{}: cannot set {ARCHIVED_XATTR}", self.at(rel)))
    }

    /// The filesystem's own time of its last change: the newest change time (ctime of the root
    /// item, set by the kernel's clock in each transaction that changes the subvolume) of every
    /// subvolume, the top level included.
    pub fn last_change(&self) -> Result<i64> {
        let what = || format!("{}: cannot read the subvolumes' change times", self.device.display());
        let top = libbtrfsutil::subvolume_info(self.proc_path("")).with_context(what)?;
        let iter =
            libbtrfsutil::IterateSubvolume::new(self.proc_path("")).iter_with_info().with_context(what)?;
        iter.map(|item| item.map(|(_, info)| info.ctime()).with_context(what))
            .try_fold(top.ctime(), |newest, ctime| Ok(newest.max(ctime?)))
    }

    /// The transaction that created subvolume `rel` (its otransid).
    pub(crate) fn created(&self, rel: &str) -> Result<u64> {
        let info = libbtrfsutil::subvolume_info(self.proc_path(rel))
            .with_context(|| format!("{}: cannot read subvolume info", self.at(rel)))?;
        Ok(info.otransid())
    }

    pub(crate) fn mkdir(&self, rel: &str) -> Result<()> {
        match rustix::fs::mkdirat(&self.fd, rel, Mode::from_raw_mode(0o700)) {
            Ok(()) | Err(rustix::io::Errno::EXIST) => Ok(()),
            Err(e) => Err(Error::msg(format!("{}: cannot create directory: {e}", self.at(rel)))),
        }
    }

    /// Renames `from` to `to`, never replacing anything already at `to`.
    pub(crate) fn rename(&self, from: &str, to: &str) -> Result<()> {
        rustix::fs::renameat_with(&self.fd, from, &self.fd, to, rustix::fs::RenameFlags::NOREPLACE)
            .with_context(|| format!("{}: cannot move to {to}", self.at(from)))
    }

    pub(crate) fn create_subvolume(&self, rel: &str) -> Result<()> {
        libbtrfsutil::create_subvolume(self.proc_path(rel))
            .with_context(|| format!("{}: cannot create subvolume", self.at(rel)))
    }

    /// A writable snapshot of `from` at `to` (not recursive: a blank snapshot has no nested
    /// subvolumes worth cloning).
    pub(crate) fn snapshot(&self, from: &str, to: &str) -> Result<()> {
        libbtrfsutil::CreateSnapshotOptions::new()
            .readonly(false)
            .create(self.proc_path(from), self.proc_path(to))
            .with_context(|| format!("{}: cannot snapshot to {to}", self.at(from)))
    }

    /// The subvolumes nested in `rel` at any depth: (path relative to `rel`, id, read-only,
    /// parent id), deepest first (post-order), so each can be deleted after its children.
    pub(crate) fn nested(&self, rel: &str) -> Result<Vec<Nested>> {
        let iter = libbtrfsutil::IterateSubvolume::new(self.proc_path(rel))
            .post_order()
            .iter_with_info()
            .with_context(|| format!("{}: cannot list nested subvolumes", self.at(rel)))?;
        iter.map(|item| {
            let (path, info) =
                item.with_context(|| format!("{}: cannot list nested subvolumes", self.at(rel)))?;
            Ok(Nested {
                path: path.to_string_lossy().into_owned(),
                id: info.id(),
                parent: info.parent_id().map_or(0, |p| p.get()),
                read_only: info.flags() & SUBVOL_RDONLY != 0,
            })
        })
        .collect()
    }

    /// Whether subvolume `rel` is a snapshot of `source` not changed since it was taken: a
    /// snapshot keeps its source's ctransid, and any change raises it to the current
    /// transaction, which is at least the snapshot's otransid.
    pub(crate) fn is_untouched_clone(&self, rel: &str, source: &str) -> Result<bool> {
        let info = |p: &str| {
            libbtrfsutil::subvolume_info(self.proc_path(p))
                .with_context(|| format!("{}: cannot read subvolume info", self.at(p)))
        };
        let (clone, source) = (info(rel)?, info(source)?);
        Ok(clone.parent_uuid() == Some(source.uuid()) && clone.ctransid() < clone.otransid())
    }

    pub(crate) fn subvolume_id(&self, rel: &str) -> Result<u64> {
        libbtrfsutil::subvolume_id(self.proc_path(rel))
            .with_context(|| format!("{}: cannot read subvolume id", self.at(rel)))
    }

    pub(crate) fn read_only(&self, rel: &str) -> Result<bool> {
        libbtrfsutil::subvolume_read_only(self.proc_path(rel))
            .with_context(|| format!("{}: cannot read the read-only flag", self.at(rel)))
    }

    pub(crate) fn set_writable(&self, rel: &str) -> Result<()> {
        libbtrfsutil::set_subvolume_read_only(self.proc_path(rel), false)
            .with_context(|| format!("{}: cannot make writable", self.at(rel)))
    }

    /// Deletes one subvolume, which must have no nested subvolumes left.
    pub(crate) fn delete_subvolume(&self, rel: &str) -> Result<()> {
        libbtrfsutil::delete_subvolume(self.proc_path(rel))
            .with_context(|| format!("{}: cannot delete subvolume", self.at(rel)))
    }

    /// Deletes subvolume `rel` with every subvolume nested in it, at any depth, read-only ones
    /// included. A subvolume's entry is removed from its parent, so a read-only parent is made
    /// writable first; each deletion is atomic, and a rerun after a crash resumes with what is
    /// left. Returns how many nested subvolumes were deleted.
    pub(crate) fn delete_recursive(&self, rel: &str, mut after_each: impl FnMut()) -> Result<usize> {
        let nested = self.nested(rel)?;
        let top_id = self.subvolume_id(rel)?;
        let parents: std::collections::BTreeSet<u64> = nested.iter().map(|n| n.parent).collect();
        if parents.contains(&top_id) && self.read_only(rel)? {
            self.set_writable(rel)?;
        }
        for n in nested.iter().filter(|n| n.read_only && parents.contains(&n.id)) {
            self.set_writable(&format!("{rel}/{}", n.path))?;
        }
        for n in &nested {
            self.delete_subvolume(&format!("{rel}/{}", n.path))?;
            after_each();
        }
        self.delete_subvolume(rel)?;
        Ok(nested.len())
    }
}

/// A subvolume nested inside another.
#[derive(Debug, Clone)]
pub(crate) struct Nested {
    pub path: String,
    pub id: u64,
    pub parent: u64,
    pub read_only: bool,
}
