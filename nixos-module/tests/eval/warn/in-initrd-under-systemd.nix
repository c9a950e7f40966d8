# inInitrd under NixOS' systemd initrd: nothing applies it before stage 2 yet.
{
  imports = [ ../../../examples/forge.nix ];
  lethe.persistence."/persist".directories = [
    {
      directory = "/var/lib/nixos-early";
      inInitrd = true;
    }
  ];
}
