# A Tang JWE given as a Nix path: it would be copied into the world-readable store.
{ lib, ... }:
{
  imports = [ ../hosts/tang-unlock.nix ];
  boot.initrd.lethe.unlock.tang.secretFiles.crypted = lib.mkForce ../../keys/crypted.jwe;
}
