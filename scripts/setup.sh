#!/usr/bin/env bash
# Installs everything lethe's build, demo and tests need on Debian 12. Idempotent: a second run
# adds nothing and only re-checks. Needs root (apt).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)

[[ $(id -u) -eq 0 ]] || { echo "setup: must run as root (apt-get, loop devices, namespaces)" >&2; exit 1; }

# deb-src (to build static libcryptsetup/libdevmapper from Debian's own sources), contrib
# (zfs) and bookworm-backports (qemu 10, btrfs-progs 6.14).
src=/etc/apt/sources.list.d/lethe.sources
if [[ ! -e $src ]]; then
    cat >"$src" <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-backports
Components: contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    rm -f /var/lib/lethe-apt-updated
fi

# non-free-firmware: firmware-realtek (r8169's rtl_nic/ files) and firmware-misc-nonfree
# (e100's microcode), the firmware mkinitrd's tests and the VM scenarios put into initrds.
fw_src=/etc/apt/sources.list.d/lethe-firmware.sources
if [[ ! -e $fw_src ]]; then
    cat >"$fw_src" <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: non-free-firmware
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    rm -f /var/lib/lethe-apt-updated
fi

packages=(
    # build: C toolchain, bindgen, static libraries and what the cryptsetup/lvm2 sources need
    build-essential pkg-config clang libclang-dev dpkg-dev autoconf automake libtool autopoint
    gettext libjson-c-dev uuid-dev libgcrypt20-dev libgpg-error-dev libpopt-dev libssl-dev
    libargon2-dev libblkid-dev libbtrfsutil-dev libdevmapper-dev file
    # tests: real btrfs, LUKS, DHCP server, SSH client, namespaces, systemd's ask-password
    btrfs-progs cryptsetup-bin dnsmasq-base iproute2 openssh-client systemd util-linux kmod
    cpio xz-utils zstd e2fsprogs procps psmisc jq
    # VM harness: qemu from backports (10.x), qboot firmware
    qemu-system-x86 qemu-system-data
    # anchors for benchmarks
    busybox-static dropbear-bin openssh-server hyperfine
    # bench/persist: peak RSS (/usr/bin/time), building large trees
    time python3
    # tests/ssh.rs: the other SSH clients (paramiko, asyncssh) and ssh-audit come from PyPI
    python3-pip
    # nix evaluation of the module
    nix-bin
    # ZFS for the VM scenarios (contrib, bookworm's OpenZFS 2.1): vm-tests/lib/build-zfs adds
    # linux-headers-KVER of the test kernel and builds zfs.ko for it once (cached). zfs-dracut
    # is not installed: it depends on dracut, which removes initramfs-tools; make-dracut-initrd
    # --zfs takes its module from the .deb (apt-get download, contrib)
    zfs-dkms zfsutils-linux
    # a real systemd initrd (dracut-core, not dracut: that one conflicts with initramfs-tools)
    # and the Debian initrd bench/boot races (initramfs-tools with SSH unlock); the host boots
    # no initrd of its own, so their kernel hooks find nothing to rebuild
    dracut-core initramfs-tools cryptsetup-initramfs dropbear-initramfs bc
    # a software TPM for the systemd-tpm2* scenarios (swtpm as QEMU's tpm-tis device;
    # swtpm_setup from swtpm-tools to make TPM states by hand) and tpm2-tools (dracut's tpm2-tss
    # module needs it; it pulls in the libtss2 libraries and TCTIs systemd-cryptsetup loads)
    swtpm swtpm-tools tpm2-tools
    # GPT test disks (sfdisk; by-partlabel / by-partuuid)
    fdisk
    # network-bound unlock: the real Tang server and clevis (binding LUKS2 files, JWEs) for
    # agent/tests/tang.rs and the unlock-tang* scenarios; tangd is served by
    # systemd-socket-activate (package systemd); curl fetches the advertisement to bind offline
    tang clevis clevis-luks curl
    # bench/boot-tang's anchor, clevis-dracut in a dracut initrd: what its modules run
    # (clevis-luks-askpass, dracut's network modules). clevis-dracut itself is not installed:
    # it depends on the full `dracut`, which would remove initramfs-tools; make-dracut-initrd
    # --clevis unpacks it with apt-get download + dpkg -x. dracut-network's
    # /etc/dracut.conf.d/11-ifcfg.conf is kept out of lethe's images (make-dracut-initrd --conf).
    dracut-network clevis-systemd
    # NIC firmware for mkinitrd's tests and the net-r8169 / net-firmware scenarios
    firmware-realtek firmware-misc-nonfree
    # the backup-* VM scenarios: the real tools the NixOS module's generated jobs run, shared
    # into the VM with the host's /usr (sanoid/syncoid 2.1, restic 0.14, pgbackrest 2.45,
    # PostgreSQL 15)
    sanoid restic pgbackrest postgresql-15
)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
    if [[ ! -e /var/lib/lethe-apt-updated ]]; then
        apt-get update -q
        touch /var/lib/lethe-apt-updated
    fi
    echo "setup: installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        -t bookworm-backports qemu-system-x86 qemu-system-data >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi
# openssh-server is only an anchor for sizes; it must not run an sshd on this machine.
systemctl disable --now ssh.service >/dev/null 2>&1 || true
# sanoid is only there for the VM: the host has no ZFS to snapshot.
systemctl disable --now sanoid.timer >/dev/null 2>&1 || true

# tests/ssh.rs: the clients and the auditor the SSH server is checked against, pinned.
py_tools=(paramiko==5.1.0 asyncssh==2.24.1 ssh-audit==3.9.0)
if ! python3 -c 'import paramiko, asyncssh' 2>/dev/null || ! command -v ssh-audit >/dev/null; then
    echo "setup: pip install ${py_tools[*]}"
    PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install -q "${py_tools[@]}"
fi

# Debian 12's rustc (1.63) is too old for the dependencies: use rustup's stable toolchain.
[[ -x $HOME/.cargo/bin/cargo ]] && export PATH=$HOME/.cargo/bin:$PATH
if ! command -v cargo >/dev/null; then
    echo "setup: no cargo found; installing Rust stable with rustup"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends curl ca-certificates >/dev/null
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal >/dev/null
    export PATH=$HOME/.cargo/bin:$PATH
fi
rustup component add rustfmt clippy >/dev/null 2>&1 || true
# The Nix formatter and linter for nixos-module/check (crates.io; statix is not published there).
for tool in nixpkgs-fmt@1.3.0 deadnix@1.3.1; do
    if ! "$HOME/.cargo/bin/${tool%@*}" --version 2>/dev/null | grep -q "${tool#*@}"; then
        echo "setup: cargo install ${tool%@*} ${tool#*@}"
        nice -n 15 cargo install --locked --quiet --version "${tool#*@}" "${tool%@*}"
    fi
done
# mdBook for the manual in docs/ (scripts/test.sh builds it; ~5 min here): only its search
# feature, since building needs neither the preview server nor the file watcher.
if ! "$HOME/.cargo/bin/mdbook" --version 2>/dev/null | grep -qx 'mdbook v0.5.4'; then
    echo "setup: cargo install mdbook 0.5.4"
    nice -n 15 cargo install --locked --quiet --version 0.5.4 --no-default-features --features search mdbook
fi
echo "setup: ok"
