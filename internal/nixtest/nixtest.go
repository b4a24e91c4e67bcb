// Package nixtest builds real Nix store closures for tests, using the Nix
// command line tools (nix-build, nix-store, nix) installed on the machine.
//
// Tests that need Nix call Require first: it skips the test when Nix is
// missing, and fails it when $CI is set, so continuous integration cannot
// pass silently without the integration tests.
package nixtest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// nixConfig keeps Nix hermetic and fast in tests: no substituters (the
// default one cannot be reached and costs seconds of retries), no sandbox,
// and no cached narinfo answers between tests that reuse a cache URL.
const nixConfig = `experimental-features = nix-command
substituters =
sandbox = false
narinfo-cache-positive-ttl = 0
narinfo-cache-negative-ttl = 0
`

// Require skips the test when nix-build is missing, and fails it when $CI is set.
func Require(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("nix-build"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("nix-build is required when CI is set: %v", err)
		}
		t.Skipf("nix-build not found: %v", err)
	}
}

// Env returns os.Environ() plus NIX_CONFIG (nix-command, substituters empty,
// sandbox false, narinfo-cache-*-ttl 0) and a fresh XDG_CACHE_HOME under
// t.TempDir().
func Env(t testing.TB) []string {
	t.Helper()
	cache := filepath.Join(t.TempDir(), "xdg-cache")
	if err := os.MkdirAll(cache, 0o755); err != nil {
		t.Fatalf("create XDG_CACHE_HOME: %v", err)
	}
	// Later entries win in os/exec, so these override the caller's values.
	return append(os.Environ(), "NIX_CONFIG="+nixConfig, "XDG_CACHE_HOME="+cache)
}

// Run runs a command with env, fails the test with its stderr on error,
// and returns stdout with surrounding white space trimmed.
func Run(t testing.TB, env []string, name string, args ...string) string {
	t.Helper()
	out, err := run(env, name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// run is Run without a testing.TB, for work shared between tests.
func run(env []string, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", &RunError{Cmd: name + " " + strings.Join(args, " "), Err: err, Stderr: stderr.String()}
	}
	return strings.TrimSpace(stdout.String()), nil
}

// RunError reports a failed command together with what it wrote to stderr.
type RunError struct {
	Cmd    string
	Err    error
	Stderr string
}

func (e *RunError) Error() string {
	return "run " + e.Cmd + ": " + e.Err.Error() + "\n" + strings.TrimSpace(e.Stderr)
}

func (e *RunError) Unwrap() error { return e.Err }
