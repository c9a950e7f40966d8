# For the backup-* scenarios: the real tools (Debian's sanoid/syncoid, restic, pgbackrest,
# PostgreSQL, zfs) in the test stage 2, driven by what lethe's NixOS module generates for the
# forge example host with backups (nixos-module/tests/eval/hosts/forge-backups.nix). Source it
# after common.sh and zfs.sh, inside `scenario`:
#   backups_config DIR     the generated inputs, evaluated now from the module (backups-config.nix):
#                          DIR/lethe.json (lethe's config), DIR/sanoid/sanoid.conf and
#                          DIR/sanoid/argv (sanoid.service's ExecStart, one argument a line, its
#                          --configdir pointing at /nix/stage2/backup/sanoid), DIR/syncoid/JOB
#                          (syncoid-JOB.service's arguments, one a line), DIR/restic/JOB/ (prepare,
#                          cleanup, paths, prune, password-file, repository-file),
#                          DIR/restore-units/NAME (lethe-restore-NAME.service's ExecStart),
#                          DIR/pitr/ (from eval-config --texts: pgbackrest.conf, the full
#                          backup job, PostgreSQL's settings and initdb arguments, the
#                          lethe-restore-postgresql helper)
#   backups_vm_args        boot_vm arguments sharing the host's /usr read-only (virtio-9p)
#   backups_boot_json      the boot section: zfs and 9p loaded by stage 1
#   backups_disk_files SCRIPT  make-disk --file options: lethe, the generated inputs, the
#                          stage-2 prelude (below) and SCRIPT, the scenario's bash body
#   backups_boot SCRIPT LOG  one boot of the backup VM (1 GiB disk from backups_disk_files
#                          SCRIPT, $WORK/config.json, 15 minutes at most), its console in LOG
#
# Why the host's /usr over 9p, not copies: sanoid and syncoid are perl with modules, pgbackrest
# and PostgreSQL link dozens of libraries; Debian 12 has a merged /usr, so /usr alone is the
# whole userland (the VM root gets bin, sbin, lib, lib64 as links into it), nothing is copied
# or cached per run, and the tools are exactly the host's packages (scripts/setup.sh). The
# test kernel has 9p as modules (9p, 9pnet_virtio); cache=loose is safe because the share is
# read-only and nothing changes it during a boot.
# The generated scripts name tools by store path (/nix/store/<hash>-zfs/bin/zfs): the prelude
# links each such path to Debian's binary of the same name, so the text runs unchanged.

backups_host() { echo "$REPO/nixos-module/tests/eval/hosts/forge-backups.nix"; }

backups_config() {
    local dir=$1 lib subset host
    host=$(backups_host)
    mkdir -p "$dir/sanoid" "$dir/syncoid" "$dir/restic"
    "$REPO/nixos-module/eval-config" "$host" >"$dir/lethe.json" ||
        { echo "backups_config: eval-config $host failed" >&2; return 1; }
    lib=$("$REPO/nixos-module/eval-config" --print-lib) || return 1
    subset=$("$REPO/nixos-module/eval-config" --print-source |
        sed -n 's/^nixosSubset = \/\. + "\(.*\)";$/\1/p')
    [[ -n $subset ]] || { echo "backups_config: the backup scenarios need the vendored nixos-subset (LETHE_VENDOR)" >&2; return 1; }
    nix-instantiate --store dummy:// --eval --strict --json --argstr lib "$lib" --argstr subset "$subset" \
        --argstr repo "$REPO" --argstr host "$host" -E "{ lib, subset, repo, host }: import $VM_ROOT/lib/backups-config.nix {
            lib = import lib; subset = /. + subset; repo = /. + repo; host = /. + host; }" \
        >"$dir/generated.json" 2> >(grep -v build-users-group >&2) ||
        { echo "backups_config: evaluating $host failed" >&2; return 1; }
    # The VM's /etc/alternatives: the host's links into /usr (awk is one).
    local l
    for l in /etc/alternatives/*; do
        [[ $(readlink "$l") == /usr/* ]] && printf '%s %s\n' "${l##*/}" "$(readlink "$l")"
    done >"$dir/alternatives"
    # PostgreSQL's point-in-time recovery: the module's own texts (eval-config --texts).
    "$REPO/nixos-module/eval-config" --texts "$host" >"$dir/texts.json" ||
        { echo "backups_config: eval-config --texts $host failed" >&2; return 1; }
    python3 - "$dir" <<'PY'
import json, os, shlex, sys
d = sys.argv[1]
g = json.load(open(os.path.join(d, "generated.json")))
if g["failedAssertions"]:
    sys.exit("backups_config: assertions failed: " + "; ".join(g["failedAssertions"]))
# sanoid.service's ExecStart; its --configdir argument is the text of sanoid.conf.
argv = shlex.split(g["sanoidExecStart"])
for i, a in enumerate(argv):
    if a.startswith(g["textMarker"]):
        open(os.path.join(d, "sanoid", "sanoid.conf"), "w").write(a[len(g["textMarker"]):])
        argv[i] = "/nix/stage2/backup/sanoid"
open(os.path.join(d, "sanoid", "argv"), "w").write("".join(a + "\n" for a in argv))
for job, args in g["syncoid"].items():
    open(os.path.join(d, "syncoid", job), "w").write("".join(a + "\n" for a in args))
# pgBackRest: its config, the full backup job (as postgres), PostgreSQL's settings and initdb
# arguments, the lethe-restore-postgresql helper.
t = json.load(open(os.path.join(d, "texts.json")))
if "pgbackrest.conf" in t:
    p = os.path.join(d, "pitr")
    os.makedirs(p, exist_ok=True)
    open(os.path.join(p, "pgbackrest.conf"), "w").write(t["pgbackrest.conf"])
    open(os.path.join(p, "lethe-restore-postgresql"), "w").write(t["helper"])
    full = t["pgbackrest"]["pgbackrest-default-full"]
    for k in ("ExecStartPre", "ExecStart"):
        open(os.path.join(p, "full." + k), "w").write("".join(a + "\n" for a in shlex.split(full[k])))
    open(os.path.join(p, "full.User"), "w").write(full["User"] + "\n")
    pg = t["postgresql"]
    open(os.path.join(p, "initdb-args"), "w").write("".join(a + "\n" for a in pg["initdbArgs"]))
    conf = "".join("%s = '%s'\n" % (k, str(v).replace("'", "''")) for k, v in pg["settings"].items())
    open(os.path.join(p, "postgresql.conf"), "w").write(conf)
os.makedirs(os.path.join(d, "restore-units"), exist_ok=True)
for name, line in g["restoreUnits"].items():
    open(os.path.join(d, "restore-units", name), "w").write("".join(a + "\n" for a in shlex.split(line)))
for job, b in g["restic"].items():
    j = os.path.join(d, "restic", job)
    os.makedirs(j, exist_ok=True)
    files = {"prepare": b["backupPrepareCommand"], "cleanup": b["backupCleanupCommand"],
             "paths": "".join(p + "\n" for p in b["paths"]), "prune": " ".join(b["pruneOpts"]) + "\n",
             "password-file": b["passwordFile"] + "\n", "repository-file": (b["repositoryFile"] or "") + "\n"}
    for name, text in files.items():
        open(os.path.join(j, name), "w").write(text)
PY
}

backups_vm_args() {
    printf -- '--qemu\n%s\n' -virtfs "local,path=/usr,mount_tag=hostusr,security_model=none,readonly=on"
}

backups_boot_json() {
    zfs_boot_json "$@" | sed 's/"kernelModules": \["zfs", /"kernelModules": ["zfs", "9p", "9pnet_virtio", /'
}

backups_disk_files() {
    local script=$1 f
    printf -- '--file\n%s:nix/stage2/lethe\n' "$LETHE_BIN"
    printf -- '--file\n%s:nix/stage2/check.d/50-backup\n' "$VM_ROOT/lib/backups-stage2"
    printf -- '--file\n%s:nix/stage2/backup/run.sh\n' "$script"
    while IFS= read -r -d '' f; do
        printf -- '--file\n%s:nix/stage2/backup/%s\n' "$f" "${f#"$BACKUPS_DIR"/}"
    done < <(find "$BACKUPS_DIR" -type f ! -name generated.json ! -name texts.json -print0)
}

backups_boot() {
    local script=$1 log=$2 disk initrd
    local -a files vmargs
    mapfile -t files < <(backups_disk_files "$script")
    mapfile -t vmargs < <(backups_vm_args)
    disk=$(make_disk disk.img --size 1G "${files[@]}")
    write_config "$WORK/config.json" "$(backups_boot_json)"
    initrd=$(make_initrd initrd.cpio "$WORK/config.json")
    VM_MEM=1024 boot_vm --initrd "$initrd" --disk "$disk" --log "$log" --timeout 900 "${vmargs[@]}" ||
        { echo "QEMU ended with status $?"; return 1; }
}
