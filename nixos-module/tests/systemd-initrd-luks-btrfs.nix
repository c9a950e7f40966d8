# NixOS VM test (for `nix flake check` on a machine with nixpkgs and KVM): the systemd initrd
# with lethe's units, on a LUKS2 disk holding btrfs subvolumes root and persist, over two
# boots. Each boot the client unlocks the disk over SSH (`echo -n … | ssh root@server unlock`),
# systemd-cryptsetup opens it, lethe-rollback archives root into old_roots before
# sysroot.mount, and stage 2's lethe-persist bind-mounts the persisted paths: boot 2 finds the
# persisted file, the unpersisted file gone, boot 1's root in old_roots.
# Built like nixpkgs' nixos/tests/systemd-initrd-luks-password.nix and
# systemd-initrd-networkd-ssh.nix (a specialisation booted through systemd-boot).
{ self }:
{ lib, pkgs, ... }:
let
  passphrase = "supersecret";
  keys = ./keys;
in
{
  name = "lethe-systemd-initrd-luks-btrfs";

  nodes = {
    server =
      { config, ... }:
      {
        imports = [ self.nixosModules.default ];
        environment.systemPackages = [
          pkgs.cryptsetup
          pkgs.btrfs-progs
        ];
        boot.loader.systemd-boot.enable = true;
        boot.loader.timeout = 0;
        virtualisation = {
          emptyDiskImages = [ 2048 ];
          useBootLoader = true;
          # The encrypted root holds no store: stage 2 comes from the host's.
          mountHostNixStore = true;
          useEFIBoot = true;
        };

        specialisation.lethe.configuration = {
          boot.initrd.systemd.enable = true;
          # The kernel's names (eth1 is the test network's vlan 1, as in nixpkgs'
          # initrd-network-ssh test), not udev's, in the initrd too.
          boot.kernelParams = [ "net.ifnames=0" ];
          boot.initrd.luks.devices = lib.mkVMOverride { crypted.device = "/dev/vdb"; };
          virtualisation.fileSystems."/" = lib.mkForce {
            device = "/dev/mapper/crypted";
            fsType = "btrfs";
            options = [ "subvol=root" ];
          };
          virtualisation.fileSystems."/persist" = {
            device = "/dev/mapper/crypted";
            fsType = "btrfs";
            options = [ "subvol=persist" ];
            neededForBoot = true;
          };
          boot.initrd.lethe = {
            enable = true;
            network = {
              interface = "eth1";
              dhcp = false;
              static = {
                address = config.networking.primaryIPAddress;
                prefixLength = 24;
              };
            };
            # A store path (the test's key is public anyway); a real host gives a path on
            # its disk, copied in by boot.initrd.secrets when the bootloader is installed.
            ssh.hostKeys = [ "${keys}/initrd_host_ed25519_key" ];
            ssh.authorizedKeys = [ (lib.readFile "${keys}/id_ed25519.pub") ];
            rollback.device = "/dev/mapper/crypted";
          };
          lethe.persistence."/persist".directories = [ "/var/lib/kept" ];
        };
      };

    client =
      { config, ... }:
      {
        environment.etc = {
          knownHosts.text = "server ${lib.readFile "${keys}/initrd_host_ed25519_key.pub"}";
          sshKey = {
            source = "${keys}/id_ed25519";
            mode = "0600";
          };
        };
      };
  };

  testScript = ''
    ssh = "ssh -i /etc/sshKey -o UserKnownHostsFile=/etc/knownHosts -o ConnectTimeout=5 root@server"

    def unlock():
        client.wait_for_unit("network.target")
        with client.nested("waiting for lethe's SSH server in the initrd"):
            retry(lambda _: client.execute("nc -z server 22")[0] == 0)
        client.succeed(f"echo -n ${passphrase} | {ssh} unlock")
        server.wait_for_unit("multi-user.target")

    start_all()
    server.wait_for_unit("multi-user.target")
    server.succeed(
        "echo -n ${passphrase} | cryptsetup luksFormat -q --type luks2 --iter-time=1 /dev/vdb -",
        "echo -n ${passphrase} | cryptsetup open /dev/vdb crypted -",
        "mkfs.btrfs -q /dev/mapper/crypted",
        "mkdir -p /mnt && mount /dev/mapper/crypted /mnt",
        "btrfs subvolume create /mnt/root",
        "btrfs subvolume create /mnt/persist",
        "umount /mnt && cryptsetup close crypted",
        "bootctl set-default nixos-generation-1-specialisation-lethe.conf",
        "sync",
    )
    server.shutdown()

    with subtest("boot 1: unlocked over SSH, rolled back, persisted"):
        server.start()
        unlock()
        server.succeed("findmnt -n -o SOURCE / | grep -F '/dev/mapper/crypted[/root]'")
        # The journal (the initrd's part included) orders: cryptsetup -> rollback -> sysroot.
        journal = server.succeed("journalctl -b -o cat")
        marks = [
            journal.find("Finished systemd-cryptsetup@crypted.service"),
            journal.find("Finished lethe-rollback.service"),
            journal.find("Mounted sysroot.mount"),
        ]
        assert -1 not in marks and marks == sorted(marks), f"journal order: {marks}"
        server.succeed("systemctl is-active lethe-persist.service")
        server.succeed("findmnt /var/lib/kept")
        server.succeed("echo kept > /var/lib/kept/file; echo gone > /unpersisted")

    with subtest("boot 2: the persisted paths are back, the rest forgotten"):
        server.shutdown()
        server.start()
        unlock()
        server.succeed("test \"$(cat /var/lib/kept/file)\" = kept")
        server.fail("test -e /unpersisted")
        server.succeed("mount -o subvolid=5 /dev/mapper/crypted /mnt")
        # Boot 1's root, with the file it wrote, is one of the archives.
        server.succeed("ls /mnt/old_roots/*/unpersisted")
  '';
}
