# The type of one persistence store, in impermanence's shape (so `environment.persistence`
# values are accepted verbatim), plus lethe's additions on an entry (`inInitrd`, `neededBy`).
# Unset fields are null and left out of the JSON: lethe fills impermanence's defaults (owner
# root, mode 0755, home /home/NAME), so a value comes out as it was written.
{ lib }:
let
  inherit (lib) mkOption types;
  inherit (import ./lib.nix { inherit lib; }) opt;
  owner = {
    user = opt types.str "Owner when lethe creates it (default root).";
    group = opt types.str "Group when lethe creates it (default root).";
    mode = opt types.str "Mode when lethe creates it: octal like \"0755\" or chmod's absolute form like \"u=rwx,g=,o=\".";
  };
  lethe = {
    inInitrd = opt types.bool "Applied in the initrd to the new root before stage 2 (lethe-persist-initrd.service; owners numeric or root). Default under the systemd initrd: true for /etc/machine-id, /var/lib/nixos and services.openssh.hostKeys (and their .pub), false otherwise.";
    neededBy = opt (types.listOf types.str) "Units that must not start before it is mounted (lethe-persist is required by them and ordered before).";
    persistentStoragePath = opt types.str "Another store for this entry.";
  };
  # lethe's addition on a top-level directory: its own ZFS dataset, <lethe.datasets.parentDataset>/<name>,
  # mounted inside the store (lethe.datasets.parentMount must be the store) before the bind; its
  # root's owner and mode are the directory entry's user, group and mode.
  dataset = types.submodule {
    options = {
      name = opt types.str "The dataset's last component (default: the directory's last component).";
      recordsize = opt types.str "Power of two from 512 to 16M, like \"8K\".";
      compression = opt types.str "\"lz4\", \"zstd\", \"off\", …";
      properties = opt (types.attrsOf types.str) "Further ZFS properties.";
      restoreFrom = opt types.str "A dataset whose newest snapshot is received when this one is created.";
    };
  };
  directory = types.submodule {
    options = {
      directory = mkOption {
        type = types.str;
        description = "The directory's path.";
      };
      hideMount = opt types.bool "Mark the mount x-gvfs-hide.";
      dataset = opt dataset "The directory's own ZFS dataset (top level only; needs lethe.datasets.parentDataset, and parentMount = the store).";
      # impermanence's; accepted and ignored by lethe.
      enableDebugging = opt types.bool "impermanence's debug switch (ignored).";
    }
    // owner
    // lethe;
  };
  file = types.submodule {
    options = {
      file = mkOption {
        type = types.str;
        description = "The file's path.";
      };
      parentDirectory = opt
        (types.submodule {
          options = owner // {
            directory = opt types.str "impermanence's own field (ignored).";
            persistentStoragePath = opt types.str "impermanence's own field (ignored).";
          };
        }) "Owner and mode of the parent directories lethe creates.";
      method = opt
        (types.enum [
          "auto"
          "bind"
          "symlink"
        ]) "auto (bind when the source exists, else a symlink into the store), bind or symlink.";
    }
    // owner
    // lethe;
  };
  entries =
    kind: description:
    mkOption {
      type = types.listOf (types.either types.str kind);
      default = [ ];
      inherit description;
    };
  user = types.submodule {
    options = {
      home = opt types.str "The user's home (default /home/NAME); entries are relative to it.";
      directories = entries directory "Directories under the home.";
      files = entries file "Files under the home.";
    };
  };
in
types.submodule {
  options = {
    enable = opt types.bool "Whether this store is used (default true).";
    persistentStoragePath = opt types.str "The store's path (default: the attribute name).";
    hideMounts = opt types.bool "Mark every mount x-gvfs-hide (default false).";
    directories = entries directory "Directories bind-mounted from the store.";
    files = entries file "Files bind-mounted (or symlinked) from the store.";
    users = mkOption {
      type = types.attrsOf user;
      default = { };
      description = "Per-user directories and files.";
    };
    enableDebugging = opt types.bool "impermanence's debug switch (ignored).";
    enableWarnings = opt types.bool "impermanence's warnings switch (ignored).";
  };
}
