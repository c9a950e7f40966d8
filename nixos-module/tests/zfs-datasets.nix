# NixOS VM test (for `nix flake check` elsewhere): lethe.datasets over two boots. Boot 1 makes
# the pool on an empty disk and starts lethe-datasets: the forge example host's datasets are created with
# their properties, owners and modes. Boot 2 (the pool imported through boot.zfs.extraPools,
# which the module sets) runs it again at boot: nothing to change; then a configuration with
# one recordsize changed and one service removed: the drift is fixed, the removed dataset
# kept and reported.
{ self }:
{ lib, pkgs, ... }:
let
  services = {
    sonarr = {
      recordsize = "16K";
      compression = "lz4";
      mountpoint = "/var/lib/sonarr";
      owner = "sonarr";
      group = "sonarr";
      mode = "0750";
    };
    plex = {
      recordsize = "1M";
      compression = "lz4";
      mountpoint = "/var/lib/plex";
    };
    home-assistant = {
      recordsize = "16K";
      compression = "lz4";
    };
  };
in
{
  name = "lethe-zfs-datasets";

  nodes.machine = {
    imports = [ self.nixosModules.default ];
    networking.hostId = "8425e349";
    boot.supportedFilesystems = [ "zfs" ];
    virtualisation.emptyDiskImages = [ 1024 ];
    users.users.sonarr = {
      isSystemUser = true;
      group = "sonarr";
    };
    users.groups.sonarr = { };
    lethe.datasets = {
      parentDataset = "tank/services";
      parentMount = "/srv/services";
      inherit services;
    };
    specialisation.changed.configuration.lethe.datasets.services = lib.mkForce {
      sonarr = services.sonarr // {
        recordsize = "32K";
      };
      inherit (services) home-assistant;
    };
  };

  testScript =
    { nodes, ... }:
    ''
      def prop(ds, p):
          return machine.succeed(f"zfs get -H -p -o value {p} {ds}").strip()

      machine.wait_for_unit("multi-user.target")
      machine.succeed("zpool create -O mountpoint=none tank /dev/vdb")

      with subtest("boot 1: the datasets are created with their properties"):
          machine.succeed("systemctl restart lethe-datasets.service")
          assert prop("tank/services/sonarr", "recordsize") == "16384"
          assert prop("tank/services/plex", "recordsize") == "1048576"
          assert prop("tank/services/sonarr", "compression") == "lz4"
          assert prop("tank/services/sonarr", "mountpoint") == "/var/lib/sonarr"
          assert prop("tank/services/home-assistant", "mountpoint") == "/srv/services/home-assistant"
          machine.succeed("test \"$(stat -c %U:%G:%a /var/lib/sonarr)\" = sonarr:sonarr:750")
          machine.succeed("echo data > /var/lib/sonarr/file")

      with subtest("boot 2: imported at boot, nothing to change"):
          machine.shutdown()
          machine.start()
          machine.wait_for_unit("lethe-datasets.service")
          machine.succeed("test \"$(cat /var/lib/sonarr/file)\" = data")
          log = machine.succeed("journalctl -b -u lethe-datasets.service -o cat")
          assert "zfs create" not in log, log

      with subtest("a recordsize changed, a service removed"):
          machine.succeed("${nodes.machine.system.build.toplevel}/specialisation/changed/bin/switch-to-configuration test")
          machine.succeed("systemctl restart lethe-datasets.service")
          assert prop("tank/services/sonarr", "recordsize") == "32768"
          machine.succeed("zfs list tank/services/plex")
          log = machine.succeed("journalctl -b -u lethe-datasets.service -o cat")
          assert "plex" in log, log
    '';
}
