# forge: the host lethe is built for. One NVMe disk: an ESP and a LUKS2 partition ("crypted")
# holding btrfs subvolumes root (forgotten at every boot, archived in old_roots), nix and
# persist; a second pool "tank" for the services' datasets; a Realtek NIC (r8169) that gets a
# DHCP lease in the initrd for the SSH unlock.
#
# With lethe there is no boot.initrd.network.ssh, no udhcpc, no rollback script and no
# impermanence module: boot.initrd.lethe, lethe.persistence and lethe.datasets below replace
# them. Use it with the flake: nixosModules.default + this file (see ./flake.nix).
{ config, ... }:
{
  networking.hostName = "forge";
  networking.hostId = "8425e349"; # ZFS wants one
  system.stateVersion = "25.11";
  nixpkgs.hostPlatform = "x86_64-linux";

  boot.loader.systemd-boot.enable = true;
  boot.loader.efi.canTouchEfiVariables = true;

  boot.initrd.systemd.enable = true;
  boot.initrd.availableKernelModules = [
    "nvme"
    "xhci_pci"
    "ahci"
    "usbhid"
    "sd_mod"
    "r8169"
  ];
  boot.supportedFilesystems = [
    "btrfs"
    "zfs"
  ];
  boot.initrd.luks.devices.crypted = {
    device = "/dev/disk/by-id/nvme-WD_BLACK_SN850X_2000GB_24517E4ABM06-part2";
    allowDiscards = true;
  };
  hardware.enableRedistributableFirmware = true; # linux-firmware: rtl_nic/* for r8169

  fileSystems."/" = {
    device = "/dev/mapper/crypted";
    fsType = "btrfs";
    options = [
      "subvol=root"
      "compress=zstd"
      "noatime"
    ];
  };
  fileSystems."/nix" = {
    device = "/dev/mapper/crypted";
    fsType = "btrfs";
    options = [
      "subvol=nix"
      "compress=zstd"
      "noatime"
    ];
  };
  fileSystems."/persist" = {
    device = "/dev/mapper/crypted";
    fsType = "btrfs";
    options = [
      "subvol=persist"
      "compress=zstd"
      "noatime"
    ];
    neededForBoot = true;
  };
  fileSystems."/boot" = {
    device = "/dev/disk/by-id/nvme-WD_BLACK_SN850X_2000GB_24517E4ABM06-part1";
    fsType = "vfat";
  };

  users.users.root.openssh.authorizedKeys.keys = [
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBWe0xhTvbRrU3/nLOLI70qoLDvoBwIgCRRVnk7/otch admin@laptop"
  ];
  services.openssh.enable = true;

  # Stage 1: DHCP on the r8169 NIC (network.kernelModules comes from availableKernelModules),
  # SSH unlock answering systemd-cryptsetup for "crypted", then the rollback of root.
  boot.initrd.lethe = {
    enable = true;
    # Its own key, made once: ssh-keygen -t ed25519 -N "" -f /persist/etc/lethe/initrd_host_ed25519_key
    ssh.hostKeys = [ "/persist/etc/lethe/initrd_host_ed25519_key" ];
    rollback.device = "/dev/mapper/crypted";
  };

  # Stage 2: what survives the rollback (the value impermanence's environment.persistence had).
  lethe.persistence."/persist" = {
    hideMounts = true;
    directories = [
      "/var/log"
      "/var/lib/nixos"
      "/var/lib/systemd/coredump"
      "/etc/NetworkManager/system-connections"
      {
        directory = "/var/lib/private";
        mode = "0700";
      }
    ];
    files = [
      "/etc/machine-id"
      "/etc/ssh/ssh_host_ed25519_key"
      "/etc/ssh/ssh_host_ed25519_key.pub"
    ];
  };

  # The services' datasets on tank (tank/services itself is a container, mountpoint=none).
  lethe.datasets = {
    parentDataset = "tank/services";
    parentMount = "/persist/services";
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
        owner = "plex";
        group = "plex";
      };
      postgresql = {
        recordsize = "8K";
        compression = "lz4";
        mountpoint = "/var/lib/postgresql";
        owner = "postgres";
        group = "postgres";
        mode = "0700";
        properties.logbias = "throughput";
      };
      postgres-wal = {
        recordsize = "128K";
        compression = "off";
        mountpoint = "/var/lib/postgresql-wal";
        owner = "postgres";
        group = "postgres";
        mode = "0700";
      };
      home-assistant = {
        recordsize = "16K";
        compression = "lz4";
      };
    };
  };

  # Each service's data lives on its dataset.
  services.sonarr = {
    enable = true;
    dataDir = config.lethe.datasets.services.sonarr.path;
  };
  services.plex = {
    enable = true;
    dataDir = config.lethe.datasets.services.plex.path;
  };
  services.postgresql = {
    enable = true;
    dataDir = "${config.lethe.datasets.services.postgresql.path}/16";
  };
  services.home-assistant = {
    enable = true;
    configDir = config.lethe.datasets.services.home-assistant.path;
  };
}
