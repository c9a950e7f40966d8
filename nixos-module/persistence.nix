# lethe.persistence: impermanence's environment.persistence, applied by `lethe persist`
# (initrd-glue/systemd/system/lethe-persist.service) early in stage 2, before local-fs.target.
{ config
, lib
, options
, pkgs
, ...
}:
let
  inherit (lib) mkOption types;
  leth = import ./lib.nix { inherit lib; };
  cfg = config.lethe;
  fromEnvironment = cfg.persistenceFromEnvironment;
  persistence =
    if fromEnvironment then config.environment.persistence or { } else cfg.persistence;
  # `or`: with persistenceFromEnvironment the values may come from another declaration.
  stores = lib.filterAttrs (_: s: (s.enable or null) != false) persistence;
  storePath = name: s: if (s.persistentStoragePath or null) != null then s.persistentStoragePath else name;
  storePaths = lib.mapAttrsToList storePath stores;

  entriesOf =
    s:
    (s.directories or [ ])
    ++ (s.files or [ ])
    ++ lib.concatMap (u: (u.directories or [ ]) ++ (u.files or [ ])) (lib.attrValues (s.users or { }));
  neededBy = lib.unique (
    lib.concatMap (e: if builtins.isAttrs e && (e.neededBy or null) != null then e.neededBy else [ ]) (
      lib.concatMap entriesOf (lib.attrValues stores)
    )
  );

  # The fileSystems entry a path lives on: the longest mount point above it.
  fileSystems = lib.attrValues config.fileSystems;
  under = path: fs: fs.mountPoint == "/" || path == fs.mountPoint || lib.hasPrefix "${fs.mountPoint}/" path;
  mountOf =
    path:
    lib.foldl'
      (
        best: fs:
        if under path fs && (best == null || lib.stringLength fs.mountPoint > lib.stringLength best.mountPoint) then
          fs
        else
          best
      )
      null
      fileSystems;
  # NixOS mounts these in the initrd whatever neededForBoot says (utils.pathsNeededForBoot).
  pathsNeededForBoot = [
    "/"
    "/nix"
    "/nix/store"
    "/var"
    "/var/log"
    "/var/lib"
    "/var/lib/nixos"
    "/etc"
    "/usr"
  ];
  notNeededForBoot = lib.filter
    (
      p:
      let
        fs = mountOf p;
      in
      fs != null && !fs.neededForBoot && !(lib.elem fs.mountPoint pathsNeededForBoot)
    )
    storePaths;

  # Read before stage 2's first unit: systemd's machine ID (PID 1 reads it at once), stage 2's
  # SSH host keys (generated afresh when missing) and NixOS' UID/GID map (users are allocated
  # by the activation). Persisted, they default to inInitrd under the systemd initrd, so
  # lethe-persist-initrd.service mounts them below /sysroot before the switch; an explicit
  # inInitrd (true or false) on the entry wins.
  systemdInitrd = config.boot.initrd.systemd.enable;
  earlyPaths =
    [ "/etc/machine-id" "/var/lib/nixos" ]
    ++ lib.concatMap (k: [ (toString k.path) "${toString k.path}.pub" ]) (config.services.openssh.hostKeys or [ ]);
  earlyDefault =
    key: e:
    let
      path = if builtins.isAttrs e then e.${key} else e;
    in
    if !(systemdInitrd && lib.elem path earlyPaths) then
      e
    else if !builtins.isAttrs e then
      {
        ${key} = e;
        inInitrd = true;
      }
    else if (e.inInitrd or null) == null then
      e // { inInitrd = true; }
    else
      e;
  withEarlyDefaults =
    s:
    s
    // lib.optionalAttrs (s ? directories) { directories = map (earlyDefault "directory") s.directories; }
    // lib.optionalAttrs (s ? files) { files = map (earlyDefault "file") s.files; };
  # What goes into the JSON: disabled stores as they are (lethe skips them).
  persistenceJSON = lib.mapAttrs (_: s: if (s.enable or null) == false then s else withEarlyDefaults s) persistence;

  inInitrd = lib.concatMap
    (e: lib.optional (builtins.isAttrs e && (e.inInitrd or null) == true) (e.directory or e.file))
    (lib.concatMap entriesOf (lib.attrValues (lib.mapAttrs (_: withEarlyDefaults) stores)));

  environmentDeclaredByOthers =
    options ? environment.persistence
    && lib.any (f: !(lib.hasSuffix "environment-persistence.nix" (toString f))) options.environment.persistence.declarations;

  text = leth.unitText cfg.package "system" "lethe-persist.service";
  install = leth.install text;
in
{
  options.lethe = {
    persistence = mkOption {
      type = types.attrsOf (import ./persistence-types.nix { inherit lib; });
      default = { };
      example = lib.literalExpression ''
        {
          "/persist" = {
            hideMounts = true;
            directories = [ "/var/log" "/var/lib/nixos" { directory = "/var/lib/private"; mode = "0700"; } ];
            files = [ "/etc/machine-id" ];
            users.alice.directories = [ "Documents" ];
          };
        }
      '';
      description = ''
        What survives the rollback, in impermanence's `environment.persistence` shape (paste the
        value unchanged), with lethe's `inInitrd` and `neededBy` on entries. Applied by
        `lethe persist` before local-fs.target: bind mounts, owners and modes converge,
        existing data adopted into the store, nothing deleted.
      '';
    };
    persistenceFromEnvironment = mkOption {
      type = types.bool;
      default = false;
      description = ''
        Take `environment.persistence` itself instead of lethe.persistence: for a host that
        migrates by replacing impermanence's module with the flake's
        `nixosModules.impermanence` (which declares that option and sets this).
      '';
    };
  };

  config = lib.mkMerge [
    (lib.mkIf (persistence != { }) {
      lethe.config.persistence = persistenceJSON;

      systemd.packages = [ (pkgs.writeTextDir "lib/systemd/system/lethe-persist.service" text) ];
      # A drop-in on the packaged unit (NixOS reads no [Install] of packaged units): the links
      # of its [Install] and the stores' mounts.
      systemd.services.lethe-persist = {
        inherit (install) wantedBy requiredBy;
        unitConfig.RequiresMountsFor = storePaths;
      };
      # The units in neededBy: lethe's own generator (the text dracut hosts get) writes their
      # drop-ins at boot from /etc/lethe/config.json: Wants= and After= lethe-persist,
      # RequiresMountsFor= their paths, AssertPathExists= the marker lethe persist writes for an
      # entry in place. Not Requires=: lethe persist exits 2 when one entry fails, and only that
      # entry's units must stay down, not every entry's.
      systemd.generators = lib.mkIf (neededBy != [ ]) {
        lethe-persist-generator =
          pkgs.writeScript "lethe-persist-generator" (leth.unitText cfg.package "system-generators" "lethe-persist-generator");
      };
    })
    # inInitrd entries in NixOS' systemd initrd: lethe-persist-initrd.service (the text of
    # initrd-glue/systemd/initrd/) with the lethe binary, the config and lethe-generator, which
    # turns it on from the config and makes it wait for the stores below /sysroot. With
    # boot.initrd.lethe enabled, initrd.nix installs all of them already.
    (lib.mkIf (inInitrd != [ ] && systemdInitrd && !(config.boot.initrd.lethe.enable or false)) {
      boot.initrd.systemd = {
        storePaths = [ "${cfg.package}/bin/lethe" ];
        contents = {
          "/etc/lethe/config.json".source = cfg.configFile;
          "/etc/systemd/system-generators/lethe-generator".source = "${cfg.package}/bin/lethe";
        };
        packages = [
          (pkgs.writeTextDir "lib/systemd/system/lethe-persist-initrd.service"
            (leth.unitText cfg.package "initrd" "lethe-persist-initrd.service"))
        ];
      };
    })
    {
      warnings = lib.optional (inInitrd != [ ] && !systemdInitrd) "lethe.persistence: inInitrd entries are applied in the initrd by lethe-persist-initrd.service, which needs NixOS' systemd initrd (boot.initrd.systemd.enable = true); with the scripted initrd lethe-persist mounts these in stage 2, after systemd has read /etc/machine-id:${lib.concatMapStrings (p: "\n  ${p}") inInitrd}";
      assertions = [
        {
          assertion = !(fromEnvironment && cfg.persistence != { });
          message = "lethe.persistence and lethe.persistenceFromEnvironment are both set: keep one (the second takes environment.persistence).";
        }
        {
          assertion = !(fromEnvironment && environmentDeclaredByOthers);
          message = "lethe.persistenceFromEnvironment: impermanence's module is still imported, so both it and lethe would bind-mount environment.persistence: remove impermanence's module from the imports (lethe's nixosModules.impermanence declares the option).";
        }
        {
          assertion = notNeededForBoot == [ ];
          message = "lethe.persistence: these persistence stores are on file systems mounted after stage 2 reads persisted files (/etc/machine-id, host keys; inInitrd entries are applied in the initrd, below /sysroot):${lib.concatMapStrings (p: "\n  ${p}: fileSystems.\"${(mountOf p).mountPoint}\".neededForBoot is false") notNeededForBoot}\nSet neededForBoot = true on those fileSystems entries.";
        }
      ];
    }
  ];
}
