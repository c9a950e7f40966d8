# A ZFS root pool without LUKS: NixOS's ZFS import asks for the keys of its keylocation=prompt
# datasets in the systemd initrd (boot.zfs.requestEncryptionCredentials, true by default), and
# lethe answers those requests over SSH (systemdAgent on by default, no LUKS device needed).
{
  networking.hostName = "zfsprompt";
  networking.hostId = "8425e349";
  boot.initrd.systemd.enable = true;
  boot.loader.systemd-boot.enable = true;
  boot.initrd.availableKernelModules = [
    "virtio_pci"
    "virtio_blk"
    "virtio_net"
  ];
  fileSystems."/" = {
    device = "rpool/root";
    fsType = "zfs";
  };
  fileSystems."/secure" = {
    device = "rpool/secure";
    fsType = "zfs";
    neededForBoot = true;
  };
  boot.initrd.lethe = {
    enable = true;
    ssh = {
      hostKeys = [ "/persist/etc/lethe/initrd_host_ed25519_key" ];
      authorizedKeys = [ "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBWe0xhTvbRrU3/nLOLI70qoLDvoBwIgCRRVnk7/otch admin@laptop" ];
    };
  };
}
