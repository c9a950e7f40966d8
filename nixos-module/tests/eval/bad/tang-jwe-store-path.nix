# A Tang JWE named by its store path (e.g. "${./crypted.jwe}" or a package's file): in the
# world-readable store already.
{ lib, ... }:
{
  imports = [ ../hosts/tang-unlock.nix ];
  boot.initrd.lethe.unlock.tang.secretFiles.crypted = lib.mkForce "/nix/store/00000000000000000000000000000000-crypted.jwe";
}
