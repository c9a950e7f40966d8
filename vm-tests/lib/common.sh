# Shared by vm-tests/run, the scenarios, vm-tests/demo and bench/boot. Source it; it defines
# functions and reads these variables (vm-tests/run sets them up once per run):
#   VM_ROOT      vm-tests/ directory          REPO     the repository root
#   KERNEL_DIR   from lib/fetch-kernel        LETHE_BIN  the static lethe
#   WORK         a scratch directory for the current scenario (logs, disks, initrds)
# Serial lines end in \r; the helpers strip it.

VM_ROOT=${VM_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
REPO=${REPO:-$(cd "$VM_ROOT/.." && pwd)}

# Kernel options that make TCG boots fast and deterministic: no mitigations, crypto self-tests,
# page zeroing, i8042/EDD probing, KASLR, LSMs or extra UARTs, and a trusted TSC (with them a
# busybox initrd reached DHCP and powered off in 2.6-4.0 s under TCG on the build machine).
VM_KERNEL_ARGS="console=ttyS0 panic=-1 mitigations=off cryptomgr.notests init_on_alloc=0 \
i8042.noaux i8042.nokbd i8042.nopnp edd=off tsc=reliable no_timer_check nokaslr lsm= \
8250.nr_uarts=1"

# Kernel modules a virtio VM with a btrfs root needs (their dependencies come along).
VM_MODULES='["virtio_pci", "virtio_blk", "btrfs"]'

vm_setup() {
    : "${KERNEL_DIR:=$("$VM_ROOT/lib/fetch-kernel" | tail -n 1)}"
    if [[ -z ${LETHE_BIN:-} ]]; then
        LETHE_BIN=$("$REPO/scripts/build-static.sh" | tail -n 1)
    fi
    export KERNEL_DIR LETHE_BIN
    KVER=$(cat "$KERNEL_DIR/kver")
    MODULES_DIR=$KERNEL_DIR/lib/modules/$KVER
    export KVER MODULES_DIR
}

# make_disk NAME [make-disk options]: a fresh test disk in $WORK; prints its path.
make_disk() {
    local name=$1
    shift
    "$VM_ROOT/lib/make-disk" -o "$WORK/$name" "$@" | tail -n 1
}

# write_config FILE BOOT_JSON [EXTRA_TOP_LEVEL_JSON]: a lethe config with this boot section.
write_config() {
    local file=$1 boot=$2 extra=${3:-}
    printf '{"version": 1, "boot": %s%s}\n' "$boot" "${extra:+, $extra}" >"$file"
}

# The boot section for a test disk on /dev/vda: root subvolume as /, nix subvolume as /nix,
# the test stage 2 as init. Extra JSON fields may be appended: boot_json '"deviceTimeoutSeconds": 3'
boot_json() {
    local extra=${1:-}
    printf '{"kernelModules": %s, "root": {"device": "/dev/vda", "fsType": "btrfs", "options": "subvol=root"}, "mounts": [{"device": "/dev/vda", "mountPoint": "/nix", "options": "subvol=nix"}], "init": "/nix/stage2/init"%s}' \
        "$VM_MODULES" "${extra:+, $extra}"
}

# make_initrd NAME CONFIG [mkinitrd options]: a lethe initrd in $WORK; prints its path.
make_initrd() {
    local name=$1 config=$2
    shift 2
    "$REPO/initrd-glue/mkinitrd" --lethe "$LETHE_BIN" --config "$config" \
        --modules-dir "$MODULES_DIR" -o "$WORK/$name" "$@" | tail -n 1
}

# free_port: an unused TCP port on 127.0.0.1 for hostfwd.
free_port() {
    local p
    while :; do
        p=$((20000 + RANDOM % 30000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return
        fi
    done
}

# boot_vm --initrd F --log LOG [--disk IMG]... [--append "ARGS"] [--timeout S] [--mem M]
#         [--hostfwd HOSTPORT:GUESTPORT]... [--net] [--nic MODEL] [--background PIDFILE [--console BASE]]
#         [--qemu ARG]...
# Boots the kernel under QEMU TCG (qboot firmware, PVH entry, virtio), serial console to LOG.
# VM_SMP=N gives the guest N vCPUs (default 1; bench/stage1 compares 1 and 2).
# Returns QEMU's status (124 when the hard timeout hit). The VM has no network unless --net or
# --hostfwd is given (user-mode networking, whose DHCP server is real: 10.0.2.15/24). --nic picks
# QEMU's NIC model (default virtio-net-pci; e.g. i82551 for the e100 driver).
# With --background, QEMU runs in the background and its PID is written to PIDFILE. With
# --console, the serial port is the FIFO pair BASE.in (what the test types; keep it open while
# typing: QEMU sees EOF otherwise) and BASE.out (copied to LOG), as a person at the machine.
boot_vm() {
    local initrd= log= append= timeout=${VM_TIMEOUT:-90} mem=${VM_MEM:-512} net= bg= console=
    local nic=virtio-net-pci
    local -a drives=() fwds=()
    while (($#)); do
        case $1 in
            --initrd) initrd=$2; shift 2 ;;
            --log) log=$2; shift 2 ;;
            --disk) drives+=(-drive "file=$2,if=virtio,format=raw,cache=unsafe"); shift 2 ;;
            --append) append=$2; shift 2 ;;
            --timeout) timeout=$2; shift 2 ;;
            --mem) mem=$2; shift 2 ;;
            --hostfwd) fwds+=("hostfwd=tcp:127.0.0.1:${2%%:*}-:${2#*:}"); net=1; shift 2 ;;
            --net) net=1; shift ;;
            --nic) nic=$2; net=1; shift 2 ;;
            --background) bg=$2; shift 2 ;;
            --console) console=$2; shift 2 ;;
            # --qemu ARG: one more QEMU argument (other disk buses: -drive if=none + -device nvme).
            --qemu) drives+=("$2"); shift 2 ;;
            *) echo "boot_vm: unknown argument $1" >&2; return 2 ;;
        esac
    done
    local -a netargs=()
    if [[ -n $net ]]; then
        local user=user,id=n0
        local f
        for f in "${fwds[@]}"; do user+=",$f"; done
        netargs=(-netdev "$user" -device "$nic,netdev=n0,romfile=")
    fi
    : >"$log"
    local -a serial=(-serial "file:$log")
    if [[ -n $console ]]; then
        # Typing needs the VM running beside the scenario.
        [[ -n $bg ]] || { echo "boot_vm: --console needs --background" >&2; return 2; }
        rm -f "$console.in" "$console.out"
        mkfifo "$console.in" "$console.out"
        serial=(-chardev "pipe,id=ser0,path=$console" -serial chardev:ser0)
    fi
    local -a cmd=(timeout -k 5 "$timeout" qemu-system-x86_64 -nodefaults -no-user-config
        -display none -M pc -accel tcg -cpu max -smp "${VM_SMP:-1}" -m "$mem" -bios /usr/share/qemu/qboot.rom
        -kernel "$KERNEL_DIR/vmlinux" -initrd "$initrd" -append "$VM_KERNEL_ARGS $append"
        "${serial[@]}" -monitor none -no-reboot "${drives[@]}" "${netargs[@]}")
    if [[ -n $bg ]]; then
        "${cmd[@]}" >"$log.qemu" 2>&1 &
        echo $! >"$bg"
        # The console's copy ends when QEMU closes the FIFO; `wait` with no PID waits for it.
        [[ -z $console ]] || cat "$console.out" >"$log" &
        return 0
    fi
    "${cmd[@]}" >"$log.qemu" 2>&1
}

# clean_log LOG: the serial log without carriage returns.
clean_log() { tr -d '\r' <"$1"; }

# wait_vm PID: waits for QEMU (PID from boot_vm --background) and for the console's copy of
# --console; fails, saying how QEMU ended, unless it exited 0.
wait_vm() {
    local status=0
    wait "$1" || status=$?
    wait # the console's copy, if any
    ((status == 0)) || { echo "QEMU ended with status $status (124: timeout)"; return 1; }
}

# wait_log LOG PATTERN PID [COUNT]: until PATTERN (grep -E) is in LOG COUNT times (default 1),
# or fails when the process PID (QEMU) ends first.
wait_log() {
    local log=$1 pattern=$2 pid=$3 count=${4:-1}
    while (($(clean_log "$log" | grep -cE -- "$pattern" || true) < count)); do
        kill -0 "$pid" 2>/dev/null || { echo "QEMU ended before \"$pattern\" (x$count) appeared in $log" >&2; return 1; }
        sleep 0.1
    done
}

# check_log LOG [--want PATTERN]... [--refuse PATTERN]... [--allow-failure]
# Passes (status 0) when every --want (grep -E) is in LOG and no refused pattern is. Always
# refused: a kernel panic, a "@@FAIL" marker, and (unless --allow-failure) lethe's
# "BOOT FAILED". On failure, prints what was missing or found to stderr.
check_log() {
    local log=$1
    shift
    local -a want=() refuse=('Kernel panic' '@@FAIL')
    local allow=
    while (($#)); do
        case $1 in
            --want) want+=("$2"); shift 2 ;;
            --refuse) refuse+=("$2"); shift 2 ;;
            --allow-failure) allow=1; shift ;;
            *) echo "check_log: unknown argument $1" >&2; return 2 ;;
        esac
    done
    [[ -n $allow ]] || refuse+=('BOOT FAILED')
    local text ok=0 p
    text=$(clean_log "$log")
    for p in "${want[@]}"; do
        if ! grep -qE -- "$p" <<<"$text"; then
            echo "missing in $log: $p" >&2
            ok=1
        fi
    done
    for p in "${refuse[@]}"; do
        if grep -qE -- "$p" <<<"$text"; then
            echo "found in $log: $(grep -E -m1 -- "$p" <<<"$text")" >&2
            ok=1
        fi
    done
    return $ok
}

# check_case NAME LOG [check_log ARGS]: one case of a scenario whose cases share a costly boot
# (one scenario per feature). Prints "CASE PASS NAME" or "CASE FAIL NAME: what was missing";
# vm-tests/run shows each case under the scenario's line. The scenario ends with
# `cases_verdict`, which fails naming the failed cases.
CASES_FAILED=()
check_case() {
    local name=$1 why
    shift
    if why=$(check_log "$@" 2>&1); then
        echo "CASE PASS $name"
    else
        echo "CASE FAIL $name: $(tr '\n' ';' <<<"$why" | sed 's/;$//')"
        CASES_FAILED+=("$name")
    fi
}

# cases_verdict: status 0 when every check_case passed; else 1, naming the failed ones.
cases_verdict() {
    if ((${#CASES_FAILED[@]} > 0)); then
        echo "cases failed: ${CASES_FAILED[*]}" >&2
        return 1
    fi
}

# marker_value LOG NAME: the rest of the first "@@NAME ..." line.
marker_value() {
    clean_log "$1" | sed -n "s/^.*@@$2 //p" | head -n 1
}
