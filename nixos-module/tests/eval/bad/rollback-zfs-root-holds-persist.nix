# /persist is a child of the root dataset: zfs rename would archive it with the old root.
{ lib, ... }:
{
  imports = [ ../hosts/zfs-rollback.nix ];
  fileSystems."/persist".device = lib.mkForce "rpool/local/root/persist";
}
