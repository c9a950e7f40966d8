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
    pub mounted: bool,
    pub mountpoint: String,
    pub canmount: String,
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

/// Every dataset and snapshot listed, by name (a parent before its children and snapshots).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Listing {
    pub datasets: BTreeMap<String, Dataset>,
}

impl Listing {
    pub(crate) fn get(&self, name: &str) -> Option<&Dataset> {
        self.datasets.get(name)
    }

    /// `name`'s filesystems, volumes and snapshots below it, itself included.
    pub(crate) fn tree<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Dataset> + 'a {
        self.datasets.values().filter(move |d| inside(&d.name, name))
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
        for d in self.datasets.values_mut().filter(|d| inside(&d.name, root)) {
            d.mounted = false;
        }
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

/// The listing as one read-only channel program (`zfs program -n -j POOL - SCOPE...`): every
/// filesystem, volume and snapshot in the scopes, with what [`COLUMNS`] reads, but in one
/// ioctl instead of several per dataset (under TCG, `zfs list` of 246 entries took 9 s; see
/// bench/README.md). What a program cannot read comes from elsewhere: `mounted` from
/// mountinfo (libzfs reads it there too), the encryption root from `zfs get` (see
/// [`Dataset::encryption_root`]); `keystatus` says whether that is needed. Free text
/// (mountpoints, user properties) is returned as hex: `zfs program -j` prints strings in the
/// locale's multibyte encoding and stops at a byte it cannot decode.
pub(crate) const LIST_PROGRAM: &str = r#"-- lethe: list the datasets and snapshots under argv (read-only: zfs program -n)
local out, missing = {}, {}
local function hex(s)
    if s == nil then return nil end
    return (string.gsub(s, ".", function(c) return string.format("%02x", string.byte(c)) end))
end
local function one(name, kind)
    local e = {type = kind}
    e.creation = zfs.get_prop(name, "creation")
    e.createtxg = zfs.get_prop(name, "createtxg")
    e.origin = zfs.get_prop(name, "origin")
    if kind ~= "snapshot" then
        e.mountpoint = hex(zfs.get_prop(name, "mountpoint"))
        e.canmount = zfs.get_prop(name, "canmount")
        e.keystatus = zfs.get_prop(name, "keystatus")
    end
    e.archived = hex(zfs.get_prop(name, "lethe:archived"))
    e.marker = hex(zfs.get_prop(name, "lethe:rollback"))
    out[name] = e
end
local function walk(ds)
    one(ds, zfs.get_prop(ds, "type"))
    for snap in zfs.list.snapshots(ds) do one(snap, "snapshot") end
    for child in zfs.list.children(ds) do walk(child) end
end
for _, s in ipairs((...)["argv"]) do
    if zfs.exists(s) then walk(s) else table.insert(missing, s) end
end
return {datasets = out, missing = missing}
"#;

/// What [`LIST_PROGRAM`] returns, as `zfs program -j` prints it (`{"return": ...}`; a Lua
/// list is an object keyed "1", "2", ...).
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
    #[serde(default)]
    missing: BTreeMap<String, String>,
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

/// Parses [`LIST_PROGRAM`]'s output; `mounts` say which filesystems are mounted (a mount whose
/// source is the dataset, as libzfs decides). A scope that does not exist is an error naming it.
pub(crate) fn parse_program(json: &str, mounts: &[Mount]) -> Result<Programmed, String> {
    let printed: Printed =
        serde_json::from_str(json).map_err(|e| format!("the listing program's output: {e}: {json:.200}"))?;
    let Returned { datasets, missing } = printed.returned;
    if let Some(name) = missing.values().next() {
        return Err(format!("{name}: dataset does not exist"));
    }
    let text = |name: &str, what: &str, v: Option<String>| -> Result<Option<String>, String> {
        v.map(|h| {
            hex::decode(&h)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .map_err(|e| format!("the listing program's output: {name}: {what}: not hex: {e}"))
        })
        .transpose()
    };
    let mut out = Programmed { listing: Listing::default(), encrypted: BTreeSet::new() };
    for (name, d) in datasets {
        if d.keystatus.as_deref().is_some_and(|k| k != "none") {
            out.encrypted.insert(name.clone());
        }
        let dataset = Dataset {
            mounted: d.kind == "filesystem" && mounts.iter().any(|m| m.source == name),
            origin: d.origin.filter(|o| !o.is_empty()),
            mountpoint: text(&name, "mountpoint", d.mountpoint)?.unwrap_or_else(|| "-".into()),
            canmount: d.canmount.unwrap_or_else(|| "-".into()),
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
            mounted: mounted == "yes",
            mountpoint: mountpoint.to_string(),
            canmount: canmount.to_string(),
            encryption_root: dash(encroot),
            creation: number(creation)?,
            createtxg: createtxg.parse().map_err(|_| bad("createtxg is not a number"))?,
            archived: dash(archived).map(|v| v.parse().ok()),
            marker: dash(marker),
        };
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

    const PROGRAM: &str = include_str!("testdata/program.txt");
    /// Holds a byte that is not UTF-8 (lethe reads `zfs` output lossily, as here).
    const LIST: &[u8] = include_bytes!("testdata/list.txt");
    const MOUNTINFO: &str = include_str!("testdata/mountinfo.txt");
    const ENCRYPTION_ROOTS: &str = include_str!("testdata/encryptionroot.txt");
    const ODD: &str = "t/odd one";

    fn programmed() -> Listing {
        let found = parse_program(PROGRAM, &crate::mountinfo::parse(MOUNTINFO)).unwrap();
        let mut listing = found.listing;
        let names: Vec<String> = found.encrypted.into_iter().collect();
        assert_eq!(names, ["t/enc", "t/enc/old_roots", "t/enc/root"]);
        set_encryption_roots(&mut listing, ENCRYPTION_ROOTS, &names).unwrap();
        listing
    }

    /// The same pool through `zfs list`, less the dataset whose user property holds a newline
    /// (its line is two: `zfs list` cannot show it, the program can).
    fn listed() -> Listing {
        let text: String = String::from_utf8_lossy(LIST)
            .lines()
            .filter(|l| (l.starts_with("t/") || l.starts_with("t\t")) && !l.starts_with(ODD))
            .map(|l| format!("{l}\n"))
            .collect();
        let names: Vec<String> = text.lines().map(|l| l.split('\t').next().unwrap().to_string()).collect();
        parse_list(&text, &names).unwrap()
    }

    #[test]
    fn the_program_sees_what_zfs_list_sees() {
        let (mut programmed, listed) = (programmed(), listed());
        let odd = programmed.datasets.remove(ODD).expect("the odd dataset is listed");
        assert_eq!(
            programmed.datasets.keys().collect::<Vec<_>>(),
            listed.datasets.keys().collect::<Vec<_>>()
        );
        for (name, d) in &programmed.datasets {
            let mut want = listed.datasets[name].clone();
            if !name.starts_with("t/enc") {
                // Read only where the plan needs it (and the pool is encrypted there).
                want.encryption_root = None;
            }
            assert_eq!(d, &want, "{name}");
        }
        assert!(programmed.datasets["t/local/root"].mounted);
        assert_eq!(programmed.datasets["t/local/clone"].origin.as_deref(), Some("t/local/root@blank"));
        assert_eq!(programmed.datasets["t/local/vol"].kind, "volume");
        assert_eq!(odd.marker.as_deref(), Some("two\nlines\tand é \u{fffd}"));
        assert_eq!((odd.mountpoint.as_str(), odd.mounted), ("/mnt/odd one", true));
        assert_eq!(odd.archived, Some(None), "lethe:archived=not-a-time");
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
        assert!(err.contains("printed 15 lines for 14 datasets"), "{err}");
    }

    #[test]
    fn bad_program_output_is_refused_with_what_was_wrong() {
        let cases = [
            ("", "the listing program's output: EOF while parsing"),
            (r#"{"return": {"datasets": {}, "missing": {"1": "t/gone"}}}"#, "t/gone: dataset does not exist"),
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
        let mut listing = programmed();
        let names = vec!["t/enc/root".to_string()];
        assert!(set_encryption_roots(&mut listing, "t/enc/root\tt/enc\n", &names).is_ok());
        for text in ["", "t/enc/root\tt/enc\nt/enc/root\tt/enc\n", "t/enc\tt/enc\n", "t/enc/root t/enc\n"] {
            assert!(set_encryption_roots(&mut listing, text, &names).is_err(), "{text:?}");
        }
    }

    #[test]
    fn roots_list_plans_as_if_the_root_were_not_mounted() {
        let mut listing = programmed();
        listing.as_at_boot("t/local/root");
        assert!(!listing.datasets["t/local/root"].mounted);
        assert!(listing.datasets[ODD].mounted, "only the root's tree");
    }
}
