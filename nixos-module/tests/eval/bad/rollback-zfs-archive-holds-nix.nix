# The archive is rpool/local, which holds rpool/local/nix (mounted at /nix): lethe would rename
# old roots into the parent of /nix's dataset and destroy them there after retentionDays.
{ lib, ... }:
{
  imports = [ ../hosts/zfs-rollback.nix ];
  boot.initrd.lethe.rollback.archive = lib.mkForce "rpool/local";
}
