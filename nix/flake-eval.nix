# Evaluates ../flake.nix's outputs with a stand-in nixpkgs (nixpkgs' lib and
# ./pkgs-stub.nix), so that eval.sh checks them without fetching nixpkgs.
{ lib }:
let
  flake = import ../flake.nix;
  pkgs = import ./pkgs-stub.nix { inherit lib; };
  nixpkgs = {
    inherit lib;
    legacyPackages = lib.genAttrs [
      "x86_64-linux"
      "aarch64-linux"
      "x86_64-darwin"
      "aarch64-darwin"
    ] (_: pkgs);
  };
  outputs = flake.outputs {
    self = outputs;
    inherit nixpkgs;
  };
  expect = name: got: want: if got == want then name else throw "flake-eval ${name}: got ${builtins.toJSON got}";
in
[
  (expect "flake packages.<system>.default is package.nix" outputs.packages.x86_64-linux.default.name "private-nix-cache-0.1.0")
  (expect "flake overlays.default adds private-nix-cache" (outputs.overlays.default pkgs pkgs).private-nix-cache.name "private-nix-cache-0.1.0")
  (expect "flake nixosModules.default imports module.nix" outputs.nixosModules.default.imports [ ../module.nix ])
]
