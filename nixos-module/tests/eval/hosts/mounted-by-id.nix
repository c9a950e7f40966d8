# A host that leaves boot.initrd.systemd.enable to NixOS's default (true since 26.05), with
# /persist mounted by subvolume id and /home from the default subvolume: only the disk knows
# which subvolumes those are, so they go into rollback.stage2Mounts for lethe to check at boot.
{
  boot.loader.systemd-boot.enable = true;
  boot.initrd.luks.devices.crypted.device = "/dev/disk/by-partlabel/crypted";
  fileSystems."/" = {
    device = "/dev/mapper/crypted";
    fsType = "btrfs";
    options = [ "subvol=root" ];
  };
  fileSystems."/persist" = {
    device = "/dev/mapper/crypted";
    fsType = "btrfs";
    options = [ "subvolid=258" ];
    neededForBoot = true;
  };
  fileSystems."/home" = {
    device = "/dev/disk/by-uuid/0f1e2d3c-0000-4000-8000-123456789abc";
    fsType = "btrfs";
  };
  users.users.root.openssh.authorizedKeys.keys = [ "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBWe0xhTvbRrU3/nLOLI70qoLDvoBwIgCRRVnk7/otch admin@laptop" ];
  boot.initrd.lethe = {
    enable = true;
    ssh.hostKeys = [ "/persist/etc/lethe/initrd_host_ed25519_key" ];
    rollback.device = "/dev/mapper/crypted";
  };
}
