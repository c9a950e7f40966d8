# The JSON config: every section lethe's options describe, `builtins.toJSON` of the option
# values (camelCase, the field names of lethe's reference), checked with
# `lethe check-config` when the system is built, and installed as /etc/lethe/config.json in
# the initrd and in stage 2 (the same file: `lethe roots list` and `lethe unpersisted` in
# stage 2 read the sections stage 1 used).
{ config
, lib
, pkgs
, ...
}:
let
  cfg = config.lethe;
  leth = import ./lib.nix { inherit lib; };
  sections = leth.clean cfg.config;
  json = builtins.toJSON ({ version = 1; } // sections);
in
{
  options.lethe = {
    config = lib.mkOption {
      type = lib.types.attrsOf (lib.types.nullOr lib.types.anything);
      default = { };
      internal = true;
      description = ''
        The sections of the JSON config, set by the module's files from their options
        (`network`, `ssh`, `unlock`, `rollback`, `persistence`, `datasets`; null = absent).
      '';
    };
    configJSON = lib.mkOption {
      type = lib.types.str;
      readOnly = true;
      description = ''
        The JSON config the module generates (what `nixos-module/eval-config HOST.nix`
        prints).
      '';
    };
    configFile = lib.mkOption {
      type = lib.types.path;
      readOnly = true;
      description = "/etc/lethe/config.json, checked by `lethe check-config` at build time.";
    };
    enabled = lib.mkOption {
      type = lib.types.bool;
      readOnly = true;
      internal = true;
      description = "Whether any part of lethe is turned on (the config has a section).";
    };
  };

  config = {
    lethe.configJSON = json;
    lethe.enabled = sections != { };
    # A config lethe would refuse fails the build here, with lethe's own message naming the
    # JSON path, instead of failing the boot.
    lethe.configFile =
      pkgs.runCommand "lethe-config.json"
        {
          nativeBuildInputs = [ cfg.package ];
          inherit json;
          passAsFile = [ "json" ];
        }
        ''
          lethe check-config "$jsonPath" >/dev/null
          cp "$jsonPath" "$out"
        '';
    environment.etc."lethe/config.json" = lib.mkIf cfg.enabled { source = cfg.configFile; };
  };
}
