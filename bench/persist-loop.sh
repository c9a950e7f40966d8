#!/usr/bin/env bash
# The anchor of bench/persist: what impermanence's activation effectively runs per entry of
# environment.persistence, as a shell loop (create-directories.bash: mkdir -p + chown + chmod
# of the source and the target; then a bind mount per entry, mount-file.bash for files).
#
#   bench/persist-loop.sh ROOT STORE LIST
#
# LIST has one entry per line: "d PATH" or "f PATH" (PATH absolute, as in the config). Owner
# root:root, mode 0755, as the bench's config asks.
set -eu
root=$1 store=$2 list=$3
while read -r kind path; do
    src=$root$store$path dst=$root$path
    case $kind in
        d)
            [ -d "$src" ] || { mkdir -p "$src"; chown root:root "$src"; chmod 0755 "$src"; }
            [ -d "$dst" ] || { mkdir -p "$dst"; chown root:root "$dst"; chmod 0755 "$dst"; }
            mount --bind "$src" "$dst"
            ;;
        f)
            mkdir -p "$(dirname "$dst")"
            [ -e "$dst" ] || touch "$dst"
            mount --bind "$src" "$dst"
            ;;
    esac
done <"$list"
