# environment.persistence taken by lethe while impermanence's module is still imported: both
# would bind-mount the same paths. STAND-IN for impermanence's module (another project, not
# available here): it declares environment.persistence, which is all the assertion looks at.
{ lib, ... }:
{
  options.environment.persistence = lib.mkOption {
    type = lib.types.attrsOf lib.types.anything;
  };
  config.boot.initrd.systemd.enable = true;
  config.fileSystems."/persist" = {
    device = "/dev/disk/by-label/persist";
    fsType = "ext4";
    neededForBoot = true;
  };
  config.environment.persistence."/persist".directories = [ "/var/log" ];
  config.lethe.persistenceFromEnvironment = true;
}
