# The forge example host restoring sonarr from its local replica only: the boot's
# lethe-datasets.service restores it, and lethe-restore-sonarr.service (still required by
# sonarr.service, so a failed restore keeps it stopped) does not wait for the network.
{ lib, ... }:
{
  imports = [ ./forge-backups.nix ];
  lethe.datasets.services.sonarr.restore = lib.mkForce [ "local" ];
}
