# boot.initrd.lethe: lethe in NixOS' systemd initrd. The network, the SSH server and console
# prompt that answer systemd-cryptsetup (or open LUKS themselves), and the rollback of a btrfs or
# ZFS root before sysroot.mount. Options are the fields of the JSON reference (camelCase, same defaults); the
# units are initrd-glue/systemd/initrd/ verbatim, and lethe-generator (the same binary) decides
# at boot which of them run and what they wait for, from /etc/lethe/config.json.
{ config
, lib
, pkgs
, ...
}:
let
  inherit (lib) mkOption types;
  leth = import ./lib.nix { inherit lib; };
  cfg = config.boot.initrd.lethe;
  luksNames = lib.attrNames config.boot.initrd.luks.devices;
  # Who else asks for a password in the systemd initrd (systemd-ask-password, which lethe's
  # systemdAgent mode answers): NixOS's ZFS import, for the keylocation=prompt datasets of the
  # pools it imports there when boot.zfs.requestEncryptionCredentials is true or lists
  # datasets, and its bcachefs unlock, for an encrypted bcachefs filesystem needed for boot.
  initrdFilesystems = config.boot.initrd.supportedFilesystems;
  zfsCredentials = config.boot.zfs.requestEncryptionCredentials;
  zfsAsks = (initrdFilesystems.zfs or false) && (zfsCredentials == true || (builtins.isList zfsCredentials && zfsCredentials != [ ]));
  bcachefsAsks = initrdFilesystems.bcachefs or false;
  othersAsk = zfsAsks || bcachefsAsks;
  nicDrivers = import ./nic-drivers.nix;

  # Whole numbers: NixOS's own int types; the exact upper bounds are lethe's, checked by
  # `lethe check-config` when the config is built (one place for each rule).
  int = type: def: description:
    mkOption {
      inherit type description;
      default = def;
    };
  bool = def: description:
    mkOption {
      type = types.bool;
      default = def;
      inherit description;
    };
  # A default computed from other options, shown in the reference as the expression.
  boolFrom = def: text: description:
    mkOption {
      type = types.bool;
      default = def;
      defaultText = lib.literalExpression text;
      inherit description;
    };
  nullStr = description:
    mkOption {
      type = types.nullOr types.str;
      default = null;
      inherit description;
    };

  # Host keys and authorized_keys files are files of the build host (or of the running system
  # when the bootloader is installed): they go in through boot.initrd.secrets, never the store.
  hostKeyPath = src: "/etc/lethe/${baseNameOf (toString src)}";
  keysFilePath = i: "/etc/lethe/authorized_keys.d/${toString i}";
  # Tang's JWE files (boot.initrd.clevis.devices.<name>.secretFile's kind), by device name.
  tangFilePath = name: "/etc/lethe/tang/${name}.jwe";

  staticType = types.submodule {
    options = {
      address = mkOption {
        type = types.str;
        example = "192.168.1.20";
        description = "The IPv4 address.";
      };
      prefixLength = int (types.ints.between 1 32) 24 "The prefix length of the address.";
      gateway = nullStr "The default gateway.";
      dns = mkOption {
        type = types.listOf types.str;
        default = [ ];
        description = "DNS servers (written to the initrd's resolv.conf).";
      };
    };
  };

  deviceType = types.submodule {
    options = {
      name = mkOption {
        type = types.str;
        example = "crypted";
        description = "Opened as /dev/mapper/NAME.";
      };
      device = mkOption {
        type = types.str;
        example = "/dev/disk/by-id/nvme-...-part2";
        description = "The LUKS block device.";
      };
      allowDiscards = bool false "Pass discards (TRIM) through.";
      bypassWorkqueues = bool false "dm-crypt's no_read_workqueue and no_write_workqueue.";
      header = nullStr "A detached LUKS header.";
    };
  };

  networkJSON = {
    inherit (cfg.network)
      interface
      kernelModules
      dhcp
      static
      linkTimeoutSeconds
      dhcpTimeoutSeconds
      flushBeforeStage2
      ;
  };
  sshJSON = {
    inherit (cfg.ssh)
      port
      authorizedKeys
      maxAuthTries
      loginGraceSeconds
      ;
    hostKeys = map hostKeyPath cfg.ssh.hostKeys;
    authorizedKeysFiles = lib.imap0 (i: _: keysFilePath i) cfg.ssh.authorizedKeysFiles;
  };
  tang = cfg.unlock.tang;
  unlockJSON = {
    inherit (cfg.unlock)
      devices
      systemdAgent
      console
      maxTries
      ;
    tang =
      if tang.enable then {
        inherit (tang) servers timeoutSeconds;
        secretFiles = lib.mapAttrs (name: _: tangFilePath name) tang.secretFiles;
      } else null;
  };
  # A JWE holds the secret that opens the disk with the Tang server's help: never the store.
  tangFiles = lib.attrValues tang.secretFiles;
  tangInStore = lib.filter (f: builtins.isPath f || lib.hasPrefix builtins.storeDir (toString f)) tangFiles;
  tangDeviceNames = if cfg.unlock.systemdAgent then luksNames else map (d: d.name) cfg.unlock.devices;
  tangUnknown = lib.filter (n: !lib.elem n tangDeviceNames) (lib.attrNames tang.secretFiles);
  tangRelative = lib.filter (f: !builtins.isPath f && !lib.hasPrefix "/" f) tangFiles;
  # A fileSystems entry as the config's stage2Mounts takes it (btrfs and ZFS roots alike).
  mountJSON = fs: {
    inherit (fs) device mountPoint fsType;
    options = lib.concatStringsSep "," fs.options;
  };
  rollbackJSON = {
    inherit (cfg.rollback)
      device
      subvolume
      archive
      retentionDays
      keepAtLeast
      blankSnapshot
      ;
    # What stage 2 mounts from btrfs: lethe keeps the rollback clear of it (check-config by
    # subvol= path; at boot by subvolume id, which also covers subvolid=, the default
    # subvolume and other names of the device). "/" is the rolled-back root itself.
    stage2Mounts = map mountJSON stage2Btrfs;
  };

  fileSystems = lib.attrValues config.fileSystems;
  # A ZFS root: its dataset is fileSystems."/".device (NixOS's own way of naming it, which its
  # ZFS import reads too); the rollback archives it in the systemd initrd after the pool's
  # import and key loading (lethe-generator orders it).
  rootFs = config.fileSystems."/" or null;
  zfsRoot = rootFs != null && rootFs.fsType == "zfs" && rootFs.device != null;
  zfsDataset = if zfsRoot then rootFs.device else null;
  zfsPool = d: lib.head (lib.splitString "/" (lib.head (lib.splitString "@" d)));
  # `old_roots` beside the root dataset: rpool/local/root -> rpool/local/old_roots.
  zfsArchiveDefault = lib.concatStringsSep "/" (lib.init (lib.splitString "/" zfsDataset) ++ [ "old_roots" ]);
  # The zfs the rollback runs: boot.zfs.package's, the one NixOS's import units run (its
  # boot.initrd.systemd.extraBin puts this same file into the initrd's /bin).
  zfsBin = "${config.boot.zfs.package}/sbin/zfs";
  stage2Zfs = lib.filter (fs: fs.fsType == "zfs" && fs.mountPoint != "/" && fs.device != null) fileSystems;
  zfsRollback = cfg.rollback.enable && zfsRoot;
  zfsRollbackJSON = {
    dataset = zfsDataset;
    inherit (cfg.rollback)
      archive
      retentionDays
      keepAtLeast
      blankSnapshot
      ;
    # The datasets stage 2 mounts: lethe keeps the rollback clear of them (check-config at
    # build, the same rule as zfsInRollbackReach below).
    stage2Mounts = map mountJSON stage2Zfs;
  };
  # lethe's rule (config/rollback.rs: check_zfs_mounts): the root dataset and the archive are
  # neither, nor inside, nor contain a dataset stage 2 mounts (zfs rename moves children along).
  zfsInRollbackReach = lib.concatMap
    (
      fs:
      map (f: "${f.name} \"${f.value}\" ${leth.overlap f.value fs.device} \"${fs.device}\", which fileSystems.\"${fs.mountPoint}\" mounts")
        (lib.filter (f: leth.overlap f.value fs.device != null) [
          { name = "fileSystems.\"/\".device (the rolled-back root)"; value = zfsDataset; }
          { name = "boot.initrd.lethe.rollback.archive"; value = cfg.rollback.archive; }
        ])
    )
    stage2Zfs;
  openedDevices =
    map (n: "/dev/mapper/${n}") (luksNames ++ map (d: d.name) cfg.unlock.devices)
    ++ lib.filter (d: d != null) (map (fs: fs.device) fileSystems);
  stage2Btrfs = lib.filter (fs: fs.fsType == "btrfs" && fs.mountPoint != "/" && fs.device != null) fileSystems;
  # lethe's rule (config/rollback.rs: check_mounts): rollback.subvolume and rollback.archive are
  # neither, nor inside, nor contain a subvolume stage 2 mounts with subvol= from their device.
  inRollbackReach = lib.concatMap
    (
      fs:
      let
        subvol = leth.subvolOf fs;
        hits = lib.filter (f: leth.overlap cfg.rollback.${f} subvol != null) [ "subvolume" "archive" ];
      in
      lib.optionals (fs.device == cfg.rollback.device && subvol != null) (
        map (f: "boot.initrd.lethe.rollback.${f} \"${cfg.rollback.${f}}\" ${leth.overlap cfg.rollback.${f} subvol} \"${subvol}\", which fileSystems.\"${fs.mountPoint}\" mounts (options ${lib.concatStringsSep "," fs.options})") hits
      )
    )
    stage2Btrfs;
  stage2HostKeys = map (k: toString k.path) config.services.openssh.hostKeys;
  sharedHostKeys = lib.filter (k: lib.elem (toString k) stage2HostKeys) cfg.ssh.hostKeys;
  hostKeyNames = map hostKeyPath cfg.ssh.hostKeys;
  sameNames = lib.filter (n: lib.count (m: m == n) hostKeyNames > 1) (lib.unique hostKeyNames);
  # Files of the installing machine: they must be absolute, as boot.initrd.secrets wants.
  relativeFiles = lib.filter (f: !builtins.isPath f && !lib.hasPrefix "/" f) (cfg.ssh.hostKeys ++ cfg.ssh.authorizedKeysFiles);
  # The boot loader appends boot.initrd.secrets to the initrd when it is installed; where it
  # cannot, NixOS's initrd-secrets.nix puts them into the initrd's contents: the Nix store.
  secretsInStore = config.boot.initrd.secrets != { } && !config.boot.loader.supportsInitrdSecrets;
  lines = l: lib.concatMapStrings (x: "\n  ${toString x}") l;
in
{
  options.boot.initrd.lethe = {
    enable = lib.mkEnableOption ''
      lethe in the systemd initrd: the network, SSH unlock (answering systemd-cryptsetup or
      opening LUKS itself) and the rollback of a btrfs or ZFS root before sysroot.mount. It replaces
      boot.initrd.network.ssh, udhcpc and a rollback script'';

    network = {
      enable = boolFrom cfg.ssh.enable "config.boot.initrd.lethe.ssh.enable" "Bring the network up in the initrd (default: with SSH).";
      interface = mkOption {
        type = types.nullOr (types.either types.str (types.submodule { options.mac = mkOption { type = types.str; }; }));
        default = null;
        example = {
          mac = "52:54:00:12:34:56";
        };
        description = ''A name ("enp3s0") or `{ mac = "52:54:00:12:34:56"; }`; null: the first interface with carrier.'';
      };
      kernelModules = mkOption {
        type = types.listOf types.str;
        default = lib.filter (m: nicDrivers ? ${m}) config.boot.initrd.availableKernelModules;
        defaultText = lib.literalMD "the Ethernet drivers (`r8169`, `igb`, …) among `boot.initrd.availableKernelModules`";
        example = [ "r8169" ];
        description = "The NIC's modules, loaded by lethe (a failure only warns); put in the initrd with their firmware.";
      };
      dhcp = bool true "DHCPv4 (broadcast flag, RFC 2131 backoff, renew at T1, rebind at T2).";
      static = mkOption {
        type = types.nullOr staticType;
        default = null;
        description = "A static address: required when dhcp is false, else the fallback after dhcpTimeoutSeconds.";
      };
      linkTimeoutSeconds = int types.ints.positive 30 "How long to wait for the interface and its carrier.";
      dhcpTimeoutSeconds = int types.ints.positive 30 "With static: how long DHCP is tried before it is applied.";
      flushBeforeStage2 = bool true "Release the lease, remove addresses and routes, link down, before stage 2.";
    };

    ssh = {
      enable = boolFrom (cfg.ssh.hostKeys != [ ]) "config.boot.initrd.lethe.ssh.hostKeys != [ ]" "Run lethe's SSH server (default: when hostKeys are given).";
      port = mkOption {
        type = types.port;
        default = 22;
        description = "The TCP port.";
      };
      hostKeys = mkOption {
        type = types.listOf (types.either types.str types.path);
        default = [ ];
        example = [ "/persist/etc/lethe/initrd_host_ed25519_key" ];
        description = ''
          OpenSSH private host keys (ed25519 or ecdsa, unencrypted, mode 0600), as absolute
          paths on the machine that installs the boot loader: they go into the initrd through
          boot.initrd.secrets as /etc/lethe/BASENAME (the config names those paths), which the
          boot loader appends when it is installed (systemd-boot and GRUB do; with another
          one the module refuses, see secretsInStore), never through the Nix store. Use a key
          of its own, not stage 2's host key.
        '';
      };
      authorizedKeys = mkOption {
        type = types.listOf types.str;
        default = config.users.users.root.openssh.authorizedKeys.keys;
        defaultText = lib.literalExpression "config.users.users.root.openssh.authorizedKeys.keys";
        description = "authorized_keys lines; options command=, from=, no-pty, restrict.";
      };
      authorizedKeysFiles = mkOption {
        type = types.listOf (types.either types.str types.path);
        default = config.users.users.root.openssh.authorizedKeys.keyFiles;
        defaultText = lib.literalExpression "config.users.users.root.openssh.authorizedKeys.keyFiles";
        description = "Files of such lines, as absolute paths, copied in through boot.initrd.secrets like hostKeys (bad lines skipped with a warning).";
      };
      maxAuthTries = int types.ints.positive 6 "Authentication attempts per connection.";
      loginGraceSeconds = int types.ints.positive 120 "Time to log in.";
    };

    unlock = {
      enable = boolFrom (luksNames != [ ] || cfg.unlock.devices != [ ] || othersAsk) "config.boot.initrd.luks.devices != { } || config.boot.initrd.lethe.unlock.devices != [ ] || <ZFS or bcachefs asks in the initrd>" "Ask for the passphrases over SSH and on the console (default: when there are LUKS devices, or ZFS datasets (boot.zfs.requestEncryptionCredentials) or bcachefs filesystems that ask in the initrd).";
      devices = mkOption {
        type = types.listOf deviceType;
        default = [ ];
        description = "Devices lethe opens itself (direct mode, without boot.initrd.luks.devices).";
      };
      systemdAgent = boolFrom (luksNames != [ ] || (cfg.unlock.devices == [ ] && othersAsk)) "config.boot.initrd.luks.devices != { } || (config.boot.initrd.lethe.unlock.devices == [ ] && <ZFS or bcachefs asks in the initrd>)" "Answer the systemd initrd's password requests (systemd-cryptsetup for boot.initrd.luks.devices, NixOS's ZFS import for keylocation=prompt datasets when boot.zfs.requestEncryptionCredentials, bcachefs), each passphrase to the request it is typed or named for, instead of opening devices (default: when any of them asks and unlock.devices is empty, or boot.initrd.luks.devices is not empty).";
      console = bool true "Also prompt on /dev/console.";
      maxTries = int types.ints.positive 3 "Wrong passphrases per SSH login.";

      tang = {
        enable = boolFrom (cfg.unlock.tang.secretFiles != { }) "config.boot.initrd.lethe.unlock.tang.secretFiles != { }" ''
          Network-bound unlock: ask the Tang servers a device's clevis binding names for its key,
          racing the SSH and console prompts (the first right answer opens the device; with Tang
          unreachable the prompts work as without it). The bindings are the clevis LUKS2 tokens
          `clevis luks bind -d DEVICE tang '{"url":"http://192.168.1.10:7500"}'` writes (lethe
          reads them from the header) or the JWE files of `secretFiles`. Tang's advertisement must
          be signed by a key pinned in the binding. Needs the initrd's network
          (boot.initrd.lethe.network). In systemdAgent mode Tang answers systemd-cryptsetup's
          request for the device; in direct mode lethe opens it.
        '';
        servers = mkOption {
          type = types.listOf types.str;
          default = [ ];
          example = [ "http://192.168.1.10:7500" ];
          description = ''
            `http://` URLs (IP addresses: the initrd has no resolver) asked instead of the server
            each binding names, e.g. an address the initrd can reach; their answers are still
            checked against the keys pinned in the binding. Empty: the binding's own servers.
          '';
        };
        timeoutSeconds = int (types.ints.between 1 600) 10 "The limit for one request (connect, send, answer) to one Tang server; failed rounds are retried every 1, 2, 4 … up to 30 s.";
        secretFiles = mkOption {
          type = types.attrsOf (types.either types.str types.path);
          default = { };
          example = {
            crypted = "/persist/etc/lethe/crypted.jwe";
          };
          description = ''
            By device name (a boot.initrd.luks.devices name in systemdAgent mode, an
            `unlock.devices` name in direct mode), a clevis JWE file (`clevis encrypt tang
            '{"url":…}' < keyfile > crypted.jwe`, what `boot.initrd.clevis.devices.<name>.secretFile`
            takes) used instead of the device's LUKS2 token, as an absolute path on the machine
            that installs the boot loader (mode 0600). It goes into the initrd through
            boot.initrd.secrets as /etc/lethe/tang/NAME.jwe, never through the Nix store: a Nix
            path or a store path is refused, and so is a boot loader that cannot append initrd
            secrets (secretsInStore does not apply to it).
          '';
        };
      };
    };

    rollback = {
      enable = boolFrom (cfg.rollback.device != null) "config.boot.initrd.lethe.rollback.device != null" ''
        Archive the root and create a fresh one at every boot, before sysroot.mount. A btrfs
        root: the subvolume `subvolume` of `device`. A ZFS root (`fileSystems."/".fsType =
        "zfs"`): the dataset `fileSystems."/".device` (e.g. `rpool/local/root`) is renamed to
        `archive/DATE` with its children and a fresh one is created with its locally set
        properties (or cloned from blankSnapshot), after NixOS's `zfs-import-POOL.service` has
        imported the pool and loaded its key; needs the systemd initrd. Default: when device is
        set; a ZFS root needs `enable = true` (nothing else says that its root is to be
        forgotten at every boot).
      '';
      device = nullStr "btrfs: the block device holding the btrfs filesystem, e.g. /dev/mapper/crypted. Null on a ZFS root (the dataset is fileSystems.\"/\".device).";
      subvolume = mkOption {
        type = types.str;
        default = "root";
        description = "btrfs: the subvolume (relative to the top level) archived and recreated each boot. Not used on a ZFS root.";
      };
      archive = mkOption {
        type = types.str;
        default = if zfsRoot then zfsArchiveDefault else "old_roots";
        defaultText = lib.literalMD ''`"old_roots"`; on a ZFS root, `old_roots` beside the root dataset (`"rpool/local/old_roots"` for `fileSystems."/".device = "rpool/local/root"`)'';
        example = "rpool/local/old_roots";
        description = ''
          Where old roots are kept. btrfs: a directory or subvolume relative to the top level,
          outside subvolume. ZFS: a dataset on the root's pool (`zfs rename` stays within a
          pool), outside the root dataset and apart from every dataset stage 2 mounts; lethe
          creates it when missing (`canmount=off`, `mountpoint=none`) and each old root becomes
          `ARCHIVE/DATE`, unmounted, with its children and snapshots.
        '';
      };
      retentionDays = int types.ints.positive 30 "Archived roots are deleted this many days after they were archived, with their nested subvolumes (btrfs) or their children and snapshots (ZFS: `zfs destroy -r`; snapshots of other tools, like sanoid's, on the current root are never touched).";
      keepAtLeast = int types.ints.u32 5 "The newest N archives are kept whatever their age.";
      blankSnapshot = nullStr ''
        Cloned as the new root instead of creating an empty one. btrfs: a read-only snapshot,
        relative to the top level. ZFS: a snapshot on the root's pool, e.g.
        `rpool/local/root@blank` (the root's own: lethe promotes the fresh clone so the snapshot
        stays with the root) or a snapshot of a dataset outside the root and the archive.
      '';
    };

    secretsInStore = bool false ''
      Accept that the SSH host keys and authorized_keys files are copied into the world-readable
      Nix store. Only needed with a boot loader that cannot append initrd secrets when it is
      installed (`boot.loader.supportsInitrdSecrets` is false; systemd-boot and GRUB can): NixOS
      then puts `boot.initrd.secrets` into the initrd itself, through the store, where every
      local user (and every machine the closure is copied to) can read the host key. Without
      this option the module refuses that combination. With it, give the files as absolute
      paths of the machine that evaluates the configuration.
    '';
  };

  config = lib.mkIf cfg.enable {
    lethe.config = {
      network = if cfg.network.enable then networkJSON else null;
      ssh = if cfg.ssh.enable then sshJSON else null;
      unlock = if cfg.unlock.enable then unlockJSON else null;
      rollback = if !cfg.rollback.enable then null else if zfsRoot then zfsRollbackJSON else rollbackJSON;
    };

    boot.initrd.systemd = {
      storePaths = [ "${config.lethe.package}/bin/lethe" ] ++ lib.optional zfsRollback zfsBin;
      contents = {
        "/etc/lethe/config.json".source = config.lethe.configFile;
        # systemd runs it as …/lethe-generator: lethe answers to that name as the generator.
        "/etc/systemd/system-generators/lethe-generator".source = "${config.lethe.package}/bin/lethe";
      };
      # The text of initrd-glue/systemd/initrd/, verbatim, as packaged units (so NixOS can add
      # drop-ins). No wantedBy: lethe-generator turns them on from the config (network,
      # unlock, rollback sections) and adds what depends on the host.
      packages = map
        (name: pkgs.writeTextDir "lib/systemd/system/${name}" (leth.unitText config.lethe.package "initrd" name))
        (leth.unitNames "initrd");
      # The host keys and key files are copied into place by a unit of NixOS' own
      # (DefaultDependencies=no, like lethe's): the SSH server must wait for it.
      services = lib.mkMerge [
        (lib.mkIf (config.boot.initrd.secrets != { } && lib.elem "lethe-unlock.service" (leth.unitNames "initrd")) {
          lethe-unlock = {
            wants = [ "initrd-nixos-copy-secrets.service" ];
            after = [ "initrd-nixos-copy-secrets.service" ];
          };
        })
        # The rollback runs boot.zfs.package's zfs by its store path, whatever the initrd's PATH.
        (lib.mkIf zfsRollback {
          lethe-rollback.environment.LETHE_ZFS = zfsBin;
        })
      ];
    };

    boot.initrd.secrets =
      let
        # NixOS copies them into the store only from Nix paths (secretsInStore's case).
        source = f: if cfg.secretsInStore && !config.boot.loader.supportsInitrdSecrets && lib.hasPrefix "/" (toString f) then /. + toString f else f;
      in
      lib.listToAttrs (map (k: lib.nameValuePair (hostKeyPath k) (source k)) cfg.ssh.hostKeys)
      // lib.listToAttrs (lib.imap0 (i: f: lib.nameValuePair (keysFilePath i) (source f)) cfg.ssh.authorizedKeysFiles)
      // lib.optionalAttrs tang.enable (lib.mapAttrs' (name: f: lib.nameValuePair (tangFilePath name) f) tang.secretFiles);

    assertions = [
      {
        assertion = config.boot.initrd.systemd.enable;
        message = "boot.initrd.lethe needs the systemd initrd (lethe's units run under systemd in stage 1), and boot.initrd.systemd.enable is false on this host (the default of NixOS before 26.05, or set false): set boot.initrd.systemd.enable = true.";
      }
      {
        assertion = !(cfg.ssh.enable && config.boot.initrd.network.ssh.enable && config.boot.initrd.network.ssh.port == cfg.ssh.port);
        message = "boot.initrd.lethe.ssh.port ${toString cfg.ssh.port} is also boot.initrd.network.ssh.port: remove boot.initrd.network.ssh (lethe is the initrd's SSH server now) or give one of them another port.";
      }
      {
        assertion = !cfg.rollback.enable || zfsRoot || lib.elem cfg.rollback.device openedDevices;
        message = "boot.initrd.lethe.rollback.device ${toString cfg.rollback.device} is neither a LUKS device (/dev/mapper/NAME of boot.initrd.luks.devices or unlock.devices) nor the device of a fileSystems entry: the rollback would wait for a device nothing opens or mounts.";
      }
      {
        assertion = !(zfsRollback && cfg.rollback.device != null);
        message = "boot.initrd.lethe.rollback.device is ${toString cfg.rollback.device}, but the root is ZFS (fileSystems.\"/\".fsType = \"zfs\"): a ZFS root's rollback archives the dataset fileSystems.\"/\".device (${toString zfsDataset}), not a btrfs device. Drop rollback.device (and set rollback.enable = true).";
      }
      {
        assertion = !zfsRollback || lib.hasInfix "/" zfsDataset;
        message = "boot.initrd.lethe.rollback: fileSystems.\"/\".device is ${toString zfsDataset}, the top dataset of its pool, which zfs rename cannot move: put the root in a dataset of its own (like \"rpool/local/root\") to roll it back.";
      }
      {
        assertion = !zfsRollback || zfsPool cfg.rollback.archive == zfsPool zfsDataset;
        message = "boot.initrd.lethe.rollback.archive ${cfg.rollback.archive} is on pool ${zfsPool cfg.rollback.archive}, but the root fileSystems.\"/\".device ${toString zfsDataset} is on pool ${zfsPool zfsDataset}: zfs rename cannot move a dataset to another pool. Give an archive on ${zfsPool zfsDataset}, like \"${zfsArchiveDefault}\".";
      }
      {
        assertion = !(zfsRollback && cfg.rollback.blankSnapshot != null) || zfsPool cfg.rollback.blankSnapshot == zfsPool zfsDataset;
        message = "boot.initrd.lethe.rollback.blankSnapshot ${toString cfg.rollback.blankSnapshot} is not on the root's pool ${zfsPool zfsDataset}: a clone stays in the pool of its snapshot. Give a snapshot like \"${toString zfsDataset}@blank\".";
      }
      {
        assertion = !zfsRollback || zfsInRollbackReach == [ ];
        message = "boot.initrd.lethe.rollback: what fileSystems mounts would be archived at every boot and destroyed after retentionDays:${lines zfsInRollbackReach}\nKeep the root dataset and rollback.archive apart from every dataset stage 2 mounts (the \"erase your darlings\" layout: rpool/local/root, rpool/local/old_roots, rpool/local/nix, rpool/safe/persist).";
      }
      {
        assertion = !cfg.rollback.enable || zfsRoot || inRollbackReach == [ ];
        message = "boot.initrd.lethe.rollback: what fileSystems mounts would be archived at every boot and deleted after retentionDays:${lines inRollbackReach}\nPoint rollback.subvolume at the root's subvolume only, keep rollback.archive apart from every mounted subvolume, and move mounted subvolumes out of both.";
      }
      {
        assertion = relativeFiles == [ ];
        message = "boot.initrd.lethe.ssh: these files are relative paths, but boot.initrd.secrets copies files by absolute path (of the machine that installs the boot loader):${lines relativeFiles}\nGive each as an absolute path, e.g. \"/persist/etc/lethe/initrd_host_ed25519_key\".";
      }
      {
        assertion = !secretsInStore || cfg.secretsInStore;
        message = "boot.initrd.lethe.ssh: the boot loader cannot append initrd secrets (boot.loader.supportsInitrdSecrets is false), so NixOS would copy these files into the world-readable Nix store:${lines (lib.attrValues config.boot.initrd.secrets)}\nUse a boot loader that appends them (boot.loader.systemd-boot.enable or boot.loader.grub.enable), or accept the copy with boot.initrd.lethe.secretsInStore = true.";
      }
      {
        assertion = !(cfg.unlock.enable && cfg.unlock.systemdAgent && cfg.unlock.devices != [ ]);
        message = "boot.initrd.lethe.unlock: systemdAgent and devices exclude each other (two openers would race): list the devices in boot.initrd.luks.devices and keep systemdAgent, or set systemdAgent = false.";
      }
      {
        assertion = !(cfg.unlock.enable && cfg.unlock.systemdAgent && luksNames == [ ] && !othersAsk);
        message = "boot.initrd.lethe.unlock.systemdAgent answers the initrd's password requests, but nothing there asks for one: boot.initrd.luks.devices is empty, no ZFS pool is imported in the initrd with boot.zfs.requestEncryptionCredentials, and no bcachefs filesystem is needed for boot. List the LUKS devices in boot.initrd.luks.devices, or set systemdAgent = false and list them in boot.initrd.lethe.unlock.devices.";
      }
      {
        assertion = !(cfg.unlock.enable && !cfg.unlock.systemdAgent && luksNames != [ ] && cfg.unlock.devices != [ ]);
        message = "boot.initrd.lethe.unlock.devices and boot.initrd.luks.devices both open LUKS devices (two openers would race): set boot.initrd.lethe.unlock.systemdAgent = true and drop unlock.devices, or drop boot.initrd.luks.devices.";
      }
      {
        assertion = !cfg.ssh.enable || cfg.ssh.authorizedKeys != [ ] || cfg.ssh.authorizedKeysFiles != [ ];
        message = "boot.initrd.lethe.ssh: no authorizedKeys and no authorizedKeysFiles, so nobody can log in to unlock (the default is users.users.root.openssh.authorizedKeys.keys, which is empty).";
      }
      {
        assertion = !(cfg.unlock.enable && config.boot.initrd.clevis.enable);
        message = "boot.initrd.clevis.enable and boot.initrd.lethe.unlock both unlock the LUKS devices (clevis' units run curl and jose before systemd-cryptsetup asks, lethe races Tang against its prompts): drop boot.initrd.clevis and give each boot.initrd.clevis.devices.<name>.secretFile as boot.initrd.lethe.unlock.tang.secretFiles.<name> (or nothing, when the device has a clevis LUKS2 token), with boot.initrd.lethe.unlock.tang.enable = true. lethe does not support tpm2 pins.";
      }
      {
        assertion = !tang.enable || tangInStore == [ ];
        message = "boot.initrd.lethe.unlock.tang.secretFiles: these JWE files are Nix paths or store paths, so they would be in the world-readable Nix store (whoever reads them and reaches the Tang server can open the disk):${lines tangInStore}\nGive each as a string naming a file outside the store, e.g. \"/persist/etc/lethe/crypted.jwe\" (mode 0600).";
      }
      {
        assertion = !tang.enable || tangUnknown == [ ];
        message = "boot.initrd.lethe.unlock.tang.secretFiles: these names are not ${if cfg.unlock.systemdAgent then "boot.initrd.luks.devices names (systemdAgent mode)" else "names of boot.initrd.lethe.unlock.devices (direct mode)"}:${lines tangUnknown}\nName each JWE file after the device it opens.";
      }
      {
        assertion = !tang.enable || tangRelative == [ ];
        message = "boot.initrd.lethe.unlock.tang.secretFiles: these files are relative paths, but boot.initrd.secrets copies files by absolute path (of the machine that installs the boot loader):${lines tangRelative}\nGive each as an absolute path, e.g. \"/persist/etc/lethe/crypted.jwe\".";
      }
      {
        assertion = !(tang.enable && tang.secretFiles != { } && !config.boot.loader.supportsInitrdSecrets);
        message = "boot.initrd.lethe.unlock.tang.secretFiles: the boot loader cannot append initrd secrets (boot.loader.supportsInitrdSecrets is false), so NixOS would copy the JWE files into the world-readable Nix store (boot.initrd.lethe.secretsInStore does not cover them): use a boot loader that appends them (boot.loader.systemd-boot.enable or boot.loader.grub.enable), or bind the devices with clevis LUKS2 tokens (clevis luks bind) and drop secretFiles.";
      }
      {
        assertion = sameNames == [ ];
        message = "boot.initrd.lethe.ssh.hostKeys: keys with the same file name, where each goes into the initrd as /etc/lethe/BASENAME:${lines (lib.filter (k: lib.elem (hostKeyPath k) sameNames) cfg.ssh.hostKeys)}\nRename one of them.";
      }
    ];

    warnings =
      map
        (
          k:
          "boot.initrd.lethe.ssh.hostKeys: ${toString k} is also stage 2's SSH host key (services.openssh.hostKeys). The initrd is not encrypted: whoever reads the boot partition gets the system's host key. Give the initrd a key of its own (ssh-keygen -t ed25519 -N \"\" -f /persist/etc/lethe/initrd_host_ed25519_key)."
        )
        sharedHostKeys
      ++ map
        (
          k:
          "boot.initrd.lethe.ssh.hostKeys: ${toString k} is a Nix path, so it is copied into the world-readable Nix store; give it as a string (\"/persist/etc/lethe/initrd_host_ed25519_key\")."
        )
        (lib.filter builtins.isPath cfg.ssh.hostKeys)
      ++ lib.optional (secretsInStore && cfg.secretsInStore) "boot.initrd.lethe.secretsInStore: these files are copied into the world-readable Nix store (the boot loader cannot append initrd secrets):${lines (lib.attrNames config.boot.initrd.secrets)}\nAnyone who can read the store can read them; rotate the host key if the store is shared."
      ++ lib.optional (tang.enable && !cfg.network.enable && !config.boot.initrd.network.enable) "boot.initrd.lethe.unlock.tang: the initrd has no network (boot.initrd.lethe.network.enable and boot.initrd.network.enable are false), so Tang cannot be reached and only the prompts can unlock."
      ++ lib.optional (cfg.network.enable && config.boot.initrd.network.enable) "boot.initrd.network.enable is on as well as boot.initrd.lethe.network: two DHCP clients on one interface fight over it; lethe's network replaces boot.initrd.network (remove it).";
  };
}
