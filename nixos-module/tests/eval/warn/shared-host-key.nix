# The initrd's host key is stage 2's: readable by anyone who reads the boot partition.
{ lib, ... }:
{
  imports = [ ../../../examples/forge.nix ];
  boot.initrd.lethe.ssh.hostKeys = lib.mkForce [ "/etc/ssh/ssh_host_ed25519_key" ];
}
