# STAND-IN for the NixOS option declarations that lethe's module or the test hosts use and that
# the vendored nixos-subset neither vendors nor declares in its own stand-in.nix. Everything
# else comes from real NixOS files. With a full nixpkgs (NIXPKGS=…) this file is not loaded.
{ lib, ... }:
{
  # system/boot/loader/generic-extlinux-compatible: not in the subset. bad/secrets-*.nix use it
  # as a boot loader that cannot append initrd secrets (it leaves
  # boot.loader.supportsInitrdSecrets false, as the real module does).
  options.boot.loader.generic-extlinux-compatible.enable = lib.mkEnableOption "extlinux";
}
