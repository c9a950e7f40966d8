# A boot loader that cannot append initrd secrets: NixOS would put the JWE into the initrd
# through the store; secretsInStore (which covers SSH keys) does not cover a JWE.
{ lib, ... }:
{
  imports = [ ../hosts/tang-unlock.nix ];
  boot.loader.systemd-boot.enable = lib.mkForce false;
  boot.loader.grub.enable = false;
  boot.loader.generic-extlinux-compatible.enable = true;
  boot.initrd.lethe.secretsInStore = true;
}
