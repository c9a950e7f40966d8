# lethe.persistence given, and environment.persistence taken as well.
{
  imports = [ ../../../examples/forge.nix ];
  lethe.persistenceFromEnvironment = true;
}
