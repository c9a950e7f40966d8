# NixOS' own initrd SSH left in place, on lethe's port.
{
  imports = [ ../../../examples/forge.nix ];
  boot.initrd.network.ssh.enable = true;
}
