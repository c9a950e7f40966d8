# inInitrd with the scripted initrd: no unit applies it before stage 2.
{
  boot.loader.systemd-boot.enable = true;
  boot.initrd.systemd.enable = false;
  fileSystems."/" = {
    device = "none";
    fsType = "tmpfs";
  };
  fileSystems."/persist" = {
    device = "/dev/disk/by-label/persist";
    fsType = "ext4";
    neededForBoot = true;
  };
  lethe.persistence."/persist".directories = [
    {
      directory = "/var/lib/nixos-early";
      inInitrd = true;
    }
  ];
}
