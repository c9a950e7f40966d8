//! Restoring an empty dataset from the first of its `restore` sources that has data: the
//! decision, pure, over what each source lists and lethe's record on the dataset
//! (`lethe:restore`: `pending:SOURCE` while a restore fills a dataset lethe created, then
//! `done:SOURCE`, or `done:none` when every source was asked and none had data).
//!
//! A source that cannot be asked (a host down, a pool not imported, a wrong password) stops the
//! walk: restoring an older copy from a later source while a newer one may exist would start
//! the service on old data without anyone deciding so. The run fails and says which source.

use super::state::{Source, State};
use crate::config::datasets::RestoreSource;

/// lethe's record of a restore on the dataset itself.
pub(crate) const RESTORE_PROPERTY: &str = "lethe:restore";

/// What one source holds, as far as this run asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Listing {
    /// Its newest snapshot (a ZFS snapshot name, or a restic snapshot id).
    Has(String),
    /// It answered and holds nothing (no such dataset, no snapshot).
    Empty,
    /// It could not be asked: why.
    Failed(String),
    /// Not asked in this run: a network source during the boot's `lethe datasets`.
    NotAsked,
}

/// The dataset as the restore sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Current {
    Missing,
    /// `pending:SOURCE`, set by lethe on the dataset itself: a restore was interrupted, what
    /// the dataset holds is partial and lethe made it.
    Pending,
    /// `done:...`: restored (or found nothing to restore) once; never again.
    Done,
    /// No record, and the dataset holds nothing (mounted, no entries, no snapshot).
    UnmarkedEmpty,
    /// No record, and it holds data (or could not be measured): not lethe's to replace.
    UnmarkedData,
    /// A record lethe did not write this way: why.
    Foreign(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    Nothing,
    /// Restore from `sources[source]`, its snapshot `what`.
    From {
        source: usize,
        what: String,
    },
    /// Every source answered empty: create the dataset empty, recorded `done:none`.
    Fresh,
    /// A network source comes before any local one with data: the dataset's restore unit
    /// (after `network-online.target`) decides.
    Defer,
    Fail(String),
}

/// Reads the record on `dataset` in `state` (with whether an unmarked dataset is empty).
pub(crate) fn current(state: &State, dataset: &str, empty: bool) -> Current {
    if !state.exists(dataset) {
        return Current::Missing;
    }
    let Some(record) = state.get(dataset, RESTORE_PROPERTY).filter(|p| p.source != Source::None) else {
        return if empty { Current::UnmarkedEmpty } else { Current::UnmarkedData };
    };
    let value = record.value.as_str();
    if record.source != Source::Local {
        return Current::Foreign(format!(
            "{RESTORE_PROPERTY} is {value:?} but not set on the dataset itself ({})",
            record.source.describe()
        ));
    }
    if value.starts_with("done:") {
        Current::Done
    } else if value.starts_with("pending:") {
        Current::Pending
    } else {
        Current::Foreign(format!("{RESTORE_PROPERTY} is {value:?}, which lethe never writes"))
    }
}

/// The walk over the sources, in order.
pub(crate) fn decide(sources: &[RestoreSource], listings: &[Listing], current: &Current) -> Decision {
    match current {
        Current::Done | Current::UnmarkedData => return Decision::Nothing,
        Current::Foreign(why) => {
            return Decision::Fail(format!(
                "{why}: lethe did not write it, so nothing is restored; if no restore of this dataset is under way, run `zfs inherit {RESTORE_PROPERTY}` on it"
            ))
        }
        Current::Missing | Current::Pending | Current::UnmarkedEmpty => {}
    }
    if sources.is_empty() {
        return Decision::Nothing;
    }
    for (i, (source, listing)) in sources.iter().zip(listings).enumerate() {
        match listing {
            Listing::Has(what) => return Decision::From { source: i, what: what.clone() },
            Listing::Empty => continue,
            Listing::NotAsked => return Decision::Defer,
            Listing::Failed(why) => {
                let later: Vec<&str> = sources[i + 1..].iter().map(|s| s.name.as_str()).collect();
                let tail = if later.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; {} not tried (it may hold older data): remove {} from restore to use them",
                        later.join(", "),
                        source.name
                    )
                };
                return Decision::Fail(format!(
                    "restore source {} could not be asked: {why}; the dataset is not created, so the service does not start on empty data{tail}",
                    source.name
                ));
            }
        }
    }
    if listings.len() < sources.len() {
        return Decision::Defer;
    }
    Decision::Fresh
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::datasets::{Restic, RestoreFrom};

    fn replica(name: &str, ssh: bool) -> RestoreSource {
        RestoreSource {
            name: name.into(),
            from: RestoreFrom::Replica {
                replica: format!("backup/{name}"),
                ssh: ssh.then(|| "syncoid@nas".to_string()),
                ssh_key: None,
            },
        }
    }

    fn restic(name: &str) -> RestoreSource {
        RestoreSource {
            name: name.into(),
            from: RestoreFrom::Restic {
                restic: Restic {
                    repository: Some("/srv/restic".into()),
                    repository_file: None,
                    password_file: "/persist/pw".into(),
                    root: "/run/lethe/backup/x".into(),
                    paths: vec!["/run/lethe/backup/x".into()],
                },
            },
        }
    }

    fn has(s: &str) -> Listing {
        Listing::Has(s.into())
    }

    #[test]
    fn decisions() {
        use Listing::{Empty, Failed, NotAsked};
        let three = [replica("local", false), replica("nas", true), restic("offsite")];
        let from = |source, what: &str| Decision::From { source, what: what.into() };
        let rows: Vec<(&str, Current, Vec<Listing>, Decision)> = vec![
            ("local has data", Current::Missing, vec![has("l@a"), NotAsked, NotAsked], from(0, "l@a")),
            ("local empty, boot: defer", Current::Missing, vec![Empty, NotAsked, NotAsked], Decision::Defer),
            ("unit: nas has data", Current::Missing, vec![Empty, has("n@b"), has("r1")], from(1, "n@b")),
            ("unit: only restic", Current::Missing, vec![Empty, Empty, has("r1")], from(2, "r1")),
            ("unit: nothing anywhere", Current::Missing, vec![Empty, Empty, Empty], Decision::Fresh),
            (
                "unit: nas down stops the walk",
                Current::Missing,
                vec![Empty, Failed("ssh: no route".into()), has("r1")],
                Decision::Fail("restore source nas could not be asked: ssh: no route; the dataset is not created, so the service does not start on empty data; offsite not tried (it may hold older data): remove nas from restore to use them".into()),
            ),
            ("done: never again", Current::Done, vec![has("l@a"), has("n@b"), has("r1")], Decision::Nothing),
            ("data lethe did not restore", Current::UnmarkedData, vec![has("l@a")], Decision::Nothing),
            ("empty, never restored", Current::UnmarkedEmpty, vec![has("l@a"), NotAsked, NotAsked], from(0, "l@a")),
            ("interrupted: again", Current::Pending, vec![Empty, Empty, has("r2")], from(2, "r2")),
        ];
        for (what, current, listings, want) in rows {
            assert_eq!(decide(&three, &listings, &current), want, "{what}");
        }
        let foreign = Current::Foreign("x".into());
        assert!(
            matches!(decide(&three, &[], &foreign), Decision::Fail(m) if m.contains("zfs inherit lethe:restore"))
        );
    }
}
