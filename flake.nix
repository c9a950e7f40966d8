{
  description = "lethe: one static binary for the early boot of impermanent NixOS hosts (network, SSH unlock, btrfs rollback, persistence, ZFS datasets)";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";

  outputs =
    { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;
      system = "x86_64-linux";
      pkgs = nixpkgs.legacyPackages.${system};

      # The static binary, from nixpkgs' pkgsStatic (musl): its cryptsetup, lvm2
      # (libdevmapper), btrfs-progs (libbtrfsutil), json-c and util-linux are already static
      # builds there, so nothing is built from Debian's sources as initrd-glue/ does on Debian
      # (glibc has no pkgsStatic-like set of static libraries in nixpkgs, and the binary runs
      # in the initrd with no libraries at all). lethe calls no NSS: musl is enough.
      lethe =
        let
          static = pkgs.pkgsStatic;
        in
        static.rustPlatform.buildRustPackage {
          pname = "lethe";
          version = (lib.importTOML ./agent/Cargo.toml).package.version;
          src = lib.fileset.toSource {
            root = ./.;
            fileset = lib.fileset.unions [
              ./Cargo.toml
              ./Cargo.lock
              ./agent
            ];
          };
          cargoLock.lockFile = ./Cargo.lock;
          cargoBuildFlags = [
            "-p"
            "lethe"
          ];
          nativeBuildInputs = [
            pkgs.pkg-config
            static.rustPlatform.bindgenHook
          ];
          buildInputs = with static; [
            cryptsetup
            lvm2
            json-c
            util-linux
            btrfs-progs
            openssl
          ];
          env = {
            PKG_CONFIG_ALL_STATIC = "1";
            # The rollback's clock check: a boot clock earlier than the build is wrong. The
            # commit's date, not stdenv's 1980 default.
            SOURCE_DATE_EPOCH = toString self.lastModified;
          };
          # The tests need root, loop devices, namespaces and QEMU: scripts/test.sh runs them.
          doCheck = false;
          meta = {
            description = "Early-boot agent for impermanent Linux hosts";
            license = lib.licenses.mit;
            mainProgram = "lethe";
            platforms = lib.platforms.linux;
          };
        };

      nixosModule =
        { lib, pkgs, ... }:
        {
          imports = [ ./nixos-module ];
          lethe.package = lib.mkDefault self.packages.${pkgs.stdenv.hostPlatform.system}.lethe;
        };

      example =
        file:
        lib.nixosSystem {
          modules = [
            self.nixosModules.default
            file
          ];
        };

      # nixos-module/tests/eval/run inside a build, against NixOS itself (the nixpkgs input).
      evalTests = pkgs.runCommand "lethe-nixos-module-eval-tests"
        {
          nativeBuildInputs = [
            pkgs.nix
            pkgs.jq
            lethe
          ];
        }
        ''
          # Evaluation only (--store dummy://): nothing is built or copied.
          export HOME=$TMPDIR NIX_STATE_DIR=$TMPDIR/var/nix NIX_LOG_DIR=$TMPDIR/var/log NIX_CONF_DIR=$TMPDIR/etc
          cp -r ${self} src && chmod -R u+w src
          NIXPKGS=${nixpkgs} LETHE_BIN=${lethe}/bin/lethe src/nixos-module/tests/eval/run
          touch $out
        '';

      # The JSON NixOS itself generates for an example equals the eval tests' expected one.
      realJSON =
        name:
        pkgs.runCommand "lethe-json-${name}" { nativeBuildInputs = [ pkgs.jq ]; } ''
          jq -S . ${pkgs.writeText "${name}.json" self.nixosConfigurations.${name}.config.lethe.configJSON} > got
          jq -S . ${./nixos-module/tests/eval/expected}/${name}.json > want
          diff -u want got
          touch $out
        '';
      # issue 14: every firmware file r8169 declares that hardware.firmware holds (as it is,
      # .xz or .zst) is in forge's systemd initrd, which NixOS' makeModulesClosure builds.
      initrdFirmware =
        let
          inherit (self.nixosConfigurations.forge) config;
        in
        pkgs.runCommand "lethe-forge-initrd-firmware"
          {
            nativeBuildInputs = [
              pkgs.kmod
              pkgs.cpio
              pkgs.zstd
              pkgs.xz
            ];
          }
          ''
            kver=$(ls ${config.system.modulesTree}/lib/modules)
            initrd=${config.system.build.initialRamdisk}/${config.system.boot.loader.initrdFile}
            (zstd -dc "$initrd" 2>/dev/null || xz -dc "$initrd" 2>/dev/null || cat "$initrd") | cpio -t 2>/dev/null >listing
            want=0 missing=0
            for fw in $(modinfo -b ${config.system.modulesTree} -k "$kver" -F firmware r8169); do
              ls ${config.hardware.firmware}/lib/firmware/$fw* >/dev/null 2>&1 || continue
              want=$((want + 1))
              grep -q "lib/firmware/$fw" listing || { echo "not in the initrd: $fw"; missing=$((missing + 1)); }
            done
            echo "r8169: $want firmware files in hardware.firmware, $missing of them missing from the initrd"
            [ "$want" -gt 0 ] && [ "$missing" -eq 0 ]
            touch $out
          '';
    in
    {
      packages.${system} = {
        inherit lethe;
        default = lethe;
      };

      nixosModules = {
        default = nixosModule;
        lethe = nixosModule;
        # A drop-in for impermanence's module: declares environment.persistence and lets
        # lethe apply it (replace impermanence.nixosModules.impermanence by this).
        impermanence = {
          imports = [
            nixosModule
            ./nixos-module/environment-persistence.nix
          ];
        };
      };

      nixosConfigurations = {
        forge = example ./nixos-module/examples/forge.nix;
        single-disk = example ./nixos-module/examples/single-disk.nix;
      };

      checks.${system} = {
        inherit lethe;
        eval = evalTests;
        json-forge = realJSON "forge";
        json-single-disk = realJSON "single-disk";
        forge = self.nixosConfigurations.forge.config.system.build.toplevel;
        initrd-firmware = initrdFirmware;
        systemd-initrd-luks-btrfs = pkgs.testers.runNixOSTest (
          import ./nixos-module/tests/systemd-initrd-luks-btrfs.nix { inherit self; }
        );
        zfs-datasets = pkgs.testers.runNixOSTest (
          import ./nixos-module/tests/zfs-datasets.nix { inherit self; }
        );
      };

      formatter.${system} = pkgs.nixpkgs-fmt;

      devShells.${system}.default = pkgs.mkShell {
        inputsFrom = [ lethe ];
        packages = with pkgs; [
          cargo
          rustc
          clippy
          rustfmt
          nixpkgs-fmt
          deadnix
          jq
          qemu
          cryptsetup
          btrfs-progs
          dnsmasq
          openssh
        ];
      };
    };
}
