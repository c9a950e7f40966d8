# description: the forge example host's config shape (examples/forge.json) on an emulated NVMe disk with serial 24517E4ABM06, GPT, LUKS on partition 2 named by /dev/disk/by-id/nvme-MODEL_SERIAL-part2 (lethe makes the link without udev); unlocked over SSH
# QEMU's NVMe controller has no model= property: its model is "QEMU NVMe Ctrl", so the link is
# nvme-QEMU_NVMe_Ctrl_24517E4ABM06-part2 (the WD_BLACK SN850X 2000GB name is a unit test of
# init::devices::names from the same rules).
source "$VM_ROOT/lib/disks.sh"
source "$VM_ROOT/scenarios/unlock-ssh.sh"

# forge_config UNLOCK_DEVICE: examples/forge.json with the VM's NIC, the test keys and stage 2.
forge_config() {
    ssh-keygen -q -t ed25519 -N '' -C vm-host -f "$WORK/host_key"
    ssh-keygen -q -t ed25519 -N '' -C tester -f "$WORK/id"
    jq --arg dev "$1" --arg key "$(cat "$WORK/id.pub")" '
        .boot.kernelModules += ($extra | fromjson)
        | .boot.init = "/nix/stage2/init"
        | .boot.deviceTimeoutSeconds = 20
        | .network.kernelModules = ["virtio_net"]
        | .ssh.hostKeys = ["/etc/lethe/host_key"]
        | .ssh.authorizedKeys = [$key]
        | .unlock.devices[0].device = $dev
        | .unlock.console = false
        | del(.persistence)' --arg extra "${SEED_EXTRA_MODULES:-[\"virtio_pci\"]}" \
        "$REPO/examples/forge.json" >"$WORK/config.json"
}

# unlock_by PORT: the scripted unlock over SSH once the server listens; waits for QEMU to end.
unlock_by_ssh() {
    local port=$1 log=$2 qemu=$3 rc=0
    wait_log "$log" 'ssh: listening on port 22' "$qemu"
    printf 'correct horse\n' | ssh_vm "$port" unlock 2>"$WORK/unlock.err" || rc=$?
    ((rc == 0)) || { echo "unlock: exit $rc, stderr: $(cat "$WORK/unlock.err")"; return 1; }
    while kill -0 "$qemu" 2>/dev/null; do sleep 0.2; done
}

scenario() {
    local inner disk initrd port log qemu link
    write_link_check "$WORK/links.sh"
    inner=$(make_disk inner.img --luks "correct horse" --root-marker "unlocked root" \
        --file "$WORK/links.sh:nix/stage2/check.d/10-links")
    disk=$(gpt_disk "$WORK/disk.img" "$inner")
    rm -f "$inner"
    link=/dev/disk/by-id/nvme-QEMU_NVMe_Ctrl_24517E4ABM06-part2
    forge_config "$link"
    initrd=$(make_initrd initrd.cpio "$WORK/config.json" --file "$WORK/host_key:/etc/lethe/host_key")
    port=$(free_port)
    log=$WORK/serial.log
    boot_vm --initrd "$initrd" --log "$log" --hostfwd "$port:22" --timeout 150 \
        --qemu -drive --qemu "file=$disk,if=none,id=nv0,format=raw,cache=unsafe" \
        --qemu -device --qemu nvme,id=nvme0,serial=24517E4ABM06 \
        --qemu -device --qemu nvme-ns,drive=nv0,bus=nvme0,nsid=1 \
        --background "$WORK/qemu.pid"
    qemu=$(cat "$WORK/qemu.pid")
    unlock_by_ssh "$port" "$log" "$qemu" || return 1
    check_log "$log" \
        --want "ssh: listening on port 22" \
        --want '@@LINK by-id/nvme-QEMU_NVMe_Ctrl_24517E4ABM06-part2 -> \.\./\.\./nvme0n1p2' \
        --want '@@LINK by-id/nvme-QEMU_NVMe_Ctrl_24517E4ABM06_1-part2 -> \.\./\.\./nvme0n1p2' \
        --want '@@LINK by-id/nvme-QEMU_NVMe_Ctrl_24517E4ABM06 -> \.\./\.\./nvme0n1$' \
        --want '@@LINK by-id/nvme-nvme.1b36-3234353137453441424d3036-51454d55204e564d65204374726c-00000001-part2 -> \.\./\.\./nvme0n1p2' \
        --want '@@LINK by-partlabel/disk-main-luks -> \.\./\.\./nvme0n1p2' \
        --want '@@LINK by-partlabel/disk-main-ESP -> \.\./\.\./nvme0n1p1' \
        --want '@@LINK by-partuuid/[0-9a-f-]{36} -> \.\./\.\./nvme0n1p2' \
        --want '@@ROOT btrfs .*subvol=/root' \
        --want '@@MOUNTED /nix' \
        --want '@@STAGE2-DONE' \
        --refuse 'correct horse'
}
