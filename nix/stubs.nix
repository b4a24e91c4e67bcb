# Stub declarations of the NixOS options that module.nix sets, so that the
# module can be evaluated with lib.evalModules and nixpkgs' lib alone. The
# types follow NixOS closely enough to catch a definition of the wrong shape.
{ lib, ... }:
let
  inherit (lib) mkOption types;

  atom = v: builtins.isBool v || builtins.isInt v || builtins.isString v || builtins.isPath v;

  # As NixOS merges unit settings: lists concatenate, scalars must agree.
  unitOption = types.mkOptionType {
    name = "systemd option";
    description = "systemd unit setting (a value or a list of values)";
    check = v: atom v || (builtins.isList v && lib.all atom v);
    merge =
      loc: defs:
      if lib.any (def: builtins.isList def.value) defs then
        lib.concatMap (def: lib.toList def.value) defs
      else
        lib.mergeEqualOption loc defs;
  };

  unitList = mkOption {
    type = types.listOf types.str;
    default = [ ];
  };

  serviceModule = {
    options = {
      description = mkOption {
        type = types.str;
        default = "";
      };
      wants = unitList;
      after = unitList;
      before = unitList;
      requires = unitList;
      wantedBy = unitList;
      environment = mkOption {
        type = types.attrsOf types.str;
        default = { };
      };
      path = mkOption {
        type = types.listOf types.package;
        default = [ ];
      };
      unitConfig = mkOption {
        type = types.attrsOf unitOption;
        default = { };
      };
      serviceConfig = mkOption {
        type = types.attrsOf unitOption;
        default = { };
      };
    };
  };

  pathModule = {
    options = {
      wantedBy = unitList;
      pathConfig = mkOption {
        type = types.attrsOf unitOption;
        default = { };
      };
    };
  };

  userModule = {
    options = {
      isSystemUser = mkOption {
        type = types.bool;
        default = false;
      };
      group = mkOption {
        type = types.str;
        default = "";
      };
      description = mkOption {
        type = types.str;
        default = "";
      };
    };
  };

  nixConfAtom = types.oneOf [
    types.bool
    types.int
    types.str
    types.package
    (types.listOf types.str)
  ];
in
{
  options = {
    assertions = mkOption {
      type = types.listOf types.unspecified;
      default = [ ];
    };
    warnings = mkOption {
      type = types.listOf types.str;
      default = [ ];
    };

    systemd.services = mkOption {
      type = types.attrsOf (types.submodule serviceModule);
      default = { };
    };
    systemd.paths = mkOption {
      type = types.attrsOf (types.submodule pathModule);
      default = { };
    };
    systemd.tmpfiles.rules = mkOption {
      type = types.listOf types.str;
      default = [ ];
    };

    networking.firewall.allowedTCPPorts = mkOption {
      type = types.listOf types.port;
      default = [ ];
    };

    users.users = mkOption {
      type = types.attrsOf (types.submodule userModule);
      default = { };
    };
    users.groups = mkOption {
      type = types.attrsOf (types.submodule { });
      default = { };
    };

    # What the module reads and sets of NixOS's ACME client.
    security.acme.certs = mkOption {
      type = types.attrsOf (
        types.submodule (
          { name, ... }:
          {
            options = {
              directory = mkOption {
                type = types.str;
                default = "/var/lib/acme/${name}";
              };
              group = mkOption {
                type = types.str;
                default = "acme";
              };
              reloadServices = mkOption {
                type = types.listOf types.str;
                default = [ ];
              };
            };
          }
        )
      );
      default = { };
    };

    nix.package = mkOption {
      type = types.package;
      default = {
        type = "derivation";
        name = "nix";
        outPath = "${builtins.storeDir}/00000000000000000000000000000000-nix";
      };
    };
    nix.settings = mkOption {
      type = types.submodule {
        freeformType = types.attrsOf nixConfAtom;
        options = {
          substituters = mkOption {
            type = types.listOf types.str;
            default = [ ];
          };
          trusted-public-keys = mkOption {
            type = types.listOf types.str;
            default = [ ];
          };
        };
      };
      default = { };
    };
  };

  # What NixOS itself puts into nix.conf (nixos/modules/config/nix.nix).
  config.nix.settings = {
    substituters = lib.mkAfter [ "https://cache.nixos.org/" ];
    trusted-public-keys = [ "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=" ];
  };
}
