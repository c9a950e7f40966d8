# Disks on other buses than virtio-blk, with a GPT, for the /dev/disk/by-* scenarios. Source it
# after common.sh.

# gpt_disk OUT INNER [PARTLABEL]: a GPT disk image OUT whose partition 1 is a 1 MiB "disk-main-ESP"
# and partition 2 (named PARTLABEL, default disk-main-luks, as disko names them) holds the image
# INNER. Prints OUT.
gpt_disk() {
    local out=$1 inner=$2 label=${3:-disk-main-luks} sectors
    sectors=$(($(stat -c %s "$inner") / 512))
    rm -f "$out"
    truncate -s $(((4096 + sectors + 2048) * 512)) "$out"
    printf 'label: gpt\nstart=2048, size=2048, name="disk-main-ESP"\nstart=4096, size=%d, name="%s"\n' \
        "$sectors" "$label" | sfdisk -q --no-reread --no-tell-kernel "$out" >/dev/null
    dd if="$inner" of="$out" bs=1M seek=2 conv=notrunc,sparse status=none
    echo "$out"
}

# A stage-2 check script that prints every /dev/disk link lethe made and the sysfs attributes
# the names come from, as @@LINK and @@SYSFS markers.
write_link_check() {
    cat >"$1" <<'CHECK'
#!/nix/stage2/busybox sh
B=/nix/stage2/busybox
for l in /dev/disk/by-*/*; do
    [ -L "$l" ] && $B echo "@@LINK ${l#/dev/disk/} -> $($B readlink "$l")"
done
for f in /sys/class/block/*; do
    n=${f##*/}
    for a in wwid nsid serial device/serial device/model device/vendor; do
        [ -r "$f/$a" ] && $B echo "@@SYSFS $n $a=$($B cat "$f/$a")"
    done
    [ -r "$f/device/vpd_pg89" ] && $B echo "@@SYSFS $n vpd_pg89 $($B stat -c %s "$f/device/vpd_pg89") bytes"
done
CHECK
    chmod +x "$1"
}
