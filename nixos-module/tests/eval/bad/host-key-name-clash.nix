# Two keys would both be /etc/lethe/initrd_host_ed25519_key in the initrd.
{ lib, ... }:
{
  imports = [ ../../../examples/forge.nix ];
  boot.initrd.lethe.ssh.hostKeys = lib.mkForce [
    "/persist/etc/lethe/initrd_host_ed25519_key"
    "/root/old/initrd_host_ed25519_key"
  ];
}
