# boot.initrd.lethe: lethe in NixOS' systemd initrd. The network, the SSH server and console
# prompt that answer systemd-cryptsetup (or open LUKS themselves), and the btrfs rollback before
# sysroot.mount. Options are the fields of the JSON reference (camelCase, same defaults); the
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
  nicDrivers = import ./nic-drivers.nix;

  int = min: max: def: description:
    mkOption {
      type = types.ints.between min max;
      default = def;
      inherit description;
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

  staticType = types.submodule {
    options = {
      address = mkOption {
        type = types.str;
        example = "192.168.1.20";
        description = "The IPv4 address.";
      };
      prefixLength = int 1 32 24 "The prefix length of the address.";
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
  unlockJSON = {
    inherit (cfg.unlock)
      devices
      systemdAgent
      console
      maxTries
      ;
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
  };

  fileSystems = lib.attrValues config.fileSystems;
  openedDevices =
    map (n: "/dev/mapper/${n}") (luksNames ++ map (d: d.name) cfg.unlock.devices)
    ++ lib.filter (d: d != null) (map (fs: fs.device) fileSystems);
  persistedSubvolume = lib.findFirst
    (
      fs:
      fs.mountPoint != "/"
      && fs.device == cfg.rollback.device
      && leth.subvolOf fs == lib.removePrefix "/" cfg.rollback.subvolume
    )
    null
    fileSystems;
  stage2HostKeys = map (k: toString k.path) config.services.openssh.hostKeys;
  sharedHostKeys = lib.filter (k: lib.elem (toString k) stage2HostKeys) cfg.ssh.hostKeys;
  hostKeyNames = map hostKeyPath cfg.ssh.hostKeys;
in
{
  options.boot.initrd.lethe = {
    enable = lib.mkEnableOption ''
      lethe in the systemd initrd: the network, SSH unlock (answering systemd-cryptsetup or
      opening LUKS itself) and the btrfs rollback before sysroot.mount. It replaces
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
      linkTimeoutSeconds = int 1 3600 30 "How long to wait for the interface and its carrier.";
      dhcpTimeoutSeconds = int 1 86400 30 "With static: how long DHCP is tried before it is applied.";
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
          OpenSSH private host keys (ed25519 or ecdsa, unencrypted, mode 0600), as paths on the
          machine that installs the bootloader: they go into the initrd through
          boot.initrd.secrets as /etc/lethe/BASENAME (the config names those paths), never
          through the Nix store. Use a key of its own, not stage 2's host key.
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
        description = "Files of such lines, copied in through boot.initrd.secrets (bad lines skipped with a warning).";
      };
      maxAuthTries = int 1 100 6 "Authentication attempts per connection.";
      loginGraceSeconds = int 1 3600 120 "Time to log in.";
    };

    unlock = {
      enable = boolFrom (luksNames != [ ] || cfg.unlock.devices != [ ]) "config.boot.initrd.luks.devices != { } || config.boot.initrd.lethe.unlock.devices != [ ]" "Ask for the LUKS passphrases over SSH and on the console (default: when there are LUKS devices).";
      devices = mkOption {
        type = types.listOf deviceType;
        default = [ ];
        description = "Devices lethe opens itself (direct mode, without boot.initrd.luks.devices).";
      };
      systemdAgent = boolFrom (luksNames != [ ]) "config.boot.initrd.luks.devices != { }" "Answer systemd-cryptsetup's password requests for boot.initrd.luks.devices instead of opening devices (default: when boot.initrd.luks.devices is not empty).";
      console = bool true "Also prompt on /dev/console.";
      maxTries = int 1 100 3 "Wrong passphrases per SSH login.";
    };

    rollback = {
      enable = boolFrom (cfg.rollback.device != null) "config.boot.initrd.lethe.rollback.device != null" "Archive the btrfs root and create a fresh one at every boot (default: when device is set).";
      device = nullStr "The block device holding the btrfs filesystem, e.g. /dev/mapper/crypted.";
      subvolume = mkOption {
        type = types.str;
        default = "root";
        description = "The subvolume (relative to the top level) archived and recreated each boot.";
      };
      archive = mkOption {
        type = types.str;
        default = "old_roots";
        description = "Where old roots are kept; outside subvolume.";
      };
      retentionDays = int 1 4294967295 30 "Archived roots older than this are deleted, nested subvolumes included.";
      keepAtLeast = int 0 10000 5 "The newest N archives are kept whatever their age.";
      blankSnapshot = nullStr "A read-only snapshot cloned as the new root instead of an empty one.";
    };
  };

  config = lib.mkIf cfg.enable {
    lethe.config = {
      network = if cfg.network.enable then networkJSON else null;
      ssh = if cfg.ssh.enable then sshJSON else null;
      unlock = if cfg.unlock.enable then unlockJSON else null;
      rollback = if cfg.rollback.enable then rollbackJSON else null;
    };

    boot.initrd.systemd = {
      storePaths = [ "${config.lethe.package}/bin/lethe" ];
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
      services = lib.mkIf (config.boot.initrd.secrets != { } && lib.elem "lethe-unlock.service" (leth.unitNames "initrd")) {
        lethe-unlock = {
          wants = [ "initrd-nixos-copy-secrets.service" ];
          after = [ "initrd-nixos-copy-secrets.service" ];
        };
      };
    };

    boot.initrd.secrets =
      lib.listToAttrs (map (k: lib.nameValuePair (hostKeyPath k) k) cfg.ssh.hostKeys)
      // lib.listToAttrs (lib.imap0 (i: f: lib.nameValuePair (keysFilePath i) f) cfg.ssh.authorizedKeysFiles);

    assertions = [
      {
        assertion = config.boot.initrd.systemd.enable;
        message = "boot.initrd.lethe needs the systemd initrd: set boot.initrd.systemd.enable = true (lethe's units run under systemd in stage 1).";
      }
      {
        assertion = !(cfg.ssh.enable && config.boot.initrd.network.ssh.enable && config.boot.initrd.network.ssh.port == cfg.ssh.port);
        message = "boot.initrd.lethe.ssh.port ${toString cfg.ssh.port} is also boot.initrd.network.ssh.port: remove boot.initrd.network.ssh (lethe is the initrd's SSH server now) or give one of them another port.";
      }
      {
        assertion = !cfg.rollback.enable || lib.elem cfg.rollback.device openedDevices;
        message = "boot.initrd.lethe.rollback.device ${toString cfg.rollback.device} is neither a LUKS device (/dev/mapper/NAME of boot.initrd.luks.devices or unlock.devices) nor the device of a fileSystems entry: the rollback would wait for a device nothing opens or mounts.";
      }
      {
        assertion = !cfg.rollback.enable || persistedSubvolume == null;
        message = "boot.initrd.lethe.rollback.subvolume \"${cfg.rollback.subvolume}\" is mounted at ${if persistedSubvolume == null then "" else persistedSubvolume.mountPoint} (fileSystems.\"${if persistedSubvolume == null then "" else persistedSubvolume.mountPoint}\" has subvol=${cfg.rollback.subvolume}): the rollback would archive and empty it at every boot. Point rollback.subvolume at the root's subvolume.";
      }
      {
        assertion = !(cfg.unlock.enable && cfg.unlock.systemdAgent && cfg.unlock.devices != [ ]);
        message = "boot.initrd.lethe.unlock: systemdAgent and devices exclude each other (two openers would race): list the devices in boot.initrd.luks.devices and keep systemdAgent, or set systemdAgent = false.";
      }
      {
        assertion = !(cfg.unlock.enable && cfg.unlock.systemdAgent && luksNames == [ ]);
        message = "boot.initrd.lethe.unlock.systemdAgent answers systemd-cryptsetup's password requests, but boot.initrd.luks.devices is empty: list the devices there, or set systemdAgent = false and list them in boot.initrd.lethe.unlock.devices.";
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
        assertion = lib.length (lib.unique hostKeyNames) == lib.length hostKeyNames;
        message = "boot.initrd.lethe.ssh.hostKeys: two keys have the same file name (${lib.concatStringsSep ", " hostKeyNames}): each goes into the initrd as /etc/lethe/BASENAME.";
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
      ++ lib.optional (cfg.network.enable && config.boot.initrd.network.enable) "boot.initrd.network.enable is on as well as boot.initrd.lethe.network: two DHCP clients on one interface fight over it; lethe's network replaces boot.initrd.network (remove it).";
  };
}
