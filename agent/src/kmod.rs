//! Loading kernel modules with their dependencies, the way `modprobe` does, without modprobe:
//! an initrd has no kmod tools, and the kernel's own request_module() calls a modprobe that is
//! not there. The decision (which files, in which order) is a pure function of the depmod files
//! (`modules.dep`, `modules.builtin`, `modules.softdep`, `modules.alias`); loading is a thin
//! layer over `finit_module(2)`.
//!
//! - Hard dependencies come from `modules.dep` (depmod lists the whole closure; we still walk it
//!   depth-first so the order never depends on how depmod sorted a line).
//! - Soft dependencies (`softdep btrfs pre: crypto-crc32c`) are loaded too, best-effort: the
//!   kernel asks for them at run time through request_module(), which has no modprobe to run
//!   in an initrd. They are often aliases, resolved through `modules.alias` (exact names only).
//! - A module built into the kernel (`modules.builtin`) or already loaded is not an error.
//! - Module names compare with `-` and `_` as the same character, as the kernel does.
//! - `.ko` files are passed to the kernel as they are. `.ko.xz`/`.ko.zst`/`.ko.gz` are passed with
//!   `MODULE_INIT_COMPRESSED_FILE`, which needs a kernel built with `CONFIG_MODULE_DECOMPRESS`
//!   (Debian 6.1 ships plain `.ko` files and has it off); initrd-glue/mkinitrd decompresses modules
//!   while building, so an initrd it builds only ever holds plain `.ko` files.

use crate::error::{Context, Error, Result};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

pub(crate) mod parallel;

/// The kernel's name for a module: file stem, `-` as `_`.
pub(crate) fn normalize(name: &str) -> String {
    name.replace('-', "_")
}

/// `kernel/fs/btrfs/btrfs.ko.zst` -> `btrfs`.
pub fn name_of(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    let stem =
        [".ko.xz", ".ko.zst", ".ko.gz", ".ko"].iter().find_map(|ext| file.strip_suffix(ext)).unwrap_or(file);
    normalize(stem)
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    /// Relative to the modules directory, as in modules.dep.
    path: String,
    /// Paths of every module this one needs (depmod writes the whole closure).
    deps: Vec<String>,
}

/// What depmod wrote about one kernel's modules.
#[derive(Debug, Default, Clone)]
pub struct Index {
    modules: HashMap<String, Entry>,
    builtin: HashSet<String>,
    soft_pre: HashMap<String, Vec<String>>,
    soft_post: HashMap<String, Vec<String>>,
    aliases: HashMap<String, Vec<String>>,
}

/// One thing to do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Built into the kernel: nothing to load.
    Builtin(String),
    /// Load this file. `required` is false for soft dependencies, whose failure is only a warning.
    Insert { name: String, path: String, required: bool },
}

/// One action of a plan and the earlier steps (indices into the plan) it waits for. Steps that
/// do not wait for each other may load at the same time ([`parallel::run`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub action: Action,
    /// Hard dependencies (`modules.dep`): loaded first, and if one cannot be loaded this step
    /// is not tried (the kernel would refuse it for unknown symbols).
    pub needs: Vec<usize>,
    /// Soft dependencies (`pre:` of this module, or a module whose `post:` names it): loaded
    /// first when they can be, but their failure does not hold this step back.
    pub after: Vec<usize>,
}

impl Index {
    /// Parses the text of the depmod files; `softdep` and `alias` may be empty.
    pub(crate) fn parse(dep: &str, builtin: &str, softdep: &str, alias: &str) -> Result<Index> {
        let mut index = Index::default();
        for (n, line) in dep.lines().enumerate() {
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((path, deps)) = line.split_once(':') else {
                return Err(Error::msg(format!(
                    "modules.dep line {}: expected \"path: deps\", got {line:?}",
                    n + 1
                )));
            };
            let entry = Entry {
                path: path.trim().to_string(),
                deps: deps.split_whitespace().map(str::to_string).collect(),
            };
            index.modules.insert(name_of(path.trim()), entry);
        }
        index.builtin = builtin.lines().map(str::trim).filter(|l| !l.is_empty()).map(name_of).collect();
        for line in softdep.lines() {
            // softdep MODULE pre: A B post: C   (either part optional; words before any
            // "pre:"/"post:" count as pre, as kmod reads them)
            let mut words = line.split_whitespace();
            if words.next() != Some("softdep") {
                continue;
            }
            let Some(module) = words.next().map(normalize) else { continue };
            let mut post = false;
            for w in words {
                match w {
                    "pre:" => post = false,
                    "post:" => post = true,
                    dep => {
                        let table = if post { &mut index.soft_post } else { &mut index.soft_pre };
                        table.entry(module.clone()).or_default().push(dep.to_string());
                    }
                }
            }
        }
        for line in alias.lines() {
            let mut words = line.split_whitespace();
            if let (Some("alias"), Some(pattern), Some(module)) = (words.next(), words.next(), words.next()) {
                // Only exact aliases: softdeps name crypto algorithms ("crc32c"), not devices.
                if !pattern.contains(['*', '?', '[']) {
                    index.aliases.entry(normalize(pattern)).or_default().push(normalize(module));
                }
            }
        }
        Ok(index)
    }

    /// Reads the depmod files of `dir` (`/lib/modules/KVER`). Only `modules.dep` must exist.
    pub fn read(dir: &Path) -> Result<Index> {
        let read = |file: &str, required: bool| -> Result<String> {
            let path = dir.join(file);
            match std::fs::read_to_string(&path) {
                Ok(text) => Ok(text),
                Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
                Err(e) => Err(Error::msg(format!("{}: cannot read: {e}", path.display()))),
            }
        };
        Index::parse(
            &read("modules.dep", true)?,
            &read("modules.builtin", false)?,
            &read("modules.softdep", false)?,
            &read("modules.alias", false)?,
        )
        .with_context(|| dir.display())
    }

    pub fn is_builtin(&self, name: &str) -> bool {
        self.builtin.contains(&normalize(name))
    }

    /// Module names a softdep or config entry means: itself if it is a module or builtin,
    /// else every module its exact alias names.
    fn resolve(&self, name: &str) -> Vec<String> {
        let n = normalize(name);
        if self.modules.contains_key(&n) || self.builtin.contains(&n) {
            return vec![n];
        }
        self.aliases.get(&n).cloned().unwrap_or_default()
    }

    /// The ordered actions that load `names` with all their dependencies. Fails on a name that
    /// is neither a module, nor built in, nor an alias of one.
    pub fn plan(&self, names: &[String]) -> Result<Vec<Action>> {
        let mut planner =
            Planner { index: self, done: HashSet::new(), visiting: HashSet::new(), actions: Vec::new() };
        for name in names {
            let resolved = self.resolve(name);
            if resolved.is_empty() {
                return Err(Error::msg(format!(
                    "kernel module {name}: not found in modules.dep, modules.builtin or modules.alias"
                )));
            }
            for module in resolved {
                planner.visit(&module, true)?;
            }
        }
        Ok(planner.actions)
    }
}

impl Index {
    /// [`Index::plan`] with what each action waits for: independent modules (virtio_blk and
    /// xor, say) can then load at once, a module still only after what it depends on. The
    /// order is the plan's, so running the steps one by one is also valid.
    pub fn schedule(&self, names: &[String]) -> Result<Vec<Step>> {
        Ok(self.steps(self.plan(names)?))
    }

    fn steps(&self, actions: Vec<Action>) -> Vec<Step> {
        let position: HashMap<&str, usize> = actions
            .iter()
            .enumerate()
            .filter_map(|(i, a)| match a {
                Action::Insert { name, .. } => Some((name.as_str(), i)),
                Action::Builtin(_) => None,
            })
            .collect();
        let mut needs = vec![Vec::new(); actions.len()];
        let mut after = vec![Vec::new(); actions.len()];
        for (i, action) in actions.iter().enumerate() {
            let Action::Insert { name, .. } = action else { continue };
            let earlier = |n: &str| position.get(n).copied().filter(|&j| j < i);
            if let Some(entry) = self.modules.get(name) {
                needs[i].extend(entry.deps.iter().filter_map(|d| earlier(&name_of(d))));
            }
            for soft in self.soft_pre.get(name).into_iter().flatten() {
                after[i].extend(self.resolve(soft).iter().filter_map(|m| earlier(m)));
            }
            // `post:` modules load after this one: they wait for it.
            for soft in self.soft_post.get(name).into_iter().flatten() {
                for m in self.resolve(soft) {
                    if let Some(j) = position.get(m.as_str()).copied().filter(|&j| j > i) {
                        after[j].push(i);
                    }
                }
            }
        }
        actions
            .into_iter()
            .zip(needs.into_iter().zip(after))
            .map(|(action, (mut needs, mut after))| {
                needs.sort_unstable();
                needs.dedup();
                after.sort_unstable();
                after.dedup();
                after.retain(|j| !needs.contains(j));
                Step { action, needs, after }
            })
            .collect()
    }
}

struct Planner<'a> {
    index: &'a Index,
    done: HashSet<String>,
    visiting: HashSet<String>,
    actions: Vec<Action>,
}

impl Planner<'_> {
    fn visit(&mut self, name: &str, required: bool) -> Result<()> {
        if self.done.contains(name) || self.visiting.contains(name) {
            // A softdep cycle (a pre: b, b post: a) is legal; the first visit wins.
            return Ok(());
        }
        if self.index.builtin.contains(name) {
            self.done.insert(name.to_string());
            self.actions.push(Action::Builtin(name.to_string()));
            return Ok(());
        }
        let Some(entry) = self.index.modules.get(name) else {
            if required {
                return Err(Error::msg(format!("kernel module {name}: not found in modules.dep")));
            }
            return Ok(());
        };
        self.visiting.insert(name.to_string());
        for soft in self.index.soft_pre.get(name).cloned().unwrap_or_default() {
            for module in self.index.resolve(&soft) {
                self.visit(&module, false)?;
            }
        }
        for dep in &entry.deps {
            let dep_name = name_of(dep);
            if !self.index.modules.contains_key(&dep_name) {
                return Err(Error::msg(format!(
                    "kernel module {name}: needs {dep}, which has no line of its own in modules.dep"
                )));
            }
            // A hard dependency of a soft dependency is only as required as that softdep.
            self.visit(&dep_name, required)?;
        }
        self.visiting.remove(name);
        self.done.insert(name.to_string());
        self.actions.push(Action::Insert { name: name.to_string(), path: entry.path.clone(), required });
        for soft in self.index.soft_post.get(name).cloned().unwrap_or_default() {
            for module in self.index.resolve(&soft) {
                self.visit(&module, false)?;
            }
        }
        Ok(())
    }
}

/// What [`load_all`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Summary {
    /// Newly loaded by us, in order.
    pub loaded: Vec<String>,
    /// Already in the kernel (loaded before us, or built in).
    pub present: Vec<String>,
    /// Soft dependencies that failed to load (each with the reason); never fatal.
    pub skipped: Vec<String>,
}

/// `/lib/modules/$(uname -r)`.
pub(crate) fn modules_dir() -> PathBuf {
    let uname = rustix::system::uname();
    let release = uname.release().to_string_lossy().into_owned();
    Path::new("/lib/modules").join(release)
}

/// Which modules go first when several load at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum First {
    /// The config's order: the devices of its first modules appear soonest (the NIC's bus
    /// driver, when stage 1 waits for a lease to open the SSH door).
    ConfigOrder,
    /// The costliest chains ([`parallel::order`]): the whole set is in soonest.
    CostliestChains,
}

/// Loads `names` and everything they need from the running kernel's modules directory.
/// Names already loaded or built in are fine; the first that cannot be loaded is the error.
/// Stage 1 loads `boot.kernelModules` with it ([`load_each`] serves the NIC modules).
pub(crate) fn load_all(names: &[String], first: First) -> Result<Summary> {
    load_all_from(&modules_dir(), names, first)
}

/// [`load_all`] with an explicit modules directory.
pub(crate) fn load_all_from(dir: &Path, names: &[String], first: First) -> Result<Summary> {
    if names.is_empty() {
        return Ok(Summary::default());
    }
    if !dir.is_dir() {
        return Err(Error::msg(format!(
            "{}: no such directory: the initrd has no modules for the running kernel (built for another kernel?)",
            dir.display()
        )));
    }
    let index = Index::read(dir)?;
    let (summary, errors) = apply(dir, &index.schedule(names)?, first);
    match errors.into_iter().next() {
        Some(first) => Err(first),
        None => Ok(summary),
    }
}

/// As [`load_all`], but each name on its own: one that cannot be loaded (a typo, a driver not
/// in the initrd) is returned among the errors and the others still load. For the NIC modules,
/// where a missing driver must not keep the right one from loading, nor stop the boot.
pub(crate) fn load_each(names: &[String]) -> (Summary, Vec<Error>) {
    if names.is_empty() {
        return (Summary::default(), Vec::new());
    }
    let dir = modules_dir();
    let index = match Index::read(&dir) {
        Ok(index) => index,
        Err(e) => return (Summary::default(), vec![e]),
    };
    let mut errors = Vec::new();
    let mut known = Vec::new();
    for name in names {
        match index.plan(std::slice::from_ref(name)) {
            Ok(_) => known.push(name.clone()),
            Err(e) => errors.push(e),
        }
    }
    // Each of `known` plans on its own, so together they do too.
    let (summary, failed) = match index.schedule(&known) {
        Ok(steps) => apply(&dir, &steps, First::ConfigOrder),
        Err(e) => (Summary::default(), vec![e]),
    };
    errors.extend(failed);
    (summary, errors)
}

/// How many modules load at once: one per CPU. The kernel runs each finit_module in the
/// caller's thread; measured under QEMU (bench/stage1), four loaders on one vCPU made the
/// module step slower than one (1.7 s -> 2.3 s), and faster with two vCPUs (2.9 s -> 2.4 s).
fn loaders() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Carries out a plan: inserts what is not there yet, independent modules at once. Returns what
/// happened and the failures of required steps, in plan order; a soft dependency that fails
/// is only skipped.
fn apply(dir: &Path, steps: &[Step], first: First) -> (Summary, Vec<Error>) {
    let width = loaders();
    // A module's size stands for its cost (the kernel copies it, checks its signature and
    // relocates it). Looked at only when the order uses it: one loader keeps the plan's order.
    let costs: Option<Vec<u64>> = (first == First::CostliestChains && width > 1).then(|| {
        steps
            .iter()
            .map(|s| match &s.action {
                Action::Insert { path, .. } => std::fs::metadata(dir.join(path)).map_or(0, |m| m.len()),
                Action::Builtin(_) => 0,
            })
            .collect()
    });
    let outcomes = parallel::run(steps, width, costs.as_deref(), |name, path| {
        let start = std::time::Instant::now();
        let result = insert(dir, name, path);
        if let Ok(true) = result {
            log::debug!("loaded kernel module {name} ({} ms)", start.elapsed().as_millis());
        }
        result
    });
    summarize(steps, outcomes)
}

fn summarize(steps: &[Step], outcomes: Vec<parallel::Outcome>) -> (Summary, Vec<Error>) {
    use parallel::Outcome;
    let mut summary = Summary::default();
    let mut errors = Vec::new();
    for (step, outcome) in steps.iter().zip(outcomes) {
        let (name, required) = match &step.action {
            Action::Builtin(name) => (name, true),
            Action::Insert { name, required, .. } => (name, *required),
        };
        let error = match outcome {
            Outcome::Builtin | Outcome::Present => {
                summary.present.push(name.clone());
                continue;
            }
            Outcome::Loaded => {
                summary.loaded.push(name.clone());
                continue;
            }
            Outcome::Failed(e) => e,
            Outcome::Blocked(j) => Error::msg(format!(
                "kernel module {name}: not loaded: it needs {}, which could not be loaded",
                action_name(&steps[j].action)
            )),
        };
        if required {
            errors.push(error);
        } else {
            log::debug!("soft dependency not loaded: {error}");
            summary.skipped.push(error.to_string());
        }
    }
    (summary, errors)
}

fn action_name(action: &Action) -> &str {
    match action {
        Action::Builtin(name) | Action::Insert { name, .. } => name,
    }
}

/// Whether the kernel already has `name` loaded and initialized. A module still "coming" (its
/// init running, loaded by another thread: the network's drivers load beside boot's) is not:
/// finit_module then waits for it and says EEXIST, so what needs it starts only once it is live.
pub(crate) fn is_loaded(name: &str) -> bool {
    let state = Path::new("/sys/module").join(normalize(name)).join("initstate");
    std::fs::read_to_string(state).is_ok_and(|s| s.trim() == "live")
}

/// `finit_module` flag: the file is compressed and the kernel should decompress it.
const MODULE_INIT_COMPRESSED_FILE: i32 = 4;

/// Loads one module file; Ok(false) when it was already there.
fn insert(dir: &Path, name: &str, rel: &str) -> Result<bool> {
    if is_loaded(name) {
        return Ok(false);
    }
    let path = dir.join(rel);
    let what = || format!("kernel module {name} ({})", path.display());
    let file = std::fs::File::open(&path).with_context(|| format!("{}: cannot open", what()))?;
    let compressed = !rel.ends_with(".ko");
    let flags = if compressed { MODULE_INIT_COMPRESSED_FILE } else { 0 };
    match rustix::system::finit_module(&file, c"", flags) {
        Ok(()) => Ok(true),
        Err(rustix::io::Errno::EXIST) => Ok(false),
        // 6.1+ without CONFIG_MODULE_DECOMPRESS says EOPNOTSUPP; kernels before 5.17 do not
        // know the flag at all and say EINVAL.
        Err(rustix::io::Errno::INVAL | rustix::io::Errno::OPNOTSUPP) if compressed => {
            Err(Error::msg(format!(
                "{}: the kernel cannot load compressed modules (built without CONFIG_MODULE_DECOMPRESS); \
             put uncompressed .ko files into the initrd (initrd-glue/mkinitrd does)",
                what()
            )))
        }
        Err(e) => Err(Error::msg(format!(
            "{}: finit_module failed: {} (the kernel log says why)",
            what(),
            std::io::Error::from(e)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEP: &str = "\
kernel/fs/btrfs/btrfs.ko: kernel/crypto/xor.ko kernel/lib/raid6/raid6_pq.ko kernel/lib/zstd/zstd_compress.ko kernel/lib/libcrc32c.ko
kernel/crypto/xor.ko:
kernel/lib/raid6/raid6_pq.ko:
kernel/lib/zstd/zstd_compress.ko: kernel/lib/xxhash-x.ko
kernel/lib/xxhash-x.ko:
kernel/lib/libcrc32c.ko:
kernel/crypto/crc32c_generic.ko:
kernel/arch/x86/crypto/crc32c-intel.ko.zst:
kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/virtio/virtio.ko:
";
    const BUILTIN: &str = "kernel/crypto/sha256_generic.ko\nkernel/drivers/block/loop.ko\n";
    const SOFTDEP: &str = "\
# Soft dependencies extracted from modules themselves.
softdep btrfs pre: crypto-crc32c sha256
softdep libcrc32c pre: crc32c
softdep virtio_blk post: does_not_exist
";
    const ALIAS: &str = "\
alias crypto-crc32c crc32c_intel
alias crypto-crc32c crc32c_generic
alias crc32c crc32c_intel
alias crc32c crc32c_generic
alias sha256 sha256_generic
alias pci:v00001AF4d00001001sv*sd*bc*sc*i* virtio_blk
";

    fn index() -> Index {
        Index::parse(DEP, BUILTIN, SOFTDEP, ALIAS).unwrap()
    }

    fn plan(names: &[&str]) -> Result<Vec<Action>> {
        index().plan(&names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    fn inserted(actions: &[Action]) -> Vec<(String, bool)> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Insert { name, required, .. } => Some((name.clone(), *required)),
                Action::Builtin(_) => None,
            })
            .collect()
    }

    #[test]
    fn names_come_from_paths() {
        assert_eq!(name_of("kernel/arch/x86/crypto/crc32c-intel.ko.zst"), "crc32c_intel");
        assert_eq!(name_of("kernel/fs/btrfs/btrfs.ko"), "btrfs");
        assert_eq!(name_of("a/b.ko.xz"), "b");
    }

    #[test]
    fn dependencies_load_first_soft_ones_optional() {
        let order = inserted(&plan(&["btrfs"]).unwrap());
        let names: Vec<&str> = order.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "crc32c_intel",
                "crc32c_generic",
                "xor",
                "raid6_pq",
                "xxhash_x",
                "zstd_compress",
                "libcrc32c",
                "btrfs"
            ]
        );
        let required: Vec<bool> = order.iter().map(|(_, r)| *r).collect();
        assert_eq!(required, [false, false, true, true, true, true, true, true]);
        // sha256 is a softdep that is built in.
        assert!(plan(&["btrfs"]).unwrap().contains(&Action::Builtin("sha256_generic".into())));
    }

    #[test]
    fn each_module_once_and_dashes_are_underscores() {
        let order = inserted(&plan(&["virtio-blk", "virtio_blk", "virtio"]).unwrap());
        assert_eq!(
            order,
            [("virtio".into(), true), ("virtio_ring".into(), true), ("virtio_blk".into(), true)]
        );
    }

    #[test]
    fn builtins_and_aliases_are_accepted() {
        assert_eq!(plan(&["loop"]).unwrap(), [Action::Builtin("loop".into())]);
        let order = inserted(&plan(&["crc32c"]).unwrap());
        assert_eq!(order, [("crc32c_intel".into(), true), ("crc32c_generic".into(), true)]);
    }

    #[test]
    fn unknown_names_are_errors() {
        let e = plan(&["virtio_blk", "r8169"]).unwrap_err().to_string();
        assert_eq!(e, "kernel module r8169: not found in modules.dep, modules.builtin or modules.alias");
        // Wildcard aliases are device matches, never module names.
        assert!(plan(&["pci:v00001AF4d00001001sv*sd*bc*sc*i*"]).is_err());
    }

    #[test]
    fn a_dependency_without_its_own_line_is_reported() {
        let index = Index::parse("kernel/a.ko: kernel/b.ko\n", "", "", "").unwrap();
        let e = index.plan(&["a".into()]).unwrap_err().to_string();
        assert_eq!(e, "kernel module a: needs kernel/b.ko, which has no line of its own in modules.dep");
    }

    #[test]
    fn malformed_dep_lines_are_rejected() {
        let e = Index::parse("kernel/a.ko\n", "", "", "").unwrap_err().to_string();
        assert!(e.starts_with("modules.dep line 1: expected"), "{e}");
    }

    /// A schedule as text: `name needs [hard deps] after [soft deps]` per step.
    fn schedule_text(index: &Index, names: &[&str]) -> Vec<String> {
        let steps = index.schedule(&names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        let name = |j: &usize| action_name(&steps[*j].action).to_string();
        steps
            .iter()
            .map(|s| {
                let needs: Vec<String> = s.needs.iter().map(name).collect();
                let after: Vec<String> = s.after.iter().map(name).collect();
                format!("{} needs [{}] after [{}]", action_name(&s.action), needs.join(" "), after.join(" "))
            })
            .collect()
    }

    #[test]
    fn schedule_waits_for_hard_and_soft_dependencies_only() {
        assert_eq!(
            schedule_text(&index(), &["btrfs", "virtio_blk"]),
            [
                "crc32c_intel needs [] after []",
                "crc32c_generic needs [] after []",
                "sha256_generic needs [] after []",
                "xor needs [] after []",
                "raid6_pq needs [] after []",
                "xxhash_x needs [] after []",
                "zstd_compress needs [xxhash_x] after []",
                "libcrc32c needs [] after [crc32c_intel crc32c_generic]",
                "btrfs needs [xor raid6_pq zstd_compress libcrc32c] after [crc32c_intel crc32c_generic]",
                "virtio needs [] after []",
                "virtio_ring needs [] after []",
                "virtio_blk needs [virtio virtio_ring] after []",
            ]
        );
    }

    #[test]
    fn post_softdeps_wait_for_the_module_that_names_them() {
        let index = Index::parse(
            "kernel/a.ko: kernel/c.ko\nkernel/b.ko:\nkernel/c.ko:\n",
            "",
            "softdep a post: b\nsoftdep c pre: a\n",
            "",
        )
        .unwrap();
        // c's pre: a is a cycle (a needs c): the plan's first visit wins and nothing waits on a
        // later step.
        assert_eq!(
            schedule_text(&index, &["a"]),
            ["c needs [] after []", "a needs [c] after []", "b needs [] after [a]"]
        );
    }

    #[test]
    fn a_missing_modules_directory_is_explained() {
        let e = load_all_from(Path::new("/nonexistent/lib/modules/0"), &["btrfs".into()], First::ConfigOrder)
            .unwrap_err();
        assert!(e.to_string().contains("no modules for the running kernel"), "{e}");
        assert_eq!(
            load_all_from(Path::new("/nonexistent"), &[], First::ConfigOrder).unwrap(),
            Summary::default()
        );
    }
}
