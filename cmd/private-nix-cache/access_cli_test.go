package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTokenFileErrorsExit2(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	open := write("open", "laptops read "+e2eReadToken+"\n", 0o644)
	bad := write("bad", "laptops read,write "+e2eReadToken+"\n", 0o600)
	metricsOnly := write("metrics", "prometheus metrics "+e2eMetricsToken+"\n", 0o600)
	sameName := write("same", "prometheus read "+e2eReadToken+"\n", 0o600)

	base := []string{"serve", "--upstream", "none", "--local-store", "false", "--listen", "127.0.0.1:0"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--token-file", open}, "readable by others"},
		{[]string{"--token-file", filepath.Join(dir, "missing")}, "--token-file"},
		{[]string{"--token-file", bad}, bad + `:1: unknown scope "write"`},
		{[]string{"--token-file", metricsOnly, "--private"}, "--private: no token"},
		{[]string{"--token-file", metricsOnly, "--token-file", sameName}, `two tokens are named "prometheus"`},
		{[]string{"--private"}, "--private: needs a --token-file"},
		{[]string{"--metrics-listen", "nowhere"}, "--metrics-listen"},
	} {
		code, _, stderr := runCLI(append(base, tc.args...)...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, code, stderr, tc.want)
		}
		if strings.Contains(stderr, e2eReadToken) || strings.Contains(stderr, e2eMetricsToken) {
			t.Errorf("%v: a secret in the error: %q", tc.args, stderr)
		}
	}
}
