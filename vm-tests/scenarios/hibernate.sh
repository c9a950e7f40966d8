# description: boot.resumeDevice: stage 2 hibernates to swap; the next boot's lethe hands the swap to the kernel, which resumes
# Boot 1: stage 2 turns on swap on /dev/vdb and hibernates (the machine powers off).
# Boot 2: lethe writes vdb's major:minor to /sys/power/resume before mounting anything; the
# kernel restores the image, so stage 2 continues where it stopped (@@RESUMED) and no new
# stage 2 starts. Boot 3: the image is used up; resumeDevice set but nothing to resume: a
# normal boot.

scenario() {
    local disk swap initrd log1 log2 log3
    cat >"$WORK/hibernate" <<'CHECK'
#!/nix/stage2/busybox sh
B=/nix/stage2/busybox
[ -e /root-marker ] && [ "$($B cat /root-marker)" = "hibernate me" ] || exit 0
$B swapon /dev/vdb || { echo "@@FAIL swapon"; exit 0; }
$B cat /sys/class/block/vdb/dev >/sys/power/resume
echo shutdown >/sys/power/disk
echo "@@HIBERNATING"
if echo disk >/sys/power/state; then
    echo "@@RESUMED"
    $B swapoff /dev/vdb
    echo "original root" >/root-marker
else
    echo "@@FAIL hibernation did not start"
fi
CHECK
    chmod +x "$WORK/hibernate"
    disk=$(make_disk disk.img --root-marker "hibernate me" --file "$WORK/hibernate:nix/stage2/check.d/50-hibernate")
    swap=$WORK/swap.img
    truncate -s 256M "$swap"
    mkswap -q "$swap"
    write_config "$WORK/config.json" "$(boot_json '"resumeDevice": "/dev/vdb"')"
    initrd=$(make_initrd initrd.cpio "$WORK/config.json")
    log1=$WORK/serial-1.log log2=$WORK/serial-2.log log3=$WORK/serial-3.log
    boot_vm --initrd "$initrd" --disk "$disk" --disk "$swap" --log "$log1" --timeout 120 ||
        { echo "boot 1: QEMU ended with status $?"; return 1; }
    check_log "$log1" --want '@@HIBERNATING' --want 'PM: hibernation: (Image saved|hibernation exit)|reboot: Power down' \
        --refuse '@@RESUMED' --refuse '@@STAGE2-DONE' || { echo "boot 1 did not hibernate"; return 1; }
    boot_vm --initrd "$initrd" --disk "$disk" --disk "$swap" --log "$log2" --timeout 120 ||
        { echo "boot 2: QEMU ended with status $?"; return 1; }
    check_log "$log2" --want 'lethe: resume: asking the kernel to resume from /dev/vdb' \
        --want '@@RESUMED' --want '@@STAGE2-DONE' \
        --refuse '@@STAGE2 pid' --refuse 'step [0-9]+/[0-9]+ mount the root filesystem' ||
        { echo "boot 2 did not resume"; return 1; }
    boot_vm --initrd "$initrd" --disk "$disk" --disk "$swap" --log "$log3" --timeout 120 ||
        { echo "boot 3: QEMU ended with status $?"; return 1; }
    check_log "$log3" --want 'resume from hibernation: /dev/vdb: no hibernation image, booting normally' \
        --want '@@STAGE2 pid=1' --want '@@STAGE2-DONE' --refuse '@@HIBERNATING' ||
        { echo "boot 3 was not a normal boot"; return 1; }
}
