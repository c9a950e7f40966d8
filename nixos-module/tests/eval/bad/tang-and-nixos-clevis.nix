# lethe's unlock beside NixOS's own clevis (curl and jose units before systemd-cryptsetup).
{
  imports = [ ../hosts/tang-unlock.nix ];
  boot.initrd.clevis = {
    enable = true;
    useTang = true;
    devices.crypted.secretFile = "/persist/etc/clevis/crypted.jwe";
  };
}
