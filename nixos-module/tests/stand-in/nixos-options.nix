# STAND-IN for NixOS' own option declarations, which are not available on the machines that
# run `scripts/test.sh` (only nixpkgs' `lib/` is vendored there, see ../../../../shared/vendor).
# It declares, with the same names and the same kinds of values, only the NixOS options that
# lethe's module reads or sets and those the example hosts set, so `lib.evalModules` can
# evaluate the real module against them. Where NixOS has a richer type, the type here accepts
# at least what NixOS accepts for the values used. On a machine with nixpkgs, `nix flake check`
# evaluates the module against NixOS itself (checks.*, nixosConfigurations.*): that is the real
# thing this file stands in for.
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkOption types;
  anything = mkOption {
    type = types.anything;
    default = null;
  };
  strList = mkOption {
    type = types.listOf types.str;
    default = [ ];
  };
  # A namespace whose other options exist in NixOS but are of no concern to lethe's module.
  freeform = types.submodule { freeformType = types.attrsOf types.anything; };
  unitOptions = {
    freeformType = types.attrsOf types.anything;
    options = {
      enable = mkOption {
        type = types.bool;
        default = true;
      };
      overrideStrategy = mkOption {
        type = types.str;
        default = "asDropinIfExists";
      };
      after = strList;
      before = strList;
      path = mkOption {
        type = types.listOf types.anything;
        default = [ ];
      };
      requires = strList;
      wants = strList;
      wantedBy = strList;
      requiredBy = strList;
      unitConfig = mkOption {
        type = types.attrsOf types.anything;
        default = { };
      };
      serviceConfig = mkOption {
        type = types.attrsOf types.anything;
        default = { };
      };
    };
  };
  units = mkOption {
    type = types.attrsOf (
      types.submodule {
        options = {
          text = mkOption {
            type = types.nullOr types.str;
            default = null;
          };
          enable = mkOption {
            type = types.bool;
            default = true;
          };
          wantedBy = strList;
          requiredBy = strList;
        };
      }
    );
    default = { };
  };
in
{
  options = {
    assertions = mkOption {
      type = types.listOf types.unspecified;
      default = [ ];
    };
    warnings = strList;

    boot.initrd = {
      systemd = {
        enable = mkOption {
          type = types.bool;
          default = false;
        };
        emergencyAccess = anything;
        units = units;
        services = mkOption {
          type = types.attrsOf (types.submodule unitOptions);
          default = { };
        };
        contents = mkOption {
          type = types.attrsOf (
            types.submodule {
              options = {
                text = mkOption {
                  type = types.nullOr types.str;
                  default = null;
                };
                source = mkOption {
                  type = types.nullOr (types.either types.str types.path);
                  default = null;
                };
              };
            }
          );
          default = { };
        };
        storePaths = mkOption {
          type = types.listOf types.anything;
          default = [ ];
        };
        packages = mkOption {
          type = types.listOf types.anything;
          default = [ ];
        };
      };
      luks.devices = mkOption {
        type = types.attrsOf (
          types.submodule {
            freeformType = types.attrsOf types.anything;
            options.device = mkOption { type = types.str; };
          }
        );
        default = { };
      };
      network = {
        enable = mkOption {
          type = types.bool;
          default = false;
        };
        ssh = {
          enable = mkOption {
            type = types.bool;
            default = false;
          };
          port = mkOption {
            type = types.int;
            default = 22;
          };
          hostKeys = mkOption {
            type = types.listOf (types.either types.str types.path);
            default = [ ];
          };
        };
      };
      availableKernelModules = strList;
      kernelModules = strList;
      supportedFilesystems = mkOption {
        type = types.either (types.listOf types.str) (types.attrsOf types.bool);
        default = [ ];
      };
      secrets = mkOption {
        type = types.attrsOf (types.nullOr (types.either types.str types.path));
        default = { };
      };
    };
    boot.kernelModules = strList;
    boot.kernelParams = strList;
    boot.supportedFilesystems = mkOption {
      type = types.either (types.listOf types.str) (types.attrsOf types.bool);
      default = [ ];
    };
    boot.loader = mkOption {
      type = freeform;
      default = { };
    };
    boot.zfs = {
      extraPools = strList;
      package = mkOption {
        type = types.anything;
        default = pkgs.zfs;
      };
      devNodes = anything;
      forceImportRoot = anything;
    };

    fileSystems = mkOption {
      type = types.attrsOf (
        types.submodule (
          { name, ... }:
          {
            options = {
              mountPoint = mkOption {
                type = types.str;
                default = name;
              };
              device = mkOption {
                type = types.nullOr types.str;
                default = null;
              };
              fsType = mkOption {
                type = types.str;
                default = "auto";
              };
              options = strList;
              neededForBoot = mkOption {
                type = types.bool;
                default = false;
              };
            };
          }
        )
      );
      default = { };
    };
    swapDevices = mkOption {
      type = types.listOf types.anything;
      default = [ ];
    };

    systemd = {
      services = mkOption {
        type = types.attrsOf (types.submodule unitOptions);
        default = { };
      };
      packages = mkOption {
        type = types.listOf types.anything;
        default = [ ];
      };
    };

    environment.etc = mkOption {
      type = types.attrsOf (
        types.submodule {
          options = {
            text = mkOption {
              type = types.nullOr types.str;
              default = null;
            };
            source = mkOption {
              type = types.nullOr (types.either types.str types.path);
              default = null;
            };
            mode = mkOption {
              type = types.str;
              default = "symlink";
            };
          };
        }
      );
      default = { };
    };
    environment.systemPackages = mkOption {
      type = types.listOf types.anything;
      default = [ ];
    };

    users.users = mkOption {
      type = types.attrsOf (
        types.submodule {
          freeformType = types.attrsOf types.anything;
          options.openssh.authorizedKeys = {
            keys = strList;
            keyFiles = mkOption {
              type = types.listOf (types.either types.str types.path);
              default = [ ];
            };
          };
        }
      );
      default = { };
    };

    services = mkOption {
      type = types.submodule {
        freeformType = types.attrsOf types.anything;
        options.openssh.hostKeys = mkOption {
          type = types.listOf (types.attrsOf types.anything);
          default = [
            {
              type = "ed25519";
              path = "/etc/ssh/ssh_host_ed25519_key";
            }
          ];
        };
      };
      default = { };
    };

    hardware = {
      firmware = mkOption {
        type = types.listOf types.anything;
        default = [ ];
      };
      enableRedistributableFirmware = mkOption {
        type = types.bool;
        default = false;
      };
      firmwareCompression = mkOption {
        type = types.enum [
          "xz"
          "zstd"
          "none"
        ];
        default = "zstd";
      };
      cpu = mkOption {
        type = freeform;
        default = { };
      };
    };

    networking = mkOption {
      type = freeform;
      default = { };
    };
    nixpkgs = mkOption {
      type = freeform;
      default = { };
    };
    time = mkOption {
      type = freeform;
      default = { };
    };
    system.stateVersion = mkOption {
      type = types.str;
      default = "26.05";
    };
  };

  # NixOS: enableRedistributableFirmware adds linux-firmware (among others) to hardware.firmware.
  # What NixOS' own modules define that lethe's module reads.
  config = {
    hardware.firmware = lib.mkIf config.hardware.enableRedistributableFirmware [
      pkgs.linux-firmware
    ];
    users.users.root = { };
  };
}
