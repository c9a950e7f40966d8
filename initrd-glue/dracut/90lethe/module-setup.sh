#!/bin/bash
# dracut module "lethe": lethe's units in dracut's systemd initrd (non-NixOS hosts).
#
# Installs the static lethe as /usr/bin/lethe, /etc/lethe/config.json, the files lethe's
# config names (SSH host keys), lethe's initrd units with @lethe@ replaced by /usr/bin/lethe,
# and lethe-generator (a symlink to the binary) which turns the units on from the config at
# boot. Inputs, from the environment (dracut passes it through to module-setup.sh):
#   LETHE_BIN     the static lethe (default: `command -v lethe`)
#   LETHE_CONFIG  the config (default /etc/lethe/config.json)
#   LETHE_FILES   space-separated SRC:DEST pairs put into the initrd with mode 0600
#                 (default /etc/lethe/ssh_host_ed25519_key:/etc/lethe/ssh_host_ed25519_key
#                 when that file exists)
# The units come from initrd-glue/systemd/initrd/ (network, unlock, rollback, and
# lethe-persist-initrd for inInitrd persistence: the generator turns on those the config asks
# for); initrd-glue/dracut/install copies them next to this file (units/).

check() {
    # Only when asked for (dracut -a lethe, or add_dracutmodules+=" lethe ").
    return 255
}

depends() {
    echo systemd systemd-initrd crypt btrfs
}

lethe_files() {
    if [[ -n ${LETHE_FILES-} ]]; then
        echo "$LETHE_FILES"
    elif [[ -f /etc/lethe/ssh_host_ed25519_key ]]; then
        echo /etc/lethe/ssh_host_ed25519_key:/etc/lethe/ssh_host_ed25519_key
    fi
}

install() {
    local bin=${LETHE_BIN:-$(command -v lethe)} config=${LETHE_CONFIG:-/etc/lethe/config.json}
    [[ -x $bin ]] || { derror "lethe: no lethe binary (set LETHE_BIN)"; return 1; }
    [[ -f $config ]] || { derror "lethe: $config: no such file (set LETHE_CONFIG)"; return 1; }
    "$bin" check-config "$config" >/dev/null || { derror "lethe: $config is not a valid lethe config"; return 1; }
    inst_simple "$bin" /usr/bin/lethe
    inst_simple "$config" /etc/lethe/config.json
    local spec
    for spec in $(lethe_files); do
        inst_simple "${spec%%:*}" "${spec#*:}" || return 1
        chmod 0600 "$initdir/${spec#*:}"
    done
    local unit
    mkdir -p "$initdir$systemdsystemunitdir" "$initdir$systemdutildir/system-generators"
    for unit in "$moddir"/units/*.service; do
        sed 's|@lethe@|/usr/bin/lethe|g' "$unit" >"$initdir$systemdsystemunitdir/${unit##*/}"
    done
    ln -sf /usr/bin/lethe "$initdir$systemdutildir/system-generators/lethe-generator"
}
