//! `/etc/resolv.conf` from a lease or a static config.

use crate::error::{Context, Result};
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::Path;

pub(crate) const PATH: &str = "/etc/resolv.conf";

/// The file's text; `domain` was already checked to hold only name characters.
pub(crate) fn render(dns: &[Ipv4Addr], domain: Option<&str>) -> String {
    let mut text = String::from("# written by lethe (initrd network)\n");
    if let Some(d) = domain {
        text.push_str(&format!("search {d}\n"));
    }
    for server in dns.iter().take(crate::dhcp::lease::MAX_DNS) {
        text.push_str(&format!("nameserver {server}\n"));
    }
    text
}

/// Writes in place rather than by rename: the file may be a bind mount (`ip netns exec` mounts
/// `/etc/netns/NS/resolv.conf` there), which rename would fail on. It is opened with
/// `O_NOFOLLOW`: a symlink (to a resolver's runtime file, or planted to make lethe overwrite
/// another file) is removed and replaced by a plain file, never written through.
pub(crate) fn write(path: &Path, text: &str) -> Result<()> {
    use rustix::fs::{Mode, OFlags};
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    }
    let flags =
        OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC | OFlags::NOFOLLOW | OFlags::NOCTTY | OFlags::CLOEXEC;
    let open = || rustix::fs::open(path, flags, Mode::from_raw_mode(0o644));
    let fd = match open() {
        Ok(fd) => fd,
        Err(rustix::io::Errno::LOOP) => {
            std::fs::remove_file(path)
                .with_context(|| format!("{}: cannot remove the symlink", path.display()))?;
            open()
                .map_err(std::io::Error::from)
                .with_context(|| format!("{}: cannot create", path.display()))?
        }
        Err(e) => {
            return Err(std::io::Error::from(e)).with_context(|| format!("{}: cannot write", path.display()))
        }
    };
    std::fs::File::from(fd)
        .write_all(text.as_bytes())
        .with_context(|| format!("{}: cannot write", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_search_and_at_most_three_servers() {
        let dns: Vec<Ipv4Addr> = (1..=5).map(|i| Ipv4Addr::new(10, 0, 0, i)).collect();
        let text = render(&dns, Some("lan"));
        assert_eq!(
            text,
            "# written by lethe (initrd network)\nsearch lan\nnameserver 10.0.0.1\nnameserver 10.0.0.2\nnameserver 10.0.0.3\n"
        );
    }

    #[test]
    fn never_writes_through_a_symlink() {
        let dir = std::env::temp_dir().join(format!("lethe-resolv-follow-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let elsewhere = dir.join("shadow");
        std::fs::write(&elsewhere, "root:x:0:0\n").unwrap();
        let path = dir.join("resolv.conf");
        std::os::unix::fs::symlink(&elsewhere, &path).unwrap();
        write(&path, "nameserver 10.0.0.1\n").unwrap();
        assert_eq!(std::fs::read_to_string(&elsewhere).unwrap(), "root:x:0:0\n");
        assert!(!path.is_symlink());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "nameserver 10.0.0.1\n");
        // A plain file (or a bind mount on one) is written in place.
        write(&path, "nameserver 10.0.0.2\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "nameserver 10.0.0.2\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn replaces_a_dangling_symlink() {
        let dir = std::env::temp_dir().join(format!("lethe-resolv-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("resolv.conf");
        std::os::unix::fs::symlink(dir.join("missing/stub.conf"), &path).unwrap();
        write(&path, "nameserver 10.0.0.1\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "nameserver 10.0.0.1\n");
        assert!(!path.is_symlink());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
