# STAND-IN for the NixOS option declarations that lethe's module or the test hosts use and that
# the vendored nixos-subset neither vendors nor declares in its own stand-in.nix. Everything
# else comes from real NixOS files. With a full nixpkgs (NIXPKGS=…) this file is not loaded.
{ ... }:
{ }
