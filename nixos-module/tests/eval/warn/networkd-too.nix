# NixOS' initrd network (systemd-networkd) left on beside lethe's.
{
  imports = [ ../../../examples/forge.nix ];
  boot.initrd.network.enable = true;
}
