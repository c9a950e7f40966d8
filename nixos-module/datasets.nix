# lethe.datasets: ZFS datasets per service (`lethe datasets`, run by
# initrd-glue/systemd/system/lethe-datasets.service after zfs-import.target): created with
# their properties, drift fixed, never destroyed. The shape is that of the forge example host
# (examples/forge.nix): a service's dataset is <parentDataset>/<name>, mounted at
# <parentMount>/<name> unless it names a mountpoint, and `lethe.datasets.services.<name>.path`
# is where its data lives.
{ config
, lib
, pkgs
, ...
}:
let
  inherit (lib) mkOption types;
  leth = import ./lib.nix { inherit lib; };
  cfg = config.lethe.datasets;
  inherit (leth) opt;
  backupTypes = import ./backups-types.nix { inherit lib; };
  # The fields backups.nix reads: not part of lethe's JSON.
  backupFields = lib.attrNames backupTypes.perDataset;
  common = backupTypes.perDataset // {
    recordsize = opt types.str "Power of two from 512 to 16M, like \"16K\" or \"1M\".";
    compression = opt types.str "\"lz4\", \"zstd\", \"zstd-3\", \"off\", …";
    mountpoint = opt types.str "An absolute path, \"none\" or \"legacy\".";
    owner = opt types.str "Owner of the mountpoint once mounted.";
    group = opt types.str "Group of the mountpoint once mounted.";
    mode = opt types.str "Mode of the mountpoint once mounted, like \"0750\".";
    properties = mkOption {
      type = types.attrsOf types.str;
      default = { };
      description = "Further ZFS properties (native ones, or user properties module:name).";
    };
    restoreFrom = opt types.str "A dataset whose newest snapshot is received when this one is created (a local replica).";
  };
  service = types.submodule (
    { name, config, ... }:
    {
      options = common // {
        persist = opt types.bool "The dataset is mounted under parentMount, inside a persistence store.";
        dataset = mkOption {
          type = types.str;
          readOnly = true;
          description = "The dataset's name: `<parentDataset>/<name>`.";
        };
        path = mkOption {
          type = types.nullOr types.str;
          readOnly = true;
          description = "Where the service's data lives (its mountpoint): use it as the service's dataDir.";
        };
      };
      config = {
        dataset = "${toString cfg.parentDataset}/${name}";
        path =
          if config.mountpoint != null && lib.hasPrefix "/" config.mountpoint then
            config.mountpoint
          else if config.mountpoint == null && cfg.parentMount != null then
            "${cfg.parentMount}/${name}"
          else
            null;
      };
    }
  );
  others = lib.removeAttrs cfg (
    [
      "parentDataset"
      "parentMount"
      "services"
      "_module"
    ]
    ++ lib.attrNames backupTypes.policies
  );
  badKeys = lib.filter (n: !(lib.hasInfix "/" n)) (lib.attrNames others);
  services = lib.mapAttrs
    (_: s: removeAttrs s ([
      "dataset"
      "path"
    ] ++ backupFields))
    cfg.services;
  # Persisted directories that name their own dataset (persistence-types.nix) need the
  # datasets section and unit too; read where persistence.nix reads them (not lethe.config,
  # which this module defines).
  persistence =
    if config.lethe.persistenceFromEnvironment then config.environment.persistence or { } else config.lethe.persistence;
  persistedDatasets = lib.any
    (s: lib.any (e: builtins.isAttrs e && (e.dataset or null) != null) (s.directories or [ ]))
    (lib.attrValues persistence);
  configured = cfg.services != { } || others != { } || persistedDatasets;
  names =
    lib.mapAttrsToList (_: s: s.dataset) cfg.services
    ++ lib.attrNames others
    ++ lib.filter (n: n != null) (
      map (s: s.restoreFrom) (lib.attrValues cfg.services ++ lib.attrValues others)
    )
    ++ lib.optional (cfg.parentDataset != null) cfg.parentDataset;
  pools = lib.unique (map (n: lib.head (lib.splitString "/" n)) names);
  zfsMounted = lib.filter (fs: fs.fsType == "zfs" && lib.elem fs.device names) (lib.attrValues config.fileSystems);

  text = leth.unitText config.lethe.package "system" "lethe-datasets.service";
  install = leth.install text;
in
{
  options.lethe.datasets = mkOption {
    default = { };
    description = ''
      ZFS datasets per service. Keys with a `/` are datasets outside parentDataset, named in
      full, with the same fields as a service.
    '';
    example = lib.literalExpression ''
      {
        parentDataset = "tank/services";
        parentMount = "/persist/services";
        services.sonarr = { recordsize = "16K"; compression = "lz4"; mountpoint = "/var/lib/sonarr"; owner = "sonarr"; };
      }
    '';
    type = types.submodule {
      freeformType = types.attrsOf (types.submodule { options = common; });
      options = backupTypes.policies // {
        parentDataset = opt types.str "The services' parent dataset, per host: \"tank/services\", \"rpool/safe/persist/services\".";
        parentMount = opt types.str "Where the services' datasets are mounted unless they name a mountpoint.";
        services = mkOption {
          type = types.attrsOf service;
          default = { };
          description = "One dataset per service: `<parentDataset>/<name>`.";
        };
      };
    };
  };

  config = lib.mkIf configured {
    lethe.config.datasets = {
      inherit (cfg) parentDataset parentMount;
      inherit services;
    }
    // lib.mapAttrs (_: d: removeAttrs d backupFields) others;

    # NixOS imports only the pools something names.
    boot.zfs.extraPools = pools;

    systemd.packages = [ (pkgs.writeTextDir "lib/systemd/system/lethe-datasets.service" text) ];
    systemd.services.lethe-datasets = {
      inherit (install) wantedBy requiredBy;
      # The unit runs `zfs` and `cp` (migrating a directory onto its new dataset).
      path = [
        config.boot.zfs.package
        pkgs.coreutils
      ];
      # A switch to a configuration with other datasets applies them (the run is idempotent).
      restartTriggers = [ config.lethe.configFile ];
    };

    assertions = [
      {
        assertion = badKeys == [ ];
        message = "lethe.datasets: these keys are neither options of lethe.datasets (parentDataset, parentMount, services, ${lib.concatStringsSep ", " (lib.attrNames backupTypes.policies)}) nor full dataset names (pool/a/b):${lib.concatMapStrings (k: "\n  ${k}") badKeys}\nMove each service under lethe.datasets.services, or write its dataset's full name.";
      }
      {
        assertion = cfg.services == { } || cfg.parentDataset != null;
        message = "lethe.datasets.services needs lethe.datasets.parentDataset (each service's dataset is <parentDataset>/<name>).";
      }
      {
        assertion = zfsMounted == [ ];
        message = "lethe.datasets: ZFS mounts these datasets itself, and fileSystems mounts them too (the two mounts race):${lib.concatMapStrings (fs: "\n  fileSystems.\"${fs.mountPoint}\" mounts ${fs.device}") zfsMounted}\nRemove those fileSystems entries.";
      }
    ];
  };
}
