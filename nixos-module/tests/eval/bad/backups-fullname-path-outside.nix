# A full-name dataset's restic path outside it: the message names the dataset's option.
{
  imports = [ ../hosts/forge-backups.nix ];
  lethe.datasets."tank/media".backup.restic = [
    {
      repository = "offsite";
      paths = [ "/var/lib/sonarr" ];
    }
  ];
}
