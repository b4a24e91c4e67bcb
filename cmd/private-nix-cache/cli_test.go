package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestServeSettingErrorsExit2(t *testing.T) {
	dir := t.TempDir()
	openKey := filepath.Join(dir, "open.sec")
	sec, _, _ := narinfo.GenerateKey("k-1", strings.NewReader(strings.Repeat("x", 64)))
	os.WriteFile(openKey, []byte(sec), 0o644)
	conf := filepath.Join(dir, "c.toml")
	os.WriteFile(conf, []byte("lisen = \"x\"\n"), 0o600)

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--config", conf}, "unknown key lisen"},
		{[]string{"serve", "--secret-key-file", filepath.Join(dir, "missing")}, "--secret-key-file"},
		{[]string{"serve", "--secret-key-file", openKey}, "readable by others"},
		{[]string{"serve", "--local-store", "true", "--store-root", dir, "--upstream", "none"}, "--local-store"},
		{[]string{"serve", "--no-such-flag"}, "no-such-flag"},
		{[]string{"serve", "--netrc-file", openKey, "--upstream", "http://127.0.0.1:1", "--cache-dir", dir}, "readable by others"},
		{[]string{"serve", "--http-redirect-listen", ":8080", "--upstream", "none", "--local-store", "false"}, "--http-redirect-listen"},
	} {
		code, _, stderr := runCLI(tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
}

func TestKeygen(t *testing.T) {
	dir := t.TempDir()
	sec, pub := filepath.Join(dir, "k.sec"), filepath.Join(dir, "k.pub")
	code, stdout, stderr := runCLI("keygen", "bastion-1", sec, pub)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	fi, err := os.Stat(sec)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret file mode: %v %v", fi, err)
	}
	secText, _ := os.ReadFile(sec)
	pubText, _ := os.ReadFile(pub)
	if bytes.HasSuffix(secText, []byte("\n")) || !bytes.HasPrefix(pubText, []byte("bastion-1:")) {
		t.Errorf("files not in Nix's format: %q %q", secText, pubText)
	}
	if strings.TrimSpace(stdout) != string(pubText) {
		t.Errorf("stdout %q, public key %q", stdout, pubText)
	}
	k, err := narinfo.ParseSecretKey(secText)
	if err != nil || k.ToPublicKey().String() != string(pubText) {
		t.Errorf("secret does not match public: %v", err)
	}
	if code, _, stderr := runCLI("keygen", "bastion-1", sec, pub); code == 0 || !strings.Contains(stderr, "exists") {
		t.Errorf("overwrite: exit %d, %q", code, stderr)
	}
	if code, _, _ := runCLI("keygen", "only-name"); code != 2 {
		t.Errorf("missing arguments: exit %d", code)
	}
}

func TestVersionAndHelp(t *testing.T) {
	if code, out, _ := runCLI("version"); code != 0 || !strings.HasPrefix(out, "private-nix-cache ") {
		t.Errorf("version: %d %q", code, out)
	}
	for _, cmd := range []string{"serve", "keygen", "gc", "verify"} {
		code, _, stderr := runCLI(cmd, "--help")
		if code != 0 || !strings.Contains(stderr, "usage: private-nix-cache "+cmd) {
			t.Errorf("%s --help: %d %q", cmd, code, stderr)
		}
	}
	if code, _, _ := runCLI("frobnicate"); code != 2 {
		t.Errorf("unknown command: %d", code)
	}
}
