# Helpers shared by the module's files: reading the unit files of initrd-glue/systemd/ (the one
# source of their text, also installed by the dracut module), and turning option values into
# lethe's JSON.
{ lib }:
let
  inherit (lib) filterAttrs mapAttrs;
  words = s: lib.filter (w: w != "") (lib.splitString " " s);
in
rec {
  unitDir = ../initrd-glue/systemd;

  # An option that is null unless set: lethe fills its own defaults, so an unset field is left
  # out of the JSON (`clean` below) and the config reads as it was written.
  opt =
    type: description:
    lib.mkOption {
      type = lib.types.nullOr type;
      default = null;
      inherit description;
    };

  # The unit text of initrd-glue/systemd/STAGE/NAME, with `@lethe@` (the only placeholder,
  # see interfaces) replaced by the package's binary. A missing file stops the evaluation
  # with its path: the module needs the whole repository (the flake's source), not a copy.
  unitText =
    package: stage: name:
    let
      path = unitDir + "/${stage}/${name}";
    in
    if builtins.pathExists path then
      builtins.replaceStrings [ "@lethe@" ] [ "${package}/bin/lethe" ] (builtins.readFile path)
    else
      throw "lethe: ${toString path} is missing: the NixOS module installs the unit files of initrd-glue/systemd/ (evaluate it from the whole lethe repository)";

  # The unit names of initrd-glue/systemd/STAGE (all of them are installed; which ones run is
  # decided by the config: lethe-generator in the initrd, the module's wantedBy in stage 2).
  unitNames =
    stage:
    let
      dir = unitDir + "/${stage}";
    in
    if builtins.pathExists dir then
      lib.sort (a: b: a < b)
        (
          lib.attrNames (filterAttrs (n: t: t == "regular" && lib.hasSuffix ".service" n) (builtins.readDir dir))
        )
    else
      throw "lethe: ${toString dir} is missing: the NixOS module installs the unit files of initrd-glue/systemd/ (evaluate it from the whole lethe repository)";

  # WantedBy= and RequiredBy= of a unit's [Install] section. NixOS does not read [Install] of
  # units it installs from a package, so the module sets the same links from here.
  install =
    text:
    let
      step =
        acc: raw:
        let
          line = lib.strings.trim raw;
        in
        if lib.hasPrefix "[" line then
          acc // { section = line; }
        else if acc.section == "[Install]" && lib.hasPrefix "WantedBy=" line then
          acc // { wantedBy = acc.wantedBy ++ words (lib.removePrefix "WantedBy=" line); }
        else if acc.section == "[Install]" && lib.hasPrefix "RequiredBy=" line then
          acc // { requiredBy = acc.requiredBy ++ words (lib.removePrefix "RequiredBy=" line); }
        else
          acc;
      found = lib.foldl' step
        {
          section = "";
          wantedBy = [ ];
          requiredBy = [ ];
        }
        (lib.splitString "\n" text);
    in
    {
      inherit (found) wantedBy requiredBy;
    };

  # Option values -> lethe's JSON: `null` means "not set, lethe's default" and is left out,
  # recursively; lists and strings are kept as they are (a persistence entry given as a string
  # stays a string, so impermanence's values come out verbatim).
  clean =
    v:
    if lib.isAttrs v then
      mapAttrs (_: clean) (filterAttrs (_: x: x != null) v)
    else if lib.isList v then
      map clean v
    else
      v;

  # systemd-escape --path (utils.escapeSystemdPath in nixpkgs).
  escapeSystemdPath =
    s:
    builtins.replaceStrings [ "/" "-" " " ] [ "-" "\\x2d" "\\x20" ] (
      lib.removePrefix "/" s
    );

  # The btrfs subvolume a fileSystems entry mounts (`subvol=root` or `subvol=/root`; "" the
  # top level), or null: as lethe reads it (config/rollback.rs: subvolume_options).
  subvolOf =
    fs:
    let
      opts = lib.concatMap (lib.splitString ",") fs.options;
      subvols = map (o: normal (lib.removePrefix "subvol=" o)) (lib.filter (lib.hasPrefix "subvol=") opts);
      normal = p: lib.concatStringsSep "/" (lib.filter (c: c != "" && c != ".") (lib.splitString "/" p));
    in
    if subvols == [ ] then null else lib.last subvols;

  # How subvolume path a lies against b, lethe's rule (config/rollback.rs: overlap): "is the
  # same as", "is inside", "contains", or null; the top level ("") overlaps nothing.
  overlap =
    a: b:
    let
      inside = p: d: p == d || lib.hasPrefix "${d}/" p;
    in
    if a == "" || b == "" then null
    else if a == b then "is the same as"
    else if inside a b then "is inside"
    else if inside b a then "contains"
    else null;
}
