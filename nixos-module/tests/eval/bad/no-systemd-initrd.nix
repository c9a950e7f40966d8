# The scripted initrd: lethe's units need systemd in stage 1.
{ lib, ... }:
{
  imports = [ ../../../examples/forge.nix ];
  boot.initrd.systemd.enable = lib.mkForce false;
}
