# Services without the parent their datasets are named under.
{ lib, ... }:
{
  imports = [ ../../../examples/forge.nix ];
  lethe.datasets.parentDataset = lib.mkForce null;
}
