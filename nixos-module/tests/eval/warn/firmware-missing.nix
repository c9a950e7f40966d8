# r8169 without linux-firmware: the initrd gets none of rtl_nic/*.
{ lib, ... }:
{
  imports = [ ../../../examples/forge.nix ];
  hardware.enableRedistributableFirmware = lib.mkForce false;
}
