# description: LUKS2 root bound to Debian's tangd, whose keys are then rotated (tangd-rotate-keys): the advertisement is no longer signed by a key pinned in the token, so lethe refuses it (logged, naming device, token and server) and recovers no key; `ssh root@host unlock` opens the disk; stage 2 runs
# Needs stage 1 to bring the network up and serve::serve_unlocker to race unlock.tang.
source "$VM_ROOT/lib/tang.sh"
source "$VM_ROOT/scenarios/unlock-ssh.sh"

# The binding, then the rotation: new signing and exchange keys advertised, the old ones kept
# hidden for /rec (clevis itself would still decrypt: it never fetches /adv).
bind_then_rotate() {
    tang_bind "$1" && /usr/libexec/tangd-rotate-keys -d "$WORK/tang-db" 2>/dev/null
}

scenario() {
    local disk initrd port status=0
    tang_scenario_setup bind_then_rotate
    tang_refused_then_ssh "$TANG_URL" 'the advertisement is not signed by a pinned key \(were the server.s keys rotated\?\)' || status=1
    tang_stop
    return $status
}
