# Shared by the persistence scenarios and the demo: the persistence part of a test host.
# Source it after common.sh.
#
# The test stage 2 (busybox) plays what NixOS does before systemd's units: it writes
# /etc/passwd, then runs `lethe persist` as lethe-persist.service would. lethe itself and its
# config live on the nix subvolume (the initramfs is gone by then): pass
# $(persist_disk_files) to make_disk.

# The persistence section the scenarios and the demo use: machine-id, a host key and
# /var/lib/nixos applied by stage 1 (inInitrd), a directory and a user's directory by stage 2.
PERSIST_JSON='"persistence": {"/persist": {"hideMounts": true,
  "directories": [{"directory": "/var/lib/nixos", "inInitrd": true}, "/srv/data"],
  "files": [{"file": "/etc/machine-id", "inInitrd": true},
            {"file": "/etc/ssh/ssh_host_ed25519_key", "inInitrd": true, "mode": "0600"}],
  "users": {"alice": {"directories": [{"directory": "notes", "mode": "0700"}]}}}}'

# The boot section of a LUKS disk on /dev/vda opened as crypted: root, nix and persist
# subvolumes, the test stage 2 as init.
persist_boot_json() {
    printf '{"kernelModules": ["virtio_pci", "virtio_blk", "btrfs", "dm_crypt", "xts", "ecb"], "root": {"device": "/dev/mapper/crypted", "fsType": "btrfs", "options": "subvol=root"}, "mounts": [{"device": "/dev/mapper/crypted", "mountPoint": "/nix", "options": "subvol=nix"}, {"device": "/dev/mapper/crypted", "mountPoint": "/persist", "options": "subvol=persist"}], "init": "/nix/stage2/init"}'
}

# persist_write_config FILE [EXTRA_JSON]: boot + unlock on the console + rollback + persistence.
persist_write_config() {
    write_config "$1" "$(persist_boot_json)" \
        '"unlock": {"devices": [{"name": "crypted", "device": "/dev/vda"}], "console": true}, "rollback": {"device": "/dev/mapper/crypted", "keepAtLeast": 0}, '"$PERSIST_JSON${2:+, $2}"
}

# persist_disk_files CONFIG: make-disk options putting lethe, CONFIG and the check in place.
persist_disk_files() {
    cp "$VM_ROOT/lib/stage2/persist-check" "$WORK/persist-check"
    chmod +x "$WORK/persist-check"
    printf '%s\n' --file "$LETHE_BIN:nix/stage2/lethe" --file "$1:nix/stage2/lethe-config.json" \
        --file "$WORK/persist-check:nix/stage2/check.d/05-persist"
}

# persist_boot DISK INITRD LOG PASSPHRASE: one boot, the passphrase typed on the console.
persist_boot() {
    local disk=$1 initrd=$2 log=$3 pass=$4 qemu console
    boot_vm --initrd "$initrd" --disk "$disk" --log "$log" --timeout 150 \
        --background "$WORK/qemu.pid" --console "$WORK/serial"
    qemu=$(cat "$WORK/qemu.pid")
    exec {console}<>"$WORK/serial.in"
    wait_log "$log" 'Passphrase for crypted \(/dev/vda\): ' "$qemu" || { exec {console}>&-; wait_vm "$qemu"; return 1; }
    printf '%s\n' "$pass" >&"$console"
    exec {console}>&-
    wait_vm "$qemu"
}
