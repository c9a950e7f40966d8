//! `/etc/resolv.conf` from a lease or a static config.

use crate::error::{Context, Result};
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::Path;

pub const PATH: &str = "/etc/resolv.conf";

/// The file's text; `domain` was already checked to hold only name characters.
pub fn render(dns: &[Ipv4Addr], domain: Option<&str>) -> String {
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
/// `/etc/netns/NS/resolv.conf` there), which rename would fail on. A dangling symlink (to a
/// resolver's runtime file that does not exist in the initrd) is replaced by a plain file.
pub fn write(path: &Path, text: &str) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    }
    let open = || std::fs::OpenOptions::new().write(true).create(true).truncate(true).open(path);
    let mut file = match open() {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && path.is_symlink() => {
            std::fs::remove_file(path)
                .with_context(|| format!("{}: cannot remove dangling symlink", path.display()))?;
            open().with_context(|| format!("{}: cannot create", path.display()))?
        }
        Err(e) => return Err(e).with_context(|| format!("{}: cannot write", path.display())),
    };
    file.write_all(text.as_bytes()).with_context(|| format!("{}: cannot write", path.display()))
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
