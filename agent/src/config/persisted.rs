//! A persisted directory that names its own dataset (`{"directory": "/var/lib/postgresql",
//! "dataset": {"recordsize": "8K"}}` in `persistence`) is the same as a `persist: true` service
//! of `datasets`: one declaration, a tuned dataset mounted inside the store and bound into
//! place. This is the one place that joins the two sections (neither imports the other for it).

use super::datasets::{self, Dataset, Datasets, Service};
use super::persistence::{child, Persistence};
use super::reader::{error, Result};
use std::collections::BTreeMap;
use std::path::Path;

/// The `datasets` section with every persisted directory's dataset added as a `persist: true`
/// service (`None`: neither declares a dataset). Errors name both JSON paths.
pub fn merged(persistence: Option<&Persistence>, declared: Option<&Datasets>) -> Result<Option<Datasets>> {
    let wanted = wanted(persistence);
    let Some(first) = wanted.first() else {
        return Ok(declared.cloned());
    };
    let Some(d) = declared.filter(|d| d.parent_dataset.is_some()) else {
        return Err(error(
            &first.at,
            format!(
                "a directory's own dataset needs datasets.parentDataset (it is <parentDataset>/<name>) and datasets.parentMount = {:?}",
                first.store
            ),
        ));
    };
    let parent = d.parent_dataset.as_deref().unwrap_or_default();
    let mut out = d.clone();
    // Where each dataset and mountpoint is declared, to name both places of a conflict.
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    let mut mounts: BTreeMap<String, String> = BTreeMap::new();
    for e in datasets::entries(d) {
        let at = e.config_path("datasets");
        if let Some(m) = e.mountpoint.clone() {
            mounts.insert(m, at.clone());
        }
        names.insert(e.name, at);
    }
    for w in &wanted {
        if d.parent_mount.as_deref().map(Path::new) != Some(Path::new(&w.store)) {
            let got = d.parent_mount.as_deref().map_or("nothing".to_string(), |m| format!("{m:?}"));
            return Err(error(
                &w.at,
                format!(
                    "the directory lives in the store {:?}, so datasets.parentMount must be {:?} (its dataset is mounted there), got {got}",
                    w.store, w.store
                ),
            ));
        }
        if !datasets::is_component(&w.name) {
            return Err(error(
                &w.at,
                format!("{:?} cannot be a dataset name component: give the dataset a \"name\"", w.name),
            ));
        }
        let full = format!("{parent}/{}", w.name);
        if let Some(other) = names.insert(full.clone(), w.at.clone()) {
            return Err(error(&w.at, format!("dataset {full} is also declared at {other}")));
        }
        let mountpoint = format!("{}{}", w.store, w.directory);
        if let Some(other) = mounts.insert(mountpoint.clone(), w.at.clone()) {
            return Err(error(&w.at, format!("mountpoint {mountpoint} is also the mountpoint of {other}")));
        }
        let dataset = Dataset { mountpoint: Some(w.directory.clone()), ..w.dataset.clone() };
        out.services.insert(w.name.clone(), Service { dataset, persist: true });
    }
    Ok(Some(out))
}

/// One persisted directory's dataset, with what the merge needs.
struct Wanted {
    /// The service name: `name`, else the directory's last component.
    name: String,
    directory: String,
    /// The entry's store directory (its `persistentStoragePath` or the store's).
    store: String,
    dataset: Dataset,
    /// `persistence."/persist".directories[0].dataset`
    at: String,
}

fn wanted(persistence: Option<&Persistence>) -> Vec<Wanted> {
    let mut out = Vec::new();
    for (key, store) in persistence.into_iter().flatten().filter(|(_, s)| s.enable) {
        let base = child(&child("persistence", &key.to_string_lossy()), "directories");
        for (i, dir) in store.directories.iter().enumerate() {
            let Some(ds) = &dir.dataset else { continue };
            let directory = dir.directory.display().to_string();
            let last = dir.directory.file_name().map(|n| n.to_string_lossy().into_owned());
            let store_path = dir.persistent_storage_path.as_ref().unwrap_or(&store.persistent_storage_path);
            // The dataset's root is the directory: one owner and mode, the entry's.
            let dataset = Dataset {
                owner: Some(dir.owner.user.clone()),
                group: dir.owner.group.clone(),
                mode: Some(dir.owner.mode.clone()),
                ..ds.dataset.clone()
            };
            out.push(Wanted {
                name: ds.name.clone().or(last).unwrap_or_default(),
                directory,
                store: store_path.display().to_string().trim_end_matches('/').to_string(),
                dataset,
                at: format!("{base}[{i}].dataset"),
            });
        }
    }
    out
}
