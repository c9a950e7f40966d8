# An archived root mounted by hand: the rollback prunes old_roots, and this one with them.
{
  imports = [ ../../../examples/forge.nix ];
  fileSystems."/srv/last-good" = {
    device = "/dev/mapper/crypted";
    fsType = "btrfs";
    options = [ "subvol=/old_roots/2026-11-30T08:00:00Z" ];
  };
}
