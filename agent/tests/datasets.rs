//! `lethe datasets` on this host, which has no ZFS module (the VM scenario `zfs-datasets` runs
//! it against real ZFS): a bad config is exit 1 before any `zfs` runs; a missing `zpool` is
//! exit 2 naming the command that could not run.

mod common;

use common::{repo_root, stderr};
use std::process::Command;

fn datasets(config: &str, path: &str) -> std::process::Output {
    Command::new(common::lethe())
        .args(["datasets", "--config", config, "--dry-run"])
        .env("PATH", path)
        .output()
        .expect("lethe runs")
}

#[test]
fn bad_config_is_exit_1_and_runs_no_zfs() {
    let file = repo_root().join("examples/bad/dataset-unknown-property.json");
    // An empty PATH: had lethe tried to run zpool, the message would say so.
    let out = datasets(file.to_str().unwrap(), "/nonexistent");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("datasets.services.sonarr.properties.atimes: unknown ZFS property"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("zpool"), "{}", stderr(&out));
}

#[test]
fn missing_zpool_is_exit_2_naming_the_command() {
    let file = repo_root().join("examples/zfs-services-two-disk.json");
    let out = datasets(file.to_str().unwrap(), "/nonexistent");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("lethe: datasets: reading the ZFS state failed: zpool list -H -o name,feature@large_blocks,feature@zstd_compress: cannot run zpool"),
        "{err}"
    );
}

/// The unit is an interface (the NixOS module and the dracut module install its text): its
/// ordering and command line, and systemd's own check of it with `@lethe@` replaced.
#[test]
fn the_stage2_unit_is_ordered_and_valid() {
    let path = repo_root().join("initrd-glue/systemd/system/lethe-datasets.service");
    let text = std::fs::read_to_string(&path).unwrap();
    for line in [
        "After=zfs-import.target",
        "Before=zfs-mount.service local-fs.target lethe-persist.service",
        "ExecStart=@lethe@ datasets --config /etc/lethe/config.json",
    ] {
        assert!(text.lines().any(|l| l == line), "{}: no line {line:?}", path.display());
    }
    let dir = std::env::temp_dir().join(format!("lethe-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let unit = dir.join("lethe-datasets.service");
    std::fs::write(&unit, text.replace("@lethe@", common::lethe().to_str().unwrap())).unwrap();
    let out =
        Command::new("systemd-analyze").arg("verify").arg(&unit).output().expect("systemd-analyze runs");
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(out.status.success() && out.stderr.is_empty(), "systemd-analyze verify: {}", stderr(&out));
}

/// A stand-in for `zfs` and `zpool` (this host has no ZFS; the VM scenario `zfs-datasets` runs
/// the real ones): tank/s/b's `lethe:migration` holds a newline and a forged line giving
/// tank/s/a a migration of `/etc`, as `zfs get -H` would print it.
#[test]
fn a_forged_line_in_zfs_get_output_is_refused() {
    let dir = std::env::temp_dir().join(format!("lethe-forged-zfs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = |name: &str, body: &str| {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    script("zpool", "printf 'tank\\tactive\\tactive\\n'\n");
    script(
        "zfs",
        r#"case "$1" in
list) printf 'tank\ntank/s\ntank/s/a\ntank/s/b\n' ;;
get) for ds in tank tank/s tank/s/a tank/s/b; do
       for p in $(echo "$9" | tr , ' '); do
         if [ "$ds $p" = "tank/s/b lethe:migration" ]; then
           printf '%s\t%s\tx\tlocal\ntank/s/a\tlethe:migration\tpending:/etc\tlocal\n' "$ds" "$p"
         else
           printf '%s\t%s\t-\t-\n' "$ds" "$p"
         fi
       done
     done ;;
*) exit 1 ;;
esac
"#,
    );
    let config = dir.join("config.json");
    std::fs::write(
        &config,
        r#"{"version": 1, "datasets": {"parentDataset": "tank/s", "parentMount": "/persist/s",
            "services": {"a": {"mountpoint": "/var/lib/lethe-test-a"}}}}"#,
    )
    .unwrap();
    let path = format!("{}:/usr/bin:/bin", dir.display());
    let out = datasets(config.to_str().unwrap(), &path);
    let text = format!("{}{}", common::stdout(&out), stderr(&out));
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(!text.contains("/etc"), "{text}");
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains(
            "zfs get output line 25: tank/s/a lethe:migration listed twice; refusing the whole listing"
        ),
        "{text}"
    );
}

/// `lethe datasets --restore` from restic, with stand-ins for `zfs`, `zpool` and `restic`
/// (this host has no ZFS: a "dataset" is a tmpfs mounted with the dataset's name as its
/// source, moved with `mount --move`, in a mount namespace of its own). The local replica does
/// not exist, so the walk goes on to restic; the dataset is created recorded `pending`, the
/// snapshot restored below it, moved to its root, then mounted at its place recorded `done`.
#[test]
fn restore_from_restic_moves_the_snapshot_to_the_dataset_root() {
    let id = std::process::id();
    let dir = std::env::temp_dir().join(format!("lethe-restore-restic-{id}"));
    std::fs::create_dir_all(&dir).unwrap();
    let script = |name: &str, body: &str| {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    let log = dir.join("calls");
    script("zpool", "printf 'tank\\tactive\\tactive\\n'\n");
    script(
        "zfs",
        &format!(
            r#"echo "zfs $*" >> {log}
case "$1" in
list) case "$*" in
      *snapshot*) echo "cannot open '$(eval echo \${{$#}})': dataset does not exist" >&2; exit 1 ;;
      *) printf 'tank\ntank/s\n' ;;
      esac ;;
get) for ds in tank tank/s; do
       for p in $(echo "$9" | tr , ' '); do printf '%s\t%s\t-\t-\n' "$ds" "$p"; done
     done ;;
create) shift; while [ "$1" = -o ]; do
          case "$2" in mountpoint=*) mp=${{2#mountpoint=}} ;; esac; shift 2
        done
        mkdir -p "$mp" && mount -t tmpfs "$1" "$mp" && echo "$mp" > {dir}/mounted ;;
set) for a in "$@"; do case "$a" in mountpoint=*) mp=${{a#mountpoint=}} ;; esac; done
     mkdir -p "$mp" && mount --move "$(cat {dir}/mounted)" "$mp" ;;
*) exit 1 ;;
esac
"#,
            log = log.display(),
            dir = dir.display()
        ),
    );
    script(
        "restic",
        &format!(
            r#"echo "restic $*" >> {log}
case "$*" in
*" snapshots --json "*) echo '[{{"time":"2026-12-01T01:00:00Z","id":"old"}},{{"time":"2026-12-02T01:00:00Z","id":"new"}}]' ;;
*" restore new --target "*) t=$(eval echo \${{$#}})/run/lethe/backup/t{id}-offsite
   mkdir -p "$t/sub" && echo kept > "$t/file" && echo deep > "$t/sub/deep" ;;
*) exit 1 ;;
esac
"#,
            log = log.display()
        ),
    );
    let data = dir.join("data");
    let config = dir.join("config.json");
    std::fs::write(
        &config,
        format!(
            r#"{{"version": 1, "datasets": {{"parentDataset": "tank/s", "parentMount": "/persist/s",
            "services": {{"t{id}": {{"mountpoint": "{data}", "restore": [
              {{"name": "local", "replica": "backup/forge/t{id}"}},
              {{"name": "offsite", "restic": {{"repository": "/srv/restic", "passwordFile": "/persist/pw",
                "root": "/run/lethe/backup/t{id}-offsite", "paths": ["/run/lethe/backup/t{id}-offsite"]}}}}]}}}}}}}}"#,
            data = data.display()
        ),
    )
    .unwrap();
    let shell = format!(
        "{lethe} datasets --config {config} --restore tank/s/t{id}; echo status=$?; cd {data} && find . | sort",
        lethe = common::lethe().display(),
        config = config.display(),
        data = data.display()
    );
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &shell])
        .env("PATH", format!("{}:/usr/bin:/bin", dir.display()))
        .output()
        .expect("unshare runs");
    let text = format!("{}{}", common::stdout(&out), stderr(&out));
    let calls = std::fs::read_to_string(&log).unwrap_or_default();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(text.contains("status=0"), "{text}\n{calls}");
    assert!(text.contains(&format!("restore tank/s/t{id} from offsite: restic snapshot new")), "{text}");
    // The snapshot's files at the dataset's root, lethe's staging directory gone.
    assert!(text.contains(".\n./file\n./sub\n./sub/deep\n"), "{text}");
    let pending = format!(
        "-o lethe:restore=pending:offsite -o mountpoint=/run/lethe/restore/tank_s_t{id} tank/s/t{id}"
    );
    assert!(calls.contains(&pending), "{calls}");
    assert!(
        calls.contains(&format!(
            "zfs set mountpoint={} lethe:restore=done:offsite tank/s/t{id}",
            data.display()
        )),
        "{calls}"
    );
    assert!(calls.contains("restic --repo /srv/restic --password-file /persist/pw --no-cache restore new --target /run/lethe/restore/"), "{calls}");
}

/// A replica host that cannot be reached stops the restore: nothing is created, the later
/// restic source is not asked, and the run fails (its unit fails, so the service does not
/// start). Stand-ins for `zfs`, `zpool` and `ssh`, as above.
#[test]
fn an_unreachable_replica_host_fails_the_restore_and_creates_nothing() {
    let id = std::process::id();
    let dir = std::env::temp_dir().join(format!("lethe-restore-down-{id}"));
    std::fs::create_dir_all(&dir).unwrap();
    let script = |name: &str, body: &str| {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\necho \"{name} $*\" >> {}/calls\n{body}", dir.display()))
            .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    script("zpool", "printf 'tank\\tactive\\tactive\\n'\n");
    script(
        "zfs",
        r#"case "$1" in
list) printf 'tank\ntank/s\n' ;;
get) for ds in tank tank/s; do
       for p in $(echo "$9" | tr , ' '); do printf '%s\t%s\t-\t-\n' "$ds" "$p"; done
     done ;;
*) exit 1 ;;
esac
"#,
    );
    script("ssh", "echo 'ssh: connect to host nas port 22: No route to host' >&2; exit 255\n");
    script("restic", "exit 1\n");
    let config = dir.join("config.json");
    std::fs::write(
        &config,
        r#"{"version": 1, "datasets": {"parentDataset": "tank/s", "parentMount": "/persist/s",
            "services": {"t": {"restore": [
              {"name": "nas", "replica": "tank/replicas/t", "ssh": "syncoid@nas", "sshKey": "/persist/key"},
              {"name": "offsite", "restic": {"repository": "/srv/restic", "passwordFile": "/persist/pw",
                "root": "/run/lethe/backup/t-offsite", "paths": ["/run/lethe/backup/t-offsite"]}}]}}}}"#,
    )
    .unwrap();
    let out = Command::new(common::lethe())
        .args(["datasets", "--config", config.to_str().unwrap(), "--restore", "tank/s/t"])
        .env("PATH", format!("{}:/usr/bin:/bin", dir.display()))
        .output()
        .expect("lethe runs");
    let text = format!("{}{}", common::stdout(&out), stderr(&out));
    let calls = std::fs::read_to_string(dir.join("calls")).unwrap_or_default();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("error   tank/s/t: restore source nas could not be asked: ssh -o BatchMode=yes -o StrictHostKeyChecking=accept-new -i /persist/key syncoid@nas zfs 'list'"), "{text}");
    assert!(text.contains("No route to host"), "{text}");
    assert!(text.contains("offsite not tried"), "{text}");
    assert!(!calls.contains("restic") && !calls.contains("zfs create"), "{calls}");
}
