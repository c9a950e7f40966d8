# "Erase your darlings" on ZFS: the root dataset rpool/local/root is forgotten at every boot
# (lethe renames it into rpool/local/old_roots and clones rpool/local/root@blank), /nix and
# /persist are datasets of their own, and the encrypted pool's key is typed over SSH
# (NixOS's zfs-import-rpool.service asks; lethe answers in systemdAgent mode).
{
  networking.hostName = "darlings";
  networking.hostId = "5f1c2a9e";
  boot.initrd.systemd.enable = true;
  boot.loader.systemd-boot.enable = true;
  boot.initrd.availableKernelModules = [
    "virtio_pci"
    "virtio_blk"
    "virtio_net"
  ];
  fileSystems."/" = {
    device = "rpool/local/root";
    fsType = "zfs";
  };
  fileSystems."/nix" = {
    device = "rpool/local/nix";
    fsType = "zfs";
  };
  fileSystems."/persist" = {
    device = "rpool/safe/persist";
    fsType = "zfs";
    neededForBoot = true;
  };
  boot.initrd.lethe = {
    enable = true;
    ssh = {
      hostKeys = [ "/persist/etc/lethe/initrd_host_ed25519_key" ];
      authorizedKeys = [ "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBWe0xhTvbRrU3/nLOLI70qoLDvoBwIgCRRVnk7/otch admin@laptop" ];
    };
    rollback = {
      enable = true;
      blankSnapshot = "rpool/local/root@blank";
      retentionDays = 14;
    };
  };
}
