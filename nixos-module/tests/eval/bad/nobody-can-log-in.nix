# root has no SSH keys, and none are given to lethe.
{ lib, ... }:
{
  imports = [ ../../../examples/forge.nix ];
  users.users.root.openssh.authorizedKeys.keys = lib.mkForce [ ];
}
