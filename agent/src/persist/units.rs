//! What systemd reads from lethe persist: the drop-ins of `persist --generate` (paths quoted as
//! unit files need) and the markers `/run/lethe/persisted/<escaped target>` of the entries in
//! place, which the units of an entry's `neededBy` assert: a unit whose entry failed or was
//! refused does not start, while the units of the other entries do.

use crate::config::persistence::Entry;
use crate::error::{Context, Result};
use std::collections::BTreeMap;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Where the markers live, below the state directory (`/run/lethe`).
pub const MARKERS: &str = "persisted";

/// systemd's path escaping (`systemd-escape --path`): `/` becomes `-`, and every byte that is
/// not an ASCII letter, digit, `:`, `_` or `.` (nor a leading `.`) becomes `\xNN`.
pub fn escape_path(path: &Path) -> String {
    let text = path.as_os_str().as_bytes();
    let trimmed: Vec<&[u8]> = text.split(|b| *b == b'/').filter(|c| !c.is_empty()).collect();
    if trimmed.is_empty() {
        return "-".into();
    }
    escape(&trimmed.join(&b'/'))
}

/// systemd's escaping of a unit-name component (`systemd-escape`, also the generator's): `/`
/// becomes `-`, and every byte that is not an ASCII letter, digit, `:`, `_` or `.` (nor a
/// leading `.`) becomes `\xNN`.
pub(crate) fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'/' => out.push('-'),
            b'.' if i == 0 => out.push_str("\\x2e"),
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b':' | b'_' | b'.' => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

/// A path as one word of a unit file setting that takes a list of paths and specifiers
/// (`RequiresMountsFor=`): in double quotes, `"` and `\` escaped, `%` doubled.
pub fn quote_path(path: &Path) -> String {
    let text = String::from_utf8_lossy(path.as_os_str().as_bytes());
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '%' => out.push_str("%%"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The marker of `target` (a path `AssertPathExists=` can name as it is: no space, no `%`).
pub fn marker(state: &Path, target: &Path) -> PathBuf {
    state.join(MARKERS).join(escape_path(target))
}

/// Replaces the markers with one per target in place.
pub fn write_markers(state: &Path, in_place: &[PathBuf]) -> Result<()> {
    let dir = state.join(MARKERS);
    std::fs::create_dir_all(&dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    let want: std::collections::HashSet<String> = in_place.iter().map(|t| escape_path(t)).collect();
    for old in std::fs::read_dir(&dir).with_context(|| format!("{}: cannot read", dir.display()))? {
        let old = old?;
        if !want.contains(old.file_name().to_string_lossy().as_ref()) {
            std::fs::remove_file(old.path())
                .with_context(|| format!("{}: cannot remove", old.path().display()))?;
        }
    }
    for name in want {
        let path = dir.join(name);
        std::fs::write(&path, "").with_context(|| format!("{}: cannot write", path.display()))?;
    }
    Ok(())
}

/// The drop-ins: each unit of `neededBy` waits for lethe-persist.service and the mounts of its
/// entries, and asserts their markers (it does not start when one of them is not in place);
/// lethe-persist.service needs its stores mounted. `Wants=`, not `Requires=`: a run where
/// another entry failed exits 2, and must not stop the units of the entries that are in place.
pub fn dropins(entries: &[Entry]) -> BTreeMap<String, String> {
    let mut needs: BTreeMap<&str, Vec<&Path>> = BTreeMap::new();
    for e in entries {
        for unit in &e.when.needed_by {
            needs.entry(unit).or_default().push(&e.target);
        }
    }
    let state = Path::new("/run/lethe");
    let mut out = BTreeMap::new();
    for (unit, targets) in needs {
        let mut text = String::from("# Written by lethe persist --generate (neededBy)\n[Unit]\n");
        text.push_str("Wants=lethe-persist.service\nAfter=lethe-persist.service\n");
        for t in targets {
            text.push_str(&format!("RequiresMountsFor={}\n", quote_path(t)));
            text.push_str(&format!("AssertPathExists={}\n", marker(state, t).display()));
        }
        out.insert(format!("{unit}.d/lethe-persist.conf"), text);
    }
    let stores: std::collections::BTreeSet<&Path> = entries.iter().map(|e| e.store.as_path()).collect();
    if !stores.is_empty() {
        let mut text = String::from("# Written by lethe persist --generate: the stores\n[Unit]\n");
        for s in stores {
            text.push_str(&format!("RequiresMountsFor={}\n", quote_path(s)));
        }
        out.insert("lethe-persist.service.d/lethe-stores.conf".into(), text);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_escaped_as_systemd_escape_does() {
        // The expected strings are what `systemd-escape --path` prints (systemd 252).
        for (path, want) in [
            ("/var/lib/syncthing", "var-lib-syncthing"),
            ("/", "-"),
            ("/home/alice/my dir", "home-alice-my\\x20dir"),
            ("/srv/100%", "srv-100\\x25"),
            ("/var/lib/a-b", "var-lib-a\\x2db"),
            ("/home/alice/.config", "home-alice-.config"),
            ("/.hidden", "\\x2ehidden"),
            ("/x\\y", "x\\x5cy"),
        ] {
            assert_eq!(escape_path(Path::new(path)), want, "{path}");
        }
    }

    #[test]
    fn unit_file_words_are_quoted() {
        assert_eq!(quote_path(Path::new("/srv/my dir")), "\"/srv/my dir\"");
        assert_eq!(quote_path(Path::new("/srv/100%")), "\"/srv/100%%\"");
        assert_eq!(quote_path(Path::new("/srv/a\"b\\c")), "\"/srv/a\\\"b\\\\c\"");
    }
}
