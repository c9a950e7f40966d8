# systemdAgent forced on a host whose LUKS devices are opened by lethe itself.
{ lib, ... }:
{
  imports = [ ../hosts/direct-unlock.nix ];
  boot.initrd.lethe.unlock.systemdAgent = lib.mkForce true;
}
