//! `lethe unpersisted`: what the next boot forgets. One walk of the live root that stays on the
//! root filesystem (other devices and every mount point, the persisted ones included, are
//! skipped), not below a persisted path and not a symlink into `/nix/store`; the vanishing
//! subtrees are grouped by top-level directory, biggest first. The other way round: what is in
//! a store that the config no longer names.

use super::plan::shown;
use crate::config::persistence::Entry;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub(crate) struct Report {
    /// Top-level directories of the live root, biggest first.
    pub vanishing: Vec<Group>,
    /// What is in the stores but named by no entry.
    pub unnamed: Vec<Item>,
}

#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub(crate) struct Group {
    pub top: PathBuf,
    pub bytes: u64,
    pub files: u64,
    /// The largest subtrees that vanish as a whole, biggest first.
    pub items: Vec<Item>,
}

#[derive(Debug, Default, Serialize, PartialEq, Eq, Clone)]
pub(crate) struct Item {
    pub path: PathBuf,
    pub bytes: u64,
    /// Regular files, symlinks and others in it (1 for a file).
    pub files: u64,
}

/// The persisted paths as a tree question: is a path one of them, below one, or above one.
struct Named {
    exact: BTreeSet<PathBuf>,
    ancestors: BTreeSet<PathBuf>,
}

impl Named {
    fn new(paths: impl Iterator<Item = PathBuf>) -> Named {
        let mut named = Named { exact: BTreeSet::new(), ancestors: BTreeSet::new() };
        for p in paths {
            for a in p.ancestors().skip(1) {
                named.ancestors.insert(a.to_path_buf());
            }
            named.exact.insert(p);
        }
        named
    }

    fn covers(&self, p: &Path) -> bool {
        p.ancestors().any(|a| self.exact.contains(a))
    }
}

/// Mount points below `root` (from `/proc/self/mountinfo`), as absolute paths.
fn mount_points() -> BTreeSet<PathBuf> {
    crate::mountinfo::read().unwrap_or_default().into_iter().map(|m| PathBuf::from(m.point)).collect()
}

struct Walk<'a> {
    root: &'a Path,
    dev: u64,
    mounts: BTreeSet<PathBuf>,
    named: Named,
    /// Skip symlinks into the Nix store (NixOS' /etc is made of them and comes back).
    skip_nix_links: bool,
    items: Vec<Item>,
}

impl Walk<'_> {
    /// Walks the directory `dir` (shown as `shown`), an ancestor of a named path or the root:
    /// every child is named, an ancestor (walked), or vanishes as a whole (measured).
    fn walk(&mut self, dir: &Path, shown: &Path) {
        let Ok(rd) = std::fs::read_dir(dir) else { return };
        for entry in rd.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            let path = entry.path();
            let shown = shown.join(entry.file_name());
            if meta.dev() != self.dev || (meta.is_dir() && self.mounts.contains(&path)) {
                continue;
            }
            if self.named.covers(&shown) {
                continue;
            }
            if meta.file_type().is_symlink() && self.skip_nix_links {
                if let Ok(to) = std::fs::read_link(&path) {
                    if to.starts_with("/nix/store") {
                        continue;
                    }
                }
            }
            if meta.is_dir() && self.named.ancestors.contains(&shown) {
                self.walk(&path, &shown);
                continue;
            }
            let (bytes, files) = if meta.is_dir() { self.measure(&path) } else { (meta.len(), 1) };
            self.items.push(Item { path: shown, bytes, files });
        }
    }

    /// Size and file count of a whole subtree on the same filesystem.
    fn measure(&self, dir: &Path) -> (u64, u64) {
        let (mut bytes, mut files) = (0, 0);
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(&d) else { continue };
            for entry in rd.flatten() {
                let Ok(meta) = entry.metadata() else { continue };
                if meta.dev() != self.dev {
                    continue;
                }
                if meta.is_dir() {
                    let p = entry.path();
                    if !self.mounts.contains(&p) {
                        stack.push(p);
                    }
                } else {
                    bytes += meta.len();
                    files += 1;
                }
            }
        }
        (bytes, files)
    }
}

/// What vanishes below `root` (the live `/`, or a mounted root), and what the stores hold
/// unnamed.
pub(crate) fn report(entries: &[Entry], root: &Path) -> std::io::Result<Report> {
    let dev = std::fs::metadata(root)?.dev();
    let mut walk = Walk {
        root,
        dev,
        mounts: mount_points(),
        named: Named::new(entries.iter().map(|e| e.target.clone()).chain(stores(entries))),
        skip_nix_links: true,
        items: Vec::new(),
    };
    walk.walk(root, Path::new("/"));
    let vanishing = group(std::mem::take(&mut walk.items));

    let mut unnamed = Vec::new();
    for store in stores(entries) {
        let dir = super::below(walk.root, &store);
        let Ok(meta) = std::fs::metadata(&dir) else { continue };
        let sources = entries.iter().filter(|e| e.store == store).map(|e| e.target.clone());
        let mut in_store = Walk {
            root: &dir,
            dev: meta.dev(),
            mounts: BTreeSet::new(),
            named: Named::new(sources),
            skip_nix_links: false,
            items: Vec::new(),
        };
        in_store.walk(&dir, Path::new("/"));
        for mut item in in_store.items {
            item.path = crate::config::persistence::join(&store, &item.path);
            unnamed.push(item);
        }
    }
    unnamed.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.path.cmp(&b.path)));
    Ok(Report { vanishing, unnamed })
}

fn stores(entries: &[Entry]) -> BTreeSet<PathBuf> {
    entries.iter().map(|e| e.store.clone()).collect()
}

/// Groups items by their top-level directory, biggest group and item first.
pub(crate) fn group(items: Vec<Item>) -> Vec<Group> {
    let mut groups: BTreeMap<PathBuf, Group> = BTreeMap::new();
    for item in items {
        let top: PathBuf = item.path.components().take(2).collect();
        let g = groups.entry(top.clone()).or_insert_with(|| Group { top, ..Group::default() });
        g.bytes += item.bytes;
        g.files += item.files;
        g.items.push(item);
    }
    let mut groups: Vec<Group> = groups.into_values().collect();
    for g in &mut groups {
        g.items.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.path.cmp(&b.path)));
    }
    groups.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.top.cmp(&b.top)));
    groups
}

/// `12.3 MiB`-style sizes.
pub(crate) fn human(bytes: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", units[u])
    }
}

/// The text form (names found in the trees, which their owners chose, escaped by
/// [`shown`]): a line per group, its biggest items indented below (at most `per_group`).
pub(crate) fn render(report: &Report, per_group: usize) -> String {
    let mut out = String::new();
    let files = |n: u64| if n == 1 { "1 file".to_string() } else { format!("{n} files") };
    if report.vanishing.is_empty() {
        out.push_str("nothing in / vanishes at the next boot\n");
    } else {
        out.push_str("vanishes at the next boot (on the root filesystem, not persisted):\n");
    }
    for g in &report.vanishing {
        out.push_str(&format!("{}  {} in {}\n", shown(&g.top), human(g.bytes), files(g.files)));
        for item in g.items.iter().filter(|i| i.path != g.top).take(per_group) {
            out.push_str(&format!(
                "  {}  {} in {}\n",
                shown(&item.path),
                human(item.bytes),
                files(item.files)
            ));
        }
        if g.items.len() > per_group {
            out.push_str(&format!("  ... and {} more\n", g.items.len() - per_group));
        }
    }
    if !report.unnamed.is_empty() {
        out.push_str("in the stores but named by no entry (kept, never deleted by lethe):\n");
        for item in &report.unnamed {
            out.push_str(&format!(
                "  {}  {} in {}\n",
                shown(&item.path),
                human(item.bytes),
                files(item.files)
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(p: &str, bytes: u64) -> Item {
        Item { path: p.into(), bytes, files: 1 }
    }

    #[test]
    fn groups_are_by_top_level_and_biggest_first() {
        let groups =
            group(vec![item("/var/tmp/a", 5), item("/srv/x", 100), item("/var/cache", 50), item("/f", 1)]);
        let tops: Vec<_> = groups.iter().map(|g| (g.top.display().to_string(), g.bytes)).collect();
        assert_eq!(tops, [("/srv".into(), 100), ("/var".into(), 55), ("/f".into(), 1)]);
        assert_eq!(groups[1].items[0].path, Path::new("/var/cache"));
    }

    #[test]
    fn named_paths_cover_what_is_below_them() {
        let n = Named::new(["/var/lib/nixos".into(), "/etc/machine-id".into()].into_iter());
        assert!(n.covers(Path::new("/var/lib/nixos/uid-map")));
        assert!(!n.covers(Path::new("/var/lib")));
        assert!(n.ancestors.contains(Path::new("/var/lib")) && n.ancestors.contains(Path::new("/")));
        assert_eq!(human(1536), "1.5 KiB");
    }

    #[test]
    fn names_from_the_trees_are_escaped() {
        let item = |p: &str| Item { path: p.into(), bytes: 1, files: 1 };
        let report = Report {
            vanishing: vec![Group {
                top: "/srv".into(),
                bytes: 2,
                files: 2,
                items: vec![item("/srv/x\n<0>lethe: forged")],
            }],
            unnamed: vec![item("/persist/y\tz")],
        };
        let text = render(&report, 10);
        assert!(text.contains("  /srv/x\\x0a<0>lethe: forged  1 B in 1 file\n"), "{text}");
        assert!(text.contains("  /persist/y\\x09z  1 B in 1 file\n"), "{text}");
    }
}
