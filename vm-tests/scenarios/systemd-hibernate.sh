# description: dracut systemd initrd with resume=: systemd-hibernate-resume runs before lethe-rollback (journal order); after stage 2 hibernates, the next boot resumes the image and the rollback never runs
# Needs dracut-core (scripts/setup.sh). Boot 1: no image yet: resume is tried, then the rollback,
# then stage 2 hibernates to /dev/vdb. Boot 2: systemd-hibernate-resume restores the image, so
# boot 1's stage 2 continues (@@RESUMED) and lethe-rollback never starts: a rollback before the
# resume would have changed the filesystem the hibernated kernel has mounted (impermanence#250).
source "$VM_ROOT/lib/systemd.sh"

scenario() {
    local disk swap initrd log1=$WORK/serial-1.log log2=$WORK/serial-2.log status=0
    cat >"$WORK/hibernate" <<'CHECK'
#!/nix/stage2/busybox sh
B=/nix/stage2/busybox
[ -e /nix/hibernated ] && exit 0
: >/nix/hibernated
$B sync
$B swapon /dev/vdb || { echo "@@FAIL swapon"; exit 0; }
$B cat /sys/class/block/vdb/dev >/sys/power/resume
echo shutdown >/sys/power/disk
echo "@@HIBERNATING"
if echo disk >/sys/power/state; then
    echo "@@RESUMED"
    $B swapoff /dev/vdb
else
    echo "@@FAIL hibernation did not start"
fi
CHECK
    chmod +x "$WORK/hibernate"
    systemd_blank "$WORK/blank"
    disk=$(make_disk disk.img --blank "blank:$WORK/blank" --file "$WORK/hibernate:nix/stage2/check.d/50-hibernate")
    swap=$WORK/swap.img
    truncate -s 256M "$swap"
    mkswap -q "$swap"
    printf '{"version": 1, "rollback": {"device": "/dev/vda", "blankSnapshot": "blank"}}\n' >"$WORK/config.json"
    initrd=$(make_systemd_initrd initrd.cpio "$WORK/config.json")
    local args="root=/dev/vda resume=/dev/vdb $SYSTEMD_VM_ARGS"
    VM_MEM=512 boot_vm --initrd "$initrd" --disk "$disk" --disk "$swap" --log "$log1" --timeout 240 \
        --append "$args" || { echo "boot 1: QEMU ended with status $?"; return 1; }
    check_log "$log1" --want '@@HIBERNATING' --want 'PM: hibernation: (Image saved|hibernation exit)|reboot: Power down' \
        --refuse '@@RESUMED' || { echo "boot 1 did not hibernate"; return 1; }
    in_order "$log1" 'Starting systemd-hibernate-resume@dev-vdb.service' 'Finished systemd-hibernate-resume@dev-vdb.service' \
        'Starting lethe-rollback.service' 'moved root to old_roots/' 'Mounted sysroot.mount' '@@HIBERNATING' || status=1
    VM_MEM=512 boot_vm --initrd "$initrd" --disk "$disk" --disk "$swap" --log "$log2" --timeout 240 \
        --append "$args" || { echo "boot 2: QEMU ended with status $?"; return 1; }
    check_log "$log2" --want 'Starting systemd-hibernate-resume@dev-vdb.service' --want '@@RESUMED' --want '@@STAGE2-DONE' \
        --refuse 'Starting lethe-rollback.service' --refuse 'moved root to old_roots' --refuse '@@STAGE2 pid' ||
        { echo "boot 2 did not resume before the rollback"; status=1; }
    return $status
}
