# Evaluates ../module.nix with lib.evalModules against stub NixOS options
# (./stubs.nix) and a stub pkgs (./pkgs-stub.nix), and checks what it makes
# of a bastion (ACME over RFC 2136, sops-nix secrets), a Cloudflare variant,
# a static certificate, a private cache, clients, and broken configurations.
#
# Run through ./eval.sh. Evaluates to { passed = [ names ]; rendered = TOML; }
# and throws at the first mismatch.
{ lib }:
let
  inherit (lib)
    all
    filter
    hasInfix
    hasPrefix
    ;

  pkgs = import ./pkgs-stub.nix { inherit lib; };
  toml = import ./toml.nix { inherit lib; };

  eval =
    configuration:
    (lib.evalModules {
      modules = [
        ./stubs.nix
        ../module.nix
        { _module.args.pkgs = pkgs; }
        configuration
      ];
    }).config;

  pretty = lib.generators.toPretty { };
  expect =
    name: got: want:
    if got == want then name else throw "eval-test ${name}:\n  got  ${pretty got}\n  want ${pretty want}";
  expectTrue = name: ok: expect name ok true;

  failedAssertions = config: map (a: a.message) (filter (a: !a.assertion) config.assertions);
  # Each wanted text must appear in some failed assertion, and only those fail.
  expectAssertions =
    name: config: wants:
    let
      failed = failedAssertions config;
    in
    expect name {
      inherit failed;
      found = all (want: lib.any (hasInfix want) failed) wants;
      count = builtins.length failed;
    } {
      inherit failed;
      found = true;
      count = builtins.length wants;
    };

  cacheNixosOrgKey = "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=";
  cachixKey = "example.cachix.org-1:Z+T4t1i8hWzupXbSBd1Bzm57YtYsJtfX7feSFIjLwb8=";
  serverKey = "cache.example.org-1:oNNo4RRk6ZlJtmaRV3R5OUbxwRKWhISEu7eeIBzJ7gU=";
  creds = "/run/credentials/private-nix-cache.service";

  # The sample bastion; its rendering is testdata/module-rendered.toml.
  bastion = eval {
    services.private-nix-cache = {
      enable = true;
      hostName = "cache.example.org";
      port = 443;
      openFirewall = true;
      secretKeyPath = "/run/secrets/nix-serve-key";
      maxCacheSize = "50GiB";
      upstreams = [
        {
          url = "https://cache.nixos.org";
          publicKeys = [ cacheNixosOrgKey ];
          priority = 40;
        }
        {
          url = "https://example.cachix.org";
          publicKeys = [ cachixKey ];
          tokenFile = "/run/secrets/cachix-token";
        }
      ];
      tls = {
        enable = true;
        acmeEmail = "admin@example.org";
        dnsProvider = "rfc2136";
        rfc2136 = {
          server = "ns1.example.org:53";
          keyName = "acme-update.";
          keyPath = "/run/secrets/tsig-key";
        };
      };
      settings.http-redirect-listen = "[::]:80";
    };
  };
  bastionUnit = bastion.systemd.services.private-nix-cache;
  bastionSvc = bastionUnit.serviceConfig;

  execStartRegex = "${builtins.storeDir}/[0-9a-z]{32}-private-nix-cache-[^/]+/bin/private-nix-cache serve --config (${builtins.storeDir}/[0-9a-z]{32}-private-nix-cache\\.toml)";
  configFileOf =
    svc:
    let
      m = builtins.match execStartRegex svc.ExecStart;
    in
    if m == null then throw "eval-test: unexpected ExecStart ${svc.ExecStart}" else builtins.head m;
  # The store path of a file is a hash of its text, so the file the unit is
  # started with holds exactly this (evaluation need not write the store).
  renderedFile = config: builtins.toFile "private-nix-cache-unchecked.toml" (toml.render config.services.private-nix-cache.settings);
  # The unit's config file is built by a script that has the binary check
  # the rendered file, then copies it (the stub's runCommand keeps the script).
  configChecked =
    config: svc:
    let
      checked = config.services.private-nix-cache.configFile;
      # As text: builtins.match refuses strings that refer to store paths.
      file = builtins.unsafeDiscardStringContext (renderedFile config);
      script = builtins.unsafeDiscardStringContext checked.script;
    in
    configFileOf svc == checked.outPath
    && hasInfix "/bin/private-nix-cache check-config ${file}\n" script
    && hasInfix "cp ${file} $out" script;
  rendered = toml.render bastion.services.private-nix-cache.settings;

  cloudflare = eval {
    services.private-nix-cache = {
      enable = true;
      hostName = "cache.example.org";
      listen = "0.0.0.0";
      secretKeyPath = "/run/secrets/nix-serve-key";
      apiTokenPath = "/run/secrets/cloudflare-token";
      cacheDir = "/srv/nix-cache";
      tls = {
        enable = true;
        dnsProvider = "cloudflare";
        acmeCA = "https://acme-staging-v02.api.letsencrypt.org/directory";
      };
    };
  };
  cloudflareSvc = cloudflare.systemd.services.private-nix-cache.serviceConfig;

  staticCert = eval {
    services.private-nix-cache = {
      enable = true;
      hostName = "cache.example.org";
      listen = "::1";
      port = 8443;
      tls = {
        enable = true;
        certFile = "/var/lib/acme/cache.example.org/fullchain.pem";
        keyFile = "/var/lib/acme/cache.example.org/key.pem";
      };
    };
  };

  minimal = eval { services.private-nix-cache.enable = true; };

  acmeHost = eval {
    services.private-nix-cache = {
      enable = true;
      hostName = "cache.example.org";
      port = 8443;
      tls = {
        enable = true;
        useACMEHost = "cache.example.org";
      };
    };
  };

  rotating = eval {
    services.private-nix-cache = {
      enable = true;
      secretKeyPath = "/run/secrets/old-key";
      signKeyPaths = [ "/run/secrets/new-key" ];
    };
  };

  # A private cache: tokens from sops-nix, metrics on their own listener.
  privateCache = eval {
    services.private-nix-cache = {
      enable = true;
      openFirewall = true;
      tokenFiles = [
        "/run/secrets/tokens-hosts"
        "/run/secrets/tokens-ci"
      ];
      private = true;
      metricsListen = "127.0.0.1:9100";
    };
  };
  privateSvc = privateCache.systemd.services.private-nix-cache.serviceConfig;

  clientWithOthers = eval {
    nix.settings.substituters = [ "https://nix-community.cachix.org" ];
    services.private-nix-cache.client = {
      enable = true;
      url = "https://cache.example.org";
      publicKey = serverKey;
    };
  };

  client = eval {
    services.private-nix-cache.client = {
      enable = true;
      url = "https://cache.example.org";
      publicKey = serverKey;
    };
  };
  clientOnly = eval {
    services.private-nix-cache.client = {
      enable = true;
      url = "https://cache.example.org";
      publicKey = serverKey;
      keepCacheNixosOrg = false;
    };
  };

  # A cache that takes uploads, with bounds on them.
  pushServer = eval {
    services.private-nix-cache = {
      enable = true;
      secretKeyPath = "/run/secrets/nix-serve-key";
      tokenFiles = [ "/run/secrets/tokens-ci" ];
      push = {
        trustedPublicKeys = [ "builder-1:oNNo4RRk6ZlJtmaRV3R5OUbxwRKWhISEu7eeIBzJ7gU=" ];
        maxSize = "200GiB";
        maxAge = "720h";
      };
      maxUploadSize = "8GiB";
    };
  };

  # A builder that substitutes from the cache and pushes what it builds.
  pusher =
    push:
    eval {
      services.private-nix-cache.client = {
        enable = true;
        url = "https://cache.example.org";
        publicKey = serverKey;
        inherit push;
      };
    };
  builder = pusher {
    enable = true;
    tokenFile = "/run/secrets/nix-push-token";
  };
  builderSvc = builder.systemd.services.private-nix-cache-push;

  broken =
    extra:
    eval {
      imports = [ extra ];
      services.private-nix-cache.enable = true;
    };

  hardening = {
    NoNewPrivileges = true;
    ProtectSystem = "strict";
    ProtectHome = true;
    PrivateTmp = true;
    PrivateDevices = true;
    ProtectKernelTunables = true;
    ProtectKernelModules = true;
    ProtectKernelLogs = true;
    ProtectControlGroups = true;
    ProtectClock = true;
    ProtectHostname = true;
    ProtectProc = "invisible";
    LockPersonality = true;
    MemoryDenyWriteExecute = true;
    RestrictNamespaces = true;
    RestrictRealtime = true;
    RestrictSUIDSGID = true;
    RestrictAddressFamilies = [
      "AF_INET"
      "AF_INET6"
      "AF_UNIX"
    ];
    SystemCallFilter = [
      "@system-service"
      "~@privileged"
      "~@resources"
    ];
    SystemCallArchitectures = "native";
    UMask = "0077";
    Restart = "on-failure";
    ProcSubset = "pid";
    PrivateMounts = true;
    Type = "notify";
    WatchdogSec = "60";
    LimitNOFILE = 65536;
  };
  pick = names: attrs: lib.getAttrs names attrs;

  package = pkgs.callPackage ../package.nix { };

  passed = [
    # --- bastion: ACME over RFC 2136, secrets from sops-nix ---
    (expectAssertions "bastion has no failed assertions" bastion [ ])
    (expect "bastion warnings" bastion.warnings [ ])
    (expectTrue "bastion ExecStart runs serve with the rendered config" (
      builtins.match execStartRegex bastionSvc.ExecStart != null
    ))
    (expect "bastion unit ordering" {
      inherit (bastionUnit) wants after wantedBy;
    } {
      wants = [ "network-online.target" ];
      after = [ "network-online.target" ];
      wantedBy = [ "multi-user.target" ];
    })
    (expect "bastion LoadCredential" bastionSvc.LoadCredential [
      "secret-key:/run/secrets/nix-serve-key"
      "rfc2136-key:/run/secrets/tsig-key"
      "upstream-1-token:/run/secrets/cachix-token"
    ])
    (expect "bastion hardening" (pick (builtins.attrNames hardening) bastionSvc) hardening)
    (expect "bastion binds 443 and 80 with CAP_NET_BIND_SERVICE only" {
      inherit (bastionSvc) AmbientCapabilities CapabilityBoundingSet PrivateUsers;
    } {
      AmbientCapabilities = [ "CAP_NET_BIND_SERVICE" ];
      CapabilityBoundingSet = "CAP_NET_BIND_SERVICE";
      PrivateUsers = false;
    })
    (expect "bastion directories" (pick [
      "User"
      "CacheDirectory"
      "StateDirectory"
      "ReadWritePaths"
    ] bastionSvc) {
      User = "private-nix-cache";
      CacheDirectory = [ "private-nix-cache" ];
      StateDirectory = [ "private-nix-cache" ];
      ReadWritePaths = [ ];
    })
    (expect "bastion user" bastion.users.users.private-nix-cache.group "private-nix-cache")
    (expect "bastion firewall" bastion.networking.firewall.allowedTCPPorts [
      443
      80
    ])
    (expect "bastion settings" bastion.services.private-nix-cache.settings {
      listen = "[::]:443";
      http-redirect-listen = "[::]:80";
      cache-dir = "/var/cache/private-nix-cache";
      state-dir = "/var/lib/private-nix-cache";
      secret-key-file = [ "${creds}/secret-key" ];
      max-size = "50GiB";
      tls-domain = [ "cache.example.org" ];
      acme-email = "admin@example.org";
      dns-provider = "rfc2136";
      rfc2136-server = "ns1.example.org:53";
      rfc2136-key-name = "acme-update.";
      rfc2136-key-alg = "hmac-sha256";
      rfc2136-key-file = "${creds}/rfc2136-key";
      upstream = [
        {
          url = "https://cache.nixos.org";
          public-keys = [ cacheNixosOrgKey ];
          priority = 40;
        }
        {
          url = "https://example.cachix.org";
          public-keys = [ cachixKey ];
          token-file = "${creds}/upstream-1-token";
        }
      ];
    })
    (expectTrue "bastion config file is the TOML of settings, checked by the binary" (configChecked bastion bastionSvc))
    (expect "bastion waits for its cache's mount" bastionUnit.unitConfig.RequiresMountsFor [ "/var/cache/private-nix-cache" ])
    (expectTrue "bastion config names no secret source" (!hasInfix "/run/secrets" rendered))

    # --- Cloudflare, unprivileged port, cache on another disk ---
    (expectAssertions "cloudflare has no failed assertions" cloudflare [ ])
    (expect "cloudflare LoadCredential" cloudflareSvc.LoadCredential [
      "secret-key:/run/secrets/nix-serve-key"
      "dns-api-token:/run/secrets/cloudflare-token"
    ])
    (expect "cloudflare TLS settings"
      (pick [
        "listen"
        "dns-provider"
        "dns-api-token-file"
        "acme-ca"
        "tls-domain"
        "cache-dir"
      ] cloudflare.services.private-nix-cache.settings)
      {
        listen = "0.0.0.0:5000";
        dns-provider = "cloudflare";
        dns-api-token-file = "${creds}/dns-api-token";
        acme-ca = "https://acme-staging-v02.api.letsencrypt.org/directory";
        tls-domain = [ "cache.example.org" ];
        cache-dir = "/srv/nix-cache";
      }
    )
    (expect "cloudflare port 5000 needs no capability" {
      inherit (cloudflareSvc) AmbientCapabilities CapabilityBoundingSet PrivateUsers;
    } {
      AmbientCapabilities = [ ];
      CapabilityBoundingSet = "";
      PrivateUsers = true;
    })
    (expect "cloudflare cache dir outside /var/cache" {
      inherit (cloudflareSvc) CacheDirectory ReadWritePaths;
      tmpfiles = cloudflare.systemd.tmpfiles.rules;
    } {
      CacheDirectory = [ ];
      ReadWritePaths = [ "/srv/nix-cache" ];
      tmpfiles = [ "d /srv/nix-cache 0700 private-nix-cache private-nix-cache - -" ];
    })
    (expect "cloudflare firewall stays closed" cloudflare.networking.firewall.allowedTCPPorts [ ])
    (expectTrue "cloudflare config file is the TOML of settings, checked by the binary" (configChecked cloudflare cloudflareSvc))
    (expect "cloudflare waits for the disk of its cache" cloudflare.systemd.services.private-nix-cache.unitConfig.RequiresMountsFor [ "/srv/nix-cache" ])

    # --- static certificate ---
    (expectAssertions "static certificate has no failed assertions" staticCert [ ])
    (expect "static certificate settings" staticCert.services.private-nix-cache.settings {
      listen = "[::1]:8443";
      cache-dir = "/var/cache/private-nix-cache";
      state-dir = "/var/lib/private-nix-cache";
      tls-cert-file = "/var/lib/acme/cache.example.org/fullchain.pem";
      tls-key-file = "/var/lib/acme/cache.example.org/key.pem";
      upstream = [
        {
          url = "https://cache.nixos.org";
          public-keys = [ cacheNixosOrgKey ];
        }
      ];
    })
    (expect "static certificate read in place, not copied in" staticCert.systemd.services.private-nix-cache.serviceConfig.LoadCredential [ ])

    # --- a certificate of security.acme ---
    (expectAssertions "useACMEHost has no failed assertions" acmeHost [ ])
    (expect "useACMEHost settings" (pick [ "tls-cert-file" "tls-key-file" ] acmeHost.services.private-nix-cache.settings) {
      tls-cert-file = "/var/lib/acme/cache.example.org/fullchain.pem";
      tls-key-file = "/var/lib/acme/cache.example.org/key.pem";
    })
    (expect "useACMEHost reads through the certificate's group, reloads on renewal" {
      inherit (acmeHost.systemd.services.private-nix-cache.serviceConfig) SupplementaryGroups LoadCredential;
      inherit (acmeHost.systemd.services.private-nix-cache) after;
      reload = acmeHost.security.acme.certs."cache.example.org".reloadServices;
    } {
      SupplementaryGroups = [ "acme" ];
      LoadCredential = [ ];
      after = [ "network-online.target" "acme-cache.example.org.service" ];
      reload = [ "private-nix-cache.service" ];
    })
    (expectAssertions "useACMEHost and certFile together"
      (broken {
        services.private-nix-cache.hostName = "cache.example.org";
        services.private-nix-cache.tls = {
          enable = true;
          useACMEHost = "cache.example.org";
          certFile = "/etc/ssl/c.pem";
          keyFile = "/etc/ssl/k.pem";
        };
      })
      [ "tls.useACMEHost and tls.certFile/tls.keyFile exclude each other" ]
    )

    # --- key rotation ---
    (expect "signKeyPaths sign beside secretKeyPath" {
      inherit (rotating.systemd.services.private-nix-cache.serviceConfig) LoadCredential;
      inherit (rotating.services.private-nix-cache.settings) secret-key-file;
    } {
      LoadCredential = [
        "secret-key:/run/secrets/old-key"
        "sign-key-0:/run/secrets/new-key"
      ];
      secret-key-file = [ "${creds}/secret-key" "${creds}/sign-key-0" ];
    })
    (expectAssertions "sign key in the store"
      (broken { services.private-nix-cache.signKeyPaths = [ "${builtins.storeDir}/00000000000000000000000000000000-k" ]; })
      [ "services.private-nix-cache.signKeyPaths.0" ]
    )

    # --- access control ---
    (expectAssertions "private cache has no failed assertions" privateCache [ ])
    (expect "private cache LoadCredential" privateSvc.LoadCredential [
      "token-0:/run/secrets/tokens-hosts"
      "token-1:/run/secrets/tokens-ci"
    ])
    (expect "private cache settings" (pick [
      "token-file"
      "private"
      "metrics-listen"
    ] privateCache.services.private-nix-cache.settings) {
      token-file = [
        "${creds}/token-0"
        "${creds}/token-1"
      ];
      private = true;
      metrics-listen = "127.0.0.1:9100";
    })
    (expectTrue "private cache config file is checked by the binary" (configChecked privateCache privateSvc))
    (expectTrue "private cache config names no secret source" (
      !hasInfix "/run/secrets" (toml.render privateCache.services.private-nix-cache.settings)
    ))
    (expect "openFirewall never opens metricsListen" privateCache.networking.firewall.allowedTCPPorts [ 5000 ])
    (expect "an unprivileged metricsListen needs no capability" privateSvc.CapabilityBoundingSet "")
    (expect "metricsListen below 1024 gets CAP_NET_BIND_SERVICE, not the firewall"
      (
        let
          c = broken {
            services.private-nix-cache.metricsListen = "[::1]:910";
            services.private-nix-cache.openFirewall = true;
          };
        in
        {
          inherit (c.systemd.services.private-nix-cache.serviceConfig) AmbientCapabilities;
          inherit (c.networking.firewall) allowedTCPPorts;
        }
      )
      {
        AmbientCapabilities = [ "CAP_NET_BIND_SERVICE" ];
        allowedTCPPorts = [ 5000 ];
      }
    )
    (expect "tokens without private guard only metrics and uploads"
      (broken { services.private-nix-cache.tokenFiles = [ "/run/secrets/tokens" ]; }).services.private-nix-cache.settings.private or false
      false
    )
    (expectAssertions "private without tokenFiles"
      (broken { services.private-nix-cache.private = true; })
      [ "services.private-nix-cache.private needs services.private-nix-cache.tokenFiles" ]
    )
    (expectAssertions "token file in the store"
      (broken { services.private-nix-cache.tokenFiles = [ "${builtins.storeDir}/00000000000000000000000000000000-tokens" ]; })
      [ "services.private-nix-cache.tokenFiles.0 = \"${builtins.storeDir}/" ]
    )
    (expectTrue "a Nix path literal as token file is a type error" (
      !(builtins.tryEval (
        let
          files = (broken { services.private-nix-cache.tokenFiles = [ ./eval-test.nix ]; }).services.private-nix-cache.tokenFiles;
        in
        builtins.deepSeq files files
      )).success
    ))

    # --- defaults ---
    (expect "minimal settings" minimal.services.private-nix-cache.settings {
      listen = "[::]:5000";
      cache-dir = "/var/cache/private-nix-cache";
      state-dir = "/var/lib/private-nix-cache";
      upstream = [
        {
          url = "https://cache.nixos.org";
          public-keys = [ cacheNixosOrgKey ];
        }
      ];
    })
    (expect "minimal loads no credential" minimal.systemd.services.private-nix-cache.serviceConfig.LoadCredential [ ])
    (expect "settings override the named options"
      (eval {
        services.private-nix-cache = {
          enable = true;
          upstreams = [ ];
          settings.listen = "127.0.0.1:9000";
          settings.max-size = "1GiB";
        };
      }).services.private-nix-cache.settings
      {
        listen = "127.0.0.1:9000";
        max-size = "1GiB";
        cache-dir = "/var/cache/private-nix-cache";
        state-dir = "/var/lib/private-nix-cache";
        upstream = [ ];
      }
    )
    (expect "disabled module defines no unit" (eval { }).systemd.services { })

    # --- uploads ---
    (expectAssertions "push server has no failed assertions" pushServer [ ])
    (expect "push server settings" (pick [
      "push-trusted-public-key"
      "push-max-size"
      "push-max-age"
      "max-upload-size"
    ] pushServer.services.private-nix-cache.settings) {
      push-trusted-public-key = [ "builder-1:oNNo4RRk6ZlJtmaRV3R5OUbxwRKWhISEu7eeIBzJ7gU=" ];
      push-max-size = "200GiB";
      push-max-age = "720h";
      max-upload-size = "8GiB";
    })
    (expectTrue "push settings are rendered only when set" (
      lib.all (k: !(bastion.services.private-nix-cache.settings ? ${k})) [
        "push-trusted-public-key"
        "push-max-size"
        "push-max-age"
        "max-upload-size"
      ]
    ))
    (expectAssertions "builder has no failed assertions" builder [ ])
    (expect "builder post-build-hook is nix/push-hook.sh, with its queue" builder.nix.settings.post-build-hook.text (
      "export PATH=${lib.makeBinPath [ pkgs.coreutils ]}\n"
      + "export PUSH_SPOOL=/var/lib/private-nix-cache-push\n"
      + builtins.readFile ./push-hook.sh
      + "\n"
    ))
    (expect "builder uploader runs nix/push-queue.sh" builderSvc.serviceConfig.ExecStart
      "${pkgs.writeShellScript "private-nix-cache-push-upload" (builtins.readFile ./push-queue.sh)}"
    )
    (expect "builder uploader settings" builderSvc.environment {
      PUSH_SPOOL = "/var/lib/private-nix-cache-push";
      PUSH_URL = "https://cache.example.org?compression=zstd";
      PUSH_TOKEN_FILE = "/run/credentials/private-nix-cache-push.service/push-token";
    })
    (expect "builder token by LoadCredential" builderSvc.serviceConfig.LoadCredential [
      "push-token:/run/secrets/nix-push-token"
    ])
    (expect "builder uploader retries, never gives up" {
      inherit (builderSvc.serviceConfig) Type Restart RestartSec;
      inherit (builderSvc.unitConfig) StartLimitIntervalSec;
    } {
      Type = "oneshot";
      Restart = "on-failure";
      RestartSec = "1min";
      StartLimitIntervalSec = 0;
    })
    (expect "builder uploader is started by its queue"
      builder.systemd.paths.private-nix-cache-push.pathConfig.DirectoryNotEmpty
      "/var/lib/private-nix-cache-push/queue"
    )
    (expect "builder uploader has nix on its PATH" (map (p: p.name) builderSvc.path) [
      "nix"
      "coreutils"
      "findutils"
    ])
    (expect "builder push URL keeps its query"
      (pusher {
        enable = true;
        tokenFile = "/run/secrets/t";
        url = "https://push.example.org/?priority=10";
      }).systemd.services.private-nix-cache-push.environment.PUSH_URL
      "https://push.example.org/?priority=10&compression=zstd"
    )
    (expect "builder push URL keeps its compression"
      (pusher {
        enable = true;
        tokenFile = "/run/secrets/t";
        url = "https://push.example.org?compression=xz";
      }).systemd.services.private-nix-cache-push.environment.PUSH_URL
      "https://push.example.org?compression=xz"
    )
    (expectAssertions "builder push without a token" (pusher { enable = true; }) [
      "services.private-nix-cache.client.push needs tokenFile"
    ])
    (expectAssertions "builder push token in the store"
      (pusher {
        enable = true;
        tokenFile = "${builtins.storeDir}/00000000000000000000000000000000-token";
      })
      [ "services.private-nix-cache.client.push.tokenFile = \"${builtins.storeDir}/" ]
    )
    (expect "builder sets nothing else in nix.conf" (lib.attrNames builder.nix.settings) (
      lib.sort lib.lessThan (lib.attrNames client.nix.settings ++ [ "post-build-hook" ])
    ))
    (expectTrue "client without push sets no post-build-hook" (!(client.nix.settings ? post-build-hook)))
    (expect "client without push defines no push unit" client.systemd.paths { })

    # --- clients ---
    (expect "client substituters" client.nix.settings.substituters [
      "https://cache.example.org"
      "https://cache.nixos.org/"
    ])
    (expect "client keys" (lib.sort lib.lessThan client.nix.settings.trusted-public-keys) [
      serverKey
      cacheNixosOrgKey
    ])
    (expectTrue "client sets no connect-timeout unless asked" (!(client.nix.settings ? connect-timeout)))
    (expect "client connectTimeout when asked"
      (eval {
        services.private-nix-cache.client = {
          enable = true;
          url = "https://cache.example.org";
          publicKey = serverKey;
          connectTimeout = 5;
        };
      }).nix.settings.connect-timeout
      5
    )
    (expect "client keeps substituters defined elsewhere, after its own" clientWithOthers.nix.settings.substituters [
      "https://cache.example.org"
      "https://nix-community.cachix.org"
      "https://cache.nixos.org/"
    ])
    (expectTrue "client sets no netrc-file unless asked" (!(client.nix.settings ? netrc-file)))
    (expect "client netrcFile"
      (eval {
        services.private-nix-cache.client = {
          enable = true;
          url = "https://cache.example.org";
          publicKey = serverKey;
          netrcFile = "/run/secrets/nix-netrc";
        };
      }).nix.settings.netrc-file
      "/run/secrets/nix-netrc"
    )
    (expectAssertions "client netrc in the store"
      (eval {
        services.private-nix-cache.client = {
          enable = true;
          url = "https://cache.example.org";
          publicKey = serverKey;
          netrcFile = "${builtins.storeDir}/00000000000000000000000000000000-netrc";
        };
      })
      [ "services.private-nix-cache.client.netrcFile = \"${builtins.storeDir}/" ]
    )
    (expectTrue "a Nix path literal as netrc is a type error" (
      !(builtins.tryEval
        (eval {
          services.private-nix-cache.client = {
            enable = true;
            url = "https://cache.example.org";
            publicKey = serverKey;
            netrcFile = ./eval-test.nix;
          };
        }).nix.settings.netrc-file
      ).success
    ))
    (expect "client without cache.nixos.org" clientOnly.nix.settings.substituters [
      "https://cache.example.org"
    ])
    (expect "client alone defines no server unit" client.systemd.services { })
    (expectTrue "client rejects a malformed key" (
      !(builtins.tryEval
        (eval {
          services.private-nix-cache.client = {
            enable = true;
            url = "https://cache.example.org";
            publicKey = "not-a-key";
          };
        }).nix.settings.trusted-public-keys
      ).success
    ))

    # --- upkeep: free-space floor, scrub, the admin socket in the state dir ---
    (
      let
        c = broken {
          services.private-nix-cache.minFree = "20GiB";
          services.private-nix-cache.scrubInterval = "72h";
          services.private-nix-cache.memoryLimit = "512MiB";
        };
      in
      expect "minFree, scrubInterval and memoryLimit render" (pick [ "min-free" "scrub-interval" "memory-limit" ] c.services.private-nix-cache.settings) {
        min-free = "20GiB";
        scrub-interval = "72h";
        memory-limit = "512MiB";
      }
    )
    (expectAssertions "admin socket in the state directory"
      (broken { services.private-nix-cache.settings.admin-socket = "/var/lib/private-nix-cache/ctl.sock"; })
      [ ]
    )
    (expectAssertions "admin socket outside the state directory"
      (broken { services.private-nix-cache.settings.admin-socket = "/tmp/admin.sock"; })
      [ "must be inside the state directory" ]
    )

    # --- broken configurations ---
    (expectAssertions "tls without hostName"
      (broken {
        services.private-nix-cache.tls = {
          enable = true;
          dnsProvider = "cloudflare";
        };
        services.private-nix-cache.apiTokenPath = "/run/secrets/cf";
      })
      [ "tls.enable needs services.private-nix-cache.hostName" ]
    )
    (expectAssertions "cloudflare without apiTokenPath"
      (broken {
        services.private-nix-cache.hostName = "cache.example.org";
        services.private-nix-cache.tls = {
          enable = true;
          dnsProvider = "cloudflare";
        };
      })
      [ "needs services.private-nix-cache.apiTokenPath" ]
    )
    (expectAssertions "rfc2136 without its settings"
      (broken {
        services.private-nix-cache.hostName = "cache.example.org";
        services.private-nix-cache.tls = {
          enable = true;
          dnsProvider = "rfc2136";
          rfc2136.server = "ns1.example.org:53";
        };
      })
      [ "needs tls.rfc2136.server, tls.rfc2136.keyName and tls.rfc2136.keyPath" ]
    )
    (expectAssertions "tls with neither ACME nor certificate"
      (broken {
        services.private-nix-cache.hostName = "cache.example.org";
        services.private-nix-cache.tls.enable = true;
      })
      [ "needs either tls.dnsProvider" ]
    )
    (expectAssertions "certificate and ACME together"
      (broken {
        services.private-nix-cache.hostName = "cache.example.org";
        services.private-nix-cache.apiTokenPath = "/run/secrets/cf";
        services.private-nix-cache.tls = {
          enable = true;
          dnsProvider = "cloudflare";
          certFile = "/var/lib/acme/c/fullchain.pem";
          keyFile = "/var/lib/acme/c/key.pem";
        };
      })
      [ "exclude each other" ]
    )
    (expectAssertions "certificate without key"
      (broken {
        services.private-nix-cache.hostName = "cache.example.org";
        services.private-nix-cache.tls = {
          enable = true;
          certFile = "/var/lib/acme/c/fullchain.pem";
        };
      })
      [ "tls.certFile and tls.keyFile go together" ]
    )
    (expectAssertions "secret key in the store"
      (broken {
        services.private-nix-cache.secretKeyPath = "${builtins.storeDir}/00000000000000000000000000000000-nix-serve-key";
      })
      [ "services.private-nix-cache.secretKeyPath = \"${builtins.storeDir}/" ]
    )
    (expectAssertions "upstream token in the store"
      (broken {
        services.private-nix-cache.upstreams = [
          {
            url = "https://example.cachix.org";
            tokenFile = "${builtins.storeDir}/00000000000000000000000000000000-token";
          }
        ];
      })
      [ "services.private-nix-cache.upstreams.0.tokenFile" ]
    )
    (expectTrue "a Nix path literal as secret is a type error" (
      !(builtins.tryEval (broken { services.private-nix-cache.secretKeyPath = ./eval-test.nix; })
        .services.private-nix-cache.secretKeyPath
      ).success
    ))
    (expectTrue "a relative secret path is a type error" (
      !(builtins.tryEval (broken { services.private-nix-cache.secretKeyPath = "secrets/key"; })
        .services.private-nix-cache.secretKeyPath
      ).success
    ))
    (expect "unused apiTokenPath warns"
      (broken { services.private-nix-cache.apiTokenPath = "/run/secrets/cf"; }).warnings
      [
        "services.private-nix-cache.apiTokenPath is set but unused: it serves only tls.dnsProvider = \"cloudflare\" with tls.enable."
      ]
    )

    # --- package.nix, as buildGoModule would receive it ---
    (expect "package arguments"
      {
        inherit (package.goModuleArgs) pname subPackages ldflags;
        inherit (package.meta) mainProgram license;
        vendorHashIsSRI = builtins.match "sha256-[A-Za-z0-9+/]{43}=" package.goModuleArgs.vendorHash != null;
      }
      {
        pname = "private-nix-cache";
        subPackages = [ "cmd/private-nix-cache" ];
        ldflags = [
          "-s"
          "-w"
          "-X main.version=${package.version}"
        ];
        mainProgram = "private-nix-cache";
        license = lib.licenses.mit;
        vendorHashIsSRI = true;
      }
    )
    # lib.fileset needs builtins.readFileType (Nix 2.14) in current nixpkgs.
    (
      if builtins ? readFileType then
        expectTrue "package source fileset evaluates" (
          hasPrefix "${builtins.storeDir}/" package.goModuleArgs.src.outPath
        )
      else
        "package source fileset: not checked, this Nix lacks builtins.readFileType"
    )
    (expectTrue "package.nix is the default package" (
      hasPrefix "${package}/bin/private-nix-cache serve" bastionSvc.ExecStart
    ))
  ];
in
{
  inherit passed rendered;
}
