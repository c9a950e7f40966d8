# STAND-IN for the NixOS option declarations that lethe's module or the test hosts use and that
# the vendored nixos-subset neither vendors nor declares in its own stand-in.nix. Everything
# else comes from real NixOS files. With a full nixpkgs (NIXPKGS=…) this file is not loaded.
{ lib, ... }:
{
  # system/boot/loader/generic-extlinux-compatible: not in the subset. bad/secrets-*.nix use it
  # as a boot loader that cannot append initrd secrets (it leaves
  # boot.loader.supportsInitrdSecrets false, as the real module does).
  options.boot.loader.generic-extlinux-compatible.enable = lib.mkEnableOption "extlinux";

  # services/backup/restic.nix: the subset's copy is from ~2020 (its SOURCES.md), before NixOS
  # added these options of each backup (backupPrepareCommand and backupCleanupCommand, then
  # repositoryFile), which backups.nix sets. Declared with NixOS's types; the vendored file
  # declares the rest of the submodule.
  options.services.restic.backups = lib.mkOption {
    type = lib.types.attrsOf (
      lib.types.submodule {
        options = {
          repositoryFile = lib.mkOption {
            type = lib.types.nullOr lib.types.path;
            default = null;
            description = "Path to the file containing the repository location to backup to.";
          };
          backupPrepareCommand = lib.mkOption {
            type = lib.types.nullOr lib.types.str;
            default = null;
            description = "A script that must run before starting the backup process.";
          };
          backupCleanupCommand = lib.mkOption {
            type = lib.types.nullOr lib.types.str;
            default = null;
            description = "A script that must run after finishing the backup process.";
          };
        };
      }
    );
  };

  # system/boot/systemd/tmpfiles.nix: not in the subset (filesystems.nix sets it, declarations
  # only). backups.nix makes the empty key file of local replicas' syncoid commands with it.
  options.systemd.tmpfiles.rules = lib.mkOption {
    type = lib.types.listOf lib.types.str;
    default = [ ];
    description = "Rules for creation, deletion and cleaning of volatile and temporary files.";
  };
}
