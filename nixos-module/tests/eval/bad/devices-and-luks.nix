# Direct mode on a host that also lists the device in boot.initrd.luks.devices.
{
  imports = [ ../hosts/direct-unlock.nix ];
  boot.initrd.luks.devices.crypted.device = "/dev/disk/by-partlabel/crypted";
  boot.initrd.lethe.unlock.systemdAgent = false;
}
