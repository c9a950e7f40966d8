# The systemd initrd without boot.initrd.lethe: persisted /etc/machine-id, /var/lib/nixos and
# stage 2's SSH host keys default to inInitrd (lethe-persist-initrd.service goes into the
# initrd with lethe-generator and the config); an explicit inInitrd = false wins, and other
# entries stay stage 2's.
{
  boot.loader.systemd-boot.enable = true;
  boot.initrd.systemd.enable = true;
  services.openssh.enable = true;
  fileSystems."/" = {
    device = "none";
    fsType = "tmpfs";
  };
  fileSystems."/persist" = {
    device = "/dev/disk/by-label/persist";
    fsType = "ext4";
    neededForBoot = true;
  };
  lethe.persistence."/persist" = {
    directories = [
      "/var/log"
      {
        directory = "/var/lib/nixos";
        mode = "0755";
      }
    ];
    files = [
      "/etc/machine-id"
      "/etc/ssh/ssh_host_ed25519_key.pub"
      {
        file = "/etc/ssh/ssh_host_ed25519_key";
        inInitrd = false;
      }
    ];
  };
}
