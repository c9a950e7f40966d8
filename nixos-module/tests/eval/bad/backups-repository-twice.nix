# A restic repository given both as a URL and as a file holding one.
{
  imports = [ ../hosts/forge-backups.nix ];
  lethe.datasets.resticRepositories.offsite.repository = "sftp:backup@nas:/srv/restic/forge";
}
