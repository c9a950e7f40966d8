# A persisted directory that names its own dataset: one declaration gives /var/lib/postgresql
# a tuned dataset (rpool/safe/persist/dirs/postgresql, mounted at /persist/var/lib/postgresql)
# and the bind mount that survives the rollback. Only the parent fields are in lethe.datasets.
{
  boot.loader.systemd-boot.enable = true;
  boot.initrd.systemd.enable = true;
  networking.hostId = "5e1f0a77";
  fileSystems."/" = {
    device = "none";
    fsType = "tmpfs";
  };
  fileSystems."/persist" = {
    device = "rpool/safe/persist";
    fsType = "zfs";
    neededForBoot = true;
  };
  lethe.persistence."/persist".directories = [
    "/var/log"
    {
      directory = "/var/lib/postgresql";
      user = "postgres";
      group = "postgres";
      mode = "u=rwx,g=,o=";
      neededBy = [ "postgresql.service" ];
      dataset.recordsize = "8K";
    }
  ];
  lethe.datasets = {
    parentDataset = "rpool/safe/persist/dirs";
    parentMount = "/persist";
  };
}
