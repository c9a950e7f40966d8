# /home as a subvolume below the root's: the rollback would archive it with the root at every
# boot and delete it after retentionDays.
{
  imports = [ ../../../examples/forge.nix ];
  fileSystems."/home" = {
    device = "/dev/mapper/crypted";
    fsType = "btrfs";
    options = [ "subvol=root/home" ];
  };
}
