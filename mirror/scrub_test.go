package mirror

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/private-nix-cache/private-nix-cache/cache/disk"
)

// TestScrubRemovesCorruptFile flips a byte of a stored NAR file: the
// background scrub finds it, removes it with its narinfo, and the next
// request fetches the path from upstream again.
func TestScrubRemovesCorruptFile(t *testing.T) {
	files := map[string][]byte{"rots": randomBytes(7, 300<<10), "fine": randomBytes(8, 100<<10)}
	e := newEnv(t, envOptions{files: files, cache: disk.Options{ScrubInterval: 100 * time.Millisecond}})
	keys := map[string]string{}
	for _, p := range e.paths {
		ni := e.narInfo(p)
		resp, body, err := e.get(ni.URL)
		if err != nil || resp.StatusCode != 200 || !bytes.Equal(body, e.upstreamFile(p)) {
			t.Fatalf("%s: %v", p, err)
		}
		keys[p] = strings.TrimPrefix(ni.URL, URLPrefix)
		e.waitStored(keys[p])
	}
	rot := e.paths[0]
	path := filepath.Join(e.cacheOp.Dir, "nar", keys[rot][:2], keys[rot])
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/3] ^= 0x01
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(path); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the scrub never removed the corrupt file")
		}
	}
	if _, err := e.cache.NarInfo(hashPart(rot)); err == nil {
		t.Error("the narinfo of the corrupt file is still stored")
	}
	lookups, nars := e.ups[0].Requests(".narinfo"), e.ups[0].Requests("/nar/")
	ni := e.narInfo(rot)
	resp, body, err := e.get(ni.URL)
	if err != nil || resp.StatusCode != 200 || !bytes.Equal(body, e.upstreamFile(rot)) {
		t.Fatalf("refetch: %v", err)
	}
	if e.ups[0].Requests(".narinfo") != lookups+1 || e.ups[0].Requests("/nar/") != nars+1 {
		t.Errorf("upstream asked %d narinfos and %d NARs more, want 1 and 1",
			e.ups[0].Requests(".narinfo")-lookups, e.ups[0].Requests("/nar/")-nars)
	}
	e.checkStored(keys[rot], e.upstreamFile(rot))
	if _, err := os.Stat(filepath.Join(e.cacheOp.Dir, "nar", keys[e.paths[1]][:2], keys[e.paths[1]])); err != nil {
		t.Errorf("the sound file: %v", err)
	}
}
