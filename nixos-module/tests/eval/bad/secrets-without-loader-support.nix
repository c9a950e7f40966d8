# A boot loader that cannot append initrd secrets (extlinux; systemd-boot and GRUB can): NixOS
# would put lethe's SSH host key into the initrd through the world-readable Nix store.
{ lib, ... }:
{
  imports = [ ../../../examples/forge.nix ];
  boot.loader.systemd-boot.enable = lib.mkForce false;
  boot.loader.grub.enable = false;
  boot.loader.generic-extlinux-compatible.enable = true;
}
