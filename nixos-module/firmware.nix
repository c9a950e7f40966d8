# The NIC drivers lethe loads, in the initrd with the firmware they declare (issue 14).
#
# NixOS already copies the firmware: the systemd initrd's /lib is pkgs.makeModulesClosure of
# boot.initrd.availableKernelModules ++ boot.initrd.kernelModules (nixos/modules/system/boot/
# systemd/initrd.nix), and makeModulesClosure copies, for every module of that closure, each
# file `modinfo -F firmware` names from hardware.firmware (pkgs/build-support/kernel/
# modules-closure.sh). So this file only has to put lethe's modules into that closure, and say
# so when hardware.firmware holds nothing for a driver that declares firmware.
{ config
, lib
, options
, ...
}:
let
  cfg = config.boot.initrd.lethe;
  nicDrivers = import ./nic-drivers.nix;
  # The drivers of the table that declare firmware (from Linux 6.1; a newer kernel may name
  # more files, never fewer drivers).
  wantFirmware = lib.filter (m: (nicDrivers.${m} or [ ]) != [ ]) cfg.network.kernelModules;
in
{
  config = lib.mkIf (cfg.enable && cfg.network.enable) {
    # kernelModules, not availableKernelModules: network.kernelModules' default is read from
    # availableKernelModules (a definition there would be a cycle). systemd-modules-load then
    # loads them too, which lethe does anyway.
    boot.initrd.kernelModules = cfg.network.kernelModules;

    # The definitions, not the value: NixOS turns the list into one package (udev.nix: apply
    # = buildEnv), which is never [ ].
    warnings = lib.optional (wantFirmware != [ ] && lib.concatLists options.hardware.firmware.definitions == [ ]) (
      "boot.initrd.lethe.network.kernelModules: these drivers declare firmware, but nothing is put into hardware.firmware, so the initrd gets none and some chips run without it:${lib.concatMapStrings (m: "\n  ${m} (e.g. ${lib.head nicDrivers.${m}})") wantFirmware}\nSet hardware.enableRedistributableFirmware = true (linux-firmware)."
    );
  };
}
