{
  description = "The two example hosts, as a user's flake: copy it and the host files";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";
    lethe.url = "github:lethe-boot/lethe";
    lethe.inputs.nixpkgs.follows = "nixpkgs";
  };

  outputs =
    { nixpkgs, lethe, ... }:
    {
      nixosConfigurations = {
        forge = nixpkgs.lib.nixosSystem {
          modules = [
            lethe.nixosModules.default
            ./forge.nix
          ];
        };
        single-disk = nixpkgs.lib.nixosSystem {
          modules = [
            lethe.nixosModules.default
            ./single-disk.nix
          ];
        };
      };
    };
}
