# The rollback pointed at the persisted subvolume: it would be emptied at every boot.
{
  imports = [ ../../../examples/forge.nix ];
  boot.initrd.lethe.rollback.subvolume = "persist";
}
