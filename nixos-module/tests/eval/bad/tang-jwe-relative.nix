# A Tang JWE as a relative path: boot.initrd.secrets copies by absolute path.
{ lib, ... }:
{
  imports = [ ../hosts/tang-unlock.nix ];
  boot.initrd.lethe.unlock.tang.secretFiles.crypted = lib.mkForce "crypted.jwe";
}
