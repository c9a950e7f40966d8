# The systemd initrd's own LUKS path (boot.initrd.luks.devices, systemdAgent mode) with
# network-bound unlock: Tang answers systemd-cryptsetup's request for "crypted" from the clevis
# JWE file named after it, as boot.initrd.clevis.devices.crypted.secretFile would take it.
{
  imports = [ ../../../examples/forge.nix ];
  boot.initrd.lethe.unlock.tang.secretFiles.crypted = "/persist/etc/lethe/crypted.jwe";
}
