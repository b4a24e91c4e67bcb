package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/nix-community/go-nix/pkg/nixbase32"
	"github.com/nix-community/go-nix/pkg/nixhash"

	"github.com/private-nix-cache/private-nix-cache/internal/nixtest"
	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

// e2ePushToken may have the server sign what it pushes; e2ePushOnlyToken
// pushes only what a trusted key signed.
const (
	e2ePushToken     = "push-7c2e9a4b6d8f1e3a5c7b"
	e2ePushOnlyToken = "push-only-4d1f8b2a6c9e3d7f"
)

// pushCache serves uploads with a push,sign, a push and a read token,
// signing them with its own key, and nothing else. It returns the server,
// its cache dir and its public key.
func pushCache(t *testing.T, extra ...string) (*proc, string, string) {
	t.Helper()
	sec, _, pub := nixtest.Key(t, "push-test-1")
	p, dir := pushCacheWithKey(t, sec, extra...)
	return p, dir, pub
}

// pushCacheWithKey is pushCache signing with the secret key file sec; it
// returns the server and its cache dir.
func pushCacheWithKey(t *testing.T, sec string, extra ...string) (*proc, string) {
	t.Helper()
	tokens := writeSecret(t, "tokens", "ci push,sign "+e2ePushToken+"\nbuilder push "+e2ePushOnlyToken+
		"\nlaptops read "+e2eReadToken+"\n")
	dir := t.TempDir()
	args := append([]string{"serve", "--listen", "127.0.0.1:0", "--local-store", "false", "--upstream", "none",
		"--cache-dir", dir, "--secret-key-file", sec, "--token-file", tokens}, extra...)
	return start(t, args...), dir
}

// nixPush runs nix copy --to the cache with netrcFile ("" for none).
func nixPush(t *testing.T, p *proc, netrcFile string, paths ...string) (string, error) {
	if netrcFile == "" {
		netrcFile = "/dev/null"
	}
	args := append([]string{"copy", "--to", p.url() + "?compression=zstd", "--option", "netrc-file", netrcFile}, paths...)
	out, err := command(nixtest.Env(t), "nix", args...).CombinedOutput()
	return string(out), err
}

func hashPartOf(storePath string) string { return filepath.Base(storePath)[:32] }

// TestPushWithNix uploads an unsigned closure with nix copy --to: refused
// without the push token, taken with a token of the push and sign scopes,
// and then substituted by a fresh store that requires the server's
// signature.
func TestPushWithNix(t *testing.T) {
	nixtest.Require(t)
	fx := nixtest.Build(t, nixtest.Options{BigSize: 3 << 20})
	p, dir, pub := pushCache(t)

	for _, tc := range []struct{ name, netrc string }{
		{"no token", ""},
		{"read token", netrc(t, e2eReadToken)},
		{"wrong token", netrc(t, e2eWrongToken)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := nixPush(t, p, tc.netrc, fx.Root)
			if err == nil {
				t.Fatalf("nix copy --to succeeded:\n%s", out)
			}
			if !strings.Contains(out, "401") && !strings.Contains(out, "403") {
				t.Errorf("nix copy did not fail for its credentials:\n%s", out)
			}
			for _, path := range fx.Paths {
				if resp := request(t, p.url()+"/"+hashPartOf(path)+".narinfo", ""); resp.StatusCode != 404 {
					t.Errorf("%s: %s after a refused push", path, resp.Status)
				}
			}
		})
	}
	if entries, _ := os.ReadDir(filepath.Join(pushedDir(dir), "nar")); len(entries) != 0 {
		t.Errorf("refused pushes left %d NAR folders", len(entries))
	}

	if out, err := nixPush(t, p, netrc(t, e2ePushToken), fx.Root); err != nil {
		t.Fatalf("nix copy --to with the push token: %v\n%s", err, out)
	}
	env := nixtest.Env(t)
	dst := t.TempDir()
	nixtest.Run(t, env, "nix", "copy", "--from", p.url(), "--to", dst, "--option", "trusted-public-keys", pub, fx.Root)
	nixtest.Run(t, env, "nix", "store", "verify", "--store", dst, "--option", "trusted-public-keys", pub, "-r", fx.Root)
	want := nixtest.PathInfo(t, env, "", fx.Paths...)
	got := nixtest.PathInfo(t, env, dst, fx.Paths...)
	for path, w := range want {
		if got[path].NarHash != w.NarHash {
			t.Errorf("%s: NarHash %q, built %q", path, got[path].NarHash, w.NarHash)
		}
	}
	// Pushing again uploads nothing: every narinfo is there.
	if out, err := nixPush(t, p, netrc(t, e2ePushToken), fx.Root); err != nil {
		t.Fatalf("second push: %v\n%s", err, out)
	}
}

// rawUpload is one path as Nix sends it, made here so that a test can
// change what Nix would not: a NAR file, its name and its narinfo.
type rawUpload struct {
	name    string
	file    []byte
	narinfo *narinfo.NarInfo
}

func newRawUpload(t *testing.T, size int) *rawUpload {
	t.Helper()
	nar := make([]byte, size)
	_, _ = rand.Read(nar)
	enc, _ := zstd.NewWriter(nil)
	file := enc.EncodeAll(nar, nil)
	enc.Close()
	fileSum, narSum := sha256.Sum256(file), sha256.Sum256(nar)
	fileHash, _ := nixhash.NewHash(nixhash.SHA256, fileSum[:])
	narHash, _ := nixhash.NewHash(nixhash.SHA256, narSum[:])
	hp := make([]byte, 20)
	_, _ = rand.Read(hp)
	name := nixbase32.EncodeToString(fileSum[:]) + ".nar.zst"
	return &rawUpload{name: name, file: file, narinfo: &narinfo.NarInfo{
		StorePath: "/nix/store/" + nixbase32.EncodeToString(hp) + "-raw", URL: "nar/" + name,
		Compression: "zstd", FileHash: fileHash, FileSize: uint64(len(file)), NarHash: narHash, NarSize: uint64(size),
	}}
}

func (u *rawUpload) hashPart() string { return u.narinfo.HashPart() }

// put PUTs body to url with the push token and returns the status and body.
func put(t *testing.T, url string, body []byte) (int, string) {
	t.Helper()
	return putAs(t, e2ePushToken, url, body)
}

// putAs is put with token.
func putAs(t *testing.T, token, url string, body []byte) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("PUT", url, bytes.NewReader(body))
	req.SetBasicAuth("", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (u *rawUpload) push(t *testing.T, base string, file []byte) (narStatus, niStatus int, msg string) {
	narStatus, _ = put(t, base+"/nar/"+u.name, file)
	niStatus, msg = put(t, base+"/"+u.hashPart()+".narinfo", u.narinfo.Bytes())
	return narStatus, niStatus, msg
}

func status(t *testing.T, method, url string) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestPushRefusesBadUploads sends what Nix never would: NAR bytes changed
// under kept hashes, a narinfo whose NAR never came, a body cut off.
func TestPushRefusesBadUploads(t *testing.T) {
	p, dir, _ := pushCache(t)
	base := p.url()

	t.Run("tampered NAR", func(t *testing.T) {
		up, other := newRawUpload(t, 50000), newRawUpload(t, 50000)
		narStatus, niStatus, msg := up.push(t, base, other.file)
		if narStatus != 200 || niStatus != 400 || !strings.Contains(msg, "does not match") {
			t.Fatalf("NAR %d, narinfo %d %q; want 200, 400 naming the mismatch", narStatus, niStatus, msg)
		}
		if got := status(t, "GET", base+"/"+up.hashPart()+".narinfo"); got != 404 {
			t.Errorf("narinfo of a tampered upload: %d", got)
		}
	})
	t.Run("NAR never came", func(t *testing.T) {
		up := newRawUpload(t, 1000)
		code, msg := put(t, base+"/"+up.hashPart()+".narinfo", up.narinfo.Bytes())
		if code != 400 || !strings.Contains(msg, "was not uploaded") {
			t.Fatalf("narinfo without NAR: %d %q", code, msg)
		}
	})
	t.Run("client killed mid-upload", func(t *testing.T) {
		up := newRawUpload(t, 4<<20)
		conn, err := net.Dial("tcp", p.addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "PUT /nar/%s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n",
			up.name, p.addr, e2ePushToken, len(up.file))
		if _, err := conn.Write(up.file[:len(up.file)/2]); err != nil {
			t.Fatal(err)
		}
		conn.Close()
		tmp := filepath.Join(pushedDir(dir), "tmp")
		deadline := time.Now().Add(10 * time.Second)
		for {
			entries, _ := os.ReadDir(tmp)
			if len(entries) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("temp files left after the client left: %v", entries)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if got := status(t, "HEAD", base+"/nar/"+up.name); got != 404 {
			t.Errorf("HEAD of a cut upload: %d", got)
		}
		if _, niStatus, msg := up.push(t, base, nil); niStatus != 400 {
			t.Errorf("narinfo of a cut upload: %d %q", niStatus, msg)
		}
	})
	t.Run("whole upload", func(t *testing.T) {
		up := newRawUpload(t, 1000)
		if code, _ := put(t, base+"/nar/"+up.name, up.file); code != 200 {
			t.Fatalf("NAR: %d", code)
		}
		if got := status(t, "HEAD", base+"/nar/"+up.name); got != 200 {
			t.Errorf("HEAD of an uploaded NAR: %d", got)
		}
		if code, msg := put(t, base+"/"+up.hashPart()+".narinfo", up.narinfo.Bytes()); code != 200 {
			t.Fatalf("narinfo: %d %q", code, msg)
		}
		if got := status(t, "GET", base+"/"+up.hashPart()+".narinfo"); got != 200 {
			t.Errorf("GET right after the PUT: %d", got)
		}
	})
}
