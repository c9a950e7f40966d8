# A host migrating from impermanence: its environment.persistence value is untouched, and
# impermanence's module was replaced by lethe's nixosModules.impermanence
# (environment-persistence.nix), which declares the option and hands it to lethe.
{
  imports = [ ../../../environment-persistence.nix ];
  boot.loader.systemd-boot.enable = true;
  boot.initrd.systemd.enable = true;
  fileSystems."/" = {
    device = "none";
    fsType = "tmpfs";
  };
  fileSystems."/persist" = {
    device = "/dev/disk/by-label/persist";
    fsType = "ext4";
    neededForBoot = true;
  };
  environment.persistence."/persist" = {
    hideMounts = true;
    directories = [
      "/var/log"
      "/var/lib/bluetooth"
      "/var/lib/nixos"
      {
        directory = "/var/lib/colord";
        user = "colord";
        group = "colord";
        mode = "0750";
      }
    ];
    files = [
      "/etc/machine-id"
      {
        file = "/var/keys/secret_file";
        parentDirectory = {
          mode = "0700";
        };
      }
    ];
    users.talyz = {
      directories = [
        "Downloads"
        {
          directory = ".gnupg";
          mode = "u=rwx,g=,o="; # impermanence README's own form
        }
        {
          directory = ".local/share/Steam";
          neededBy = [ "steam-sync.service" ];
        }
      ];
      files = [ ".screenrc" ];
    };
  };
  environment.persistence."/persist/cache" = {
    enable = false;
    directories = [ "/var/cache" ];
  };
}
