# Tang on, the initrd's network off: only the prompts can unlock.
{
  imports = [ ../hosts/tang-unlock.nix ];
  boot.initrd.lethe.network.enable = false;
  boot.initrd.lethe.ssh.enable = false;
}
