# A host without boot.initrd.luks.devices: lethe opens the LUKS device itself (direct mode),
# on a static address (DHCP off) on the NIC with a given MAC, SSH on port 2222 with the
# authorized keys from a file, the rollback keeping 10 archives and cloning a blank snapshot.
{
  networking.hostName = "direct";
  boot.initrd.systemd.enable = true;
  boot.loader.systemd-boot.enable = true;
  boot.initrd.availableKernelModules = [
    "virtio_pci"
    "virtio_blk"
    "virtio_net"
  ];
  fileSystems."/" = {
    device = "/dev/mapper/crypted";
    fsType = "btrfs";
    options = [ "subvol=root" ];
  };
  fileSystems."/nix" = {
    device = "/dev/mapper/crypted";
    fsType = "btrfs";
    options = [ "subvol=nix" ];
  };
  boot.initrd.lethe = {
    enable = true;
    network = {
      interface.mac = "52:54:00:12:34:56";
      dhcp = false;
      static = {
        address = "192.168.1.20";
        prefixLength = 24;
        gateway = "192.168.1.1";
        dns = [ "192.168.1.1" ];
      };
    };
    ssh = {
      port = 2222;
      hostKeys = [ "/persist/etc/lethe/initrd_host_ed25519_key" ];
      authorizedKeysFiles = [ "/persist/etc/lethe/authorized_keys" ];
    };
    unlock.devices = [
      {
        name = "crypted";
        device = "/dev/disk/by-partlabel/crypted";
        allowDiscards = true;
      }
    ];
    rollback = {
      device = "/dev/mapper/crypted";
      keepAtLeast = 10;
      blankSnapshot = "root-blank";
    };
  };
}
