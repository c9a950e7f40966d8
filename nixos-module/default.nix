# lethe's NixOS module: one file per concern, like the crate.
# - initrd.nix       boot.initrd.lethe: network, SSH, unlock, rollback in the systemd initrd
# - persistence.nix  lethe.persistence: impermanence's environment.persistence, applied by lethe
# - datasets.nix     lethe.datasets: ZFS datasets per service
# - backups.nix      their snapshots, replicas and backups (sanoid, syncoid, restic), restore
# - pitr.nix         PostgreSQL point-in-time recovery (pgBackRest) on a service's dataset
# - firmware.nix     the NIC drivers lethe loads, with their firmware, in the initrd
# - config-file.nix  the JSON config (/etc/lethe/config.json in the initrd and in stage 2)
# environment-persistence.nix (not imported here) declares impermanence's option for hosts
# that drop impermanence's module: the flake's nixosModules.impermanence.
{ lib, ... }:
{
  imports = [
    ./config-file.nix
    ./initrd.nix
    ./persistence.nix
    ./datasets.nix
    ./backups.nix
    ./pitr.nix
    ./firmware.nix
  ];

  options.lethe.package = lib.mkOption {
    type = lib.types.package;
    description = ''
      The lethe package: its `bin/lethe` must be the static binary (it runs in the initrd
      with no libraries). The flake's module sets it to the flake's `packages.lethe`.
    '';
  };
}
