# The few parts of nixpkgs that module.nix and package.nix use, stubbed so
# that evaluation needs nixpkgs' lib only. `formats.toml` writes its file
# with builtins.toFile through ./toml.nix instead of building it.
{ lib }:
let
  toml = import ./toml.nix { inherit lib; };

  # A stand-in derivation: what the module reads of a package.
  fakeDerivation = name: attrs: {
    type = "derivation";
    inherit name;
    outPath = "${builtins.storeDir}/00000000000000000000000000000000-${name}";
  } // attrs;

  pkgs = {
    inherit lib;

    formats.toml =
      { }:
      {
        type =
          let
            valueType =
              lib.types.oneOf [
                lib.types.bool
                lib.types.int
                lib.types.float
                lib.types.str
                lib.types.path
                (lib.types.attrsOf valueType)
                (lib.types.listOf valueType)
              ]
              // {
                description = "TOML value";
              };
          in
          lib.types.attrsOf valueType;
        generate = name: value: builtins.toFile name (toml.render value);
      };

    # Keeps its arguments, so that tests can look at what package.nix asks for.
    buildGoModule =
      args:
      fakeDerivation "${args.pname}-${args.version}" {
        inherit (args) pname version meta;
        goModuleArgs = args;
      };

    coreutils = fakeDerivation "coreutils" { };
    findutils = fakeDerivation "findutils" { };

    # Keeps the script's text, so that tests can read it.
    writeShellScript =
      name: text:
      fakeDerivation name { inherit text; }
      // {
        outPath = "${builtins.storeDir}/${builtins.substring 0 32 (builtins.hashString "sha256" text)}-${name}";
      };

    # Writes the build script itself as the output, so that tests can read
    # what the build would run.
    runCommand =
      name: _env: script:
      fakeDerivation name { inherit script; }
      // {
        outPath = "${builtins.storeDir}/${builtins.substring 0 32 (builtins.hashString "sha256" script)}-${name}";
      };

    callPackage = lib.callPackageWith pkgs;
  };
in
pkgs
