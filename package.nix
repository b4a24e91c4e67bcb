# go.mod asks for a recent Go; where nixpkgs' default Go is older, pass a
# newer builder: callPackage ./package.nix { buildGoModule = buildGo126Module; }.
{
  lib,
  buildGoModule,
}:

let
  version = "0.1.0";
in
buildGoModule {
  pname = "private-nix-cache";
  inherit version;

  # Only what the Go build reads, so that editing the module or the docs
  # does not rebuild the binary.
  src = lib.fileset.toSource {
    root = ./.;
    fileset = lib.fileset.unions [
      ./go.mod
      ./go.sum
      (lib.fileset.fileFilter (file: file.hasExt "go") ./.)
      # Read by the tests of subPackages, the only ones the build runs.
      (lib.fileset.maybeMissing ./cmd/private-nix-cache/testdata)
    ];
  };

  # NAR hash of `go mod vendor`; kept current by .ci/check-vendor-hash (--fix).
  vendorHash = "sha256-QSX6As7Oa0QWViSGlQmPgztx4dSek9t0llTV5kZSmmQ=";

  subPackages = [ "cmd/private-nix-cache" ];

  # Pure Go throughout (modernc.org/sqlite reads the Nix database).
  env.CGO_ENABLED = 0;

  ldflags = [
    "-s"
    "-w"
    "-X main.version=${version}"
  ];

  meta = {
    description = "Nix binary cache that serves and signs the local store and mirrors upstream caches";
    homepage = "https://github.com/private-nix-cache/private-nix-cache";
    license = lib.licenses.mit;
    mainProgram = "private-nix-cache";
    platforms = lib.platforms.unix;
  };
}
