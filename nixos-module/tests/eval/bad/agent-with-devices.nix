# systemd-cryptsetup opens "crypted" and lethe is asked to open it too.
{
  imports = [ ../../../examples/forge.nix ];
  boot.initrd.lethe.unlock.devices = [
    {
      name = "crypted";
      device = "/dev/nvme0n1p2";
    }
  ];
}
