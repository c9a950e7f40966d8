# description: .ko.xz/.ko.zst modules: mkinitrd decompresses them and the boot works; kept compressed on a kernel without CONFIG_MODULE_DECOMPRESS, lethe names the problem

scenario() {
    local disk initrd log name path kroot dest n=0
    # A modules tree like a distribution that compresses its modules (half xz, half zstd).
    kroot=$WORK/kroot
    dest=$kroot/lib/modules/$KVER
    mkdir -p "$dest"
    for name in $(jq -r '.[]' <<<"$VM_MODULES"); do
        while read -r kind path _; do
            [[ $kind == insmod ]] || continue
            local rel=${path#"$MODULES_DIR/"}
            [[ -e $dest/$rel.xz || -e $dest/$rel.zst ]] && continue
            mkdir -p "$dest/$(dirname "$rel")"
            if ((n++ % 2)); then xz -c "$path" >"$dest/$rel.xz"; else zstd -q -c "$path" -o "$dest/$rel.zst"; fi
        done < <(modprobe -d "$KERNEL_DIR" -S "$KVER" --show-depends "$name")
    done
    cp "$MODULES_DIR"/modules.{builtin,builtin.modinfo,order} "$dest/"
    depmod -b "$kroot" "$KVER"
    grep -q '\.ko\.zst:' "$dest/modules.dep" && grep -q '\.ko\.xz:' "$dest/modules.dep" ||
        { echo "test set-up: no compressed modules in $dest/modules.dep"; return 1; }

    disk=$(make_disk disk.img)
    write_config "$WORK/config.json" "$(boot_json)"
    initrd=$("$REPO/initrd-glue/mkinitrd" --lethe "$LETHE_BIN" --config "$WORK/config.json" \
        --modules-dir "$dest" -o "$WORK/initrd.cpio" | tail -n 1)
    if cpio -t <"$initrd" 2>/dev/null | grep -qE '\.ko\.(xz|zst)$'; then
        echo "mkinitrd left compressed modules in the initrd"
        return 1
    fi
    log=$WORK/serial.log
    boot_vm --initrd "$initrd" --disk "$disk" --log "$log" || { echo "boot 1: QEMU status $?"; return 1; }
    check_log "$log" --want 'load kernel modules: loaded [0-9]+ \(.*btrfs\)' --want '@@STAGE2-DONE' || return 1

    initrd=$("$REPO/initrd-glue/mkinitrd" --lethe "$LETHE_BIN" --config "$WORK/config.json" \
        --modules-dir "$dest" --keep-compressed -o "$WORK/initrd-compressed.cpio" | tail -n 1)
    log=$WORK/serial-compressed.log
    boot_vm --initrd "$initrd" --disk "$disk" --log "$log" --timeout 60 \
        --append "lethe.on_failure=poweroff lethe.failure_delay=0" || { echo "boot 2: QEMU status $?"; return 1; }
    check_log "$log" --allow-failure \
        --want 'BOOT FAILED: step [0-9]+/[0-9]+ "load kernel modules": kernel module .*\.ko\.(xz|zst)\): the kernel cannot load compressed modules \(built without CONFIG_MODULE_DECOMPRESS\)' \
        --refuse '@@STAGE2'
}
