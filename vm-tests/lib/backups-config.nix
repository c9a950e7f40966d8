# What lethe's NixOS module makes of an example host's lethe.datasets policies, as the tools'
# own inputs, for the backup-* VM scenarios (see ./backups-config, which writes them to files).
# It evaluates the host like nixos-module/eval.nix does (the vendored nixos-subset, real NixOS
# module code), with NixOS's sanoid.nix and syncoid.nix run in full, so that:
#   sanoid.conf      is the text NixOS's sanoid module renders from services.sanoid
#   syncoid.<job>    the arguments of NixOS's syncoid-<job>.service (ExecStart), from
#                    services.syncoid.commands.<job>: composed here in syncoid.nix's order
#                    (its lines 354-372), because the vendored syncoid.nix cannot evaluate the
#                    unit of a command without sshKey (`builtins.split ":" c.sshKey` on null,
#                    its line 259, forced by serviceConfig's `//`): the local replicas
#   restoreUnits.<name>  the ExecStart of lethe-restore-<name>.service (when the module
#                    generates restore units)
#   restic.<job>     is services.restic.backups.<job> as lethe sets it (prepare, cleanup,
#                    paths, password and repository files, prune options). The subset's
#                    restic.nix is from ~2020 and predates these options, so its units are not
#                    used: the scenario runs them as NixOS's restic module does (prepare,
#                    `restic backup PATHS`, `forget --prune OPTS`, cleanup).
# The subset's stub packages keep a builder's inputs but give every output a fake store path;
# pkgs.writeTextDir is wrapped here so that its output "path" is the file's text itself, which
# then appears (shell-quoted) in sanoid's ExecStart, where the harness reads it back.
{ lib, subset, repo, host }:
let
  stub = import (subset + "/pkgs-stub.nix") { inherit lib; };
  textMarker = "LETHE-TEXT:";
  pkgs = stub // {
    writeTextDir = path: text: stub.writeTextDir path text // { outPath = textMarker + text; };
  };
  modules = import (subset + "/module-list.nix");
  r = import (subset + "/eval.nix") {
    inherit lib pkgs;
    fullModules = modules.full ++ [
      (subset + "/nixos/modules/services/backup/sanoid.nix")
      (subset + "/nixos/modules/services/backup/syncoid.nix")
    ];
    modules = [
      (repo + "/nixos-module/tests/stand-in/nixos.nix")
      (repo + "/nixos-module/default.nix")
      {
        lethe.package = {
          type = "derivation";
          name = "lethe";
          outPath = "/nix/store/00000000000000000000000000000000-lethe";
          drvPath = "/nix/store/00000000000000000000000000000000-lethe.drv";
        };
      }
      host
    ];
  };
  inherit (r) config;
in
{
  inherit (r) failedAssertions;
  inherit textMarker;
  sanoidExecStart = config.systemd.services.sanoid.serviceConfig.ExecStart;
  syncoid = lib.mapAttrs
    (_: c:
      lib.optional c.recursive "--recursive"
      ++ lib.optionals (c.sshKey != null) [ "--sshkey" c.sshKey ]
      ++ c.extraArgs
      ++ [ "--sendoptions" c.sendOptions "--recvoptions" c.recvOptions "--no-privilege-elevation" c.source c.target ])
    config.services.syncoid.commands;
  restoreUnits = lib.mapAttrs' (n: s: lib.nameValuePair (lib.removePrefix "lethe-restore-" n) s.serviceConfig.ExecStart)
    (lib.filterAttrs (n: _: lib.hasPrefix "lethe-restore-" n) config.systemd.services);
  restic = lib.mapAttrs
    (_: b: {
      inherit (b) passwordFile paths pruneOpts repositoryFile backupPrepareCommand backupCleanupCommand;
    })
    config.services.restic.backups;
}
