# impermanence's option, declared by lethe for hosts that drop impermanence's module: the
# flake's nixosModules.impermanence. Replacing `impermanence.nixosModules.impermanence` by it
# keeps every `environment.persistence` value as it is, and lethe applies them
# (lethe.persistenceFromEnvironment). Do not import both: the option would be declared twice.
{ lib, ... }:
{
  imports = [ ./default.nix ];
  options.environment.persistence = lib.mkOption {
    type = lib.types.attrsOf (import ./persistence-types.nix { inherit lib; });
    default = { };
    description = ''
      impermanence's `environment.persistence`, applied by lethe (`lethe persist` in stage 2,
      `inInitrd` entries in stage 1). See lethe.persistence.
    '';
  };
  config.lethe.persistenceFromEnvironment = lib.mkDefault true;
}
