# Evaluates a host module (a NixOS module setting boot.initrd.lethe, lethe.persistence,
# lethe.datasets, environment.persistence, fileSystems, …) with lethe's module against real
# NixOS module code, offline, with nothing built. Used by ./eval-config and the fixture tests.
# Where the NixOS modules come from (exactly one):
#   nixpkgs      a full nixpkgs tree: NixOS itself (nixos/lib/eval-config.nix); the packages
#                are not built, only evaluated (lethe.package is a placeholder, see below)
#   nixosSubset  an unpacked nixos-subset (real NixOS files with its own harness, eval.nix,
#                and stub packages; its own README says what it holds),
#                plus ./tests/stand-in/nixos.nix for what the subset does not declare
{ lib
, host
, # lethe's module; the flake's nixosModules.default in tests/eval/flake-outputs.nix.
  module ? ./default.nix
, nixpkgs ? null
, nixosSubset ? null
}:
let
  # A placeholder for the lethe package: its path is only named (units, storePaths), never
  # built, and the same under every source, so the expected files do not depend on it.
  lethePackage = {
    type = "derivation";
    name = "lethe";
    outPath = "/nix/store/00000000000000000000000000000000-lethe";
    drvPath = "/nix/store/00000000000000000000000000000000-lethe.drv";
  };
  modules = [
    module
    { lethe.package = lethePackage; }
    host
  ];
  fromSubset = import (nixosSubset + "/eval.nix") {
    inherit lib;
    modules = [ ./tests/stand-in/nixos.nix ] ++ modules;
  };
  fromNixpkgs = import (nixpkgs + "/nixos/lib/eval-config.nix") {
    system = null;
    modules = modules ++ [{ nixpkgs.hostPlatform = lib.mkDefault "x86_64-linux"; }];
  };
  # The same host with the backup tools' NixOS modules running (the subset loads them as
  # declarations only): the texts and command lines they make from lethe's settings.
  withTools =
    if nixpkgs != null then fromNixpkgs
    else if nixosSubset != null then
      (import (nixosSubset + "/eval.nix") {
        inherit lib;
        fullModules = (import (nixosSubset + "/module-list.nix")).full ++ map (m: nixosSubset + "/nixos/modules/services/backup/${m}.nix") [ "sanoid" "syncoid" "restic" "pgbackrest" ];
        modules = [ ./tests/stand-in/nixos.nix ] ++ modules;
      }).eval
    else null;
  eval =
    if nixpkgs != null then fromNixpkgs
    else if nixosSubset != null then fromSubset.eval
    else throw "lethe's eval.nix: give nixpkgs (a nixpkgs tree) or nixosSubset (an unpacked nixos-subset)";
  inherit (eval) config;
  lethe = n: lib.hasPrefix "lethe" n;
  # lethe's packaged units: pkgs.writeTextDir keeps the text and names the package after the
  # file, in nixpkgs and in the subset's stub packages alike.
  ours = lib.filter (p: p ? text && lethe p.name);
  # The text NixOS's own unit generator (systemd-lib's unit builders) makes for lethe's units:
  # drop-ins over the packaged units (or whole units), by name.
  generated = units: lib.mapAttrs (_: u: u.text) (lib.filterAttrs (n: _: lethe n) units);
  # What backups.nix generates from lethe.datasets' policies (sanoid, syncoid, restic), read
  # back through the real NixOS declarations of those options. Only the fields lethe sets: the
  # subset's old restic.nix has no default for `repository` (tryEval: null when unset).
  backups =
    let
      set = v: let r = builtins.tryEval v; in if r.success then r.value else null;
      sanoid = config.services.sanoid;
      restic = config.services.restic.backups;
    in
    {
      sanoid = {
        inherit (sanoid) enable;
        templates = lib.mapAttrs (_: t: { inherit (t) hourly daily monthly yearly autosnap autoprune; }) sanoid.templates;
        datasets = lib.mapAttrs (_: d: { inherit (d) use_template recursive; }) sanoid.datasets;
      };
      syncoid = lib.mapAttrs (_: c: { inherit (c) source target sshKey extraArgs sendOptions recvOptions recursive; }) config.services.syncoid.commands;
      restic = lib.mapAttrs
        (n: b: {
          inherit (b) passwordFile paths pruneOpts backupPrepareCommand backupCleanupCommand;
          repository = set b.repository;
          repositoryFile = set b.repositoryFile;
          inherit (config.systemd.services."restic-backups-${n}") after requires;
        })
        restic;
      # PostgreSQL point-in-time recovery (pitr.nix): pgbackrest.conf as NixOS's pgbackrest
      # module writes it from these settings (its config does not run against the subset: the
      # same flattening, repoN-/pgN- prefixes, nulls dropped; NixOS adds its log-level and
      # cmd-ssh defaults), the job schedules, PostgreSQL's settings, the restore helper.
      pitr =
        let
          pgb = config.services.pgbackrest;
          clean = lib.filterAttrs (_: v: v != null);
          flatten = attrs: prefix: lib.concatMapAttrs
            (name: lib.mapAttrs' (o: lib.nameValuePair "${prefix}${toString (1 + lib.lists.findFirstIndex (n: n == name) null (lib.attrNames attrs))}-${o}"))
            (lib.mapAttrs (_: clean) attrs);
          section = name: attrs: "[${name}]\n" + lib.concatStrings (lib.mapAttrsToList (k: v: "${k}=${toString v}\n") (clean attrs));
          helper = lib.findFirst (p: p.name or "" == "lethe-restore-postgresql") null config.environment.systemPackages;
        in
        lib.optionalAttrs (pgb.stanzas != { }) {
          "pgbackrest.conf" = lib.concatStringsSep "\n" (
            [ (section "global" (removeAttrs pgb.settings [ "tls-server-cert-file" "tls-server-key-file" ] // flatten pgb.repos "repo")) ]
            ++ lib.mapAttrsToList (n: st: section n (removeAttrs st.settings [ "tls-server-cert-file" "tls-server-key-file" ] // flatten st.instances "pg")) pgb.stanzas
          );
          jobs = lib.mapAttrs (_: st: st.jobs) pgb.stanzas;
          postgresql = {
            inherit (config.services.postgresql) initdbArgs;
            settings = lib.filterAttrs (n: _: lib.elem n [ "archive_mode" "archive_command" ]) config.services.postgresql.settings;
          };
          helper = if helper == null then null else helper.text;
        };
      # The restore units (lethe-restore-<name>.service), as NixOS writes them.
      restore = lib.mapAttrs (_: u: u.text) (lib.filterAttrs (n: _: lib.hasPrefix "lethe-restore-" n) config.systemd.units);
    };
in
{
  inherit config;
  inherit backups;
  inherit (eval) options;
  failed = map (a: a.message) (lib.filter (a: !a.assertion) config.assertions);
  inherit (config) warnings;
  json = config.lethe.configJSON;
  # What the backup tools run, as their NixOS modules write it (`eval-config --texts`):
  # sanoid.conf (sanoid.nix's INI rendering of services.sanoid.settings), the syncoid, restic
  # and pgBackRest command lines, pgbackrest.conf, the restore units and the PITR helper.
  texts =
    let
      c = withTools.config;
      sanoidKeyValue = k: v:
        if v == null || k == "processChildrenOnly" || k == "useTemplate" then ""
        else lib.generators.mkKeyValueDefault { mkValueString = v: if lib.isList v then lib.concatStringsSep "," v else lib.generators.mkValueStringDefault { } v; } "=" k v;
      unit = n: c.systemd.services.${n}.serviceConfig;
      pgConf = c.environment.etc."pgbackrest/pgbackrest.conf".source.value or null;
    in
    {
      "sanoid.conf" = lib.generators.toINI { mkKeyValue = sanoidKeyValue; } c.services.sanoid.settings;
      sanoid = (unit "sanoid").ExecStart or null;
      syncoid = lib.mapAttrs (n: _: (unit "syncoid-${n}").ExecStart) c.services.syncoid.commands;
      restic = lib.mapAttrs (n: _: (unit "restic-backups-${n}").ExecStart) c.services.restic.backups;
      "pgbackrest.conf" = if pgConf == null then null else lib.generators.toINI { listsAsDuplicateKeys = true; } pgConf;
      pgbackrest = lib.mapAttrs (_: u: { inherit (u.serviceConfig) ExecStartPre ExecStart User; }) (lib.filterAttrs (n: _: lib.hasPrefix "pgbackrest-" n) c.systemd.services);
      inherit (backups) restore;
      inherit (backups.pitr) postgresql helper;
    };
  # How the module wires lethe into the host, besides the JSON and the unit text.
  wiring = {
    initrd = {
      contents = lib.mapAttrs (_: c: toString c.source) (
        lib.filterAttrs (n: _: lib.hasInfix "lethe" n) config.boot.initrd.systemd.contents
      );
      inherit (config.boot.initrd) secrets;
      # lethe's NIC drivers among the initrd's modules (NixOS adds its own).
      kernelModules = lib.filter (m: lib.elem m config.boot.initrd.lethe.network.kernelModules) config.boot.initrd.kernelModules;
      # NixOS turns each entry into { source, target, … } (a plain path in older revisions).
      # (and the zfs a ZFS root's rollback runs).
      storePaths = lib.filter (p: lib.hasInfix "lethe" p || lib.hasInfix "-zfs/" p) (map (p: toString (p.source or p)) config.boot.initrd.systemd.storePaths);
      units = map (p: p.name) (ours config.boot.initrd.systemd.packages);
      services = lib.mapAttrs (_: s: { inherit (s) wants after; } // lib.optionalAttrs (s.environment != { }) { inherit (s) environment; }) (
        lib.filterAttrs (n: _: lethe n) config.boot.initrd.systemd.services
      );
    };
    etc = lib.mapAttrs (_: e: toString e.source) (
      lib.filterAttrs (n: _: lib.hasPrefix "lethe/" n) config.environment.etc
    );
    services = lib.mapAttrs
      (_: s: {
        inherit (s) wantedBy requiredBy before unitConfig;
        path = map toString s.path;
        restartTriggers = map toString (s.restartTriggers or [ ]);
      })
      (lib.filterAttrs (n: _: lethe n) config.systemd.services);
    zfsExtraPools = config.boot.zfs.extraPools;
    # Stage 2's generators lethe installs (the persist generator writes neededBy's drop-ins).
    generators = lib.mapAttrs (_: g: toString g) (lib.filterAttrs (n: _: lethe n) config.systemd.generators);
  }
  // lib.optionalAttrs (backups.sanoid.datasets != { } || backups.syncoid != { } || backups.restic != { }) { inherit backups; };
  # Every unit the module installs, by its file under initrd-glue/systemd/, with its text.
  units =
    lib.listToAttrs
      (
        map (p: lib.nameValuePair "initrd/${p.name}" p.text) (ours config.boot.initrd.systemd.packages)
      )
    // lib.listToAttrs (
      map (p: lib.nameValuePair "system/${p.name}" p.text) (ours config.systemd.packages)
    );
  # What NixOS's generator adds for them (boot.initrd.systemd.units, systemd.units).
  generatedUnits = {
    initrd = generated config.boot.initrd.systemd.units;
    system = generated config.systemd.units;
  };
}
