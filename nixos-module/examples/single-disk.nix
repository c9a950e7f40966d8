# A single-disk host: one NVMe with an ESP, a LUKS2 partition "crypted" holding btrfs (root,
# rolled back at every boot, and nix), and a second LUKS2 partition "cryptzfs" holding the
# pool rpool, whose rpool/safe/persist is /persist and holds the services' datasets. One
# passphrase, typed once over SSH, opens both (lethe tries it on every pending device).
# The services are forge's: only parentDataset differs.
{ config, lib, ... }:
let
  forge = import ./forge.nix { inherit config; };
in
{
  networking.hostName = "vault";
  networking.hostId = "2b0c5a11";
  system.stateVersion = "25.11";
  nixpkgs.hostPlatform = "x86_64-linux";

  boot.loader.systemd-boot.enable = true;
  boot.loader.efi.canTouchEfiVariables = true;

  boot.initrd.systemd.enable = true;
  boot.initrd.availableKernelModules = [
    "nvme"
    "xhci_pci"
    "ahci"
    "sd_mod"
    "igb"
  ];
  boot.supportedFilesystems = [
    "btrfs"
    "zfs"
  ];
  boot.initrd.luks.devices = {
    crypted.device = "/dev/disk/by-partlabel/crypted";
    cryptzfs.device = "/dev/disk/by-partlabel/cryptzfs";
  };
  hardware.enableRedistributableFirmware = true;

  fileSystems."/" = {
    device = "/dev/mapper/crypted";
    fsType = "btrfs";
    options = [
      "subvol=root"
      "noatime"
    ];
  };
  fileSystems."/nix" = {
    device = "/dev/mapper/crypted";
    fsType = "btrfs";
    options = [
      "subvol=nix"
      "noatime"
    ];
  };
  fileSystems."/persist" = {
    device = "rpool/safe/persist";
    fsType = "zfs";
    neededForBoot = true;
  };
  fileSystems."/boot" = {
    device = "/dev/disk/by-partlabel/ESP";
    fsType = "vfat";
  };

  users.users.root.openssh.authorizedKeys.keys = [
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBWe0xhTvbRrU3/nLOLI70qoLDvoBwIgCRRVnk7/otch admin@laptop"
  ];

  boot.initrd.lethe = {
    enable = true;
    ssh.hostKeys = [ "/persist/etc/lethe/initrd_host_ed25519_key" ];
    rollback.device = "/dev/mapper/crypted";
  };

  lethe.persistence = forge.lethe.persistence;

  lethe.datasets = forge.lethe.datasets // {
    parentDataset = "rpool/safe/persist/services";
  };

  inherit (forge) services;
}
