//! What ZFS says is there, parsed from the text of OpenZFS 2.1's scripting output (`-H -p`:
//! tab-separated, exact numbers); 2.1 has no `--json`. Pure: the text comes from `apply`.

use std::collections::BTreeMap;

/// Where a property's value comes from: `zfs get`'s `source` column.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Source {
    Local,
    Default,
    /// `inherited from NAME`.
    Inherited(String),
    /// Set for this mount only (a mount option): not what is stored.
    Temporary,
    /// Came with `zfs receive`.
    Received,
    /// `-`: a read-only or create-only property, or a user property that is not set.
    None,
}

impl Source {
    fn parse(text: &str) -> Option<Source> {
        Some(match text {
            "local" => Source::Local,
            "default" => Source::Default,
            "temporary" => Source::Temporary,
            "received" => Source::Received,
            "-" => Source::None,
            _ => Source::Inherited(text.strip_prefix("inherited from ")?.to_string()),
        })
    }

    pub(crate) fn describe(&self) -> String {
        match self {
            Source::Local => "local".into(),
            Source::Default => "default".into(),
            Source::Inherited(from) => format!("inherited from {from}"),
            Source::Temporary => "temporary".into(),
            Source::Received => "received".into(),
            Source::None => "-".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Property {
    pub value: String,
    pub source: Source,
}

/// Every dataset the listing names, with its properties, by name (parents sort before their
/// children: a name is a prefix of its children's).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct State {
    pub datasets: BTreeMap<String, BTreeMap<String, Property>>,
}

impl State {
    pub(crate) fn get(&self, dataset: &str, property: &str) -> Option<&Property> {
        self.datasets.get(dataset)?.get(property)
    }

    pub(crate) fn exists(&self, dataset: &str) -> bool {
        self.datasets.contains_key(dataset)
    }
}

/// Parses `zfs get -H -p -o name,property,value,source ...`. A line that does not have this
/// shape, or names a property of a dataset again, is an error naming its number: guessing at a
/// listing lethe does not understand could mean setting properties on the wrong dataset.
/// Only the plan's table tests read listings this way (their `state.txt`); lethe itself reads
/// what `zfs get` prints through [`parse_get_exact`].
#[cfg(test)]
pub(crate) fn parse_get(text: &str) -> Result<State, String> {
    let mut state = State::default();
    for (number, name, property, value) in lines(text)? {
        let properties = state.datasets.entry(name.to_string()).or_default();
        if properties.insert(property.to_string(), value).is_some() {
            return Err(format!(
                "zfs get output line {number}: {name} {property} listed twice (a value holding a newline?)"
            ));
        }
    }
    Ok(state)
}

/// The lines of `zfs get` output: (line number, name, property, value and source).
fn lines(text: &str) -> Result<Vec<(usize, &str, &str, Property)>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.is_empty() {
            continue;
        }
        let bad = || {
            format!("zfs get output line {}: expected name, property, value, source separated by tabs, got {line:?}", i + 1)
        };
        let (name, rest) = line.split_once('\t').ok_or_else(bad)?;
        let (property, rest) = rest.split_once('\t').ok_or_else(bad)?;
        // A value may hold a tab (user properties are free text); the source never does.
        let (value, source) = rest.rsplit_once('\t').ok_or_else(bad)?;
        let source = Source::parse(source).ok_or_else(bad)?;
        if name.is_empty() || property.is_empty() {
            return Err(bad());
        }
        out.push((i + 1, name, property, Property { value: value.to_string(), source }));
    }
    Ok(out)
}

/// Parses the output of `zfs get -r` of `properties` and checks that it lists exactly that
/// for `datasets` (from `zfs list -o name`, whose names cannot hold a newline): each line a
/// property asked for of one of them, every property of every dataset once. `zfs get -H` prints
/// a user property's value raw, so a value holding a newline forges lines, for any dataset, in
/// the listing of anyone allowed to set a user property anywhere in the pool: output that is
/// not exactly what was asked for is refused whole.
pub(crate) fn parse_get_exact(
    text: &str,
    datasets: &[String],
    properties: &[String],
) -> Result<State, String> {
    let refuse = |what: String| {
        Err(format!(
            "zfs get output {what}; refusing the whole listing (a user property whose value holds a \
             newline can forge lines)"
        ))
    };
    let mut state = State::default();
    for (number, name, property, value) in lines(text)? {
        if !datasets.iter().any(|d| d == name) {
            return refuse(format!("line {number}: {name} is not a dataset zfs list names"));
        }
        if !properties.iter().any(|p| p == property) {
            return refuse(format!("line {number}: {name}: {property} was not asked for"));
        }
        let listed = state.datasets.entry(name.to_string()).or_default();
        if listed.insert(property.to_string(), value).is_some() {
            return refuse(format!("line {number}: {name} {property} listed twice"));
        }
    }
    for name in datasets {
        let listed = state.datasets.get(name).map_or(0, BTreeMap::len);
        if listed != properties.len() {
            return refuse(format!(
                "lists {listed} of the {} properties asked for of {name} (a dataset made meanwhile?)",
                properties.len()
            ));
        }
    }
    Ok(state)
}

/// Dataset names from `zfs list -H -o name`, one a line.
pub(crate) fn parse_names(text: &str) -> Vec<String> {
    text.lines().filter(|l| !l.is_empty()).map(str::to_string).collect()
}

/// The `zpool list -o` columns [`parse_pools`] reads.
pub(crate) const POOL_COLUMNS: &str = "name,feature@large_blocks,feature@zstd_compress";

/// One imported pool, from `zpool list -H -o` [`POOL_COLUMNS`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pool {
    pub name: String,
    /// `enabled`, `active`, `disabled`, or `-` when the pool cannot have the feature.
    pub large_blocks: String,
    /// The same for zstd compression (OpenZFS 2.0 and later).
    pub zstd: String,
}

pub(crate) fn parse_pools(text: &str) -> Result<BTreeMap<String, Pool>, String> {
    let mut pools = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        let [name, large_blocks, zstd] = fields[..] else {
            return Err(format!(
                "zpool list output line {}: expected {POOL_COLUMNS} separated by tabs, got {line:?}",
                i + 1
            ));
        };
        let pool =
            Pool { name: name.to_string(), large_blocks: large_blocks.to_string(), zstd: zstd.to_string() };
        pools.insert(name.to_string(), pool);
    }
    Ok(pools)
}

/// Snapshot names (`pool/ds@snap`) from `zfs list -H -p -t snapshot -o name -s createtxg`,
/// oldest first, as listed.
pub(crate) fn parse_snapshots(text: &str) -> Vec<String> {
    text.lines().map(str::trim).filter(|l| l.contains('@')).map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_get_output_with_every_source() {
        let text = "tank\tmountpoint\t/tank\tdefault\n\
                    tank/services\tmountpoint\tnone\tlocal\n\
                    tank/services/a\tmountpoint\tnone\tinherited from tank/services\n\
                    tank/services/a\tatime\toff\ttemporary\n\
                    tank/services/a\tcompression\tlz4\treceived\n\
                    tank/services/a\tnixos:note\ttwo\twords\tlocal\n\
                    tank/services/a\tencryption\toff\t-\n";
        let s = parse_get(text).unwrap();
        assert_eq!(s.datasets.len(), 3);
        let a = |p: &str| s.get("tank/services/a", p).unwrap().clone();
        assert_eq!(a("mountpoint").source, Source::Inherited("tank/services".into()));
        assert_eq!(a("atime").source, Source::Temporary);
        assert_eq!(a("compression").source, Source::Received);
        assert_eq!(a("nixos:note").value, "two\twords");
        assert_eq!(a("encryption").source, Source::None);
        assert_eq!(s.get("tank", "mountpoint").unwrap().source, Source::Default);
    }

    #[test]
    fn refuses_what_it_does_not_understand() {
        for bad in [
            "tank\tmountpoint\t/tank",
            "tank mountpoint /tank default",
            "tank\tmountpoint\t/tank\tfrom elsewhere",
        ] {
            let e = parse_get(&format!("tank\tatime\ton\tdefault\n{bad}\n")).unwrap_err();
            assert!(e.starts_with("zfs get output line 2:"), "{e}");
        }
        assert!(parse_pools("tank\n").is_err());
    }

    fn asked() -> (Vec<String>, Vec<String>) {
        let names = parse_names("tank\ntank/a\ntank/b\n");
        (names, vec!["lethe:migration".into(), "mountpoint".into(), "note:x".into()])
    }

    /// `zfs get -r` of [`asked`], with `note` as the value of tank/a's `note:x`.
    fn listing(note: &str) -> String {
        format!(
            "tank\tlethe:migration\t-\t-\ntank\tmountpoint\t/tank\tdefault\ntank\tnote:x\t-\t-\n\
             tank/a\tlethe:migration\t-\t-\ntank/a\tmountpoint\t/a\tlocal\ntank/a\tnote:x\t{note}\tlocal\n\
             tank/b\tlethe:migration\t-\t-\ntank/b\tmountpoint\t/b\tlocal\ntank/b\tnote:x\t-\t-\n"
        )
    }

    #[test]
    fn an_exact_listing_is_read() {
        let (names, props) = asked();
        let s = parse_get_exact(&listing("two\twords"), &names, &props).unwrap();
        assert_eq!(s.datasets.len(), 3);
        assert_eq!(s.get("tank/a", "note:x").unwrap().value, "two\twords");
        assert_eq!(s.get("tank/b", "lethe:migration").unwrap().source, Source::None);
    }

    #[test]
    fn a_value_with_a_newline_cannot_forge_lines() {
        let (names, props) = asked();
        let forged = [
            // Another dataset's migration record: listed twice.
            ("x\tlocal\ntank/b\tlethe:migration\tpending:/etc", "line 8: tank/b lethe:migration listed twice"),
            ("x\tlocal\ntank\tlethe:migration\tpending:/etc", "line 7: tank lethe:migration listed twice"),
            // A whole dataset that does not exist.
            (
                "x\tlocal\ntank/ghost\tlethe:migration\tpending:/etc\tlocal\ntank/ghost\tmountpoint\t/etc\tlocal\n\
                 tank/ghost\tnote:x\ty",
                "line 7: tank/ghost is not a dataset zfs list names",
            ),
            // A property not asked for.
            ("x\tlocal\ntank/b\tmounted\tyes", "line 7: tank/b: mounted was not asked for"),
            // A value cut short: its line lacks the source.
            ("x\ntank/b", "line 6: expected name, property, value, source"),
        ];
        for (note, want) in forged {
            let text = listing(note);
            let e = parse_get_exact(&text, &names, &props).unwrap_err();
            assert!(e.starts_with(&format!("zfs get output {want}")), "{note:?}: {e}");
            // The parser of the plan's table cases refuses a repeated line too.
            if want.contains("twice") {
                assert!(parse_get(&text).is_err(), "{note:?}");
            }
        }
        // A dataset missing a property, or one zfs list did not name, is refused.
        let short = listing("y").replace("tank/b\tnote:x\t-\t-\n", "");
        assert!(parse_get_exact(&short, &names, &props)
            .unwrap_err()
            .contains("2 of the 3 properties asked for of tank/b"));
        let e = parse_get_exact(&listing("y"), &parse_names("tank\ntank/a\n"), &props).unwrap_err();
        assert!(e.contains("tank/b is not a dataset zfs list names"), "{e}");
    }

    #[test]
    fn parses_pools_and_snapshots() {
        let pools = parse_pools("backup\tenabled\tdisabled\ntank\tactive\tenabled\n").unwrap();
        assert_eq!(pools["tank"].large_blocks, "active");
        assert_eq!(pools["backup"].zstd, "disabled");
        assert_eq!(pools.len(), 2);
        assert_eq!(parse_snapshots("b/s@1\nb/s@2\n\n"), ["b/s@1", "b/s@2"]);
    }
}
