# The same boot loader, with the copy into the store accepted: it evaluates, with a warning.
{ lib, ... }:
{
  imports = [ ../bad/secrets-without-loader-support.nix ];
  boot.initrd.lethe.ssh.hostKeys = lib.mkForce [ (toString ../../keys/initrd_host_ed25519_key) ];
  boot.initrd.lethe.secretsInStore = true;
}
