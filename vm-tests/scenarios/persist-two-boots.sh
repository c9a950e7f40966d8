# description: persistence over two boots of a LUKS disk with rollback: machine-id, a host key and /var/lib/nixos mounted by stage 1 before stage 2 starts, a directory and a user's directory by stage 2; what was persisted comes back with its content, owners and modes, the rest is gone, and `lethe unpersisted` said so beforehand
# shellcheck source=../lib/persist.sh
source "$VM_ROOT/lib/persist.sh"

scenario() {
    local disk initrd log1=$WORK/serial-1.log log2=$WORK/serial-2.log
    persist_write_config "$WORK/config.json"
    # shellcheck disable=SC2046 # one option per line
    disk=$(make_disk disk.img --luks "correct horse" $(persist_disk_files "$WORK/config.json"))
    initrd=$(make_initrd initrd.cpio "$WORK/config.json")

    persist_boot "$disk" "$initrd" "$log1" "correct horse" || { echo "boot 1 failed"; return 1; }
    check_log "$log1" \
        --want 'step [0-9]+/[0-9]+ mount the inInitrd persisted paths: persisted 1 directory, 2 files; [0-9]+ created' \
        --want 'persist: created /persist/etc/machine-id \(0:0 0444\)' \
        --want '@@EARLY-MOUNTED /etc/machine-id' --want '@@EARLY-MOUNTED /var/lib/nixos' \
        --want '@@EARLY-LINK /etc/ssh/ssh_host_ed25519_key -> /persist/etc/ssh/ssh_host_ed25519_key' \
        --want '@@PERSIST mounted /persist/srv/data on /srv/data' \
        --want '@@PERSIST mounted /persist/home/alice/notes on /home/alice/notes' \
        --want '@@PERSIST persisted 3 directories, 2 files; [0-9]+ created, 0 adopted$' \
        --want '@@PERSIST-AGAIN persisted 3 directories, 2 files; 0 created, 0 adopted$' \
        --want '@@MACHINE-ID uninitialized' --want '@@BOOT first' \
        --want '@@UNPERSISTED /srv  [0-9.]+ [KMG]?i?B in' --want '@@UNPERSISTED   /srv/scratch  18 B in 1 file' \
        --want '@@STAGE2-DONE' --refuse '@@EARLY-MISSING' --refuse '@@PERSIST refused' \
        --refuse '@@PERSIST-AGAIN (created|mounted)' || { echo "boot 1: see $log1"; return 1; }

    persist_boot "$disk" "$initrd" "$log2" "correct horse" || { echo "boot 2 failed"; return 1; }
    check_log "$log2" \
        --want 'moved root to old_roots/' \
        --want 'step [0-9]+/[0-9]+ mount the inInitrd persisted paths: persisted 1 directory, 2 files; [0-9]+ created, 0 adopted' \
        --want '@@EARLY-MOUNTED /etc/machine-id' --want '@@EARLY-MOUNTED /var/lib/nixos' \
        --want '@@EARLY-MOUNTED /etc/ssh/ssh_host_ed25519_key' \
        --want '@@MACHINE-ID 0123456789abcdef0123456789abcdef' --want '@@BOOT later' \
        --want '@@KEY host key of boot 1 600 0:0' \
        --want '@@UIDMAP uid map of boot 1' --want '@@DATA data of boot 1' \
        --want "@@NOTE alice's note 700 1000:100 1000:100" \
        --want '@@SCRATCH-GONE' --want '@@STAGE2-DONE' \
        --refuse '@@EARLY-MISSING' --refuse '@@PERSIST refused' || { echo "boot 2: see $log2"; return 1; }
}
