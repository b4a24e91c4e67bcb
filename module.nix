# NixOS module for private-nix-cache: a signing, mirroring Nix binary cache
# (`services.private-nix-cache`) and the client side that points a machine's
# substituters at it (`services.private-nix-cache.client`).
{
  config,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib)
    literalExpression
    mkDefault
    mkEnableOption
    mkIf
    mkOption
    optional
    optionalAttrs
    optionals
    types
    ;

  cfg = config.services.private-nix-cache;
  tlsCfg = cfg.tls;
  clientCfg = cfg.client;
  pushCfg = clientCfg.push;

  settingsFormat = pkgs.formats.toml { };
  renderedConfig = settingsFormat.generate "private-nix-cache-unchecked.toml" cfg.settings;
  # The binary itself checks the file at build time: a bad key or value
  # fails the system build, not the service start.
  configFile = pkgs.runCommand "private-nix-cache.toml" { } ''
    ${lib.getExe cfg.package} check-config ${renderedConfig}
    cp ${renderedConfig} $out
  '';

  name = "private-nix-cache";
  cacheNixosOrgKey = "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=";

  # Secrets are named by plain strings (say /run/secrets/… from sops-nix),
  # handed to the unit with LoadCredential= and read by the service from
  # $CREDENTIALS_DIRECTORY, which is this path for a system service.
  credentialsDir = "/run/credentials/${name}.service";
  credentialPath = credential: "${credentialsDir}/${credential}";

  # A string, not `types.path`: a Nix path literal such as ./key would be
  # copied into the world-readable store. Path literals fail this type.
  secretPath =
    types.addCheck types.str (lib.hasPrefix "/")
    // {
      name = "secretPath";
      description = "absolute path of a secret file as a string (not a Nix path literal, which would copy the secret into the world-readable Nix store)";
    };
  inStore = path: lib.hasPrefix "${builtins.storeDir}/" path || builtins.hasContext path;

  # A certificate of security.acme (NixOS's own ACME client) is read in
  # place, like a static one.
  acmeHost = tlsCfg.useACMEHost;
  acmeCert = config.security.acme.certs.${acmeHost};
  certFile = if acmeHost != null then "${acmeCert.directory}/fullchain.pem" else tlsCfg.certFile;
  keyFile = if acmeHost != null then "${acmeCert.directory}/key.pem" else tlsCfg.keyFile;
  static = certFile != null || keyFile != null;
  acme = tlsCfg.enable && !static;
  dnsProvider = if acme then tlsCfg.dnsProvider else null;

  # Every secret the unit loads: credential name and source path.
  secrets = lib.filter (s: s.path != null) (
    [
      {
        credential = "secret-key";
        path = cfg.secretKeyPath;
      }
    ]
    ++ optionals (dnsProvider == "cloudflare") [
      {
        credential = "dns-api-token";
        path = cfg.apiTokenPath;
      }
    ]
    ++ optionals (dnsProvider == "rfc2136") [
      {
        credential = "rfc2136-key";
        path = tlsCfg.rfc2136.keyPath;
      }
    ]
    ++ lib.imap0 (i: path: {
      credential = signKeyCredential i;
      inherit path;
    }) cfg.signKeyPaths
    ++ lib.imap0 (i: upstream: {
      credential = upstreamCredential i;
      path = upstream.tokenFile;
    }) cfg.upstreams
    ++ lib.imap0 (i: path: {
      credential = tokenCredential i;
      inherit path;
    }) cfg.tokenFiles
  );
  upstreamCredential = i: "upstream-${toString i}-token";
  signKeyCredential = i: "sign-key-${toString i}";
  tokenCredential = i: "token-${toString i}";

  # Every path option, set or not, so that a store path is refused even
  # where the current settings would not load it.
  secretOptions = [
    {
      option = "secretKeyPath";
      path = cfg.secretKeyPath;
    }
    {
      option = "apiTokenPath";
      path = cfg.apiTokenPath;
    }
    {
      option = "tls.rfc2136.keyPath";
      path = tlsCfg.rfc2136.keyPath;
    }
    {
      option = "tls.certFile";
      path = tlsCfg.certFile;
    }
    {
      option = "tls.keyFile";
      path = tlsCfg.keyFile;
    }
  ]
  ++ lib.imap0 (i: upstream: {
    option = "upstreams.${toString i}.tokenFile";
    path = upstream.tokenFile;
  }) cfg.upstreams
  ++ lib.imap0 (i: path: {
    option = "signKeyPaths.${toString i}";
    inherit path;
  }) cfg.signKeyPaths
  ++ lib.imap0 (i: path: {
    option = "tokenFiles.${toString i}";
    inherit path;
  }) cfg.tokenFiles;

  optionalSetting = key: value: optionalAttrs (value != null) { ${key} = value; };

  # The client's uploads: the post-build hook only queues the built paths
  # in pushSpool; the unit pushUnit copies them with nix copy --to. Both
  # scripts are the files the end-to-end test runs (nix/push-*.sh), given
  # their settings in the environment.
  pushUnit = "${name}-push";
  pushSpool = "/var/lib/${pushUnit}";
  pushUrl =
    if lib.hasInfix "compression=" pushCfg.url then
      pushCfg.url
    else
      pushCfg.url + (if lib.hasInfix "?" pushCfg.url then "&" else "?") + "compression=zstd";
  pushHook = pkgs.writeShellScript "${pushUnit}-hook" ''
    export PATH=${lib.makeBinPath [ pkgs.coreutils ]}
    export PUSH_SPOOL=${lib.escapeShellArg pushSpool}
    ${builtins.readFile ./nix/push-hook.sh}
  '';
  pushUploader = pkgs.writeShellScript "${pushUnit}-upload" (builtins.readFile ./nix/push-queue.sh);

  # An IPv6 address needs brackets before ":port".
  listenHost =
    if lib.hasInfix ":" cfg.listen && !lib.hasPrefix "[" cfg.listen then "[${cfg.listen}]" else cfg.listen;

  upstreamTable =
    i: upstream:
    {
      inherit (upstream) url;
      public-keys = upstream.publicKeys;
    }
    // optionalSetting "priority" upstream.priority
    // optionalAttrs (upstream.tokenFile != null) { token-file = credentialPath (upstreamCredential i); };

  # The named options, as TOML keys of the binary; `settings` can override each.
  derivedSettings = {
    listen = "${listenHost}:${toString cfg.port}";
    cache-dir = cfg.cacheDir;
    state-dir = "/var/lib/${name}";
    upstream = lib.imap0 upstreamTable cfg.upstreams;
  }
  // optionalAttrs (signKeyFiles != [ ]) { secret-key-file = signKeyFiles; }
  // optionalAttrs (cfg.tokenFiles != [ ]) {
    token-file = lib.imap0 (i: _: credentialPath (tokenCredential i)) cfg.tokenFiles;
  }
  // optionalAttrs cfg.private { private = true; }
  // optionalSetting "metrics-listen" cfg.metricsListen
  // optionalSetting "max-size" cfg.maxCacheSize
  // optionalAttrs (cfg.push.trustedPublicKeys != [ ]) { push-trusted-public-key = cfg.push.trustedPublicKeys; }
  // optionalSetting "push-max-size" cfg.push.maxSize
  // optionalSetting "push-max-age" cfg.push.maxAge
  // optionalSetting "max-upload-size" cfg.maxUploadSize
  // optionalSetting "min-free" cfg.minFree
  // optionalSetting "scrub-interval" cfg.scrubInterval
  // optionalSetting "memory-limit" cfg.memoryLimit
  // optionalAttrs (tlsCfg.enable && static) {
    # Read in place, so that a renewal is picked up without a restart.
    tls-cert-file = certFile;
    tls-key-file = keyFile;
  }
  // optionalAttrs acme (
    {
      tls-domain = optional (cfg.hostName != null) cfg.hostName;
    }
    // optionalSetting "dns-provider" tlsCfg.dnsProvider
    // optionalSetting "acme-email" tlsCfg.acmeEmail
    // optionalSetting "acme-ca" tlsCfg.acmeCA
  )
  // optionalAttrs (dnsProvider == "cloudflare" && cfg.apiTokenPath != null) {
    dns-api-token-file = credentialPath "dns-api-token";
  }
  // optionalAttrs (dnsProvider == "rfc2136") (
    optionalSetting "rfc2136-server" tlsCfg.rfc2136.server
    // optionalSetting "rfc2136-key-name" tlsCfg.rfc2136.keyName
    // {
      rfc2136-key-alg = tlsCfg.rfc2136.keyAlg;
    }
    // optionalAttrs (tlsCfg.rfc2136.keyPath != null) { rfc2136-key-file = credentialPath "rfc2136-key"; }
  );

  signKeyFiles =
    optional (cfg.secretKeyPath != null) (credentialPath "secret-key")
    ++ lib.imap0 (i: _: credentialPath (signKeyCredential i)) cfg.signKeyPaths;

  # Port of a "host:port" or ":port" listen address, or null.
  portOf =
    address:
    let
      m = builtins.match ".*:([0-9]+)" address;
    in
    if m == null then null else lib.toInt (builtins.head m);
  listenPorts = lib.filter (p: p != null) [
    (portOf (cfg.settings.listen or ""))
    (portOf (cfg.settings.http-redirect-listen or ""))
  ];
  # The metrics listener is for a scraper on a trusted network: it needs
  # the capability below 1024 too, but the firewall never opens it.
  metricsPort = portOf (cfg.settings.metrics-listen or "");
  bindsPrivilegedPort = lib.any (p: p < 1024) (listenPorts ++ optional (metricsPort != null) metricsPort);

  # Directories under /var/cache and /var/lib are made by systemd for the
  # unit; others (a larger disk, say) by tmpfiles, then opened for writing.
  cacheDir = cfg.settings.cache-dir;
  stateDir = cfg.settings.state-dir;
  # gc and verify reach the running server there; "" or unset: state-dir/admin.sock.
  adminSocket = if (cfg.settings.admin-socket or "") == "" then null else cfg.settings.admin-socket;
  isManaged = base: dir: lib.hasPrefix "${base}/" dir;
  acmeUnits = optional (tlsCfg.enable && acmeHost != null) "acme-${acmeHost}.service";
  ownDirs = optional (!isManaged "/var/cache" cacheDir) cacheDir ++ optional (!isManaged "/var/lib" stateDir) stateDir;

  upstreamModule = {
    options = {
      url = mkOption {
        type = types.str;
        example = "https://nix-community.cachix.org";
        description = "Base URL of the upstream binary cache.";
      };
      publicKeys = mkOption {
        type = types.listOf types.str;
        default = [ ];
        example = [ "nix-community.cachix.org-1:mB9FSh9qf2dCimDSUo8Zy7bkq5CX+/rkCWyvRCYg3Fs=" ];
        description = "Keys whose signatures are trusted on narinfos of this upstream.";
      };
      tokenFile = mkOption {
        type = types.nullOr secretPath;
        default = null;
        example = "/run/secrets/cachix-token";
        description = ''
          File holding a token sent as `Authorization: Bearer` (a private Cachix cache).
          Loaded with systemd's `LoadCredential=`; never copied into the Nix store.
        '';
      };
      priority = mkOption {
        type = types.nullOr types.int;
        default = null;
        example = 40;
        description = "Priority of this upstream; null takes the one its `nix-cache-info` announces.";
      };
    };
  };
in
{
  options.services.private-nix-cache = {
    enable = mkEnableOption "private-nix-cache, a signing and mirroring Nix binary cache server";

    # pkgs.private-nix-cache where the overlay provides it, else this
    # checkout's package.nix.
    package = lib.mkPackageOption (
      pkgs // { private-nix-cache = pkgs.private-nix-cache or (pkgs.callPackage ./package.nix { }); }
    ) "private-nix-cache" { };

    hostName = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "cache.example.org";
      description = "Public DNS name of the cache; the certificate is issued for it when `tls.enable` is set.";
    };

    listen = mkOption {
      type = types.str;
      default = "[::]";
      example = "127.0.0.1";
      description = "Address to listen on; `[::]` takes IPv4 and IPv6.";
    };

    port = mkOption {
      type = types.port;
      default = 5000;
      example = 443;
      description = "TCP port to listen on. Ports below 1024 grant the unit `CAP_NET_BIND_SERVICE` and nothing else.";
    };

    openFirewall = mkOption {
      type = types.bool;
      default = false;
      description = "Open `port` (and the port of `settings.http-redirect-listen`, if any) in the firewall.";
    };

    secretKeyPath = mkOption {
      type = types.nullOr secretPath;
      default = null;
      example = "/run/secrets/nix-serve-key";
      description = ''
        Nix signing key (`nix-store --generate-binary-cache-key`), as a path string
        such as a sops-nix secret. Loaded with systemd's `LoadCredential=`, so it may
        stay readable by root only; never copied into the Nix store.
        Without it, paths are served with the signatures they already have.
      '';
    };

    signKeyPaths = mkOption {
      type = types.listOf secretPath;
      default = [ ];
      example = [ "/run/secrets/nix-serve-key-2" ];
      description = ''
        More signing keys, each signing every narinfo beside `secretKeyPath`:
        for a key rotation, add the new key here, roll its public key out to the
        clients, then make it `secretKeyPath` and drop the old one. Loaded with
        `LoadCredential=`; never copied into the Nix store.
      '';
    };

    watchdogSec = mkOption {
      type = types.int;
      default = 60;
      description = "systemd restarts the service when it stops answering the watchdog for this many seconds; 0 turns the watchdog off.";
    };

    apiTokenPath = mkOption {
      type = types.nullOr secretPath;
      default = null;
      example = "/run/secrets/cloudflare-token";
      description = ''
        File holding the DNS provider's API token, used when `tls.dnsProvider` is
        `"cloudflare"`. Loaded with `LoadCredential=`; never copied into the Nix store.
      '';
    };

    tokenFiles = mkOption {
      type = types.listOf secretPath;
      default = [ ];
      example = [ "/run/secrets/private-nix-cache-tokens" ];
      description = ''
        Files of the tokens clients present, one a line: `NAME SCOPES SECRET`,
        scopes among `read`, `push`, `sign` and `metrics` (see the README's
        Access and Pushing sections). With any token, `/metrics` needs a `metrics` token (or moves
        to `metricsListen`). Loaded with `LoadCredential=`; never copied into
        the Nix store.
      '';
    };

    private = mkOption {
      type = types.bool;
      default = false;
      description = ''
        Reads need a token with the `read` (or `push`) scope from `tokenFiles`;
        `/nix-cache-info` stays open. Clients then need a netrc
        (`client.netrcFile`).
      '';
    };

    push = {
      trustedPublicKeys = mkOption {
        type = types.listOf types.str;
        default = [ ];
        example = [ "builder-1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" ];
        description = ''
          Keys an uploaded narinfo may be signed by to be taken from a `push`
          token (`push-trusted-public-key`); the server's own keys are
          trusted too. An unsigned upload needs a token of the `sign` scope.
        '';
      };
      maxSize = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "200GiB";
        description = "Bound of all pushed NARs together (`push-max-size`); an upload past it is refused. Null: no bound.";
      };
      maxAge = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "720h";
        description = "Pushed paths are removed this long after they were pushed (`push-max-age`, a Go duration such as `720h`). Null: kept forever.";
      };
    };

    maxUploadSize = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "8GiB";
      description = "Largest uploaded NAR, compressed or not (`max-upload-size`). Null: the binary's default, 32GiB.";
    };

    metricsListen = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "127.0.0.1:9100";
      description = ''
        Address (host:port) serving `/metrics` alone, over plain HTTP and
        without a token; the main listener then answers 404 for it. Open to
        whoever reaches it: `openFirewall` never opens it.
      '';
    };

    upstreams = mkOption {
      type = types.listOf (types.submodule upstreamModule);
      default = [
        {
          url = "https://cache.nixos.org";
          publicKeys = [ cacheNixosOrgKey ];
        }
      ];
      defaultText = literalExpression ''
        [ { url = "https://cache.nixos.org"; publicKeys = [ "${cacheNixosOrgKey}" ]; } ]
      '';
      description = "Upstream caches to mirror, tried in this order. An empty list serves the local store only.";
    };

    maxCacheSize = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "50GiB";
      description = "Size limit of the on-disk cache of upstream NARs (least recently used go first); null for no limit.";
    };

    minFree = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "20GiB";
      description = ''
        Free space kept on the file system of `cacheDir`, evicting least
        recently used NARs: a size or a percentage (`"5%"`). null keeps the
        binary's default, 5%; `"0"` keeps none.
      '';
    };

    memoryLimit = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "512MiB";
      description = ''
        Soft limit of the server's memory (Go's runtime limit): near it the
        garbage collector runs more often instead of letting the heap grow
        to twice what is live; nothing fails at it. null keeps the binary's
        default, 160MiB; `"0"` leaves Go's own behaviour.
      '';
    };

    scrubInterval = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "72h";
      description = ''
        One pass re-hashing every cached NAR is spread over this long
        (`settings.scrub-rate` caps its bytes per second, 20MB by default);
        bad NARs are removed and fetched again when asked. null keeps the
        binary's default, a week (`"168h"`); `"0"` turns the scrub off.
      '';
    };

    cacheDir = mkOption {
      type = types.str;
      default = "/var/cache/${name}";
      example = "/srv/nix-cache";
      description = ''
        Where mirrored NARs and their index live. Below /var/cache systemd
        creates it (`CacheDirectory=`); elsewhere tmpfiles does.
      '';
    };

    tls = {
      enable = mkEnableOption "HTTPS, with a certificate from ACME (DNS-01) or from `certFile`/`keyFile`";

      acmeEmail = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "admin@example.org";
        description = "Contact address for the ACME account.";
      };

      acmeCA = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "https://acme-staging-v02.api.letsencrypt.org/directory";
        description = "ACME directory URL; null for Let's Encrypt production.";
      };

      dnsProvider = mkOption {
        type = types.nullOr (
          types.enum [
            "cloudflare"
            "rfc2136"
          ]
        );
        default = null;
        description = ''
          Where the DNS-01 challenge records are written: `"cloudflare"` (token in
          `apiTokenPath`) or `"rfc2136"` (dynamic updates, see `tls.rfc2136`).
        '';
      };

      rfc2136 = {
        server = mkOption {
          type = types.nullOr types.str;
          default = null;
          example = "ns1.example.org:53";
          description = "DNS server (host:port) accepting dynamic updates for the zone.";
        };
        keyName = mkOption {
          type = types.nullOr types.str;
          default = null;
          example = "acme-update.";
          description = "Name of the TSIG key.";
        };
        keyAlg = mkOption {
          type = types.str;
          default = "hmac-sha256";
          description = "Algorithm of the TSIG key.";
        };
        keyPath = mkOption {
          type = types.nullOr secretPath;
          default = null;
          example = "/run/secrets/tsig-key";
          description = "File holding the base64 TSIG secret. Loaded with `LoadCredential=`; never copied into the Nix store.";
        };
      };

      useACMEHost = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "cache.example.org";
        description = ''
          Serve the certificate NixOS's `security.acme.certs.<name>` obtains, read
          in place through the certificate's group; renewals are picked up
          without a restart (the certificate is reloaded when its files change).
        '';
      };

      certFile = mkOption {
        type = types.nullOr secretPath;
        default = null;
        example = "/etc/ssl/cache.example.org/fullchain.pem";
        description = ''
          Static certificate instead of ACME, read in place by the service user
          (grant it read access, for instance through `tls.group`): a renewed file
          is picked up without a restart.
        '';
      };

      keyFile = mkOption {
        type = types.nullOr secretPath;
        default = null;
        example = "/etc/ssl/cache.example.org/key.pem";
        description = "Private key of `certFile`, read in place like it.";
      };

      group = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "ssl-cert";
        description = "Extra group of the service, to read `certFile` and `keyFile` (`useACMEHost` adds its certificate's group by itself).";
      };
    };

    configFile = mkOption {
      type = types.package;
      readOnly = true;
      default = configFile;
      defaultText = literalExpression "the TOML of settings, checked by private-nix-cache check-config";
      description = "The configuration file the service runs with, built from `settings` and checked by the binary at build time.";
    };

    settings = mkOption {
      type = types.submodule { freeformType = settingsFormat.type; };
      default = { };
      example = literalExpression ''
        {
          log-level = "debug";
          negative-ttl = "1m";
          http-redirect-listen = "[::]:80";
        }
      '';
      description = ''
        Configuration file of `private-nix-cache serve`; keys are its flag names.
        The options above fill it (each can be overridden here); unknown keys are
        errors. Secrets belong in the path options above, which go through
        `LoadCredential=`: a file named here must be readable by the service user.
      '';
    };

    client = {
      enable = mkEnableOption "using a private-nix-cache server as this machine's first substituter";

      url = mkOption {
        type = types.str;
        example = "https://cache.example.org";
        description = "URL of the private-nix-cache server.";
      };

      publicKey = mkOption {
        type = types.strMatching "[^:]+:[A-Za-z0-9+/]{43}=";
        example = "cache.example.org-1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
        description = "Public half of the server's `secretKeyPath` key.";
      };

      keepCacheNixosOrg = mkOption {
        type = types.bool;
        default = true;
        description = ''
          Keep the other substituters (https://cache.nixos.org among them) after
          `url`. Only when false is the list forced to `url` alone.
        '';
      };

      netrcFile = mkOption {
        type = types.nullOr secretPath;
        default = null;
        example = "/run/secrets/nix-netrc";
        description = ''
          Nix's `netrc-file`, for a server with `private = true`: a line
          `machine HOST password TOKEN`, where HOST is the host name of `url`
          and TOKEN a `read` token. The Nix daemon reads it as root, so it may
          stay root-only (a sops-nix secret); never give a file of the Nix store.
        '';
      };

      connectTimeout = mkOption {
        type = types.nullOr types.int;
        default = null;
        example = 5;
        description = "Nix's `connect-timeout`, to fall through sooner to the next substituter while the server is down; null leaves Nix's setting alone.";
      };

      push = {
        enable = mkEnableOption ''
          uploading what this machine builds: Nix's `post-build-hook` queues
          the built paths under /var/lib/${name}-push, never waiting on the
          network nor failing a build, and the unit `${name}-push` copies
          them with `nix copy --to`, dequeuing them only once that succeeded
        '';
        tokenFile = mkOption {
          type = types.nullOr secretPath;
          default = null;
          example = "/run/secrets/nix-push-token";
          description = ''
            File holding the push token, the secret alone. A token of the
            `push` scope uploads only what a key the server trusts for pushes
            signed (`nix.settings.secret-key-files`); `push,sign` has the
            server sign unsigned builds. Loaded with `LoadCredential=`;
            never copied into the Nix store.
          '';
        };
        url = mkOption {
          type = types.str;
          default = clientCfg.url;
          defaultText = literalExpression "config.services.private-nix-cache.client.url";
          example = "https://cache.example.org";
          description = "Where to upload; `?compression=zstd` is added unless it names a compression.";
        };
      };
    };
  };

  config = lib.mkMerge [
    (mkIf cfg.enable {
      services.private-nix-cache.settings = lib.mapAttrs (_: mkDefault) derivedSettings;

      assertions =
        [
          {
            assertion = tlsCfg.enable -> cfg.hostName != null;
            message = "services.private-nix-cache.tls.enable needs services.private-nix-cache.hostName: the certificate is issued for it.";
          }
          {
            assertion = tlsCfg.enable -> (static || tlsCfg.dnsProvider != null);
            message = "services.private-nix-cache.tls.enable needs either tls.dnsProvider (ACME DNS-01) or tls.certFile and tls.keyFile.";
          }
          {
            assertion = !(static && tlsCfg.dnsProvider != null);
            message = "services.private-nix-cache: tls.certFile/tls.keyFile (static certificate) and tls.dnsProvider (ACME) exclude each other; set one.";
          }
          {
            assertion = (tlsCfg.certFile == null) == (tlsCfg.keyFile == null);
            message = "services.private-nix-cache: tls.certFile and tls.keyFile go together; set both or neither.";
          }
          {
            assertion = acmeHost != null -> (tlsCfg.certFile == null && tlsCfg.keyFile == null);
            message = "services.private-nix-cache: tls.useACMEHost and tls.certFile/tls.keyFile exclude each other; set one.";
          }
          {
            # Only the unit's own state directory keeps it root's and the
            # service user's (mode 0600 in a 0700 directory).
            assertion = adminSocket == null || lib.hasPrefix "${stateDir}/" adminSocket;
            message = "services.private-nix-cache.settings.admin-socket = \"${toString adminSocket}\" must be inside the state directory ${stateDir}, which the unit owns.";
          }
          {
            assertion = cfg.private -> cfg.tokenFiles != [ ];
            message = "services.private-nix-cache.private needs services.private-nix-cache.tokenFiles, with a token of the read scope.";
          }
          {
            assertion = tlsCfg.dnsProvider == "cloudflare" -> cfg.apiTokenPath != null;
            message = ''services.private-nix-cache.tls.dnsProvider = "cloudflare" needs services.private-nix-cache.apiTokenPath (a file holding the Cloudflare API token).'';
          }
          {
            assertion =
              tlsCfg.dnsProvider == "rfc2136"
              -> (tlsCfg.rfc2136.server != null && tlsCfg.rfc2136.keyName != null && tlsCfg.rfc2136.keyPath != null);
            message = ''services.private-nix-cache.tls.dnsProvider = "rfc2136" needs tls.rfc2136.server, tls.rfc2136.keyName and tls.rfc2136.keyPath.'';
          }
        ]
        ++ map (s: {
          assertion = s.path == null || !(inStore s.path);
          message = "services.private-nix-cache.${s.option} = \"${toString s.path}\" is in the Nix store, which every local user can read. Give the path of a file outside the store, such as a sops-nix secret under /run/secrets.";
        }) secretOptions;

      warnings = optional (cfg.apiTokenPath != null && dnsProvider != "cloudflare")
        "services.private-nix-cache.apiTokenPath is set but unused: it serves only tls.dnsProvider = \"cloudflare\" with tls.enable.";

      users.users.${name} = {
        isSystemUser = true;
        group = name;
        description = "private-nix-cache server";
      };
      users.groups.${name} = { };

      systemd.tmpfiles.rules = map (dir: "d ${dir} 0700 ${name} ${name} - -") ownDirs;

      networking.firewall.allowedTCPPorts = mkIf cfg.openFirewall listenPorts;

      security.acme.certs = mkIf (tlsCfg.enable && acmeHost != null) {
        ${acmeHost}.reloadServices = [ "${name}.service" ];
      };

      systemd.services.${name} = {
        description = "Private Nix binary cache";
        wants = [ "network-online.target" ] ++ acmeUnits;
        after = [ "network-online.target" ] ++ acmeUnits;
        wantedBy = [ "multi-user.target" ];
        # The cache on another disk: start only once it is mounted.
        unitConfig.RequiresMountsFor = [ cacheDir ];
        # xz (liblzma) checks the upstream's xz NARs three times as fast as
        # the server's built-in decoder.
        path = [ pkgs.xz ];

        serviceConfig = {
          # READY=1 once it listens; WATCHDOG=1 while it runs.
          Type = "notify";
          WatchdogSec = toString cfg.watchdogSec;
          ExecStart = "${lib.getExe cfg.package} serve --config ${configFile}";
          # The certificate is reloaded when its files change: a reload
          # (security.acme's reloadServices) has nothing left to do.
          ExecReload = "${pkgs.coreutils}/bin/true";
          Restart = "on-failure";
          RestartSec = "5s";
          # ~@resources keeps Go from raising its own file limit.
          LimitNOFILE = 65536;

          # A fixed system user rather than DynamicUser=, so that a cacheDir
          # outside /var/cache (another disk) keeps a stable owner. The Nix
          # database, store and build logs are world-readable: no group needed.
          User = name;
          Group = name;
          SupplementaryGroups = optional (tlsCfg.enable && acmeHost != null) acmeCert.group ++ optional (tlsCfg.group != null) tlsCfg.group;
          LoadCredential = map (s: "${s.credential}:${s.path}") secrets;

          CacheDirectory = optional (isManaged "/var/cache" cacheDir) (lib.removePrefix "/var/cache/" cacheDir);
          CacheDirectoryMode = "0700";
          StateDirectory = optional (isManaged "/var/lib" stateDir) (lib.removePrefix "/var/lib/" stateDir);
          StateDirectoryMode = "0700";
          ReadWritePaths = ownDirs;
          UMask = "0077";

          # Binding below 1024 is the only privilege it may need. A user
          # namespace would void that capability, so it is used only without.
          AmbientCapabilities = optionals bindsPrivilegedPort [ "CAP_NET_BIND_SERVICE" ];
          CapabilityBoundingSet = if bindsPrivilegedPort then "CAP_NET_BIND_SERVICE" else "";
          PrivateUsers = !bindsPrivilegedPort;
          NoNewPrivileges = true;

          # ProtectSystem=strict already leaves /nix/store, /nix/var/nix/db and
          # /nix/var/log/nix readable and nothing writable but the dirs above.
          ProtectSystem = "strict";
          ProtectHome = true;
          PrivateTmp = true;
          PrivateDevices = true;
          DevicePolicy = "closed";
          ProtectKernelTunables = true;
          ProtectKernelModules = true;
          ProtectKernelLogs = true;
          ProtectControlGroups = true;
          ProtectClock = true;
          ProtectHostname = true;
          ProtectProc = "invisible";
          ProcSubset = "pid";
          PrivateMounts = true;
          LockPersonality = true;
          MemoryDenyWriteExecute = true;
          RestrictNamespaces = true;
          RestrictRealtime = true;
          RestrictSUIDSGID = true;
          RemoveIPC = true;
          RestrictAddressFamilies = [
            "AF_INET"
            "AF_INET6"
            "AF_UNIX"
          ];
          SystemCallArchitectures = "native";
          SystemCallFilter = [
            "@system-service"
            "~@privileged"
            "~@resources"
          ];
          SystemCallErrorNumber = "EPERM";
        };
      };
    })

    (mkIf clientCfg.enable {
      assertions = [
        {
          assertion = clientCfg.netrcFile == null || !(inStore clientCfg.netrcFile);
          message = "services.private-nix-cache.client.netrcFile = \"${toString clientCfg.netrcFile}\" is in the Nix store, which every local user can read. Give the path of a file outside the store, such as a sops-nix secret under /run/secrets.";
        }
      ];
      nix.settings = {
        # Nix orders substituters by the Priority of their nix-cache-info
        # (this server says 30, cache.nixos.org 40); listing it first too
        # keeps the intent plain in nix.conf. The others stay, unless asked.
        substituters =
          if clientCfg.keepCacheNixosOrg then lib.mkBefore [ clientCfg.url ] else lib.mkForce [ clientCfg.url ];
        trusted-public-keys = [ clientCfg.publicKey ];
      }
      // optionalAttrs (clientCfg.connectTimeout != null) { connect-timeout = clientCfg.connectTimeout; }
      // optionalAttrs (clientCfg.netrcFile != null) { netrc-file = clientCfg.netrcFile; };
    })

    (mkIf pushCfg.enable {
      assertions = [
        {
          assertion = pushCfg.tokenFile != null;
          message = "services.private-nix-cache.client.push needs tokenFile, a file holding a token of the push (or push,sign) scope.";
        }
        {
          assertion = pushCfg.tokenFile == null || !(inStore pushCfg.tokenFile);
          message = "services.private-nix-cache.client.push.tokenFile = \"${toString pushCfg.tokenFile}\" is in the Nix store, which every local user can read. Give the path of a file outside the store, such as a sops-nix secret under /run/secrets.";
        }
      ];
      nix.settings.post-build-hook = pushHook;

      # Started when the hook queues something; a failed upload is tried
      # again a minute later (while it waits, the path unit does not start
      # it again), the paths staying queued.
      systemd.paths.${pushUnit} = {
        wantedBy = [ "paths.target" ];
        pathConfig = {
          DirectoryNotEmpty = "${pushSpool}/queue";
          MakeDirectory = true;
          DirectoryMode = "0700";
        };
      };
      systemd.services.${pushUnit} = {
        description = "Upload the paths built here to private-nix-cache";
        wants = [ "network-online.target" ];
        after = [ "network-online.target" ];
        path = [
          config.nix.package
          pkgs.coreutils
          pkgs.findutils
        ];
        environment = {
          PUSH_SPOOL = pushSpool;
          PUSH_URL = pushUrl;
          PUSH_TOKEN_FILE = "/run/credentials/${pushUnit}.service/push-token";
        };
        unitConfig.StartLimitIntervalSec = 0;
        serviceConfig = {
          Type = "oneshot";
          ExecStart = "${pushUploader}";
          Restart = "on-failure";
          RestartSec = "1min";
          LoadCredential = optional (pushCfg.tokenFile != null) "push-token:${pushCfg.tokenFile}";
          StateDirectory = pushUnit;
          StateDirectoryMode = "0700";
          UMask = "0077";
        };
      };
    })
  ];
}
