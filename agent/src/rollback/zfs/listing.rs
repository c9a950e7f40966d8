//! What ZFS says is there, for the ZFS rollback: the datasets and snapshots around the root
//! and the archive, from one read-only channel program ([`LIST_PROGRAM`], its JSON and
//! mountinfo), or from `zfs list -H -p -o` [`COLUMNS`] when the program cannot run; and
//! `zfs get -H -p all` of the dataset whose properties the fresh root copies. Pure: the text
//! comes from `apply`.

use crate::mountinfo::Mount;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

/// The user property lethe sets on a root just before archiving it: when it was archived
/// (epoch seconds; `unknown` when the clock could not be trusted). Its presence is what says
/// "lethe archived this": nothing without it is ever destroyed.
pub(crate) const ARCHIVED: &str = "lethe:archived";

/// The user property that says what is in flight: `archiving:TARGET` on the root (then on the
/// archive it became, which is TARGET), `destroying` on an archive being destroyed.
pub(crate) const MARKER: &str = "lethe:rollback";

/// The columns of `zfs list`; the user properties last: their values are free text.
pub(crate) const COLUMNS: &str =
    "name,type,origin,mounted,mountpoint,canmount,encryptionroot,creation,createtxg,lethe:archived,lethe:rollback";

/// One dataset, volume or snapshot of the listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Dataset {
    pub name: String,
    /// `filesystem`, `volume` or `snapshot`.
    pub kind: String,
    /// For a clone, the snapshot it was cloned from.
    pub origin: Option<String>,
    /// None for a snapshot or a volume, and for what the listing program reads briefly (the
    /// archives: only the root, the parents and the archive parent need them).
    pub mountpoint: Option<String>,
    pub canmount: Option<String>,
    /// The dataset whose key this one uses (None: not encrypted). From the listing program,
    /// only for the datasets [`needs_encryption_root`] names (ZFS 2.1's programs cannot read
    /// it; `apply` asks `zfs get` for those): None for the others.
    pub encryption_root: Option<String>,
    pub creation: i64,
    pub createtxg: u64,
    /// [`ARCHIVED`]: `Some(None)` when set but not a time.
    pub archived: Option<Option<i64>>,
    pub marker: Option<String>,
}

impl Dataset {
    pub(crate) fn is_snapshot(&self) -> bool {
        self.kind == "snapshot"
    }
}

/// Every dataset and snapshot listed, by name (a parent before its children and snapshots),
/// and which datasets are mounted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Listing {
    pub datasets: BTreeMap<String, Dataset>,
    /// Mounted now, listed or not (an archive's child the listing program does not read).
    pub mounted: BTreeSet<String>,
}

impl Listing {
    pub(crate) fn get(&self, name: &str) -> Option<&Dataset> {
        self.datasets.get(name)
    }

    /// The datasets directly below `parent` (not snapshots).
    pub(crate) fn children<'a>(&'a self, parent: &'a str) -> impl Iterator<Item = &'a Dataset> + 'a {
        self.datasets.values().filter(move |d| {
            !d.is_snapshot()
                && d.name
                    .strip_prefix(parent)
                    .and_then(|r| r.strip_prefix('/'))
                    .is_some_and(|r| !r.contains('/'))
        })
    }

    /// The listing as the next boot's rollback will find it: `roots list` runs on the booted
    /// system, where the root is mounted, but the rollback runs before it is (in the initrd).
    pub(crate) fn as_at_boot(&mut self, root: &str) {
        self.mounted.retain(|m| !inside(m, root));
    }

    /// The first mounted dataset that is `name` or below it.
    pub(crate) fn mounted_inside(&self, name: &str) -> Option<&str> {
        self.mounted.iter().find(|m| inside(m, name)).map(String::as_str)
    }

    /// `dataset`'s own snapshots, by name.
    pub(crate) fn snapshots_of(&self, dataset: &str) -> Vec<String> {
        let prefix = format!("{dataset}@");
        self.datasets.keys().filter(|n| n.starts_with(&prefix)).cloned().collect()
    }

    /// The newest time the pool knows of among the listed: a dataset's or snapshot's creation.
    pub(crate) fn last_change(&self) -> i64 {
        self.datasets.values().map(|d| d.creation).max().unwrap_or(0)
    }
}

/// Whether `name` is `dataset`, a dataset below it, or a snapshot of either.
pub(crate) fn inside(name: &str, dataset: &str) -> bool {
    match name.strip_prefix(dataset) {
        Some(rest) => rest.is_empty() || rest.starts_with('/') || rest.starts_with('@'),
        None => false,
    }
}

/// The listing as one read-only channel program (`zfs program -n -j POOL - MODE ROOT ARCHIVE
/// [DATASET]`), in one ioctl, reading only what the plan needs: the parents of the root and
/// the archive parent, the root with everything below it, the archive parent, each archive
/// (what names and ages it), and DATASET (blankSnapshot's, when not the root) with its
/// snapshots. An archive's snapshots are read only in MODE `list` (`roots list` shows them) or
/// when it is in flight (the blank snapshot may have moved into it); datasets below an archive
/// never (under TCG each read costs milliseconds, and reading all of them cost the boot more
/// than the shell's whole rollback: bench/README.md). What a program cannot read comes from
/// elsewhere: which datasets are mounted from mountinfo, the encryption root from `zfs get`
/// (see [`Dataset::encryption_root`]; `keystatus` says where it is needed). Free text
/// (mountpoints, user properties) comes back as hex: `zfs program -j` prints strings in the
/// locale's multibyte encoding and stops at a byte it cannot decode.
pub(crate) const LIST_PROGRAM: &str = r#"-- lethe: what a rollback reads of the pool (read-only: zfs program -n)
local argv = (...)["argv"]
local mode, root, archive = argv[1], argv[2], argv[3]
local out = {}
local function hex(s)
    if s == nil then return nil end
    return (string.gsub(s, ".", function(c) return string.format("%02x", string.byte(c)) end))
end
local function parent(name) return string.match(name, "^(.*)/[^/]*$") or name end
local function entry(name, kind, full)
    if out[name] then return end
    local e = {type = kind or zfs.get_prop(name, "type")}
    e.creation = zfs.get_prop(name, "creation")
    e.createtxg = zfs.get_prop(name, "createtxg")
    if e.type ~= "snapshot" then
        e.origin = zfs.get_prop(name, "origin")
        if full then
            e.mountpoint = hex(zfs.get_prop(name, "mountpoint"))
            e.canmount = zfs.get_prop(name, "canmount")
            e.keystatus = zfs.get_prop(name, "keystatus")
        end
    end
    e.archived = hex(zfs.get_prop(name, "lethe:archived"))
    e.marker = hex(zfs.get_prop(name, "lethe:rollback"))
    out[name] = e
end
local function snapshots(ds)
    for snap in zfs.list.snapshots(ds) do entry(snap, "snapshot") end
end
local function tree(ds)
    entry(ds, nil, true)
    snapshots(ds)
    for child in zfs.list.children(ds) do tree(child) end
end
for _, p in ipairs({parent(root), parent(archive)}) do
    if zfs.exists(p) then entry(p, nil, true) end
end
if zfs.exists(root) then tree(root) end
if zfs.exists(archive) then
    entry(archive, nil, true)
    for a in zfs.list.children(archive) do
        entry(a)
        if mode == "list" or out[a].marker then snapshots(a) end
    end
end
for i = 4, #argv do
    if zfs.exists(argv[i]) then entry(argv[i], nil, true); snapshots(argv[i]) end
end
return {datasets = out}
"#;

/// What [`LIST_PROGRAM`] returns, as `zfs program -j` prints it (`{"return": ...}`; a value
/// the program found `nil` is left out).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Printed {
    #[serde(rename = "return")]
    returned: Returned,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Returned {
    #[serde(default)]
    datasets: BTreeMap<String, Listed>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Listed {
    #[serde(rename = "type")]
    kind: String,
    creation: i64,
    createtxg: u64,
    origin: Option<String>,
    mountpoint: Option<String>,
    canmount: Option<String>,
    keystatus: Option<String>,
    archived: Option<String>,
    marker: Option<String>,
}

/// What the listing program found: the listing, and which datasets are encrypted (their
/// encryption root still to be read).
#[derive(Debug)]
pub(crate) struct Programmed {
    pub listing: Listing,
    pub encrypted: BTreeSet<String>,
}

/// Parses [`LIST_PROGRAM`]'s output; `mounts` say what is mounted: a dataset is when a mount's
/// source is its name (zfs's own mounts, as libzfs decides; the filesystem type is not checked,
/// so anything else mounted under that name holds it too: wrong only towards keeping).
pub(crate) fn parse_program(json: &str, mounts: &[Mount]) -> Result<Programmed, String> {
    let printed: Printed =
        serde_json::from_str(json).map_err(|e| format!("the listing program's output: {e}: {json:.200}"))?;
    let Returned { datasets } = printed.returned;
    let text = |name: &str, what: &str, v: Option<String>| -> Result<Option<String>, String> {
        v.map(|h| {
            hex::decode(&h)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .map_err(|e| format!("the listing program's output: {name}: {what}: not hex: {e}"))
        })
        .transpose()
    };
    let mut out = Programmed { listing: Listing::default(), encrypted: BTreeSet::new() };
    out.listing.mounted = mounts.iter().map(|m| m.source.clone()).collect();
    for (name, d) in datasets {
        if d.keystatus.as_deref().is_some_and(|k| k != "none") {
            out.encrypted.insert(name.clone());
        }
        let dataset = Dataset {
            origin: d.origin.filter(|o| !o.is_empty()),
            mountpoint: text(&name, "mountpoint", d.mountpoint)?,
            canmount: d.canmount,
            encryption_root: None,
            creation: d.creation,
            createtxg: d.createtxg,
            archived: text(&name, ARCHIVED, d.archived)?.map(|v| v.parse().ok()),
            marker: text(&name, MARKER, d.marker)?,
            kind: d.kind,
            name: name.clone(),
        };
        out.listing.datasets.insert(name, dataset);
    }
    Ok(out)
}

/// The datasets whose encryption root the plan reads: the root, the archive parent and its
/// parent (see `plan::check_root`).
pub(crate) fn needs_encryption_root(dataset: &str, archive: &str) -> [String; 3] {
    let parent = archive.rsplit_once('/').map_or(archive, |(p, _)| p);
    [dataset.to_string(), archive.to_string(), parent.to_string()]
}

/// Parses `zfs get -H -p -o name,value encryptionroot NAMES...` into `listing`: each of
/// `names` exactly once (names hold no tab or newline, and neither do the values: dataset names).
pub(crate) fn set_encryption_roots(
    listing: &mut Listing,
    text: &str,
    names: &[String],
) -> Result<(), String> {
    let mut seen = BTreeSet::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let bad = |why: &str| format!("zfs get encryptionroot: {why}: {line:?}");
        let (name, value) = line.split_once('\t').ok_or_else(|| bad("expected name and value"))?;
        if !names.iter().any(|n| n == name) || !seen.insert(name.to_string()) {
            return Err(bad("not asked for, or listed twice"));
        }
        if let Some(d) = listing.datasets.get_mut(name) {
            d.encryption_root = dash(value);
        }
    }
    match names.iter().find(|n| !seen.contains(n.as_str())) {
        Some(n) => Err(format!("zfs get encryptionroot: {n}: not in its output")),
        None => Ok(()),
    }
}

fn dash(v: &str) -> Option<String> {
    (v != "-" && !v.is_empty()).then(|| v.to_string())
}

/// Parses `zfs list -H -p -o` [`COLUMNS`]. `names` is `zfs list -H -o name` of the same
/// datasets (names cannot hold a newline; user property values can): the listing must name
/// exactly those, in that order, or it is refused whole, since a forged line could fake an
/// archive or a marker.
pub(crate) fn parse_list(text: &str, names: &[String]) -> Result<Listing, String> {
    let mut listing = Listing::default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    if lines.len() != names.len() {
        return Err(format!(
            "zfs list printed {} lines for {} datasets (a user property whose value holds a newline?); \
             refusing the listing",
            lines.len(),
            names.len()
        ));
    }
    for (i, (line, want)) in lines.iter().zip(names).enumerate() {
        let bad = |why: &str| format!("zfs list output line {}: {why}: {line:?}", i + 1);
        let f: Vec<&str> = line.splitn(11, '\t').collect();
        let [name, kind, origin, mounted, mountpoint, canmount, encroot, creation, createtxg, archived, marker] =
            f[..]
        else {
            return Err(bad("expected 11 tab-separated columns"));
        };
        if name != want {
            return Err(bad(&format!("expected {want} here (a forged line?)")));
        }
        let number = |v: &str| v.parse::<i64>().map_err(|_| bad("creation is not a number"));
        let dataset = Dataset {
            name: name.to_string(),
            kind: kind.to_string(),
            origin: dash(origin),
            mountpoint: dash(mountpoint),
            canmount: dash(canmount),
            encryption_root: dash(encroot),
            creation: number(creation)?,
            createtxg: createtxg.parse().map_err(|_| bad("createtxg is not a number"))?,
            archived: dash(archived).map(|v| v.parse().ok()),
            marker: dash(marker),
        };
        if mounted == "yes" {
            listing.mounted.insert(name.to_string());
        }
        if listing.datasets.insert(name.to_string(), dataset).is_some() {
            return Err(bad("listed twice"));
        }
    }
    Ok(listing)
}

/// Properties that are set when a dataset is created and cannot be changed: `zfs get` shows
/// them with source `-`, so the fresh root takes them from the old one explicitly.
const CREATE_ONLY: &[&str] = &["casesensitivity", "normalization", "utf8only"];

/// Properties a fresh root never copies: lethe's own, and the encryption ones (a fresh root
/// inherits its key from its parent: see `plan::check`).
fn never_copied(property: &str) -> bool {
    property.starts_with("lethe:")
        || matches!(property, "encryption" | "keyformat" | "keylocation" | "pbkdf2iters" | "encryptionroot")
}

/// The properties the fresh root gets, from `zfs get -H -p -o property,value,source all
/// DATASET` of the old root: the locally set (and received) ones, plus the create-only ones
/// for a `zfs create` (a clone takes those from its origin and refuses them). A property listed
/// twice (a user property value holding a newline) refuses the whole listing.
pub(crate) fn fresh_properties(text: &str, for_clone: bool) -> Result<BTreeMap<String, String>, String> {
    let mut seen = BTreeMap::new();
    let mut out = BTreeMap::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.is_empty()) {
        let bad = || format!("zfs get output line {}: expected property, value, source: {line:?}", i + 1);
        let (property, rest) = line.split_once('\t').ok_or_else(bad)?;
        let (value, source) = rest.rsplit_once('\t').ok_or_else(bad)?;
        if seen.insert(property.to_string(), ()).is_some() {
            return Err(format!(
                "zfs get output line {}: {property} listed twice (a user property value holding a \
                 newline?); refusing the listing",
                i + 1
            ));
        }
        let copied = match source {
            "local" | "received" => !never_copied(property),
            "-" => !for_clone && CREATE_ONLY.contains(&property),
            _ => false,
        };
        if copied {
            out.insert(property.to_string(), value.to_string());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    // What OpenZFS 2.1.11 printed for one pool (see testdata/README.md).
    const PLAIN: &str = include_str!("testdata/program-plain.txt");
    const ENCRYPTED: &str = include_str!("testdata/program-enc.txt");
    const ODD: &str = include_str!("testdata/program-odd.txt");
    /// Holds a byte that is not UTF-8 (lethe reads `zfs` output lossily, as here).
    const LIST: &[u8] = include_bytes!("testdata/list.txt");
    const MOUNTINFO: &str = include_str!("testdata/mountinfo.txt");
    const ENCRYPTION_ROOTS: &str = include_str!("testdata/encryptionroot.txt");
    const ODD_ARCHIVE: &str = "t/odd one/old_roots/x";

    fn programmed(json: &str) -> Programmed {
        parse_program(json, &crate::mountinfo::parse(MOUNTINFO)).unwrap()
    }

    /// The whole pool through `zfs list`, less the dataset whose user property holds a newline
    /// (its line is two: `zfs list` cannot show it, the program can).
    fn listed() -> Listing {
        let text: String = String::from_utf8_lossy(LIST)
            .lines()
            .filter(|l| (l.starts_with("t/") || l.starts_with("t\t")) && !l.starts_with(ODD_ARCHIVE))
            .map(|l| format!("{l}\n"))
            .collect();
        let names: Vec<String> = text.lines().map(|l| l.split('\t').next().unwrap().to_string()).collect();
        parse_list(&text, &names).unwrap()
    }

    /// Each entry the program read is what `zfs list` shows of it, but for what it does not
    /// read: how an archive mounts, and encryption roots (asked of `zfs get` where needed).
    fn same_as_zfs_list(found: &Listing, brief: &[&str]) {
        let listed = listed();
        for (name, d) in &found.datasets {
            let mut want = listed.datasets[name].clone();
            want.encryption_root = None;
            if brief.contains(&name.as_str()) {
                (want.mountpoint, want.canmount) = (None, None);
            }
            assert_eq!(d, &want, "{name}");
        }
    }

    #[test]
    fn the_program_reads_what_zfs_list_shows_of_what_the_plan_needs() {
        let found = programmed(PLAIN).listing;
        let names: Vec<&str> = found.datasets.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "t/local",
                "t/local/old_roots",
                "t/local/old_roots/2025-12-01_00:00:00",
                "t/local/old_roots/2025-12-01_00:00:00@autosnap_2025-12-01_00:00:00_daily",
                "t/local/root",
                "t/local/root/var",
                "t/local/root@blank",
            ],
            "not t/local/clone or t/local/vol: they are beside the root, not in it"
        );
        same_as_zfs_list(&found, &["t/local/old_roots/2025-12-01_00:00:00"]);
        assert!(found.mounted.contains("t/local/root") && found.mounted.contains("t/odd one"));
        assert_eq!(found.mounted_inside("t/local"), Some("t/local/root"));
        assert_eq!(found.snapshots_of("t/local/root"), ["t/local/root@blank"]);
    }

    #[test]
    fn odd_values_come_through_byte_for_byte() {
        let found = programmed(ODD).listing;
        let odd = &found.datasets[ODD_ARCHIVE];
        assert_eq!(odd.marker.as_deref(), Some("two\nlines\tand é \u{fffd}"));
        assert_eq!(odd.archived, Some(None), "lethe:archived=not-a-time");
        assert_eq!(found.datasets["t/odd one"].mountpoint.as_deref(), Some("/mnt/odd one"));
        assert_eq!(found.mounted_inside("t/odd one"), Some("t/odd one"));
        let mut rest = found.clone();
        rest.datasets.remove(ODD_ARCHIVE);
        same_as_zfs_list(&rest, &[]);
    }

    #[test]
    fn zfs_list_refuses_what_a_newline_would_forge() {
        let list = String::from_utf8_lossy(LIST);
        let names: Vec<String> = list
            .lines()
            .filter(|l| l.starts_with("t/") || l.starts_with("t\t"))
            .map(|l| l.split('\t').next().unwrap().to_string())
            .collect();
        let err = parse_list(&list, &names).unwrap_err();
        assert!(
            err.contains(&format!("printed {} lines for {} datasets", names.len() + 1, names.len())),
            "{err}"
        );
    }

    #[test]
    fn an_encrypted_root_gets_its_encryption_root_from_zfs_get() {
        let found = programmed(ENCRYPTED);
        let names: Vec<String> = found.encrypted.iter().cloned().collect();
        assert_eq!(names, ["t/enc", "t/enc/old_roots", "t/enc/root"]);
        let wanted = needs_encryption_root("t/enc/root", "t/enc/old_roots");
        assert_eq!(wanted, ["t/enc/root", "t/enc/old_roots", "t/enc"]);
        let mut listing = found.listing;
        set_encryption_roots(&mut listing, ENCRYPTION_ROOTS, &wanted).unwrap();
        let listed = listed();
        for name in wanted {
            assert_eq!(listing.datasets[&name], listed.datasets[&name], "{name}");
        }
    }

    #[test]
    fn bad_program_output_is_refused_with_what_was_wrong() {
        let cases = [
            ("", "the listing program's output: EOF while parsing"),
            (
                r#"{"return": {"datasets": {"t": {"type": "filesystem", "creation": 1, "createtxg": 1, "marker": "zz"}}}}"#,
                "the listing program's output: t: lethe:rollback: not hex",
            ),
            (
                r#"{"return": {"datasets": {"t": {"type": "filesystem", "creation": 1}}}}"#,
                "missing field `createtxg`",
            ),
            (r#"{"return": {"datasets": {}, "extra": 1}}"#, "unknown field `extra`"),
        ];
        for (json, want) in cases {
            let err = parse_program(json, &[]).unwrap_err();
            assert!(err.contains(want), "{json}: {err}");
        }
    }

    #[test]
    fn encryption_roots_must_answer_exactly_what_was_asked() {
        let mut listing = programmed(ENCRYPTED).listing;
        let names = vec!["t/enc/root".to_string()];
        assert!(set_encryption_roots(&mut listing, "t/enc/root\tt/enc\n", &names).is_ok());
        for text in ["", "t/enc/root\tt/enc\nt/enc/root\tt/enc\n", "t/enc\tt/enc\n", "t/enc/root t/enc\n"] {
            assert!(set_encryption_roots(&mut listing, text, &names).is_err(), "{text:?}");
        }
    }

    #[test]
    fn roots_list_plans_as_if_the_root_were_not_mounted() {
        let mut listing = programmed(PLAIN).listing;
        listing.as_at_boot("t/local/root");
        assert_eq!(listing.mounted_inside("t/local"), None);
        assert_eq!(listing.mounted_inside("t/odd one"), Some("t/odd one"), "only the root's tree");
    }
}
