package mirror

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/private-nix-cache/private-nix-cache/internal/nixtest"
	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

// waitReencoded waits until the stored narinfo of storePath names a file
// in compression, and returns it.
func (e *env) waitReencoded(storePath, compression string) *narinfo.NarInfo {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if got, err := e.cache.NarInfo(hashPart(storePath)); err == nil && got.NarInfo.Compression == compression {
			return got.NarInfo
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: narinfo never said %s", storePath, compression)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A real Nix substitutes a closure through the mirror from an xz and from
// a bzip2 upstream, with our signature and with the upstream's alone: the
// first client gets the upstream's compression, a later one zstd, every
// copy verifies, and an old narinfo's URL keeps answering the upstream's
// bytes, from disk and, once that copy is gone, from the upstream again.
func TestNixSubstitutesReencoded(t *testing.T) {
	nixtest.Require(t)
	fx := nixtest.Build(t, nixtest.Options{BigSize: 2 << 20})
	upSec, _, upPub := nixtest.Key(t, "upstream-reencode-1")
	for _, compression := range []string{"xz", "bzip2"} {
		dir := fx.ExportCache(t, compression, upSec)
		for _, resign := range []bool{true, false} {
			name := compression + "/resigned"
			if !resign {
				name = compression + "/pass-through"
			}
			t.Run(name, func(t *testing.T) {
				e := newEnv(t, envOptions{dir: dir, upstreamPublicKey: upPub, noResign: !resign, recompress: "zstd"})
				trusted := e.ourKey.Public
				if !resign {
					trusted = upPub
				}
				first := make(map[string]*narinfo.NarInfo)
				for _, p := range fx.Paths {
					first[p] = e.narInfo(p)
					if first[p].Compression != e.upstreamNarInfo(p).Compression {
						t.Fatalf("%s: first narinfo says %q, upstream %q", p, first[p].Compression, e.upstreamNarInfo(p).Compression)
					}
				}
				copyAndVerify(t, e, fx, trusted)
				for _, p := range fx.Paths {
					e.waitReencoded(p, "zstd")
				}
				before := e.ups[0].Requests("/nar/")
				copyAndVerify(t, e, fx, trusted) // a fresh client: zstd, from disk
				if got := e.ups[0].Requests("/nar/"); got != before {
					t.Errorf("upstream NAR requests went from %d to %d", before, got)
				}
				for _, p := range fx.Paths {
					ni := e.narInfo(p)
					if ni.Compression != "zstd" || ni.FileHash == nil || ni.FileSize == 0 {
						t.Fatalf("%s: narinfo after re-encoding:\n%s", p, ni.Bytes())
					}
				}
				checkOldURLs(t, e, fx.Paths, first)
			})
		}
	}
}

func copyAndVerify(t *testing.T, e *env, fx *nixtest.Fixture, trusted string) {
	t.Helper()
	env := nixtest.Env(t)
	dst := nixtest.TempDir(t)
	nixtest.Run(t, env, "nix", "copy", "--from", e.srv.URL, "--to", dst,
		"--option", "trusted-public-keys", trusted, fx.Root)
	nixtest.Run(t, env, "nix", "store", "verify", "--store", dst, "--no-trust", "-r", fx.Root)
	got := nixtest.PathInfo(t, env, dst, fx.Paths...)
	want := nixtest.PathInfo(t, env, "", fx.Paths...)
	for _, p := range fx.Paths {
		if got[p].NarHash != want[p].NarHash || got[p].NarSize != want[p].NarSize {
			t.Errorf("%s: got %s/%d, want %s/%d", p, got[p].NarHash, got[p].NarSize, want[p].NarHash, want[p].NarSize)
		}
	}
}

// checkOldURLs fetches the NAR URLs of narinfos handed out before the
// re-encode: the upstream's bytes, while stored and after removal.
func checkOldURLs(t *testing.T, e *env, paths []string, first map[string]*narinfo.NarInfo) {
	t.Helper()
	for round, removed := range []bool{false, true} {
		for _, p := range paths {
			old := first[p].URL
			if removed {
				key := old[len(URLPrefix):]
				if err := e.cache.DeleteFile(key); err != nil {
					t.Fatalf("remove %s: %v", key, err)
				}
			}
			resp, body, err := e.get(old)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusOK || !bytes.Equal(body, e.upstreamFile(p)) {
				t.Fatalf("round %d: %s: %s, %d bytes, want the upstream's %d", round, old, resp.Status, len(body), len(e.upstreamFile(p)))
			}
		}
	}
	for _, p := range paths {
		if ni := e.narInfo(p); ni.Compression != "zstd" {
			t.Fatalf("%s: narinfo says %s after old URLs were fetched", p, ni.Compression)
		}
	}
}

// corruptNarFiles flips a byte in the middle of every NAR file of dir.
func corruptNarFiles(t *testing.T, dir string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "nar", "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("nar files: %v, %v", files, err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)/2] ^= 0x40
		if err := os.WriteFile(f, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// A corrupt xz file from the upstream is stored in no compression, and
// its client gets a cut connection, never a 200 with every byte.
func TestReencodeCorruptUpstreamStoresNothing(t *testing.T) {
	files := map[string][]byte{"big": randomBytes(21, 2<<20), "small": randomBytes(22, 64<<10)}
	e := newEnv(t, envOptions{files: files, compression: "xz", recompress: "zstd", prepare: func(dir string) {
		stripFileHashes(t, dir)
		corruptNarFiles(t, dir)
	}})
	for _, p := range e.paths {
		ni := e.narInfo(p)
		resp, body, err := e.get(ni.URL)
		if err == nil && resp.StatusCode == http.StatusOK && len(body) == len(e.upstreamFile(p)) {
			t.Fatalf("%s: a 200 with all %d bytes of a corrupt file", p, len(body))
		}
		zstdKey, err := narinfo.NarFileKey(hashPart(p), ni.NarHash, "zstd")
		if err != nil {
			t.Fatal(err)
		}
		for _, key := range []string{ni.URL[len(URLPrefix):], zstdKey} {
			if _, _, err := e.cache.StatFile(key); err == nil {
				t.Fatalf("%s stored", key)
			}
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		left, _ := filepath.Glob(filepath.Join(e.cacheOp.Dir, "tmp", "*"))
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("temp files left: %v", left)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
