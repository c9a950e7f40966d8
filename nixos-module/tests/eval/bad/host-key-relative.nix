# A host key given relative to nothing: boot.initrd.secrets copies files by absolute path.
{ lib, ... }:
{
  imports = [ ../../../examples/forge.nix ];
  boot.initrd.lethe.ssh.hostKeys = lib.mkForce [ "keys/initrd_host_ed25519_key" ];
}
