# description: LUKS2 root bound to Debian's tangd through a stand-in man in the middle whose advertisement carries an attacker's exchange key beside the server's signatures (vm-tests/lib/tang-tamper-stand-in.py; /rec is passed to tangd): the signature does not cover the payload, so lethe refuses it (logged, naming device, token and server) and never asks /rec; `ssh root@host unlock` opens the disk; stage 2 runs
# Needs stage 1 to bring the network up and serve::serve_unlocker to race unlock.tang.
source "$VM_ROOT/lib/tang.sh"
source "$VM_ROOT/scenarios/unlock-ssh.sh"

scenario() {
    local disk initrd port status=0
    tang_scenario_setup tang_bind_tampered
    tang_refused_then_ssh "$TAMPER_URL" 'the advertisement is not signed by a pinned key' || status=1
    tang_stop
    if grep -q 'POST /rec' "$WORK/stand-in.log"; then echo "the stand-in was asked POST /rec"; status=1; fi
    return $status
}
