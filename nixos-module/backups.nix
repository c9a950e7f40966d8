# Snapshots, replicas and backups of lethe.datasets (the policies of backups-types.nix), as the
# settings of the tools people already use: sanoid's templates and datasets, syncoid's commands,
# restic's backups reading a ZFS snapshot of the dataset. Every value is a default the host can
# override (lib.mkDefault), except the restic jobs' ordering after lethe-datasets.service, which
# is added to the unit's own (a default list would be dropped by the restic module's `after`).
# Nothing here destroys what lethe did not make: syncoid runs with --no-rollback (no forced
# receive on the target), and a restic job's cleanup destroys only the snapshot its prepare took,
# recognised by its lethe:backup property.
{ config
, lib
, pkgs
, ...
}:
let
  inherit (lib) mkDefault;
  cfg = config.lethe.datasets;
  # Where the syncoid module has a default of its own (source from the command's name, sshKey
  # from services.syncoid.sshKey): one step above it, still below anything a host writes.
  aboveDefault = lib.mkOverride 999;
  zfs = "${config.boot.zfs.package}/bin/zfs";
  util = name: "${pkgs.util-linux}/bin/${name}";
  lines = l: lib.concatMapStrings (x: "\n  ${x}") l;
  inStore = f: builtins.isPath f || lib.hasPrefix "${builtins.storeDir}/" (toString f);

  # Every dataset that can take policies: services, then full-name datasets.
  entries =
    lib.mapAttrsToList
      (name: s: {
        inherit name;
        inherit (s) dataset path snapshots replicateTo backup restore;
        option = "lethe.datasets.services.${name}";
        key = [ "services" name ];
        before = if s.restoreBefore != null then s.restoreBefore else [ "${name}.service" ];
      })
      cfg.services
    ++ lib.mapAttrsToList
      (name: d: {
        name = lib.replaceStrings [ "/" ] [ "-" ] name;
        dataset = name;
        path = if d.mountpoint != null && lib.hasPrefix "/" d.mountpoint then d.mountpoint else null;
        inherit (d) snapshots replicateTo backup restore;
        option = "lethe.datasets.\"${name}\"";
        key = [ name ];
        before = if d.restoreBefore != null then d.restoreBefore else [ ];
      })
      (lib.filterAttrs (n: _: lib.hasInfix "/" n) cfg);

  snapshotted = lib.filter (e: e.snapshots != null) entries;
  replications = lib.concatMap
    (e: map
      (r: {
        inherit e r;
        job = "${e.name}-${r}";
        replica = cfg.replicas.${r} or null;
      })
      e.replicateTo)
    entries;
  remote = t: lib.hasInfix ":" t;
  targetOf = x: "${x.replica.target}/${x.e.name}";
  localNoKey = "/run/lethe/syncoid-local-replica-no-ssh-key";

  # restic: one job per dataset and repository, reading <dataset>@lethe-restic-<job> mounted
  # read-only at /run/lethe/backup/<job>.
  resticJobs = lib.concatMap
    (e: map
      (b: rec {
        inherit e b;
        job = "${e.name}-${b.repository}";
        repo = cfg.resticRepositories.${b.repository} or null;
        snapshot = "${e.dataset}@lethe-restic-${job}";
        dir = "/run/lethe/backup/${job}";
        # A path inside the dataset, relative to its root (null: outside it).
        inside =
          p:
          let
            rel =
              if !(lib.hasPrefix "/" p) then p
              else if e.path != null && p == e.path then ""
              else if e.path != null && lib.hasPrefix "${e.path}/" p then lib.removePrefix "${e.path}/" p
              else null;
          in
          if rel == null || lib.elem ".." (lib.splitString "/" rel) then null else rel;
        paths = if b.paths == [ ] then [ dir ] else map (p: lib.removeSuffix "/" "${dir}/${inside p}") b.paths;
      })
      (e.backup.restic or [ ]))
    entries;

  # Restore sources, resolved for lethe's JSON (config/datasets.rs: restore): a replica's
  # dataset (and user@host over SSH), or a restic repository with what this dataset's job
  # stores there.
  restoring = lib.filter (e: e.restore != [ ]) entries;
  source =
    e: n:
    let
      replica = cfg.replicas.${n} or null;
      job = lib.findFirst (j: j.e.name == e.name && j.b.repository == n) null resticJobs;
      parts = lib.splitString ":" replica.target;
    in
    if replica != null && cfg.resticRepositories ? ${n} then { problem = "names both a replica and a restic repository"; }
    else if replica != null && remote replica.target then
      {
        name = n;
        ssh = lib.head parts;
        replica = "${lib.concatStringsSep ":" (lib.tail parts)}/${e.name}";
      }
      // lib.optionalAttrs (replica.sshKey != null) { sshKey = toString replica.sshKey; }
    else if replica != null then { name = n; replica = "${replica.target}/${e.name}"; }
    else if job != null && job.repo != null then
      {
        name = n;
        restic = {
          passwordFile = toString job.repo.passwordFile;
          root = job.dir;
          inherit (job) paths;
        }
        // (if job.repo.repository != null then { inherit (job.repo) repository; } else { repositoryFile = toString job.repo.repositoryFile; });
      }
    else if cfg.resticRepositories ? ${n} then { problem = "is a restic repository this dataset does not back up to (backup.restic)"; }
    else { problem = "is neither a replica (lethe.datasets.replicas) nor a restic repository (lethe.datasets.resticRepositories)"; };
  badSources = lib.concatMap (e: lib.concatMap (n: let s = source e n; in lib.optional (s ? problem) "${e.option}.restore: \"${n}\" ${s.problem}") e.restore) restoring;
  restoreUnit = e: "lethe-restore-${e.name}";
  overNetwork = e: lib.any (n: !(cfg.replicas ? ${n}) || remote cfg.replicas.${n}.target) e.restore;
  lethe = "${config.lethe.package}/bin/lethe";

  # The snapshot a job made, and only that one: its name and its lethe:backup property.
  dropOwn = j: ''
    if ${util "mountpoint"} -q ${lib.escapeShellArg j.dir}; then ${util "umount"} ${lib.escapeShellArg j.dir}; fi
    if [ "$(${zfs} get -H -o value lethe:backup ${lib.escapeShellArg j.snapshot} 2>/dev/null)" = ${lib.escapeShellArg j.job} ]; then
      ${zfs} destroy ${lib.escapeShellArg j.snapshot}
    fi
  '';
  prepare = j: ''
    set -eu
    # What an interrupted run left behind.
    ${dropOwn j}
    ${zfs} snapshot -o lethe:backup=${lib.escapeShellArg j.job} ${lib.escapeShellArg j.snapshot}
    ${pkgs.coreutils}/bin/mkdir -p ${lib.escapeShellArg j.dir}
    ${util "mount"} -t zfs -o ro ${lib.escapeShellArg j.snapshot} ${lib.escapeShellArg j.dir}
  '';
  cleanup = j: ''
    set -eu
    ${dropOwn j}
  '';

  # Refusals.
  unknownSnapshots = lib.filter (e: !(cfg.snapshotPolicies ? ${e.snapshots})) snapshotted;
  unknownReplicas = lib.filter (x: x.replica == null) replications;
  known = lib.filter (x: x.replica != null) replications;
  insideSource = lib.filter
    (x: !(remote x.replica.target) && (targetOf x == x.e.dataset || lib.hasPrefix "${x.e.dataset}/" (targetOf x)))
    known;
  withoutSnapshots = lib.filter (e: e.replicateTo != [ ] && e.snapshots == null) entries;
  unknownTools = lib.concatMap (e: map (t: "${e.option}.backup.${t}") (lib.attrNames (removeAttrs e.backup [ "restic" ]))) entries;
  unknownRepos = lib.filter (j: j.repo == null) resticJobs;
  outside = lib.concatMap (j: map (p: "${j.e.option}.backup.restic: ${p}") (lib.filter (p: j.inside p == null) j.b.paths)) resticJobs;
  oneRepository = lib.filterAttrs (_: r: (r.repository == null) == (r.repositoryFile == null)) cfg.resticRepositories;
  storeSecrets =
    lib.concatLists
      (
        lib.mapAttrsToList
          (n: r:
            lib.optional (inStore r.passwordFile) "lethe.datasets.resticRepositories.${n}.passwordFile = ${toString r.passwordFile}"
            ++ lib.optional (r.repositoryFile != null && inStore r.repositoryFile) "lethe.datasets.resticRepositories.${n}.repositoryFile = ${toString r.repositoryFile}")
          cfg.resticRepositories
      )
    ++ lib.concatLists (
      lib.mapAttrsToList
        (n: r: lib.optional (r.sshKey != null && inStore r.sshKey) "lethe.datasets.replicas.${n}.sshKey = ${toString r.sshKey}")
        cfg.replicas
    );
  jobNames = map (x: "services.syncoid.commands.${x.job}") replications ++ map (j: "services.restic.backups.${j.job}") resticJobs;
  sameJob = lib.filter (n: lib.count (m: m == n) jobNames > 1) (lib.unique jobNames);
  refusals = unknownSnapshots != [ ] || unknownReplicas != [ ] || unknownRepos != [ ] || unknownTools != [ ] || badSources != [ ];
in
{
  config = lib.mkMerge [
    (lib.mkIf (snapshotted != [ ] && !refusals) {
      services.sanoid = {
        enable = mkDefault true;
        templates = lib.listToAttrs (map
          (e: lib.nameValuePair e.snapshots (lib.mapAttrs (_: mkDefault) (cfg.snapshotPolicies.${e.snapshots} // {
            autosnap = true;
            autoprune = true;
          })))
          snapshotted);
        datasets = lib.listToAttrs (map (e: lib.nameValuePair e.dataset { useTemplate = mkDefault [ e.snapshots ]; }) snapshotted);
      };
    })
    (lib.mkIf (replications != [ ] && !refusals) {
      services.syncoid = {
        enable = mkDefault true;
        commands = lib.listToAttrs (map
          (x: lib.nameValuePair x.job (
            {
              source = aboveDefault x.e.dataset;
              target = mkDefault (targetOf x);
              # Send sanoid's snapshots (no snapshots of syncoid's own), and never roll the
              # target back (a forced receive destroys the target's newer snapshots). A restic
              # job's snapshot is never sent (syncoid >= 2.2): on the target it would stay newer
              # than the next incremental's base, and a receive without rollback would refuse
              # every later one.
              extraArgs = mkDefault (
                [
                  "--no-sync-snap"
                  "--no-rollback"
                ]
                ++ lib.optional (x.e.backup.restic or [ ] != [ ]) "--exclude-snaps=^lethe-restic-"
              );
              # Raw: an encrypted dataset stays encrypted on the target, its key never needed
              # there (for an unencrypted one, zfs send -w is -Lec).
              sendOptions = mkDefault "w";
              # The replica is never mounted: not on receive (-u), not at import
              # (canmount=noauto), and not at the host's paths (mountpoint inherited).
              recvOptions = mkDefault "u o canmount=noauto x mountpoint";
            }
            // lib.optionalAttrs (x.replica.sshKey != null) { sshKey = aboveDefault (toString x.replica.sshKey); }
            # NixOS's syncoid module cannot write the unit of a command without a key (it splits
            # the key's name unconditionally: the whole system fails to evaluate). A local
            # replica uses no ssh, so its key is an empty file made at boot, never read.
            // lib.optionalAttrs (x.replica.sshKey == null && !(remote x.replica.target)) { sshKey = aboveDefault localNoKey; }
          ))
          known);
      };
      systemd.tmpfiles.rules = lib.optional (lib.any (x: x.replica.sshKey == null && !(remote x.replica.target)) known) "f ${localNoKey} 0400 root root -";
    })
    (lib.mkIf (resticJobs != [ ] && !refusals) {
      services.restic.backups = lib.listToAttrs (map
        (j: lib.nameValuePair j.job (
          lib.mapAttrs (_: mkDefault) (
            {
              passwordFile = toString j.repo.passwordFile;
              inherit (j.repo) pruneOpts;
              inherit (j) paths;
              backupPrepareCommand = prepare j;
              backupCleanupCommand = cleanup j;
            }
            // (if j.repo.repository != null then { inherit (j.repo) repository; } else { repositoryFile = toString j.repo.repositoryFile; })
          )
        ))
        resticJobs);
      # The datasets exist (and are restored, once lethe restores) before a backup reads them.
      systemd.services = lib.listToAttrs (map
        (j: lib.nameValuePair "restic-backups-${j.job}" {
          after = [ "lethe-datasets.service" ];
          requires = [ "lethe-datasets.service" ];
        })
        resticJobs);
    })
    (lib.mkIf (restoring != [ ] && !refusals) {
      # A local replica's pool is imported at boot, so the boot's run can restore from it.
      boot.zfs.extraPools = lib.unique (lib.concatMap
        (e: lib.concatMap (n: lib.optional (cfg.replicas ? ${n} && !(remote cfg.replicas.${n}.target)) (lib.head (lib.splitString "/" cfg.replicas.${n}.target))) e.restore)
        restoring);
      lethe.config.datasets = lib.mkMerge (map (e: lib.setAttrByPath (e.key ++ [ "restore" ]) (map (source e) e.restore)) restoring);
      # One unit per dataset: `lethe datasets --restore` asks every source (the boot's run asks
      # only local replicas and defers to this unit), and fails when a restore was asked for
      # and could not be done, so the units that require it never start on an empty dataset.
      # Once restored, the dataset's lethe:restore record makes every later run a no-op.
      systemd.services = lib.listToAttrs
        (map
          (e: lib.nameValuePair (restoreUnit e) {
            description = "lethe: restore ${e.dataset} from ${lib.concatStringsSep ", " e.restore} if it is empty";
            documentation = [ "https://github.com/lethe-boot/lethe/blob/main/docs/src/datasets.md#backups-and-restore" ];
            # Only local replicas: no need to wait for the network.
            wants = lib.optional (overNetwork e) "network-online.target";
            after = lib.optional (overNetwork e) "network-online.target" ++ [ "lethe-datasets.service" ];
            requires = [ "lethe-datasets.service" ];
            inherit (e) before;
            requiredBy = e.before;
            wantedBy = [ "multi-user.target" ];
            path = [ config.boot.zfs.package pkgs.openssh pkgs.restic pkgs.coreutils ];
            serviceConfig = {
              Type = "oneshot";
              RemainAfterExit = true;
              ExecStart = "${lethe} datasets --config /etc/lethe/config.json --restore ${lib.escapeShellArg e.dataset}";
            };
          })
          restoring)
      // lib.listToAttrs (lib.concatMap
        (j: lib.optional (j.e.restore != [ ]) (lib.nameValuePair "restic-backups-${j.job}" {
          after = [ "${restoreUnit j.e}.service" ];
          requires = [ "${restoreUnit j.e}.service" ];
        }))
        resticJobs);
    })
    {
      assertions = [
        {
          assertion = badSources == [ ];
          message = "lethe.datasets: these restore sources cannot be used:${lines badSources}\nName a replica or a restic repository the dataset backs up to, in order of preference.";
        }
        {
          assertion = unknownSnapshots == [ ];
          message = "lethe.datasets: these datasets name a snapshot policy that lethe.datasets.snapshotPolicies does not define:${lines (map (e: "${e.option}.snapshots = \"${e.snapshots}\"") unknownSnapshots)}\nDefine it (lethe.datasets.snapshotPolicies.<name> = { hourly = 24; daily = 30; }) or fix the name.";
        }
        {
          assertion = unknownReplicas == [ ];
          message = "lethe.datasets: these datasets replicate to a replica that lethe.datasets.replicas does not define:${lines (map (x: "${x.e.option}.replicateTo: \"${x.r}\"") unknownReplicas)}\nDefine it (lethe.datasets.replicas.<name>.target = \"backup/forge\" or \"user@host:pool/path\") or fix the name.";
        }
        {
          assertion = withoutSnapshots == [ ];
          message = "lethe.datasets: these datasets replicate but take no snapshots (syncoid sends sanoid's snapshots):${lines (map (e: "${e.option}.replicateTo") withoutSnapshots)}\nGive each a snapshot policy (snapshots = \"<policy>\").";
        }
        {
          assertion = insideSource == [ ];
          message = "lethe.datasets: these replicas would be received inside the dataset they copy:${lines (map (x: "${x.e.option}.replicateTo: \"${x.r}\" (${targetOf x} is inside ${x.e.dataset})") insideSource)}\nReplicate to a dataset outside the source (another pool, or a dataset beside it).";
        }
        {
          assertion = unknownTools == [ ];
          message = "lethe.datasets: unknown backup tools (lethe knows restic):${lines unknownTools}\nUse backup.restic, or set that tool up yourself.";
        }
        {
          assertion = unknownRepos == [ ];
          message = "lethe.datasets: these datasets back up to a restic repository that lethe.datasets.resticRepositories does not define:${lines (map (j: "${j.e.option}.backup.restic: \"${j.b.repository}\"") unknownRepos)}\nDefine it (lethe.datasets.resticRepositories.<name> = { repository = ...; passwordFile = ...; }) or fix the name.";
        }
        {
          assertion = outside == [ ];
          message = "lethe.datasets: these restic paths are outside their dataset (restic reads a snapshot of the dataset alone):${lines outside}\nGive paths under the dataset's mountpoint, or relative to its root, without \"..\".";
        }
        {
          assertion = oneRepository == { };
          message = "lethe.datasets.resticRepositories: these repositories need exactly one of repository and repositoryFile:${lines (map (n: "lethe.datasets.resticRepositories.${n}") (lib.attrNames oneRepository))}\nGive the URL (repository) or a file holding it (repositoryFile).";
        }
        {
          assertion = storeSecrets == [ ];
          message = "lethe.datasets: these secret files are in the Nix store, or Nix paths that would be copied there (world-readable):${lines storeSecrets}\nGive each as a string naming a file on the host (\"/persist/etc/restic/password\"), kept out of the store.";
        }
        {
          assertion = sameJob == [ ];
          message = "lethe.datasets: these generated jobs have the same name (<dataset>-<policy>):${lines sameJob}\nRename a service, a replica or a repository.";
        }
      ];
    }
  ];
}
