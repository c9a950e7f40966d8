//! `lethe-generator`: a systemd generator (systemd.generator(7)) for the systemd initrd. The
//! unit files in `initrd-glue/systemd/initrd/` are fixed text, the same on every host; what
//! depends on the host (which device the rollback waits for, which units a config turns on)
//! is decided here, from `/etc/lethe/config.json`, when systemd runs its generators at boot.
//! So the NixOS module and the dracut module install the same units and one symlink
//! (`…/system-generators/lethe-generator` → the lethe binary), and nothing else.
//!
//! [`plan`] is the decision (a config in, drop-in files out, pure); [`write`] puts them into
//! the generator's output directory.

use crate::config::Config;
use crate::exit::CommandError;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Where systemd runs generators from; the program name lethe answers to as one.
pub const NAME: &str = "lethe-generator";

/// One file for the generator's output directory: a path relative to it, and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DropIn {
    pub path: PathBuf,
    pub text: String,
}

fn drop_in(unit: &str, lines: &[String]) -> DropIn {
    let mut text = String::from("# Written by lethe-generator from /etc/lethe/config.json\n[Unit]\n");
    for l in lines {
        let _ = writeln!(text, "{l}");
    }
    DropIn { path: PathBuf::from(format!("{unit}.d/50-lethe.conf")), text }
}

/// systemd's escaping of one unit-name component (`systemd-escape`): the one persist's
/// drop-ins and markers use.
pub(crate) fn escape(s: &str) -> String {
    crate::persist::units::escape(s.as_bytes())
}

/// `systemd-escape --path --suffix=device`: the device unit of a `/dev/...` path.
pub(crate) fn device_unit(path: &Path) -> String {
    let s = path.to_string_lossy();
    let parts: Vec<&str> = s.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
    if parts.is_empty() {
        return "-.device".into();
    }
    format!("{}.device", escape(&parts.join("/")))
}

/// The dm name of `/dev/mapper/NAME`.
fn mapper_name(path: &Path) -> Option<String> {
    let name = path.strip_prefix("/dev/mapper").ok()?.to_str()?;
    (!name.is_empty() && !name.contains('/')).then(|| name.to_string())
}

/// What the generator writes for `config`:
/// - `initrd.target` wants `lethe-network.service` (with a `network` section) and
///   `lethe-unlock.service` (with an `unlock` section);
/// - with a `rollback` section, `sysroot.mount` requires `lethe-rollback.service` (and is
///   ordered after it), and the rollback requires and waits for its device, and for
///   `systemd-cryptsetup@NAME.service` when the device is `/dev/mapper/NAME` (required in
///   systemdAgent mode, where that unit exists; only ordered otherwise); a ZFS `rollback`
///   (`dataset`) waits, instead, for its pool's import and key (see [`zfs_waits`]);
/// - in direct mode, lethe-unlock waits for the LUKS devices it opens, and each
///   `/dev/mapper/NAME` device unit waits without a time limit (a
///   person may take minutes to type the passphrase; systemd-cryptsetup-generator does the
///   same for its devices);
/// - with `unlock.console` in systemdAgent mode, lethe's prompt is the console's one and
///   systemd's console agent is not started: two readers of one terminal split the typed
///   characters between them (and share one terminal mode). It comes back if lethe fails.
/// - with `inInitrd` persistence entries, `initrd-fs.target` wants
///   `lethe-persist-initrd.service`, which waits for each of their stores below `/sysroot`.
pub(crate) fn plan(config: &Config) -> Vec<DropIn> {
    let mut out = Vec::new();
    let mut wants = Vec::new();
    if config.network.is_some() {
        wants.push("lethe-network.service");
    }
    if config.unlock.is_some() {
        wants.push("lethe-unlock.service");
    }
    if !wants.is_empty() {
        out.push(drop_in("initrd.target", &[format!("Wants={}", wants.join(" "))]));
    }
    let agent = config.unlock.as_ref().is_some_and(|u| u.systemd_agent);
    if let Some(unlock) = &config.unlock {
        if !unlock.systemd_agent {
            // lethe-unlock is not ordered after udev (SSH comes up early); in direct mode it
            // opens the LUKS devices itself, so it waits for them to appear.
            let mut waits = Vec::new();
            for d in &unlock.devices {
                let unit = device_unit(&d.device);
                waits.push(format!("Wants={unit}"));
                waits.push(format!("After={unit}"));
            }
            if !waits.is_empty() {
                out.push(drop_in("lethe-unlock.service", &waits));
            }
            for d in &unlock.devices {
                let unit = device_unit(&Path::new("/dev/mapper").join(&d.name));
                out.push(drop_in(
                    &unit,
                    &["JobTimeoutSec=infinity".into(), "JobRunningTimeoutSec=infinity".into()],
                ));
            }
        } else if unlock.console {
            out.push(drop_in(
                "lethe-unlock.service",
                &[
                    "Conflicts=systemd-ask-password-console.path systemd-ask-password-console.service".into(),
                    // If lethe itself fails, systemd's console agent takes the console back.
                    "OnFailure=systemd-ask-password-console.path".into(),
                ],
            ));
        }
    }
    let rollback_waits = match (&config.rollback, &config.zfs_rollback) {
        (Some(btrfs), _) => Some(device_waits(&btrfs.device, agent)),
        (None, Some(zfs)) => Some(zfs_waits(crate::config::rollback::pool_of(&zfs.dataset))),
        (None, None) => None,
    };
    if let Some(lines) = rollback_waits {
        out.push(drop_in(
            "sysroot.mount",
            &["Requires=lethe-rollback.service".into(), "After=lethe-rollback.service".into()],
        ));
        out.push(drop_in("lethe-rollback.service", &lines));
    }
    out.extend(persist_in_initrd(config));
    out
}

/// What a btrfs root's rollback waits for: its device, and the cryptsetup unit that opens it.
fn device_waits(device: &Path, agent: bool) -> Vec<String> {
    let unit = device_unit(device);
    let mut lines = vec![format!("Requires={unit}"), format!("After={unit}")];
    if let Some(name) = mapper_name(device) {
        let crypt = format!("systemd-cryptsetup@{}.service", escape(&name));
        if agent {
            lines.push(format!("Requires={crypt}"));
        }
        lines.push(format!("After={crypt}"));
    }
    lines
}

/// What a ZFS root's rollback waits for: its pool imported and its key loaded, which the host's
/// own ZFS units do, differently on each initrd:
/// - NixOS: `zfs-import-POOL.service` imports the pool and then loads its keys (prompting with
///   `systemd-ask-password`); it is `Before=zfs-import.target` and already required by
///   `sysroot.mount` (NixOS' `requiredBy` of the pool's mounts).
/// - dracut (zfs-dracut): `zfs-import-scan`/`-cache.service` import, `Before=zfs-import.target`;
///   the root's key is loaded later, by a pre-mount hook (`dracut-pre-mount.service`, which the
///   zfs generator orders after `zfs-import.target`, and which is `Before=sysroot.mount`).
///   zfs-dracut's own `zfs-rollback-bootfs.service` orders after the same two.
///
/// So the rollback is `After=` all three: a unit that does not exist on one initrd (the NixOS
/// import unit under dracut, `dracut-pre-mount` on NixOS) orders nothing, and no cycle arises,
/// as each of them is before `sysroot.mount` and after none of lethe's units. Ordering only,
/// no `Wants=`/`Requires=`: both initrds pull these in themselves (`initrd.target` wants
/// `zfs-import.target`; `sysroot.mount` requires NixOS' import unit), and a failed import then
/// still lets lethe run and name what is missing ("pool not imported", "key not loaded")
/// instead of a bare "dependency failed"; lethe changes nothing in that case.
/// NixOS names the import unit after the pool verbatim; a pool whose name has a space (allowed
/// by ZFS, not in a unit name) gets no such line.
fn zfs_waits(pool: &str) -> Vec<String> {
    let mut lines = vec!["After=zfs-import.target".to_string()];
    if !pool.contains(' ') {
        lines.push(format!("After=zfs-import-{pool}.service"));
    }
    lines.push("After=dracut-pre-mount.service".into());
    lines
}

/// `lethe-persist-initrd.service`, only when some entry is `inInitrd`: wanted (not required) by
/// `initrd-fs.target`, so a failed entry fails the unit, visibly, and stage 2 tries it again
/// instead of the boot stopping. `RequiresMountsFor=` pulls in and waits for the stores' mounts
/// below `/sysroot` (`x-initrd.mount` / `neededForBoot` entries of the root's fstab).
fn persist_in_initrd(config: &Config) -> Vec<DropIn> {
    let early: Vec<_> = crate::persist::entries(config).into_iter().filter(|e| e.when.in_initrd).collect();
    if early.is_empty() {
        return Vec::new();
    }
    let mut stores: Vec<PathBuf> = Vec::new();
    for e in &early {
        let store = crate::persist::below(Path::new("/sysroot"), &e.store);
        if !stores.contains(&store) {
            stores.push(store);
        }
    }
    let waits: Vec<String> = stores
        .iter()
        .map(|s| format!("RequiresMountsFor={}", crate::persist::units::quote_path(s)))
        .collect();
    vec![
        drop_in("initrd-fs.target", &["Wants=lethe-persist-initrd.service".into()]),
        drop_in("lethe-persist-initrd.service", &waits),
    ]
}

/// Writes `drop_ins` under `dir` (the generator's "normal" output directory).
pub(crate) fn write(dir: &Path, drop_ins: &[DropIn]) -> std::io::Result<()> {
    for d in drop_ins {
        let path = dir.join(&d.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        // Several drop-ins may go to one unit (never today): append, not overwrite.
        use std::io::Write as _;
        std::fs::OpenOptions::new().create(true).append(true).open(&path)?.write_all(d.text.as_bytes())?;
    }
    Ok(())
}

/// Run as `lethe-generator NORMAL_DIR [EARLY_DIR LATE_DIR]`. A generator must not fail the
/// boot: a missing config means "not configured" (nothing written); a bad one is logged (the
/// units then fail with the config's own message) and nothing is written. Always done, but
/// for a wrong command line.
pub fn run(args: Vec<std::ffi::OsString>) -> Result<(), CommandError> {
    let Some(dir) = args.first().map(PathBuf::from) else {
        return Err(CommandError::bad_input(
            "generator: usage: lethe-generator NORMAL_DIR [EARLY_DIR LATE_DIR]",
        ));
    };
    let path = Path::new(crate::paths::CONFIG_PATH);
    if !path.exists() {
        return Ok(());
    }
    match Config::load(path) {
        Ok(config) => {
            if let Err(e) = write(&dir, &plan(&config)) {
                log::error!("lethe-generator: {}: cannot write: {e}", dir.display());
            }
        }
        Err(e) => log::error!("lethe-generator: {e}"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_systemd_escape() {
        // Expected values from `systemd-escape --path --suffix=device` (systemd 252).
        for (path, unit) in [
            ("/dev/mapper/crypted", "dev-mapper-crypted.device"),
            ("/dev/vda", "dev-vda.device"),
            ("/dev/disk/by-uuid/1d2e-3f", "dev-disk-by\\x2duuid-1d2e\\x2d3f.device"),
            ("/dev/disk/by-label/my disk", "dev-disk-by\\x2dlabel-my\\x20disk.device"),
            ("//dev//sda/", "dev-sda.device"),
            ("/", "-.device"),
        ] {
            assert_eq!(device_unit(Path::new(path)), unit, "{path}");
        }
        assert_eq!(escape("crypted"), "crypted");
        assert_eq!(escape("luks-1a2b"), "luks\\x2d1a2b");
        assert_eq!(escape(".hidden"), "\\x2ehidden");
    }

    fn files(json: &str) -> Vec<(String, String)> {
        let config = Config::parse(json).unwrap();
        plan(&config).into_iter().map(|d| (d.path.display().to_string(), d.text)).collect()
    }

    fn body(text: &str) -> Vec<&str> {
        text.lines().filter(|l| !l.starts_with('#') && *l != "[Unit]").collect()
    }

    #[test]
    fn nothing_configured_writes_nothing() {
        assert!(files(r#"{"version": 1}"#).is_empty());
    }

    #[test]
    fn agent_mode_requires_the_cryptsetup_unit_and_gives_the_console_to_lethe() {
        let f = files(
            r#"{"version": 1, "network": {}, "unlock": {"systemdAgent": true},
                "rollback": {"device": "/dev/mapper/crypted"}}"#,
        );
        let names: Vec<&str> = f.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            names,
            [
                "initrd.target.d/50-lethe.conf",
                "lethe-unlock.service.d/50-lethe.conf",
                "sysroot.mount.d/50-lethe.conf",
                "lethe-rollback.service.d/50-lethe.conf"
            ]
        );
        assert_eq!(body(&f[0].1), ["Wants=lethe-network.service lethe-unlock.service"]);
        assert_eq!(
            body(&f[1].1),
            [
                "Conflicts=systemd-ask-password-console.path systemd-ask-password-console.service",
                "OnFailure=systemd-ask-password-console.path"
            ]
        );
        assert_eq!(body(&f[2].1), ["Requires=lethe-rollback.service", "After=lethe-rollback.service"]);
        assert_eq!(
            body(&f[3].1),
            [
                "Requires=dev-mapper-crypted.device",
                "After=dev-mapper-crypted.device",
                "Requires=systemd-cryptsetup@crypted.service",
                "After=systemd-cryptsetup@crypted.service"
            ]
        );
    }

    #[test]
    fn direct_mode_waits_for_its_devices_without_a_time_limit() {
        let f = files(
            r#"{"version": 1, "unlock": {"devices": [{"name": "crypted", "device": "/dev/vda"}]},
                "rollback": {"device": "/dev/mapper/crypted"}}"#,
        );
        assert_eq!(f[0].0, "initrd.target.d/50-lethe.conf");
        assert_eq!(body(&f[0].1), ["Wants=lethe-unlock.service"]);
        assert_eq!(f[1].0, "lethe-unlock.service.d/50-lethe.conf");
        assert_eq!(body(&f[1].1), ["Wants=dev-vda.device", "After=dev-vda.device"]);
        assert_eq!(f[2].0, "dev-mapper-crypted.device.d/50-lethe.conf");
        assert_eq!(body(&f[2].1), ["JobTimeoutSec=infinity", "JobRunningTimeoutSec=infinity"]);
        // No systemd-cryptsetup unit exists in direct mode: only ordered, never required.
        assert_eq!(f[4].0, "lethe-rollback.service.d/50-lethe.conf");
        assert_eq!(
            body(&f[4].1),
            [
                "Requires=dev-mapper-crypted.device",
                "After=dev-mapper-crypted.device",
                "After=systemd-cryptsetup@crypted.service"
            ]
        );
    }

    #[test]
    fn a_plain_rollback_device_only_waits_for_the_device() {
        let f = files(r#"{"version": 1, "rollback": {"device": "/dev/disk/by-label/root"}}"#);
        assert_eq!(f.len(), 2);
        assert_eq!(
            body(&f[1].1),
            ["Requires=dev-disk-by\\x2dlabel-root.device", "After=dev-disk-by\\x2dlabel-root.device"]
        );
    }

    #[test]
    fn a_zfs_root_waits_for_the_import_and_the_key_not_for_a_device() {
        let f = files(
            r#"{"version": 1, "unlock": {"systemdAgent": true},
                "rollback": {"dataset": "rpool/local/root", "archive": "rpool/local/old_roots"}}"#,
        );
        let names: Vec<&str> = f.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            names,
            [
                "initrd.target.d/50-lethe.conf",
                "lethe-unlock.service.d/50-lethe.conf",
                "sysroot.mount.d/50-lethe.conf",
                "lethe-rollback.service.d/50-lethe.conf"
            ]
        );
        assert_eq!(body(&f[2].1), ["Requires=lethe-rollback.service", "After=lethe-rollback.service"]);
        // Ordering only: the import units and dracut's hook are pulled in by the host's own ZFS
        // units; no device, no cryptsetup unit.
        assert_eq!(
            body(&f[3].1),
            ["After=zfs-import.target", "After=zfs-import-rpool.service", "After=dracut-pre-mount.service"]
        );
    }

    #[test]
    fn a_zfs_pool_name_that_no_unit_can_have_is_left_out() {
        // NixOS names the import unit after the pool as it is; a space cannot be in a unit name.
        let f = files(r#"{"version": 1, "rollback": {"dataset": "my pool/root", "archive": "my pool/old"}}"#);
        assert_eq!(f.len(), 2);
        assert_eq!(body(&f[1].1), ["After=zfs-import.target", "After=dracut-pre-mount.service"]);
    }

    #[test]
    fn in_initrd_entries_turn_on_the_initrd_persist_unit() {
        let f = files(
            r#"{"version": 1, "persistence": {
                "/persist": {"files": [{"file": "/etc/machine-id", "inInitrd": true}],
                             "directories": [{"directory": "/var/lib/nixos", "inInitrd": true}]},
                "/state 100%": {"directories": [{"directory": "/var/lib/x", "inInitrd": true}]},
                "/other": {"directories": ["/var/log"]}}}"#,
        );
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].0, "initrd-fs.target.d/50-lethe.conf");
        assert_eq!(body(&f[0].1), ["Wants=lethe-persist-initrd.service"]);
        assert_eq!(f[1].0, "lethe-persist-initrd.service.d/50-lethe.conf");
        assert_eq!(
            body(&f[1].1),
            ["RequiresMountsFor=\"/sysroot/persist\"", "RequiresMountsFor=\"/sysroot/state 100%%\""]
        );
        // Stage-2 entries only: the unit stays off.
        assert!(
            files(r#"{"version": 1, "persistence": {"/persist": {"directories": ["/var/log"]}}}"#).is_empty()
        );
    }

    #[test]
    fn writes_the_files_under_the_directory() {
        let dir = std::env::temp_dir().join(format!("lethe-generator-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let config = Config::parse(r#"{"version": 1, "rollback": {"device": "/dev/vda"}}"#).unwrap();
        write(&dir, &plan(&config)).unwrap();
        let text = std::fs::read_to_string(dir.join("lethe-rollback.service.d/50-lethe.conf")).unwrap();
        assert!(text.contains("Requires=dev-vda.device\n"), "{text}");
        assert!(dir.join("sysroot.mount.d/50-lethe.conf").is_file());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
