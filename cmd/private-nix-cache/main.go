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

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

const usage = `usage: private-nix-cache COMMAND [flags]

commands:
  serve     serve the local store and mirror upstream caches (the default)
  keygen    NAME SECRETFILE PUBLICFILE: make a signing key pair
  gc        evict the NAR cache down to a size now
  verify    re-hash every cached NAR, delete bad ones
  version   print the version

"private-nix-cache COMMAND --help" shows the flags of a command.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run returns the exit code: 0 ok, 1 failure, 2 bad usage or settings.
func run(args []string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
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
	case "version":
		fmt.Fprintln(stdout, "private-nix-cache", version)
	case "help", "-h", "--help":
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

func newFlagSet(name, args string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: private-nix-cache %s %s\n\nflags:\n", name, args)
		fs.PrintDefaults()
	}
	return fs
}
