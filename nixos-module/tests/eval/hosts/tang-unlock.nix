# Direct mode with network-bound unlock: Tang asked for the device's key (from a clevis JWE
# file, as boot.initrd.clevis.devices.<name>.secretFile takes it, copied in through
# boot.initrd.secrets), racing the SSH prompt, through a server address the initrd reaches.
{
  imports = [ ./direct-unlock.nix ];
  boot.initrd.lethe.unlock.tang = {
    servers = [ "http://192.168.1.10:7500" ];
    timeoutSeconds = 5;
    secretFiles.crypted = "/persist/etc/lethe/crypted.jwe";
  };
}
