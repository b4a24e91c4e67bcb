// Command private-nix-cache serves the local Nix store and mirrors upstream
// binary caches behind one substituter URL.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

const usage = `usage: private-nix-cache COMMAND [flags]

commands:
  serve     serve the local store and mirror upstream caches (the default)
  keygen    NAME SECRETFILE PUBLICFILE: make a signing key pair
  gc        evict the NAR cache down to a size now
  verify    re-hash every cached NAR, delete bad ones
  delete    PATH...: remove pushed paths
  check-config FILE: load and validate a TOML config, touching no file it names
  version   print the version and VCS revision (also --version)

"private-nix-cache COMMAND --help" shows the flags of a command.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run returns the exit code: 0 ok, 1 failure, 2 bad usage or settings.
func run(args []string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && args[0] != "" && (args[0][0] != '-' || topLevelFlag(args[0])) {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = serve(args, stderr)
	case "keygen":
		err = keygen(args, stdout, stderr)
	case "gc":
		err = gc(args, stdout, stderr)
	case "verify":
		err = verify(args, stdout, stderr)
	case "delete":
		err = deleteCmd(args, stdout, stderr)
	case "check-config":
		err = checkConfig(args, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, versionString())
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "private-nix-cache: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	return exitCode(err, stderr)
}

// usageError marks errors that come from how the program was called.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

func exitCode(err error, stderr io.Writer) int {
	var ue usageError
	var fe failedError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &fe):
		fmt.Fprintln(stderr, "private-nix-cache:", fe.error)
		return 1
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, "private-nix-cache:", ue.error)
		return 2
	}
	fmt.Fprintln(stderr, "private-nix-cache:", err)
	return 1
}

// failedError is a run that worked but found a problem (verify found bad NARs).
type failedError struct{ error }

// topLevelFlag reports the flags that stand for a command rather than
// for serve's flags: the program's own help and version.
func topLevelFlag(arg string) bool {
	switch arg {
	case "-h", "-help", "--help", "--version", "-version":
		return true
	}
	return false
}

func newFlagSet(name, args string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: private-nix-cache %s %s\n", name, args)
		if about := commandHelp[name]; about != "" {
			fmt.Fprintf(stderr, "\n%s\n", about)
		}
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			fmt.Fprint(stderr, "\nflags:\n")
			fs.PrintDefaults()
		}
	}
	return fs
}

// commandHelp says what each command does, under its usage line.
var commandHelp = map[string]string{
	"serve":        "Serve the local store and mirror upstream caches.",
	"keygen":       "Write a signing key pair in Nix's format: SECRETFILE (0600) for --secret-key-file,\nPUBLICFILE for the clients' trusted-public-keys. NAME is usually HOST-1. Neither file may exist.",
	"gc":           "Evict least recently used NARs down to a size now.",
	"verify":       "Re-hash every cached NAR; bad ones are removed and make the exit code 1.",
	"delete":       "Remove pushed paths (store paths or hash parts): each narinfo, then its NAR. The server must be stopped.",
	"check-config": "Load and validate a TOML config as serve would, without opening the files it names.",
}
