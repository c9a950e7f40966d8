//! What ZFS says is there, for the ZFS rollback: `zfs list -H -p -o` [`COLUMNS`] of the
//! datasets and snapshots around the root and the archive, and `zfs get -H -p all` of the
//! dataset whose properties the fresh root copies. Pure: the text comes from `apply`.

use std::collections::BTreeMap;

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
    /// The dataset whose key this one uses (None: not encrypted).
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
