package main

import (
	"crypto/rand"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"

	"github.com/private-nix-cache/private-nix-cache/internal/nixtest"
	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

func goKey(t *testing.T, name string) (signature.SecretKey, string) {
	t.Helper()
	sec, pub, err := narinfo.GenerateKey(name, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := narinfo.ParseSecretKey([]byte(sec))
	if err != nil {
		t.Fatal(err)
	}
	return k, strings.TrimSpace(pub)
}

func readKey(t *testing.T, file string) signature.SecretKey {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	k, err := narinfo.ParseSecretKey(b)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestPushNeedsTrustedSignatureOrSignScope: a push token alone does not
// have the server sign; a narinfo signed by a key trusted for pushes (one
// given, or the server's own) is taken from it; a sign token has an
// unsigned narinfo signed.
func TestPushNeedsTrustedSignatureOrSignScope(t *testing.T) {
	sec, _, pub := nixtest.Key(t, "push-sign-1")
	builder, builderPub := goKey(t, "builder-1")
	stranger, _ := goKey(t, "stranger-1")
	p, _ := pushCacheWithKey(t, sec, "--push-trusted-public-key", builderPub)
	serverPub, err := narinfo.ParsePublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		token  string
		signer *signature.SecretKey
		want   int
	}{
		{"push token, unsigned", e2ePushOnlyToken, nil, 400},
		{"push token, signed by an untrusted key", e2ePushOnlyToken, &stranger, 400},
		{"push token, signed by a trusted key", e2ePushOnlyToken, &builder, 200},
		{"push token, signed by the server's key", e2ePushOnlyToken, ptr(readKey(t, sec)), 200},
		{"sign token, unsigned", e2ePushToken, nil, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := newRawUpload(t, 2000)
			if tc.signer != nil {
				if err := up.narinfo.Sign(*tc.signer); err != nil {
					t.Fatal(err)
				}
			}
			if code, msg := putAs(t, tc.token, p.url()+"/nar/"+up.name, up.file); code != 200 {
				t.Fatalf("NAR: %d %q", code, msg)
			}
			code, msg := putAs(t, tc.token, p.url()+"/"+up.hashPart()+".narinfo", up.narinfo.Bytes())
			if code != tc.want {
				t.Fatalf("narinfo: %d %q, want %d", code, msg, tc.want)
			}
			niURL := p.url() + "/" + up.hashPart() + ".narinfo"
			if tc.want != 200 {
				if !strings.Contains(msg, "no signature by a key trusted for pushes") {
					t.Errorf("refusal says %q", msg)
				}
				if got := status(t, "GET", niURL); got != 404 {
					t.Errorf("a refused narinfo answers %d", got)
				}
				return
			}
			text := get(t, niURL, "")
			ni, err := narinfo.ParseBytes(text)
			if err != nil {
				t.Fatalf("served narinfo: %v\n%s", err, text)
			}
			if !ni.Verify([]signature.PublicKey{serverPub}) {
				t.Errorf("not signed by the server: %v", ni.Sigs)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestPushWithNixSignedByTrustedKey: with a push token alone, nix copy of
// an unsigned closure is refused, and the same closure signed with the
// cache's key (nix store sign, as a builder holding it would) is taken.
func TestPushWithNixSignedByTrustedKey(t *testing.T) {
	nixtest.Require(t)
	fx := nixtest.Build(t, nixtest.Options{BigSize: 3 << 20})
	sec, _, pub := nixtest.Key(t, "push-trusted-1")
	p, _ := pushCacheWithKey(t, sec)
	pushOnly := netrc(t, e2ePushOnlyToken)

	out, err := nixPush(t, p, pushOnly, fx.Root)
	if err == nil || !strings.Contains(out, "no signature by a key trusted for pushes") {
		t.Fatalf("unsigned closure with a push token: %v\n%s", err, out)
	}
	signed := "file://" + fx.ExportCache(t, "zstd", sec)
	out2, err := command(nixtest.Env(t), "nix", "copy", "--from", signed, "--to", p.url()+"?compression=zstd",
		"--option", "netrc-file", pushOnly, fx.Root).CombinedOutput()
	if err != nil {
		t.Fatalf("signed closure with a push token: %v\n%s", err, out2)
	}
	env := nixtest.Env(t)
	dst := t.TempDir()
	nixtest.Run(t, env, "nix", "copy", "--from", p.url(), "--to", dst, "--option", "trusted-public-keys", pub, fx.Root)
	nixtest.Run(t, env, "nix", "store", "verify", "--store", dst, "--option", "trusted-public-keys", pub, "-r", fx.Root)
}

// TestPushMaxAge: with --push-max-age, a pushed path goes by itself,
// its narinfo and then its NAR file.
func TestPushMaxAge(t *testing.T) {
	p, dir, _ := pushCache(t, "--push-max-age", "1s")
	up := newRawUpload(t, 3000)
	if narStatus, niStatus, msg := up.push(t, p.url(), up.file); narStatus != 200 || niStatus != 200 {
		t.Fatalf("push: NAR %d, narinfo %d %q", narStatus, niStatus, msg)
	}
	file := filepath.Join(pushedDir(dir), "nar", up.name[:2], up.name)
	if _, err := os.Stat(file); err != nil {
		t.Fatalf("pushed NAR file: %v", err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		_, err := os.Stat(file)
		if errors.Is(err, fs.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pushed NAR file is still there: %v", err)
		}
	}
	if got := status(t, "GET", p.url()+"/"+up.hashPart()+".narinfo"); got != 404 {
		t.Errorf("narinfo of an expired path: %d", got)
	}
	if got := status(t, "HEAD", p.url()+"/nar/"+up.name); got != 404 {
		t.Errorf("HEAD of an expired path's NAR: %d", got)
	}
	// Pushed again, it is taken again.
	if narStatus, niStatus, msg := up.push(t, p.url(), up.file); narStatus != 200 || niStatus != 200 {
		t.Fatalf("push again: NAR %d, narinfo %d %q", narStatus, niStatus, msg)
	}
}
