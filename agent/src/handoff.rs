//! Hand-off from stage 1 to stage 2 when lethe is the initrd's `/init`: the switch_root dance.
//!
//! 1. check, while we can still fail safely, that the new root holds the init to run;
//! 2. move /dev, /proc, /sys and /run into the new root (their submounts follow);
//! 3. delete the initramfs' contents, which would otherwise pin RAM for the whole uptime.
//!    Only files on the initramfs itself: the walk never crosses into another filesystem
//!    (st_dev check, like busybox' switch_root), and it refuses to run unless `/` is a
//!    ramfs/tmpfs and we are PID 1, so a mistaken `lethe init` on a real system deletes nothing;
//! 4. move the new root onto `/`, chroot into it, and exec its init with our arguments (the
//!    kernel passes words of its command line it does not know, like `single`, to init).

use crate::error::{Context, Error, Result};
use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The kernel filesystems that move into the new root.
pub(crate) const MOVED: &[&str] = &["/dev", "/proc", "/sys", "/run"];

const RAMFS_MAGIC: i64 = 0x8584_58f6;
const TMPFS_MAGIC: i64 = 0x0102_1994;

/// Checks that `init` (absolute, resolved inside `new_root` as if chrooted: absolute symlinks
/// such as NixOS' `/nix/store/...` ones included) is an executable regular file.
pub(crate) fn check_init(new_root: &Path, init: &Path) -> Result<()> {
    use rustix::fs::{Mode, OFlags, ResolveFlags};
    let root = rustix::fs::open(new_root, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
        .with_context(|| format!("{}: cannot open", new_root.display()))?;
    let what = || format!("init {} in the new root {}", init.display(), new_root.display());
    let fd = rustix::fs::openat2(
        &root,
        init,
        OFlags::PATH | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT,
    )
    .map_err(std::io::Error::from)
    .with_context(|| format!("{}: cannot be found (wrong boot.init or init=?)", what()))?;
    let st = rustix::fs::fstat(&fd).with_context(what)?;
    let file_type = rustix::fs::FileType::from_raw_mode(st.st_mode);
    if file_type != rustix::fs::FileType::RegularFile {
        return Err(Error::msg(format!("{}: is not a regular file", what())));
    }
    if st.st_mode & 0o111 == 0 {
        return Err(Error::msg(format!("{}: is not executable", what())));
    }
    Ok(())
}

/// Moves the kernel filesystems into `new_root`, creating their mount points when missing (a
/// freshly rolled-back root is empty). Where that is impossible (a read-only root), the
/// filesystem is detached instead, with a warning: stage 2 mounts its own.
pub(crate) fn move_kernel_filesystems(new_root: &Path) -> Result<()> {
    for dir in MOVED {
        let target = new_root.join(dir.trim_start_matches('/'));
        if !target.is_dir() {
            let _ = std::fs::create_dir(&target);
        }
        if target.is_dir() {
            rustix::mount::mount_move(*dir, &target)
                .with_context(|| format!("move {dir} to {}", target.display()))?;
        } else {
            log::warn!(
                "{}: missing in the new root, so {dir} is unmounted instead of moved",
                target.display()
            );
            let _ = rustix::mount::unmount(*dir, rustix::mount::UnmountFlags::DETACH);
        }
    }
    Ok(())
}

/// Deletes everything under `dir` that lives on the filesystem `dev`; entries on other
/// filesystems (mount points) are left alone. Failures are counted, not fatal: what remains
/// only costs RAM.
pub(crate) fn delete_on_device(dir: &Path, dev: u64) -> usize {
    let mut failures = 0;
    let Ok(entries) = std::fs::read_dir(dir) else { return 1 };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = path.symlink_metadata() else {
            failures += 1;
            continue;
        };
        if meta.dev() != dev {
            continue;
        }
        if meta.is_dir() {
            failures += delete_on_device(&path, dev);
            if std::fs::remove_dir(&path).is_err() {
                failures += 1;
            }
        } else if std::fs::remove_file(&path).is_err() {
            failures += 1;
        }
    }
    failures
}

/// The point of no return: everything after the initramfs is emptied. Call [`check_init`]
/// first. Returns only on failure, with the initramfs possibly gone.
pub(crate) fn switch_root(new_root: &Path, init: &Path, args: &[OsString]) -> Error {
    match switch_root_inner(new_root, init, args) {
        Ok(never) => match never {},
        Err(e) => e,
    }
}

fn switch_root_inner(new_root: &Path, init: &Path, args: &[OsString]) -> Result<std::convert::Infallible> {
    if !rustix::process::getpid().is_init() {
        return Err(Error::msg("switch root: refusing to run: not PID 1"));
    }
    let fs = rustix::fs::statfs("/").context("statfs /")?;
    let magic = fs.f_type as i64;
    if magic != RAMFS_MAGIC && magic != TMPFS_MAGIC {
        return Err(Error::msg(format!(
            "switch root: refusing to empty /: not an initramfs (filesystem magic {magic:#x})"
        )));
    }
    let root_dev = Path::new("/").metadata().context("stat /")?.dev();
    if new_root.metadata().with_context(|| new_root.display())?.dev() == root_dev {
        return Err(Error::msg(format!("switch root: {}: nothing is mounted there", new_root.display())));
    }
    move_kernel_filesystems(new_root)?;
    std::env::set_current_dir(new_root).with_context(|| format!("chdir {}", new_root.display()))?;
    let failures = delete_on_device(Path::new("/"), root_dev);
    if failures > 0 {
        log::warn!("switch root: {failures} initramfs entries could not be deleted (they only cost RAM)");
    }
    rustix::mount::mount_move(".", "/").context("switch root: move the new root onto /")?;
    rustix::process::chroot(".").context("switch root: chroot")?;
    std::env::set_current_dir("/").context("switch root: chdir /")?;
    let e = exec(init, args);
    Err(Error::msg(format!("switch root: exec {}: {e}", init.display())))
}

fn exec(init: &Path, args: &[OsString]) -> std::io::Error {
    use std::os::unix::process::CommandExt;
    // argv[0] is the init's own path, as the kernel would give it.
    std::process::Command::new(init).arg0(init).args(args).exec()
}

/// The stage-2 init to run: the kernel command line's `init=` wins over the config's.
pub(crate) fn choose_init(cmdline: Option<&Path>, config: &Path) -> PathBuf {
    cmdline.unwrap_or(config).to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_init_wins() {
        assert_eq!(choose_init(Some(Path::new("/bin/sh")), Path::new("/sbin/init")), Path::new("/bin/sh"));
        assert_eq!(choose_init(None, Path::new("/sbin/init")), Path::new("/sbin/init"));
    }

    #[test]
    fn init_is_resolved_inside_the_new_root() {
        let root = std::env::temp_dir().join(format!("lethe-handoff-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("nix/store/x/bin")).unwrap();
        std::fs::create_dir_all(root.join("sbin")).unwrap();
        let real = root.join("nix/store/x/bin/init");
        std::fs::write(&real, "#!/bin/sh\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o755)).unwrap();
        // An absolute symlink, as NixOS makes them: valid only inside the new root.
        std::os::unix::fs::symlink("/nix/store/x/bin/init", root.join("sbin/init")).unwrap();
        std::fs::write(root.join("sbin/plain"), "").unwrap();
        assert!(check_init(&root, Path::new("/sbin/init")).is_ok());
        let e = check_init(&root, Path::new("/sbin/plain")).unwrap_err().to_string();
        assert!(e.ends_with("is not executable"), "{e}");
        let e = check_init(&root, Path::new("/sbin/missing")).unwrap_err().to_string();
        assert!(e.contains("cannot be found"), "{e}");
        let e = check_init(&root, Path::new("/nix")).unwrap_err().to_string();
        assert!(e.ends_with("is not a regular file"), "{e}");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn deletion_stays_on_one_filesystem() {
        let root = std::env::temp_dir().join(format!("lethe-delete-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::write(root.join("a/b/f"), "x").unwrap();
        std::os::unix::fs::symlink("/etc", root.join("link")).unwrap();
        let dev = root.metadata().unwrap().dev();
        // A different st_dev is what a mount point looks like: nothing may be touched.
        assert_eq!(delete_on_device(&root, dev.wrapping_add(1)), 0);
        assert!(root.join("a/b/f").exists());
        assert_eq!(delete_on_device(&root, dev), 0);
        assert_eq!(std::fs::read_dir(&root).unwrap().count(), 0);
        assert!(Path::new("/etc").exists());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
