# A boot loader that cannot append initrd secrets (none of systemd-boot, GRUB): NixOS would put
# lethe's SSH host key into the initrd through the world-readable Nix store.
{ lib, ... }:
{
  imports = [ ../../../examples/forge.nix ];
  boot.loader.systemd-boot.enable = lib.mkForce false;
}
