# How far the flake's outputs evaluate without nixpkgs (only its lib/ is here): the flake is
# called with a nixpkgs input that has lib and nothing else (its packages throw). The output
# names, the modules and the package names evaluate; the forge example evaluated through the
# flake's own nixosModules.default (not ../../default.nix) gives expected/forge.json. Packages,
# checks, devShells, formatter and nixosConfigurations need nixpkgs (`nix flake check`).
{ lib
, root
, # where NixOS comes from (../../eval.nix): one of them
  nixpkgs ? null
, nixosSubset ? null
}:
let
  nixpkgsLibOnly = {
    inherit lib;
    outPath = "/nonexistent/nixpkgs";
    legacyPackages = throw "nixpkgs' packages are not available here (only its lib/)";
  };
  flake = import (root + "/flake.nix");
  outputs = flake.outputs {
    inherit self;
    nixpkgs = nixpkgsLibOnly;
  };
  self = outputs // {
    outPath = root;
    lastModified = 0;
  };
  forge = import ../../eval.nix {
    inherit lib;
    host = ../../examples/forge.nix;
    module = outputs.nixosModules.default;
    inherit nixpkgs nixosSubset;
  };
  migrated = import ../../eval.nix {
    inherit lib;
    host = { imports = [ ./hosts/impermanence-migrated.nix ]; };
    module = outputs.nixosModules.impermanence;
    inherit nixpkgs nixosSubset;
  };
in
{
  inputs = flake.inputs.nixpkgs.url;
  outputs = lib.attrNames outputs;
  nixosModules = lib.attrNames outputs.nixosModules;
  packages = lib.mapAttrs (_: lib.attrNames) outputs.packages;
  checks = lib.mapAttrs (_: lib.attrNames) outputs.checks;
  nixosConfigurations = lib.attrNames outputs.nixosConfigurations;
  forgeJSON = builtins.fromJSON forge.json;
  forgeFailed = forge.failed;
  migratedJSON = builtins.fromJSON migrated.json;
}
