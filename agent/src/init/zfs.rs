//! Stage 1 on a ZFS root (`boot.root.fsType` `"zfs"`, `device` a dataset such as
//! `rpool/local/root`): the pools of the root and of the `zfs` entries of `boot.mounts` are
//! imported without mounting anything (`zpool import -N`), and the keys of their encryption
//! roots loaded, before the rollback and the mounts.
//!
//! Without udev there is no `/dev/disk/by-id` unless lethe makes it: the import searches the
//! `by-id/` links lethe makes (nvme-, ata-, virtio-) first, so the pool remembers its disks by
//! those names where they exist, then `/dev` itself, where the kernel puts every disk and
//! partition (and `dm-N` of an opened LUKS device). The cache file is neither read nor written
//! (`-o cachefile=none`): the disks are searched every boot, and stage 2 keeps its own.
//!
//! An encryption root whose key is not loaded and whose `keylocation` is `prompt` is asked for
//! like a LUKS device (the SSH login and the console prompt, [`crate::serve::until_unlocked`]);
//! the passphrase reaches `zfs load-key` on its stdin. A key in a file (`file://`) is loaded
//! from that file, which must be in the initrd.

use super::Stage1;
use crate::config::boot::{is_zfs, Boot};
use crate::config::unlock::{Device, DeviceKind, Unlock};
use crate::config::Config;
use crate::error::{Error, Result};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// Where `zpool import` looks for the pool's disks, in order of preference (see the module doc).
const SEARCH_DIRS: &[&str] = &["/dev/disk/by-id", "/dev"];

/// How long between two imports while the pool's disks have not all appeared.
const RETRY: Duration = Duration::from_millis(250);

/// The ZFS datasets stage 1 rolls back or mounts, each once, in order: the rollback's dataset,
/// the root, then the `zfs` entries of `boot.mounts`.
pub(crate) fn datasets(config: &Config, boot: &Boot) -> Vec<String> {
    let rollback = config.zfs_rollback.iter().map(|r| r.dataset.clone());
    let root = is_zfs(&boot.root.fs_type).then(|| boot.root.device.to_string_lossy().into_owned());
    let mounts =
        boot.mounts.iter().filter(|m| is_zfs(&m.fs_type)).map(|m| m.device.to_string_lossy().into_owned());
    let mut all: Vec<String> = Vec::new();
    for d in rollback.chain(root).chain(mounts) {
        if !all.contains(&d) {
            all.push(d);
        }
    }
    all
}

/// The pools of `datasets`, each once, in their order.
pub(crate) fn pools(datasets: &[String]) -> Vec<String> {
    let mut pools: Vec<String> = Vec::new();
    for d in datasets {
        let pool = d.split('/').next().unwrap_or(d).to_string();
        if !pools.contains(&pool) {
            pools.push(pool);
        }
    }
    pools
}

/// `zpool import` of `pool`, searching `dirs`: nothing mounted, the cache file left alone.
pub(crate) fn import_args(pool: &str, dirs: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = ["import", "-N", "-o", "cachefile=none"].map(String::from).to_vec();
    for d in dirs {
        args.extend(["-d".to_string(), d.to_string()]);
    }
    args.push(pool.to_string());
    args
}

/// What a failed `zpool import` means: the disks may not be there yet (try again until the
/// timeout), or something that waiting does not change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ImportError {
    NotFound,
    Other(String),
}

pub(crate) fn import_error(stderr: &str) -> ImportError {
    let said = stderr.trim();
    if said.contains("no such pool available") || said.contains("no pools available to import") {
        return ImportError::NotFound;
    }
    let hint = if said.contains("modules are not loaded") {
        " (add \"zfs\" to boot.kernelModules)"
    } else if said.contains("in use from another system") || said.contains("last accessed by another system")
    {
        " (the pool was last imported by a host with another hostid: put that host's /etc/hostid into \
         the initrd, or export the pool there)"
    } else {
        ""
    };
    ImportError::Other(format!("{said}{hint}"))
}

/// Runs `program args`, its stdout on success, or its stderr as the error.
fn run(program: &str, args: &[String]) -> std::result::Result<String, String> {
    let out = Command::new(program).args(args).output().map_err(|e| {
        format!(
            "cannot run {program}: {e} (the initrd needs zfs and zpool in /bin: initrd-glue/mkinitrd adds \
             them when the config mounts ZFS)"
        )
    })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn imported(pool: &str) -> bool {
    run("zpool", &["list", "-H", "-o", "name", pool].map(String::from)).is_ok()
}

/// Imports `pool`, waiting up to `timeout` for its disks.
fn import(pool: &str, timeout: Duration) -> Result<&'static str> {
    if imported(pool) {
        return Ok("already imported");
    }
    let start = Instant::now();
    let mut seen = std::collections::HashSet::new();
    loop {
        // The by-id links of disks that appeared since the last round.
        super::devices::link_new_devices(&mut seen);
        let dirs: Vec<&str> =
            SEARCH_DIRS.iter().copied().filter(|d| std::path::Path::new(d).is_dir()).collect();
        let args = import_args(pool, &dirs);
        match run("zpool", &args) {
            Ok(_) => return Ok("imported"),
            Err(said) => match import_error(&said) {
                ImportError::NotFound if start.elapsed() < timeout => std::thread::sleep(RETRY),
                ImportError::NotFound => {
                    let present = super::devices::block_devices();
                    let present = if present.is_empty() { "none".to_string() } else { present.join(", ") };
                    crate::bail!(
                        "zpool {}: no pool {pool:?} found on the disks within {} s (block devices present: \
                         {present}; is the disk's driver in boot.kernelModules? boot.deviceTimeoutSeconds \
                         sets the wait)",
                        args.join(" "),
                        timeout.as_secs()
                    )
                }
                ImportError::Other(why) => crate::bail!("zpool {}: {why}", args.join(" ")),
            },
        }
    }
}

/// The step "import the ZFS pools": every pool a ZFS dataset of the config lives on.
pub(crate) fn import_step(_: &mut Stage1, config: &Config, boot: &Boot) -> Result<String> {
    let pools = pools(&datasets(config, boot));
    if pools.is_empty() {
        return Ok("no ZFS filesystem in boot.root or boot.mounts".into());
    }
    let timeout = super::device_timeout(boot);
    let mut done = Vec::new();
    for pool in &pools {
        let how = import(pool, timeout)?;
        done.push(format!("{pool} ({how})"));
    }
    Ok(done.join(", "))
}

/// The encryption state of one dataset, from `zfs get -H -p -o property,value
/// encryptionroot,keystatus,keylocation`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct KeyState {
    /// The dataset whose key opens this one; None when it is not encrypted.
    pub encryption_root: Option<String>,
    pub loaded: bool,
    pub location: String,
}

pub(crate) fn parse_key_state(text: &str) -> KeyState {
    let mut state = KeyState::default();
    for line in text.lines() {
        let Some((property, value)) = line.split_once('\t') else { continue };
        match property {
            "encryptionroot" if value != "-" && !value.is_empty() => {
                state.encryption_root = Some(value.to_string())
            }
            "keystatus" => state.loaded = value == "available",
            "keylocation" => state.location = value.to_string(),
            _ => {}
        }
    }
    state
}

fn key_state(dataset: &str) -> Result<KeyState> {
    let args = ["get", "-H", "-p", "-o", "property,value", "encryptionroot,keystatus,keylocation", dataset];
    let text = run("zfs", &args.map(String::from))
        .map_err(|said| Error::msg(format!("zfs get {dataset}: {}", said.trim())))?;
    Ok(parse_key_state(&text))
}

/// The dataset above `name` (`rpool/local` for `rpool/local/root`), None for a pool.
pub(crate) fn parent(name: &str) -> Option<&str> {
    name.rsplit_once('/').map(|(p, _)| p)
}

/// The key state of `dataset`, or of its nearest existing parent while it does not exist: a
/// power cut between the rollback's rename and its create leaves no root until the rollback
/// (the next step) makes it again, inside the same encryption root as its parent.
fn nearest_key_state(dataset: &str) -> Result<(String, KeyState)> {
    let mut name = dataset;
    loop {
        match key_state(name) {
            Ok(state) => return Ok((name.to_string(), state)),
            Err(e) if e.to_string().contains("dataset does not exist") => match parent(name) {
                Some(p) => {
                    log::info!("{name}: does not exist (yet): its key is its parent's");
                    name = p;
                }
                None => return Err(e),
            },
            Err(e) => return Err(e),
        }
    }
}

/// What must happen for each locked encryption root of `datasets`: its name and where its key
/// is (`prompt`, `file:///...`), each root once. The keylocation is the root's own.
pub(crate) fn locked_roots(states: &[(String, KeyState)]) -> Vec<(String, String)> {
    let mut roots: Vec<(String, String)> = Vec::new();
    for (dataset, state) in states {
        let Some(root) = &state.encryption_root else { continue };
        if state.loaded || roots.iter().any(|(r, _)| r == root) {
            continue;
        }
        let location = states
            .iter()
            .find(|(d, _)| d == root)
            .map(|(_, s)| s.location.clone())
            .unwrap_or_else(|| if root == dataset { state.location.clone() } else { String::new() });
        roots.push((root.clone(), location));
    }
    roots
}

/// The step "load the ZFS keys": each encryption root of the root and the `zfs` mounts whose
/// key is not loaded; `prompt` roots are asked for over SSH and on the console.
pub(crate) fn key_step(_: &mut Stage1, config: &Config, boot: &Boot) -> Result<String> {
    let datasets = datasets(config, boot);
    if datasets.is_empty() {
        return Ok("no ZFS filesystem in boot.root or boot.mounts".into());
    }
    let mut states = Vec::new();
    for wanted in &datasets {
        let (d, state) = nearest_key_state(wanted)?;
        // The root's own keylocation, when the dataset inherits its encryption.
        if let Some(root) = state.encryption_root.clone().filter(|r| *r != d) {
            if !states.iter().any(|(n, _): &(String, KeyState)| *n == root) {
                states.push((root.clone(), key_state(&root)?));
            }
        }
        states.push((d, state));
    }
    let locked = locked_roots(&states);
    if locked.is_empty() {
        return Ok("no locked encryption root".into());
    }
    let mut prompted = Vec::new();
    let mut notes = Vec::new();
    for (root, location) in locked {
        if location == "prompt" {
            prompted.push(root);
        } else if location.starts_with("file://") {
            run("zfs", &["load-key".to_string(), root.clone()]).map_err(|said| {
                Error::msg(format!("zfs load-key {root} (keylocation={location}): {}", said.trim()))
            })?;
            notes.push(format!("{root} (from {location})"));
        } else {
            crate::bail!(
                "{root}: the key is not loaded and keylocation={location:?}: stage 1 loads keys from \
                 \"prompt\" (SSH and console) or a file:// inside the initrd"
            );
        }
    }
    if !prompted.is_empty() {
        let unlock = prompt_for(&prompted, config.unlock.as_ref());
        notes.push(crate::serve::until_unlocked(&unlock, config.ssh.as_ref())?);
    }
    Ok(notes.join("; "))
}

/// The unlock that asks for the keys of `roots`, as the `unlock` section would for LUKS devices
/// (its `console` and `maxTries`; the console prompt when there is no `unlock` section).
fn prompt_for(roots: &[String], unlock: Option<&Unlock>) -> Unlock {
    let devices = roots
        .iter()
        .map(|root| Device {
            name: root.clone(),
            device: PathBuf::from(root),
            allow_discards: false,
            bypass_workqueues: false,
            header: None,
            kind: DeviceKind::ZfsKey,
        })
        .collect();
    Unlock {
        devices,
        systemd_agent: false,
        console: unlock.is_none_or(|u| u.console),
        max_tries: unlock.map_or(3, |u| u.max_tries),
        tang: None,
    }
}

/// The options of a `zfs` mount as the kernel takes them: `zfsutil` (which tells mount.zfs that
/// a non-legacy mountpoint is fine) means nothing to the kernel and is left out.
pub(crate) fn kernel_options(options: &str) -> String {
    options
        .split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty() && *o != "zfsutil")
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::boot::{Mount, Root};

    fn boot(root: (&str, &str), mounts: &[(&str, &str)]) -> Boot {
        let mut boot = config().boot.unwrap();
        boot.root = Root { device: root.0.into(), fs_type: root.1.into(), options: String::new() };
        boot.mounts = mounts
            .iter()
            .map(|(d, t)| Mount {
                device: d.into(),
                mount_point: "/x".into(),
                fs_type: t.to_string(),
                options: "".into(),
            })
            .collect();
        boot
    }

    fn config() -> Config {
        Config::parse(r#"{"version": 1, "boot": {"root": {"device": "/dev/vda"}}}"#).unwrap()
    }

    #[test]
    fn datasets_and_pools_in_order_each_pool_once() {
        let b = boot(
            ("rpool/local/root", "zfs"),
            &[("/dev/vda", "btrfs"), ("tank/safe/persist", "zfs"), ("rpool/local/nix", "zfs")],
        );
        let c = config();
        assert_eq!(datasets(&c, &b), ["rpool/local/root", "tank/safe/persist", "rpool/local/nix"]);
        assert_eq!(pools(&datasets(&c, &b)), ["rpool", "tank"]);
        let btrfs = boot(("/dev/vda", "btrfs"), &[("/dev/vda", "btrfs")]);
        assert!(datasets(&c, &btrfs).is_empty());
        // The rollback's dataset first, once, when the root names it too.
        let with_rollback = Config::parse(
            r#"{"version": 1, "boot": {"root": {"device": "/dev/vda"}},
                "rollback": {"dataset": "zroot/local/root", "archive": "zroot/local/old_roots"}}"#,
        )
        .unwrap();
        assert_eq!(datasets(&with_rollback, &btrfs), ["zroot/local/root"]);
        let same = boot(("zroot/local/root", "zfs"), &[]);
        assert_eq!(datasets(&with_rollback, &same), ["zroot/local/root"]);
        assert_eq!(pools(&["rpool".to_string()]), ["rpool"]);
    }

    #[test]
    fn import_never_mounts_and_never_uses_the_cache_file() {
        assert_eq!(
            import_args("rpool", &["/dev/disk/by-id", "/dev"]).join(" "),
            "import -N -o cachefile=none -d /dev/disk/by-id -d /dev rpool"
        );
    }

    #[test]
    fn import_errors_waited_out_or_explained() {
        assert_eq!(import_error("cannot import 'rpool': no such pool available\n"), ImportError::NotFound);
        let ImportError::Other(m) = import_error(
            "The ZFS modules are not loaded.\nTry running '/sbin/modprobe zfs' as root to load them.\n",
        ) else {
            panic!()
        };
        assert!(m.ends_with("(add \"zfs\" to boot.kernelModules)"), "{m}");
        let other = "cannot import 'rpool': pool was previously in use from another system.";
        assert!(matches!(import_error(other), ImportError::Other(m) if m.contains("hostid")));
    }

    #[test]
    fn key_states() {
        let plain = parse_key_state("encryptionroot\t-\nkeystatus\t-\nkeylocation\tnone\n");
        assert_eq!(plain, KeyState { encryption_root: None, loaded: false, location: "none".into() });
        let locked = parse_key_state("encryptionroot\trpool\nkeystatus\tunavailable\nkeylocation\tnone\n");
        assert_eq!(locked.encryption_root.as_deref(), Some("rpool"));
        assert!(!locked.loaded);
        let root = parse_key_state("encryptionroot\trpool\nkeystatus\tunavailable\nkeylocation\tprompt\n");
        let open = parse_key_state("encryptionroot\trpool\nkeystatus\tavailable\nkeylocation\tprompt\n");
        assert!(open.loaded);

        // The root dataset inherits rpool's encryption: rpool's keylocation counts, asked once.
        let states = vec![
            ("rpool".to_string(), root.clone()),
            ("rpool/local/root".to_string(), locked.clone()),
            ("rpool/safe/persist".to_string(), locked.clone()),
            ("tank/plain".to_string(), plain),
        ];
        assert_eq!(locked_roots(&states), [("rpool".to_string(), "prompt".to_string())]);
        // Loaded already: nothing to do.
        assert!(locked_roots(&[("rpool".to_string(), open)]).is_empty());
    }

    #[test]
    fn parents_up_to_the_pool() {
        assert_eq!(parent("rpool/local/root"), Some("rpool/local"));
        assert_eq!(parent("rpool/local"), Some("rpool"));
        assert_eq!(parent("rpool"), None);
    }

    #[test]
    fn zfsutil_is_for_mount_zfs_not_the_kernel() {
        assert_eq!(kernel_options("zfsutil, noatime,x-foo"), "noatime,x-foo");
        assert_eq!(kernel_options(""), "");
    }

    #[test]
    fn the_prompt_follows_the_unlock_section() {
        let u = prompt_for(&["rpool".to_string()], None);
        assert!(u.console && u.max_tries == 3 && u.tang.is_none() && !u.systemd_agent);
        assert_eq!(u.devices[0].kind, DeviceKind::ZfsKey);
        assert_eq!(u.devices[0].name, "rpool");
    }
}
