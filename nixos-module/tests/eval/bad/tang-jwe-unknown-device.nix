# A JWE file named after no device systemd-cryptsetup asks for.
{
  imports = [ ../hosts/tang-agent.nix ];
  boot.initrd.lethe.unlock.tang.secretFiles.cryptd = "/persist/etc/lethe/cryptd.jwe";
}
