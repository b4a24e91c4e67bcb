{
  description = "private-nix-cache: serves and signs the local Nix store and mirrors upstream binary caches";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs =
    { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;
      systems = [
        "x86_64-linux"
        "aarch64-linux"
        "x86_64-darwin"
        "aarch64-darwin"
      ];
      forAllSystems = f: lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in
    {
      overlays.default = final: _prev: {
        # go.mod asks for Go 1.26: a nixpkgs without it needs buildGoModule = buildGo126Module.
        private-nix-cache = final.callPackage ./package.nix { };
      };

      packages = forAllSystems (pkgs: {
        default = pkgs.callPackage ./package.nix { };
      });

      nixosModules.default = {
        imports = [ ./module.nix ];
        # The package of this flake, where the system's pkgs has none.
        nixpkgs.overlays = [ self.overlays.default ];
      };
    };
}
