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
/// shape is an error naming its number: guessing at a listing lethe does not understand could
/// mean setting properties on the wrong dataset.
pub(crate) fn parse_get(text: &str) -> Result<State, String> {
    let mut state = State::default();
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
        state
            .datasets
            .entry(name.to_string())
            .or_default()
            .insert(property.to_string(), Property { value: value.to_string(), source });
    }
    Ok(state)
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

    #[test]
    fn parses_pools_and_snapshots() {
        let pools = parse_pools("backup\tenabled\tdisabled\ntank\tactive\tenabled\n").unwrap();
        assert_eq!(pools["tank"].large_blocks, "active");
        assert_eq!(pools["backup"].zstd, "disabled");
        assert_eq!(pools.len(), 2);
        assert_eq!(parse_snapshots("b/s@1\nb/s@2\n\n"), ["b/s@1", "b/s@2"]);
    }
}
