# description: LUKS2 root opened directly through libcryptsetup from a passphrase typed on the serial console (wrong, then right); stage 2 runs
# The serial port is a pair of FIFOs: the test reads the console from one and types into the
# other, as a person at the machine would. Nothing typed may appear on the console.

# boot_vm_typing --initrd F --disk IMG [--disk IMG]... --log LOG --fifo BASE --timeout S
# As boot_vm, in the background, with the serial console on BASE.in (typed) / BASE.out (shown),
# copied to LOG. Sets QEMU_PID (not a subshell: the scenario must be able to wait for it).
boot_vm_typing() {
    local initrd= log= fifo= timeout=90
    local -a drives=()
    while (($#)); do
        case $1 in
            --initrd) initrd=$2; shift 2 ;;
            --disk) drives+=(-drive "file=$2,if=virtio,format=raw,cache=unsafe"); shift 2 ;;
            --log) log=$2; shift 2 ;;
            --fifo) fifo=$2; shift 2 ;;
            --timeout) timeout=$2; shift 2 ;;
            *) echo "boot_vm_typing: unknown argument $1" >&2; return 2 ;;
        esac
    done
    rm -f "$fifo.in" "$fifo.out"
    mkfifo "$fifo.in" "$fifo.out"
    timeout -k 5 "$timeout" qemu-system-x86_64 -nodefaults -no-user-config \
        -display none -M pc -accel tcg -cpu max -m "${VM_MEM:-512}" -bios /usr/share/qemu/qboot.rom \
        -kernel "$KERNEL_DIR/vmlinux" -initrd "$initrd" -append "$VM_KERNEL_ARGS" \
        -chardev "pipe,id=ser0,path=$fifo" -serial chardev:ser0 -monitor none -no-reboot \
        "${drives[@]}" >"$log.qemu" 2>&1 &
    QEMU_PID=$!
    cat "$fifo.out" >"$log" &
}

# wait_log LOG PATTERN COUNT PID: until PATTERN (grep -E) is in LOG COUNT times, or PID ended.
wait_log() {
    local log=$1 pattern=$2 count=$3 pid=$4
    while (($(clean_log "$log" | grep -cE -- "$pattern" || true) < count)); do
        kill -0 "$pid" 2>/dev/null || { echo "QEMU ended before \"$pattern\" (x$count) appeared" >&2; return 1; }
        sleep 0.1
    done
}

scenario() {
    local disk initrd log qemu status QEMU_PID
    # allowDiscards reaches the kernel: the opened device passes discards through.
    cat >"$WORK/check-discard" <<'SH'
#!/nix/stage2/busybox sh
B=/nix/stage2/busybox
echo "@@DISCARD vda=$($B cat /sys/block/vda/queue/discard_max_bytes) dm=$($B cat /sys/block/dm-0/queue/discard_max_bytes)"
SH
    chmod +x "$WORK/check-discard"
    disk=$(make_disk disk.img --luks "correct horse" --root-marker "unlocked root" \
        --file "$WORK/check-discard:nix/stage2/check.d/10-discard")
    local boot
    boot=$(printf '{"kernelModules": ["virtio_pci", "virtio_blk", "btrfs", "dm_crypt", "xts", "ecb"], "root": {"device": "/dev/mapper/crypted", "fsType": "btrfs", "options": "subvol=root"}, "mounts": [{"device": "/dev/mapper/crypted", "mountPoint": "/nix", "options": "subvol=nix"}], "init": "/nix/stage2/init"}')
    write_config "$WORK/config.json" "$boot" \
        '"unlock": {"devices": [{"name": "crypted", "device": "/dev/vda", "allowDiscards": true, "bypassWorkqueues": true}], "console": true}'
    initrd=$(make_initrd initrd.cpio "$WORK/config.json")
    log=$WORK/serial.log
    boot_vm_typing --initrd "$initrd" --disk "$disk" --log "$log" --fifo "$WORK/serial" --timeout 120
    qemu=$QEMU_PID
    wait_log "$log" 'Passphrase for crypted \(/dev/vda\): ' 1 "$qemu"
    printf 'wrong guess\n' >"$WORK/serial.in"
    wait_log "$log" 'Wrong passphrase' 1 "$qemu"
    wait_log "$log" 'Passphrase for crypted \(/dev/vda\): ' 2 "$qemu"
    printf 'correct horse\n' >"$WORK/serial.in"
    status=0
    wait "$qemu" || status=$?
    # The console copy ends when QEMU closes the FIFO.
    wait
    ((status == 0)) || { echo "QEMU ended with status $status (124: timeout)"; return 1; }
    check_log "$log" \
        --want 'unlock: crypted: no keyslot of /dev/vda matches the passphrase' \
        --want 'unlock: crypted: opened /dev/vda as /dev/mapper/crypted' \
        --want 'Opened crypted; the boot continues\.' \
        --want 'step [0-9]+/[0-9]+ unlock the encrypted devices: opened crypted' \
        --want 'mount the root filesystem: /dev/mapper/crypted on /sysroot' \
        --want '@@ROOT-MARKER unlocked root' \
        --want '@@DISCARD vda=[1-9][0-9]* dm=[1-9][0-9]*$' \
        --want '@@STAGE2-DONE' \
        --refuse 'correct horse' --refuse 'wrong guess' --refuse 'verify-only'
}
