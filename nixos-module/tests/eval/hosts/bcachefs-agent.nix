# An encrypted bcachefs root without LUKS: NixOS's bcachefs unlock asks through
# systemd-ask-password in the systemd initrd, and lethe answers over SSH (systemdAgent and
# unlock on by default). The console prompt is off: the SSH login is the only way in.
{
  networking.hostName = "bcachefs";
  boot.initrd.systemd.enable = true;
  boot.loader.systemd-boot.enable = true;
  boot.initrd.availableKernelModules = [
    "virtio_pci"
    "virtio_blk"
    "virtio_net"
  ];
  fileSystems."/" = {
    device = "/dev/disk/by-partlabel/root";
    fsType = "bcachefs";
  };
  boot.initrd.lethe = {
    enable = true;
    ssh = {
      hostKeys = [ "/persist/etc/lethe/initrd_host_ed25519_key" ];
      authorizedKeys = [ "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBWe0xhTvbRrU3/nLOLI70qoLDvoBwIgCRRVnk7/otch admin@laptop" ];
    };
    unlock.console = false;
  };
}
