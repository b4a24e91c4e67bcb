package main

import (
	"runtime/debug"
	"strings"
)

// version overrides the module version when set at build time with
// -ldflags "-X main.version=…" (package.nix does, as Nix builds have no
// module version); empty: the one Go recorded.
var version string

// versionString names the module version and, when built from a checkout,
// the VCS revision the binary was built from, so a report says what ran.
func versionString() string {
	v := version
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		if v == "" {
			v = "(unknown)"
		}
		return "private-nix-cache " + v
	}
	if v == "" {
		v = bi.Main.Version
	}
	if v == "" {
		v = "(devel)"
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	parts := []string{"private-nix-cache", v}
	if rev != "" {
		if modified == "true" {
			rev += "+modified"
		}
		parts = append(parts, "revision "+rev)
	}
	parts = append(parts, bi.GoVersion)
	return strings.Join(parts, " ")
}
