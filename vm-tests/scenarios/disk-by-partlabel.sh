# description: LUKS on a GPT partition named disk-main-luks (as disko names it) on a virtio disk with a serial, unlocked by /dev/disk/by-partlabel/disk-main-luks; an IDE disk beside it gets its ata-MODEL_SERIAL name
source "$VM_ROOT/scenarios/disk-by-id.sh"

scenario() {
    local inner disk ata initrd port log qemu
    write_link_check "$WORK/links.sh"
    inner=$(make_disk inner.img --luks "correct horse" --root-marker "unlocked root" \
        --file "$WORK/links.sh:nix/stage2/check.d/10-links")
    disk=$(gpt_disk "$WORK/disk.img" "$inner")
    rm -f "$inner"
    truncate -s 8M "$WORK/ata.img"
    printf 'label: gpt\nstart=2048, size=4096, name="spare"\n' | sfdisk -q --no-reread --no-tell-kernel "$WORK/ata.img" >/dev/null
    SEED_EXTRA_MODULES='["virtio_pci", "virtio_blk", "ata_piix", "sd_mod"]' \
        forge_config /dev/disk/by-partlabel/disk-main-luks
    initrd=$(make_initrd initrd.cpio "$WORK/config.json" --file "$WORK/host_key:/etc/lethe/host_key")
    port=$(free_port)
    log=$WORK/serial.log
    boot_vm --initrd "$initrd" --log "$log" --hostfwd "$port:22" --timeout 150 \
        --qemu -drive --qemu "file=$disk,if=none,id=vd0,format=raw,cache=unsafe" \
        --qemu -device --qemu virtio-blk-pci,drive=vd0,serial=lethe-vd-1 \
        --qemu -drive --qemu "file=$WORK/ata.img,if=none,id=hd0,format=raw,cache=unsafe" \
        --qemu -device --qemu "ide-hd,drive=hd0,bus=ide.0,serial=LETHE-ATA-1,model=Lethe Test Disk" \
        --background "$WORK/qemu.pid"
    qemu=$(cat "$WORK/qemu.pid")
    unlock_by_ssh "$port" "$log" "$qemu" || return 1
    check_log "$log" \
        --want '@@LINK by-partlabel/disk-main-luks -> \.\./\.\./vda2' \
        --want '@@LINK by-id/virtio-lethe-vd-1-part2 -> \.\./\.\./vda2' \
        --want '@@LINK by-id/virtio-lethe-vd-1 -> \.\./\.\./vda$' \
        --want '@@LINK by-id/ata-Lethe_Test_Disk_LETHE-ATA-1 -> \.\./\.\./sda$' \
        --want '@@LINK by-id/ata-Lethe_Test_Disk_LETHE-ATA-1-part1 -> \.\./\.\./sda1' \
        --want '@@LINK by-partlabel/spare -> \.\./\.\./sda1' \
        --want '@@ROOT btrfs .*subvol=/root' \
        --want '@@STAGE2-DONE' \
        --refuse 'correct horse'
}
