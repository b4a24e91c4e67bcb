package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/private-nix-cache/private-nix-cache/cache/disk"
)

func TestTopLevelHelpListsCommands(t *testing.T) {
	for _, arg := range []string{"--help", "-h", "help"} {
		code, stdout, _ := runCLI(arg)
		if code != 0 {
			t.Errorf("%s: exit %d", arg, code)
		}
		for _, cmd := range []string{"serve", "keygen", "gc", "verify", "check-config", "version"} {
			if !strings.Contains(stdout, "  "+cmd) {
				t.Errorf("%s: stdout lacks %q:\n%s", arg, cmd, stdout)
			}
		}
	}
}

func TestVersionNamesModuleAndRevision(t *testing.T) {
	for _, arg := range []string{"version", "--version"} {
		out, err := exec.Command(binPath, arg).Output()
		if err != nil {
			t.Fatalf("%s: %v", arg, err)
		}
		got := string(out)
		mod, rev := recordedVersion(t)
		if !strings.HasPrefix(got, "private-nix-cache "+mod+" ") {
			t.Errorf("%s: %q, want the module version %s", arg, got, mod)
		}
		// Go stamps the revision only where it finds the repository (not
		// in a git worktree, whose .git is a file): compare with what it
		// recorded.
		if rev != "" && !strings.Contains(got, "revision "+rev) {
			t.Errorf("%s: %q lacks revision %s", arg, got, rev)
		}
	}
}

func TestSubcommandHelpShowsFlags(t *testing.T) {
	for _, tc := range []struct{ cmd, want string }{
		{"serve", "-listen"},
		{"gc", "-max-size"},
		{"verify", "-cache-dir"},
		{"check-config", "-config"},
		{"keygen", "SECRETFILE (0600)"},
	} {
		code, _, stderr := runCLI(tc.cmd, "--help")
		if code != 0 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%s --help: exit %d, %q; want %q", tc.cmd, code, stderr, tc.want)
		}
		if strings.HasSuffix(strings.TrimSpace(stderr), "flags:") {
			t.Errorf("%s --help: empty flags section:\n%s", tc.cmd, stderr)
		}
	}
}

func TestPublicKeyAsSecretKeyIsNamed(t *testing.T) {
	dir := t.TempDir()
	sec, pub := filepath.Join(dir, "k.sec"), filepath.Join(dir, "k.pub")
	if code, _, stderr := runCLI("keygen", "bastion-1", sec, pub); code != 0 {
		t.Fatal(stderr)
	}
	private := filepath.Join(dir, "private.pub")
	b, _ := os.ReadFile(pub)
	os.WriteFile(private, b, 0o600)
	for _, f := range []string{pub, private} {
		code, _, stderr := runCLI("serve", "--secret-key-file", f, "--upstream", "none", "--local-store", "false")
		want := "this is a public key; give the secret key made by keygen"
		if code != 2 || !strings.Contains(stderr, want) || strings.Contains(stderr, "chmod") {
			t.Errorf("%s: exit %d, %q; want 2 and %q", f, code, stderr, want)
		}
	}
}

func TestCacheCommandsRefuseDirWithoutCache(t *testing.T) {
	empty := t.TempDir()
	for _, args := range [][]string{
		{"gc", "--cache-dir", empty, "--max-size", "1GiB"},
		{"verify", "--cache-dir", empty},
		{"verify", "--cache-dir", filepath.Join(empty, "typo")},
	} {
		code, _, stderr := runCLI(args...)
		if code != 2 || !strings.Contains(stderr, "holds no cache") {
			t.Errorf("%v: exit %d, %q; want 2 and \"holds no cache\"", args, code, stderr)
		}
	}
	if entries, _ := os.ReadDir(empty); len(entries) != 0 {
		t.Errorf("refused dir was written to: %v", entries)
	}

	dir := t.TempDir()
	c, err := disk.Open(disk.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if code, stdout, stderr := runCLI("verify", "--cache-dir", dir); code != 0 || !strings.Contains(stdout, "checked 0 NARs") {
		t.Errorf("verify of a real, empty cache: exit %d, %q %q", code, stdout, stderr)
	}
}

func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.toml")
	os.WriteFile(good, []byte("listen = \"[::]:5000\"\nsecret-key-file = [\"/run/credentials/x/key\"]\nmax-size = \"50GiB\"\n"), 0o644)
	if code, stdout, stderr := runCLI("check-config", good); code != 0 || !strings.Contains(stdout, "ok") {
		t.Errorf("good config: exit %d, %q %q", code, stdout, stderr)
	}
	if code, _, stderr := runCLI("check-config", "--config", good); code != 0 {
		t.Errorf("--config good: exit %d, %q", code, stderr)
	}
	for _, tc := range []struct{ body, want string }{
		{"lisen = \"x\"\n", "unknown key lisen"},
		{"max-size = \"lots\"\n", "--max-size"},
		{"listen = \"nowhere\"\n", "--listen"},
		{"[[upstream]]\nurl = \"ftp://x\"\n", "--upstream"},
	} {
		f := filepath.Join(dir, "bad.toml")
		os.WriteFile(f, []byte(tc.body), 0o644)
		if code, _, stderr := runCLI("check-config", f); code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%q: exit %d, %q; want 2 and %q", tc.body, code, stderr, tc.want)
		}
	}
	if code, _, _ := runCLI("check-config"); code != 2 {
		t.Errorf("no file: exit %d", code)
	}
}

// recordedVersion returns the main module's version ((devel) or a
// pseudo-version from the checkout) and revision Go recorded in the binary.
func recordedVersion(t *testing.T) (mod, rev string) {
	out, err := exec.Command("go", "version", "-m", binPath).Output()
	if err != nil {
		t.Fatalf("go version -m: %v", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[0] == "mod" {
			mod = f[2]
		}
		if _, v, ok := strings.Cut(line, "vcs.revision="); ok {
			rev = strings.TrimSpace(v)
		}
	}
	return mod, rev
}

// The TOML the NixOS module renders must pass the check its build runs.
func TestCheckConfigAcceptsModuleRendering(t *testing.T) {
	if code, _, stderr := runCLI("check-config", filepath.Join("..", "..", "testdata", "module-rendered.toml")); code != 0 {
		t.Errorf("module-rendered.toml: exit %d, %q", code, stderr)
	}
}
