# Shared by the systemd-* scenarios and bench/boot: a real systemd initrd (dracut) with lethe's
# units. Source after common.sh (uses KERNEL_DIR, LETHE_BIN, WORK, REPO, VM_ROOT).

# Kernel arguments for a dracut systemd initrd in the VM: no shell, power off on a fatal error
# (a test must end), systemd's status lines on the serial console (the journal order).
SYSTEMD_VM_ARGS="rd.shell=0 rd.emergency=poweroff systemd.show_status=1 rd.udev.log_level=err \
systemd.journald.forward_to_console=1 rootfstype=btrfs rootflags=subvol=root rw"

# systemd_keys: a test host key and client key pair, made once and kept in the cache, so the
# initrd (which holds the host key and the authorized key) is cached too. Sets host_key, id.
systemd_keys() {
    local dir=${LETHE_CACHE:-/var/cache/lethe}/test-keys
    mkdir -p "$dir"
    (
        flock 9
        [[ -s $dir/host_key ]] || ssh-keygen -q -t ed25519 -N '' -C vm-host -f "$dir/host_key"
        [[ -s $dir/id ]] || ssh-keygen -q -t ed25519 -N '' -C tester -f "$dir/id"
    ) 9>"$dir/.lock"
    host_key=$dir/host_key id=$dir/id
}

# systemd_blank DIR: the tree of the blankSnapshot the rollback clones as the fresh root:
# etc/os-release (systemd will not switch into a root without it) and /sbin/init, which mounts
# /nix from the same filesystem, reports the archived roots (@@OLD-ROOTS) and runs the test
# stage 2 (/nix/stage2/init).
systemd_blank() {
    local dir=$1
    # dev, proc, sys, run: systemd moves its API filesystems there when it switches root.
    mkdir -p "$dir/etc" "$dir/bin" "$dir/sbin" "$dir/nix" "$dir/mnt" "$dir/dev" "$dir/proc" "$dir/sys" "$dir/run"
    printf 'NAME="lethe test root"\nID=lethe-test\n' >"$dir/etc/os-release"
    install -m 0755 "$(command -v busybox)" "$dir/bin/busybox"
    cat >"$dir/sbin/init" <<'INIT'
#!/bin/busybox sh
B=/bin/busybox
dev=$($B awk '$2 == "/" { print $1 }' /proc/mounts | $B tail -n 1)
$B mount -t btrfs -o subvol=nix "$dev" /nix || echo "@@FAIL mount /nix"
if $B mount -t btrfs -o subvolid=5 "$dev" /mnt; then
    echo "@@OLD-ROOTS $($B ls /mnt/old_roots | $B tr '\n' ' ')"
    $B umount /mnt
fi
echo "@@FRESH-ROOT $($B ls / | $B tr '\n' ' ')"
# Used: the next boot archives it (a root nothing wrote to stays, as still fresh).
echo "stage 2 was here" >/used-by-stage2 || echo "@@FAIL the root is not writable"
exec /nix/stage2/init "$@"
INIT
    chmod 0755 "$dir/sbin/init"
}

# make_systemd_initrd NAME CONFIG [--file SRC:DEST]...: the dracut initrd in $WORK (cached).
make_systemd_initrd() {
    local name=$1 config=$2
    shift 2
    "$VM_ROOT/lib/make-dracut-initrd" --kernel-dir "$KERNEL_DIR" --lethe "$LETHE_BIN" \
        --config "$config" -o "$WORK/$name" "$@" | tail -n 1
}

# luks_uuid IMG: the LUKS UUID of a test disk.
luks_uuid() { cryptsetup luksUUID "$1"; }

# systemd_ssh PORT ARGS...: the OpenSSH client against the VM's forwarded port, with $id.
systemd_ssh() {
    local port=$1
    shift
    ssh -p "$port" -i "$id" -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=no \
        -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=10 -e none root@127.0.0.1 "$@"
}

# systemd_config FILE UNLOCK_JSON [ROLLBACK_JSON]: lethe's config for the systemd initrd:
# network by DHCP, SSH with the test keys, the given unlock and rollback sections.
systemd_config() {
    local file=$1 unlock=$2 rollback=${3:-'{"device": "/dev/mapper/crypted", "blankSnapshot": "blank"}'}
    printf '{"version": 1, "network": {"kernelModules": ["virtio_net"], "dhcp": true}, "ssh": {"hostKeys": ["/etc/lethe/host_key"], "authorizedKeys": ["%s"]}, "unlock": %s, "rollback": %s}\n' \
        "$(cat "$id.pub")" "$unlock" "$rollback" >"$file"
}

# line_of LOG PATTERN: the number of the first line matching PATTERN (grep -E), or 0.
# Every reader reads to the end: with `grep -m1`, `tr` in clean_log died of SIGPIPE on long
# logs, pipefail then added a second line "0" and in_order's arithmetic failed open.
line_of() {
    local n
    n=$({ clean_log "$1" | grep -nE -- "$2" || true; } | sed -n '1s/:.*//p')
    echo "${n:-0}"
}

# in_order LOG PATTERN...: each PATTERN first appears after the one before it.
in_order() {
    local log=$1 prev=0 n p
    shift
    for p in "$@"; do
        n=$(line_of "$log" "$p")
        n=${n:-0}
        if ((n == 0)); then echo "missing in $log: $p" >&2; return 1; fi
        if ((n <= prev)); then echo "out of order in $log: \"$p\" (line $n) before line $prev" >&2; return 1; fi
        prev=$n
    done
}
