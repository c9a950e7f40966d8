# Evaluates a host module (a NixOS-style module setting boot.initrd.lethe, lethe.persistence,
# lethe.datasets, environment.persistence, fileSystems, …) with lethe's module and the
# stand-in NixOS declarations, using nixpkgs' real module system (lib.evalModules). Used by
# ./eval-config and the fixture tests; on a machine with nixpkgs, nixosSystem does the same
# with NixOS itself.
{ lib
, host
, # lethe's module; the flake's nixosModules.default in tests/eval/flake-outputs.nix.
  module ? ./default.nix
}:
let
  pkgs = import ./tests/stand-in/pkgs.nix;
  eval = lib.evalModules {
    modules = [
      ./tests/stand-in/nixos-options.nix
      module
      {
        lethe.package = pkgs.lethe;
        _module.args.pkgs = pkgs;
      }
      host
    ];
  };
  inherit (eval) config;
in
{
  inherit config pkgs;
  inherit (eval) options;
  failed = map (a: a.message) (lib.filter (a: !a.assertion) config.assertions);
  inherit (config) warnings;
  json = config.lethe.configJSON;
  # How the module wires lethe into the host, besides the JSON and the unit text.
  wiring = {
    initrd = {
      contents = lib.mapAttrs (_: c: c.source) config.boot.initrd.systemd.contents;
      inherit (config.boot.initrd) secrets kernelModules;
      inherit (config.boot.initrd.systemd) storePaths;
      units = map (p: baseNameOf p.path) config.boot.initrd.systemd.packages;
      services = lib.mapAttrs (_: s: { inherit (s) wants after; }) (
        lib.filterAttrs (n: _: lib.hasPrefix "lethe-" n) config.boot.initrd.systemd.services
      );
    };
    etc = lib.mapAttrs (_: e: e.source) (
      lib.filterAttrs (n: _: lib.hasPrefix "lethe/" n) config.environment.etc
    );
    services = lib.mapAttrs
      (_: s: {
        inherit (s) wantedBy requiredBy before path unitConfig;
        restartTriggers = s.restartTriggers or [ ];
      })
      (lib.filterAttrs (n: _: lib.hasPrefix "lethe-" n) config.systemd.services);
    zfsExtraPools = config.boot.zfs.extraPools;
  };
  # Every unit the module installs, by its file under initrd-glue/systemd/, with its text.
  units =
    lib.listToAttrs
      (
        map (p: lib.nameValuePair "initrd/${baseNameOf p.path}" p.text) (
          lib.filter (p: p ? text) config.boot.initrd.systemd.packages
        )
      )
    // lib.listToAttrs (
      map (p: lib.nameValuePair "system/${baseNameOf p.path}" p.text) (
        lib.filter (p: p ? text) config.systemd.packages
      )
    );
}
