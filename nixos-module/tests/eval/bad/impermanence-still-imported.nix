# environment.persistence taken by lethe while impermanence's module is still imported (here
# its stand-in): both would bind-mount the same paths.
{
  imports = [ ../../stand-in/impermanence.nix ];
  boot.initrd.systemd.enable = true;
  fileSystems."/persist" = {
    device = "/dev/disk/by-label/persist";
    fsType = "ext4";
    neededForBoot = true;
  };
  environment.persistence."/persist".directories = [ "/var/log" ];
  lethe.persistenceFromEnvironment = true;
}
