# description: lethe as /init: load modules, mount btrfs root + nix subvolumes, switch root, stage 2 runs, poweroff
# The first proof of stage 1: the initrd holds only lethe, its config and the modules.

scenario() {
    local disk initrd log
    disk=$(make_disk disk.img --root-marker "boot scenario root")
    write_config "$WORK/config.json" "$(boot_json)"
    initrd=$(make_initrd initrd.cpio "$WORK/config.json")
    log=$WORK/serial.log
    boot_vm --initrd "$initrd" --disk "$disk" --log "$log" --timeout 90 --append "single" ||
        { echo "QEMU ended with status $? (124: timeout)"; return 1; }
    check_log "$log" \
        --want 'lethe: .*step [0-9]+/[0-9]+ load kernel modules: loaded [0-9]+ \(.*btrfs' \
        --want 'lethe: .*mount the root filesystem: /dev/vda on /sysroot' \
        --want '@@STAGE2 pid=1 ' \
        --want '@@ROOT btrfs .*subvol=/root' \
        --want '@@ROOT-MARKER boot scenario root' \
        --want '@@MOUNTED /nix' --want '@@MOUNTED /dev' --want '@@MOUNTED /proc' \
        --want '@@MOUNTED /sys' --want '@@MOUNTED /run' \
        --want '@@ARGS .*single' \
        --want '@@STAGE2-DONE' \
        --refuse '@@NOT-MOUNTED' || return 1
    # The initramfs (lethe alone is megabytes) was deleted, not left pinning RAM.
    local shmem
    shmem=$(marker_value "$log" SHMEM-KB)
    [[ -n $shmem ]] && ((shmem < 2048)) || { echo "initramfs not freed: Shmem ${shmem:-?} kB"; return 1; }
}
