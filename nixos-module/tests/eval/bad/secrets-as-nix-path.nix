# The same boot loader with the host key given as a Nix path: NixOS's own check (values must be
# paths there) passes, and the key would silently go into the Nix store.
{ lib, ... }:
{
  imports = [ ./secrets-without-loader-support.nix ];
  boot.initrd.lethe.ssh.hostKeys = lib.mkForce [ ../../keys/initrd_host_ed25519_key ];
}
