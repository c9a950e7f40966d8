# /persist mounted late: /etc/machine-id and the host keys would be read before it is there.
{ lib, ... }:
{
  imports = [ ../../../examples/forge.nix ];
  fileSystems."/persist".neededForBoot = lib.mkForce false;
}
