# A fileSystems entry for a dataset lethe manages: systemd and ZFS would both mount it.
{
  imports = [ ../../../examples/forge.nix ];
  fileSystems."/var/lib/sonarr" = {
    device = "tank/services/sonarr";
    fsType = "zfs";
  };
}
