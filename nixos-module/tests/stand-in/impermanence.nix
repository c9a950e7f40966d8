# STAND-IN for impermanence's module (not available here): it declares
# environment.persistence, which is all the assertion looks at. Used by
# eval/bad/impermanence-still-imported.nix.
{ lib, ... }:
{
  options.environment.persistence = lib.mkOption {
    type = lib.types.attrsOf lib.types.anything;
  };
}
