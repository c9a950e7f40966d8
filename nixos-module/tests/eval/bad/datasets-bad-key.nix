# A service written at the top of lethe.datasets instead of under services.
{
  imports = [ ../../../examples/forge.nix ];
  lethe.datasets.sonarr.recordsize = "16K";
}
