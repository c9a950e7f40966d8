# A ZFS root whose keys NixOS does not ask for (requestEncryptionCredentials = false), no LUKS
# device, and systemdAgent forced on: nothing would ever ask.
{ lib, ... }:
{
  imports = [ ../hosts/zfs-prompt.nix ];
  boot.zfs.requestEncryptionCredentials = false;
  boot.initrd.lethe.unlock.systemdAgent = lib.mkForce true;
  boot.initrd.lethe.unlock.enable = lib.mkForce true;
}
