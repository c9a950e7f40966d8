# STAND-IN for the few nixpkgs functions lethe's module calls (nixpkgs itself cannot be fetched
# on the machines that run scripts/test.sh). Each returns the store path string the real one
# would return, with a fixed fake hash, so the evaluated config can be inspected (the JSON,
# the unit text) without building anything. On a machine with nixpkgs the flake's checks use
# the real functions.
let
  storePath = name: "/nix/store/00000000000000000000000000000000-${name}";
in
{
  inherit storePath;
  lethe = storePath "lethe-stand-in";
  linux-firmware = storePath "linux-firmware-stand-in";
  zfs = storePath "zfs-stand-in";
  coreutils = storePath "coreutils-stand-in";
  writeText = name: _text: storePath name;
  # Keeps the text, so the fixture tests can compare the stage-2 units with their files.
  writeTextDir = path: text: {
    inherit path text;
    outPath = storePath (baseNameOf path);
  };
  runCommand =
    name: _env: _script:
    storePath name;
  linkFarm = name: _entries: storePath name;
}
