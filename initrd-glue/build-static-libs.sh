#!/usr/bin/env bash
# Builds static libdevmapper.a and libcryptsetup.a (gcrypt backend) from Debian 12's own source
# packages into a cached prefix. Debian ships every other static library libcryptsetup needs
# (json-c, uuid, gcrypt, gpg-error) but not these two, and libcryptsetup-rs's `static` feature
# asks pkg-config for static libs, so the Rust build needs:
#     PKG_CONFIG_PATH=$(initrd-glue/build-static-libs.sh)/lib/pkgconfig
# Progress goes to stderr; stdout is only the prefix path (its last line).
# Needs the deb-src line and build deps from scripts/setup.sh. The configure flags are below;
# why the gcrypt backend (the kernel backend fails where AF_ALG is missing): CONTRIBUTING.md.
# Env: LETHE_CACHE (default /var/cache/lethe). Prefix: $LETHE_CACHE/static.
set -euo pipefail

cache=${LETHE_CACHE:-/var/cache/lethe}
prefix=$cache/static
srcdir=$cache/src
log=$cache/build-static-libs.log
stamp=$prefix/.stamp
say() { echo "build-static-libs: $*" >&2; }
die() { say "FAILED: $*"; exit 1; }

mkdir -p "$cache" || die "cannot create $cache (run as root or set LETHE_CACHE)"
# cargo build scripts and a user may call this at once; the second waits and then hits the cache.
exec 9>"$cache/.build-static-libs.lock"
flock 9

# Pin the exact source versions so the stamp and the downloaded sources agree.
srcver() {
    apt-cache showsrc --only-source "$1" 2>/dev/null | sed -n 's/^Version: //p' | sort -V | tail -n1
}
cs_ver=$(srcver cryptsetup)
lvm_ver=$(srcver lvm2)
[[ -n $cs_ver && -n $lvm_ver ]] ||
    die "apt has no source for cryptsetup/lvm2: run scripts/setup.sh (adds deb-src, apt-get update)"

want="script=$(sha256sum <"${BASH_SOURCE[0]}" | cut -d' ' -f1) cryptsetup=$cs_ver lvm2=$lvm_ver"
if [[ -f $prefix/lib/libcryptsetup.a && -f $prefix/lib/libdevmapper.a &&
      -f $stamp && $(<"$stamp") == "$want" ]]; then
    echo "$prefix"
    exit 0
fi

# Run a build step with its output in $log; on failure name the step and show the log's tail.
step() {
    local name=$1; shift
    say "$name"
    echo "=== $name: $*" >>"$log"
    "$@" >>"$log" 2>&1 || { tail -n 40 "$log" >&2; die "step '$name' (full log: $log)"; }
}

# Start clean: a half-built prefix or a stale tree from another version must not leak in.
rm -rf "$prefix" "$srcdir"
mkdir -p "$prefix" "$srcdir"
: >"$log"
cd "$srcdir"

step "download sources" apt-get source --download-only "cryptsetup=$cs_ver" "lvm2=$lvm_ver"
step "unpack lvm2" dpkg-source -x lvm2_*.dsc lvm2
step "unpack cryptsetup" dpkg-source -x cryptsetup_*.dsc cryptsetup

# Every lvm2 feature that would pull udev, systemd, selinux, blkid or readline into the static
# link is off; -fPIC because the Rust side links a static-pie by default.
cd "$srcdir/lvm2"
step "lvm2 configure" ./configure --prefix="$prefix" --libdir="$prefix/lib" \
    --with-usrlibdir="$prefix/lib" --includedir="$prefix/include" \
    --enable-static_link --disable-selinux --disable-readline --disable-blkid_wiping \
    --disable-udev_sync --disable-udev_rules --disable-systemd-journal --disable-app-machineid \
    --enable-pkgconfig --disable-nls CFLAGS='-Os -fPIC'
step "lvm2 make device-mapper" make -j"$(nproc)" device-mapper
step "lvm2 install_device-mapper" make install_device-mapper
# A .so next to the .a would win at link time; dmsetup, blkdeactivate and man pages come along
# with install_device-mapper and are not wanted.
find "$prefix" -name '*.so*' -delete
rm -rf "$prefix/sbin" "$prefix/share"

# Debian's cryptsetup tree ships no ./configure. Only the library is built: the tools, tokens,
# blkid and udev support would add dependencies the agent does not use. The bundled Argon2's SSE
# variant unlocks argon2id keyslots ~35% faster than its default reference C (measured here, on
# par with Debian's libargon2) with no extra library; configure falls back where SSE is missing.
cd "$srcdir/cryptsetup"
step "cryptsetup autogen" ./autogen.sh
step "cryptsetup configure" env PKG_CONFIG_PATH="$prefix/lib/pkgconfig" ./configure \
    --prefix="$prefix" --libdir="$prefix/lib" \
    --enable-static --disable-shared --disable-ssh-token --disable-external-tokens \
    --disable-udev --disable-selinux --disable-asciidoc --disable-nls --disable-veritysetup \
    --disable-integritysetup --disable-cryptsetup --disable-blkid --with-crypto_backend=gcrypt \
    --enable-internal-sse-argon2 CFLAGS='-Os -fPIC'
step "cryptsetup make" make -j"$(nproc)"
step "cryptsetup install" make install
find "$prefix" \( -name '*.so*' -o -name '*.la' \) -delete

[[ -f $prefix/lib/libcryptsetup.a && -f $prefix/lib/libdevmapper.a ]] ||
    die "install finished but $prefix/lib lacks libcryptsetup.a or libdevmapper.a"
PKG_CONFIG_PATH=$prefix/lib/pkgconfig pkg-config --static --libs libcryptsetup >/dev/null ||
    die "pkg-config cannot resolve libcryptsetup's static dependencies"
# Written last, so an interrupted build is redone next time.
echo "$want" >"$stamp"
say "done ($(du -sh "$prefix" | cut -f1))"
echo "$prefix"
